package project

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestReadAheadReadsWhatTheFileHolds: spans in ascending order (as a
// quarantine names them), backwards, longer than a block, across a block's
// end and past the file's end read exactly what the file's ReadAt reads:
// the same bytes, a short count with an error at the end, never a full
// count with stale bytes.
func TestReadAheadReadsWhatTheFileHolds(t *testing.T) {
	data := make([]byte, 3*readAheadBlock+123)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &readAhead{f: f}
	check := func(off int64, n int) {
		t.Helper()
		got, want := make([]byte, n), make([]byte, n)
		gn, gerr := r.ReadAt(got, off)
		wn, werr := f.ReadAt(want, off)
		if gn != wn || !bytes.Equal(got[:gn], want[:wn]) || (gerr == nil) != (werr == nil) {
			t.Fatalf("ReadAt(%d bytes at %d): %d, %v; the file gives %d, %v", n, off, gn, gerr, wn, werr)
		}
	}
	var off int64
	for off < int64(len(data)) { // ascending, as a quarantine's spans
		n := 1 + rng.IntN(300)
		check(off, n)
		off += int64(n + rng.IntN(200))
	}
	for i := 0; i < 2000; i++ { // anywhere
		check(int64(rng.IntN(len(data)+10)), rng.IntN(2*readAheadBlock))
	}
	check(int64(len(data)-5), 10) // across the end
	check(readAheadBlock-3, 6)    // across a block
	check(0, 2*readAheadBlock)    // longer than a block
	check(int64(len(data)), 1)    // at the end
	if _, err := r.ReadAt(make([]byte, 4), int64(len(data)-2)); err != io.EOF && err != io.ErrUnexpectedEOF {
		t.Fatalf("a read past the end: %v", err)
	}
}
