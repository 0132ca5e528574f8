package plugstate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"
)

// TestSpilledTableMatchesModel: a table with a tiny buffer — its changes
// spilled to sorted runs on disk every few dozen keys, the runs merged when
// there are too many — answers every Get as a plain map does and writes
// the same file, byte for byte, as a table that kept everything in memory,
// from a loaded file with keys of its own (overwritten, removed, removed
// and put back).
func TestSpilledTableMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 17))
	key := func() []byte {
		ns := []string{"zscore", "other"}[rng.IntN(2)]
		return fk(ns, fmt.Sprintf("dev-%04d", rng.IntN(3000)))
	}
	val := func() []byte {
		v := make([]byte, 1+rng.IntN(40))
		for i := range v {
			v[i] = byte(rng.IntN(256))
		}
		return v
	}
	model := map[string][]byte{}
	seedTable := New()
	for range 1500 {
		k, v := key(), val()
		seedTable.Put(k, v)
		model[string(k)] = v
	}
	file := seedTable.Bytes()
	dir := t.TempDir()
	small, err := Open(bytes.NewReader(file), int64(len(file)), Options{Dir: dir, Buffer: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	big, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	compactions, maxRuns := 0, 0
	for i := range 20000 {
		k := key()
		switch op := rng.IntN(10); {
		case op < 6:
			v := val()
			if op == 0 {
				v = nil // a removal
			}
			before := small.Runs()
			if err := small.Put(k, v); err != nil {
				t.Fatalf("op %d: Put: %v", i, err)
			}
			if small.Runs() < before {
				compactions++
			}
			maxRuns = max(maxRuns, small.Runs())
			big.Put(k, v)
			if len(v) == 0 {
				delete(model, string(k))
			} else {
				model[string(k)] = v
			}
		default:
			got, ok := small.Get(k)
			want, had := model[string(k)]
			if ok != had || !bytes.Equal(got, want) {
				t.Fatalf("op %d: Get(%q) = %x %v, the model holds %x %v", i, k, got, ok, want, had)
			}
		}
	}
	if compactions == 0 || maxRuns > 8 {
		t.Fatalf("%d compactions, at most %d runs: the test did not exercise spilling and merging", compactions, maxRuns)
	}
	if small.Len() != int64(len(model)) {
		t.Fatalf("Len %d, the model holds %d", small.Len(), len(model))
	}
	got, want := small.Bytes(), big.Bytes()
	if !bytes.Equal(got, want) {
		t.Fatalf("the spilled table writes %d bytes, the one in memory %d: not the same file", len(got), len(want))
	}
	back, err := Load(got)
	if err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range model {
			if !yield(k) {
				return
			}
		}
	})
	i := 0
	back.Each(func(k, v []byte) error {
		if i >= len(keys) || string(k) != keys[i] || !bytes.Equal(v, model[keys[i]]) {
			t.Fatalf("entry %d: %q", i, k)
		}
		i++
		return nil
	})
	if err := small.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("Close left %d files in the spill directory", len(ents))
	}
}

// TestMemoryBoundedByBuffer: 100,000 distinct keys written to a table with
// a 256 KiB buffer leave the Go heap at most a few buffers larger (a table
// holding them in memory needs ~10 MB), and writing the canonical file
// streams: what WriteTo allocates is bounded by the buffer too. The file it
// writes is the one a table in memory writes.
func TestMemoryBoundedByBuffer(t *testing.T) {
	const n, buffer = 100_000, 256 << 10
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	value := bytes.Repeat([]byte{0x5a}, 24) // zscore's count, mean and M2
	before := heap()
	tb := NewWith(Options{Dir: t.TempDir(), Buffer: buffer})
	defer tb.Close()
	var k []byte
	for i := range n {
		k = FullKey(k[:0], "zscore", fmt.Appendf(nil, "ZZ-%06d", i))
		if err := tb.Put(k, value); err != nil {
			t.Fatal(err)
		}
	}
	held := heap() - before
	bound := uint64(4*buffer + 1<<20)
	if held > bound {
		t.Fatalf("the table holds %d bytes of heap for %d keys, over the bound of %d derived from its buffer of %d", held, n, bound, buffer)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	h := sha256.New()
	if _, err := tb.WriteTo(h); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > bound {
		t.Fatalf("WriteTo allocated %d bytes for %d keys, over the bound of %d", alloc, n, bound)
	}
	ref := New()
	for i := range n {
		ref.Put(FullKey(nil, "zscore", fmt.Appendf(nil, "ZZ-%06d", i)), value)
	}
	want := sha256.Sum256(ref.Bytes())
	if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
		t.Fatalf("the spilled table's file hashes to %s, the table in memory's to %s", hex.EncodeToString(got), hex.EncodeToString(want[:]))
	}
	t.Logf("%d keys: %d bytes of heap held, %d runs", n, held, tb.Runs())
}
