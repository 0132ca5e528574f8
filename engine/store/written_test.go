package store

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// written writes content to a new File at dir/name in pieces of random
// sizes and finishes it.
func written(t *testing.T, dir, name string, content []byte) *File {
	t.Helper()
	w, err := Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, uint64(len(content))))
	for rest := content; len(rest) > 0; {
		k := min(len(rest), 1+r.IntN(70000))
		if n, err := w.Write(rest[:k]); err != nil || n != k {
			t.Fatalf("Write = %d, %v", n, err)
		}
		rest = rest[k:]
	}
	return w
}

func TestFileHashIsTheBytesWritten(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	content := make([]byte, 300_001)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range content {
		content[i] = byte(r.Uint32())
	}
	w := written(t, dir, "verified.jsonl", content)
	d, n, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	onDisk, size, err := HashFile(w.Name())
	if err != nil {
		t.Fatal(err)
	}
	if d != onDisk || n != size || d != HashBytes(content) || n != int64(len(content)) {
		t.Fatalf("hashed while writing: %s, %d bytes; the file: %s, %d bytes; the content: %s, %d bytes", d, n, onDisk, size, HashBytes(content), len(content))
	}
	if fi, _ := os.Stat(w.Name()); fi.Mode().Perm() != 0o444 {
		t.Errorf("mode %v, want 0444 from creation", fi.Mode().Perm())
	}
	ad, an, err := s.AdoptFile(w)
	if err != nil || ad != d || an != n {
		t.Fatalf("AdoptFile = %s, %d, %v", ad, an, err)
	}
	src, _ := os.Stat(w.Name())
	blob, err := os.Stat(s.Path(d))
	if err != nil || !os.SameFile(src, blob) {
		t.Fatalf("the blob is not the written file linked: %v", err)
	}
	if err := s.Verify(d); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(w.Name()); err == nil {
		t.Error("Create replaced an existing file")
	}
	if n, err := w.Write([]byte("late")); err == nil || n != 0 {
		t.Errorf("Write after Finish = %d, %v", n, err)
	}
}

// TestFileStreamedPastTheWriteBehindWindow: a File of several write-behind
// windows (its writeback started and its pages dropped as it goes, on
// Linux) holds and hashes exactly what was written. What the advice saves
// (system time, the page cache a batch holds) is measured in
// BENCHMARKS.md: the kernel may ignore it, so no test can require it.
func TestFileStreamedPastTheWriteBehindWindow(t *testing.T) {
	content := make([]byte, 3*writeBehindWindow+writeBehindWindow/2+7)
	r := rand.New(rand.NewPCG(9, 9))
	for i := range content {
		content[i] = byte(r.Uint32())
	}
	w := written(t, t.TempDir(), "quarantine.jsonl", content)
	d, n, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	back, err := os.ReadFile(w.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, content) || d != HashBytes(content) || n != int64(len(content)) {
		t.Fatalf("read back %d bytes (equal: %v), hashed %s over %d bytes; wrote %d bytes hashing to %s", len(back), bytes.Equal(back, content), d, n, len(content), HashBytes(content))
	}
}

func TestAdoptFileRefusesAChangedOrFailedWrite(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	content := []byte(strings.Repeat(`{"device_id":"AB-000001","value":21.5}`+"\n", 200))
	// refused checks that adopting w fails with an error that says want,
	// and that nothing of it is in the store.
	refused := func(t *testing.T, w *File, want string) {
		t.Helper()
		d, _, err := s.AdoptFile(w)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), w.Name()) {
			t.Fatalf("AdoptFile = %s, %v; want an error naming the file and %q", d, err, want)
		}
		if ents, _ := filepath.Glob(filepath.Join(s.Dir(), "sha256", "*", "*")); len(ents) != 0 {
			t.Fatalf("a refused file left blobs: %v", ents)
		}
	}
	finished := func(t *testing.T, name string) *File {
		t.Helper()
		w := written(t, dir, name, content)
		if _, _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	t.Run("appended to after it was finished", func(t *testing.T) {
		w := finished(t, "appended")
		os.Chmod(w.Name(), 0o644)
		f, err := os.OpenFile(w.Name(), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("x"))
		f.Close()
		refused(t, w, "it holds 7801 now")
	})
	t.Run("cut short after it was finished", func(t *testing.T) {
		w := finished(t, "short")
		if err := os.Truncate(w.Name(), 100); err != nil {
			t.Fatal(err)
		}
		refused(t, w, "7800 bytes were written and hashed, it holds 100 now")
	})
	t.Run("same size, overwritten", func(t *testing.T) {
		w := finished(t, "overwritten")
		os.Chmod(w.Name(), 0o644)
		if err := os.WriteFile(w.Name(), bytes.ToUpper(content), 0o644); err != nil {
			t.Fatal(err)
		}
		// A modification time apart from the one at Finish whatever the
		// file system's resolution.
		os.Chtimes(w.Name(), time.Time{}, w.fi.ModTime().Add(time.Second))
		refused(t, w, "it was modified at")
	})
	t.Run("replaced", func(t *testing.T) {
		w := finished(t, "replaced")
		other := filepath.Join(dir, "other")
		os.WriteFile(other, content, 0o644)
		if err := os.Rename(other, w.Name()); err != nil {
			t.Fatal(err)
		}
		refused(t, w, "replaced by another file")
	})
	t.Run("a write that failed", func(t *testing.T) {
		w := written(t, dir, "failed", content[:100])
		w.f.Close() // the next write(2) fails
		if n, err := w.Write(content[100:]); err == nil || n != 0 {
			t.Fatalf("Write on a closed file = %d, %v", n, err)
		}
		if _, err := w.Write([]byte("more")); err == nil || !strings.Contains(err.Error(), "0 of 7700 bytes written at offset 100") {
			t.Fatalf("a failed write is not sticky: %v", err)
		}
		if _, _, err := w.Finish(); err == nil {
			t.Fatal("Finish after a failed write succeeded")
		}
		refused(t, w, "0 of 7700 bytes written at offset 100")
	})
	t.Run("not finished", func(t *testing.T) {
		w := written(t, dir, "open", content)
		defer w.Abort()
		refused(t, w, "not finished")
	})
	t.Run("aborted", func(t *testing.T) {
		w := written(t, dir, "aborted", content)
		w.Abort()
		if _, err := os.Stat(w.Name()); !os.IsNotExist(err) {
			t.Fatalf("Abort left the file: %v", err)
		}
	})
}
