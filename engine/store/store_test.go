package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/pawl-dev/pawl/engine/durable"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tmpEntries(t *testing.T, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestParseDigest(t *testing.T) {
	good := HashBytes([]byte("x"))
	if d, err := ParseDigest(string(good)); err != nil || d != good {
		t.Fatalf("ParseDigest(%q) = %q, %v", good, d, err)
	}
	if len(good.Hex()) != 64 || "sha256:"+good.Hex() != string(good) {
		t.Fatalf("Hex() = %q", good.Hex())
	}
	bad := []string{
		"",
		good.Hex(),
		"sha256:" + strings.ToUpper(good.Hex()),
		"sha512:" + good.Hex(),
		string(good) + "0",
		string(good)[:len(good)-1],
		"sha256:../../../../../../../../../../../../../../../../../../../etc/pw",
	}
	for _, s := range bad {
		if _, err := ParseDigest(s); err == nil {
			t.Errorf("ParseDigest(%q) succeeded", s)
		}
		if h := Digest(s).Hex(); h != "" {
			t.Errorf("Digest(%q).Hex() = %q, want \"\"", s, h)
		}
	}
	st := newStore(t)
	if p := st.Path(Digest(bad[6])); p != "" {
		t.Errorf("Path of a traversal digest = %q, want \"\"", p)
	}
	if _, err := st.Open(Digest(bad[6])); err == nil {
		t.Error("Open accepted an invalid digest")
	}
}

func TestKnownDigest(t *testing.T) {
	// SHA-256 of the empty string, fixed by FIPS 180-4.
	const empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := HashBytes(nil); got != empty {
		t.Fatalf("HashBytes(nil) = %s", got)
	}
	s := newStore(t)
	d, n, err := s.Put(bytes.NewReader(nil))
	if err != nil || d != empty || n != 0 {
		t.Fatalf("Put(empty) = %s, %d, %v", d, n, err)
	}
}

func TestRoundTrip(t *testing.T) {
	s := newStore(t)
	content := []byte("batch 1\nrecord a\nrecord b\n")
	d, n, err := s.Put(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if d != HashBytes(content) || n != int64(len(content)) {
		t.Fatalf("Put = %s, %d; want %s, %d", d, n, HashBytes(content), len(content))
	}
	if !s.Has(d) {
		t.Fatal("Has = false after Put")
	}
	want := filepath.Join(s.Dir(), "sha256", d.Hex()[:2], d.Hex())
	if s.Path(d) != want {
		t.Fatalf("Path = %s, want %s", s.Path(d), want)
	}
	fi, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Errorf("blob mode %v, want 0444", fi.Mode().Perm())
	}
	r, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(content)) {
		t.Errorf("Size = %d", r.Size())
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("read back %q", got)
	}
	if err := s.Verify(d); err != nil {
		t.Fatal(err)
	}
	if names := tmpEntries(t, s); len(names) != 0 {
		t.Errorf("tmp not empty: %v", names)
	}
	dirFi, _ := os.Stat(s.Dir())
	if dirFi.Mode().Perm() != 0o700 {
		t.Errorf("store dir mode %v, want 0700", dirFi.Mode().Perm())
	}
}

func TestPutIdempotent(t *testing.T) {
	s := newStore(t)
	content := []byte("same bytes")
	d1, _, err := s.Put(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(s.Path(d1))
	syncs := durable.Syncs()
	d2, n2, err := s.Put(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(s.Path(d2))
	if d1 != d2 || n2 != int64(len(content)) {
		t.Fatalf("second Put = %s, %d", d2, n2)
	}
	// Stored already: nothing to make durable (a run puts every pinned
	// file again).
	if n := durable.Syncs() - syncs; n != 0 {
		t.Errorf("the second Put of stored content made %d fsyncs", n)
	}
	// New content: its file and its name are made durable.
	syncs = durable.Syncs()
	if _, _, err := s.Put(strings.NewReader("other bytes")); err != nil {
		t.Fatal(err)
	}
	if n := durable.Syncs() - syncs; n < 2 {
		t.Errorf("a Put of new content made %d fsyncs, want the file's and its directory's", n)
	}
	if !os.SameFile(before, after) {
		t.Error("second Put replaced the existing blob")
	}
	if names := tmpEntries(t, s); len(names) != 0 {
		t.Errorf("tmp not empty: %v", names)
	}
}

func TestPutFile(t *testing.T) {
	s := newStore(t)
	p := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(p, []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, n, err := s.PutFile(p)
	if err != nil {
		t.Fatal(err)
	}
	hd, hn, err := HashFile(p)
	if err != nil || hd != d || hn != n {
		t.Fatalf("HashFile = %s, %d, %v; PutFile = %s, %d", hd, hn, err, d, n)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Error("PutFile changed the source file's mode")
	}
	if _, _, err := s.PutFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("PutFile(missing) error = %v, want fs.ErrNotExist", err)
	}
}

// tamper rewrites a stored blob the way someone with shell access would.
func tamper(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptionDetected(t *testing.T) {
	s := newStore(t)
	content := []byte("dose=10mg\n")
	d, _, err := s.Put(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	edited := []byte("dose=90mg\n") // same length: only hashing can tell
	tamper(t, s.Path(d), edited)

	r, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("ReadAll error = %v, want *CorruptError", err)
	}
	if !bytes.Equal(got, edited) {
		t.Errorf("content delivered before the error = %q", got)
	}
	if ce.Digest != d || ce.Path != s.Path(d) || ce.Actual != HashBytes(edited) {
		t.Errorf("CorruptError = %+v", ce)
	}
	// The error must be repeated, not turn into io.EOF on the next call.
	r2, _ := s.Open(d)
	io.Copy(io.Discard, r2)
	if _, err := r2.Read(make([]byte, 1)); !errors.As(err, &ce) {
		t.Errorf("Read after the end = %v, want *CorruptError again", err)
	}
	r2.Close()

	err = s.Verify(d)
	if !errors.As(err, &ce) {
		t.Fatalf("Verify = %v, want *CorruptError", err)
	}
	for _, want := range []string{string(d), s.Path(d), string(HashBytes(edited))} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Verify error %q does not mention %s", err, want)
		}
	}
}

func TestTruncationDetected(t *testing.T) {
	s := newStore(t)
	d, _, err := s.Put(strings.NewReader("0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	tamper(t, s.Path(d), []byte("01234"))
	var ce *CorruptError
	if err := s.Verify(d); !errors.As(err, &ce) || ce.Size != 5 {
		t.Fatalf("Verify = %v", err)
	}
}

func TestMissingBlob(t *testing.T) {
	s := newStore(t)
	d := HashBytes([]byte("never stored"))
	if s.Has(d) {
		t.Fatal("Has = true for a missing blob")
	}
	err := s.Verify(d)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Verify(missing) = %v, want fs.ErrNotExist", err)
	}
	var ce *CorruptError
	if errors.As(err, &ce) {
		t.Fatal("a missing blob was reported as corrupt")
	}
	if !strings.Contains(err.Error(), string(d)) {
		t.Errorf("error %q does not name the digest", err)
	}
	if _, err := s.Open(d); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestConcurrentPutSameContent(t *testing.T) {
	s := newStore(t)
	content := bytes.Repeat([]byte("concurrent "), 10000)
	const n = 32
	var wg sync.WaitGroup
	digests := make([]Digest, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			digests[i], _, errs[i] = s.Put(bytes.NewReader(content))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Put %d: %v", i, errs[i])
		}
		if digests[i] != HashBytes(content) {
			t.Fatalf("Put %d digest %s", i, digests[i])
		}
	}
	if err := s.Verify(HashBytes(content)); err != nil {
		t.Fatal(err)
	}
	if names := tmpEntries(t, s); len(names) != 0 {
		t.Errorf("tmp not empty: %v", names)
	}
	shard, _ := os.ReadDir(filepath.Dir(s.Path(digests[0])))
	if len(shard) != 1 {
		t.Errorf("shard holds %d files, want 1", len(shard))
	}
}

func TestConcurrentPutDifferentContent(t *testing.T) {
	s := newStore(t)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := fmt.Appendf(nil, "blob %d", i)
			d, _, err := s.Put(bytes.NewReader(c))
			if err != nil {
				t.Error(err)
				return
			}
			if err := s.Verify(d); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

func TestPutCleansUpOnError(t *testing.T) {
	s := newStore(t)
	boom := errors.New("network cable unplugged")
	_, _, err := s.Put(&failingReader{n: 1 << 20, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("Put error = %v, want it to wrap the reader's error", err)
	}
	if names := tmpEntries(t, s); len(names) != 0 {
		t.Errorf("temporary files left after a failed Put: %v", names)
	}
	ents, _ := os.ReadDir(filepath.Join(s.Dir(), "sha256"))
	if len(ents) != 0 {
		t.Errorf("a failed Put created shard directories: %v", ents)
	}
}

// genReader produces n deterministic pseudo-random bytes without holding
// them.
type genReader struct {
	rng *rand.ChaCha8
	n   int64
}

func newGen(n int64) *genReader {
	return &genReader{rng: rand.NewChaCha8([32]byte{'p', 'a', 'w', 'l'}), n: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	g.rng.Read(p)
	g.n -= int64(len(p))
	return len(p), nil
}

func TestLargeBlobStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50 MB")
	}
	const size = 50 << 20
	h := sha256.New()
	if _, err := io.Copy(h, newGen(size)); err != nil {
		t.Fatal(err)
	}
	want := digestOf(h)

	s := newStore(t)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	d, n, err := s.Put(newGen(size))
	runtime.ReadMemStats(&m1)
	if err != nil {
		t.Fatal(err)
	}
	if d != want || n != size {
		t.Fatalf("Put = %s, %d; want %s, %d", d, n, want, size)
	}
	alloc := m1.TotalAlloc - m0.TotalAlloc
	t.Logf("Put of %d MB allocated %d KB in total", size>>20, alloc>>10)
	if alloc > 4<<20 {
		t.Errorf("Put allocated %d bytes for a %d byte blob: it is buffering", alloc, size)
	}

	runtime.ReadMemStats(&m0)
	r, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := s.Verify(d); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 4<<20 {
		t.Errorf("Open+Verify allocated %d bytes", alloc)
	}
}

func TestAdoptLinks(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "export.csv")
	content := []byte("id,value\n1,42\n")
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	d, n, err := s.Adopt(p)
	if err != nil {
		t.Fatal(err)
	}
	if d != HashBytes(content) || n != int64(len(content)) {
		t.Fatalf("Adopt = %s, %d", d, n)
	}
	src, _ := os.Stat(p)
	blob, err := os.Stat(s.Path(d))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(src, blob) {
		t.Error("Adopt copied instead of linking on the same filesystem")
	}
	if src.Mode().Perm() != 0o444 {
		t.Errorf("adopted file mode %v, want 0444", src.Mode().Perm())
	}
	if err := s.Verify(d); err != nil {
		t.Fatal(err)
	}

	// Adopting the same content again keeps the existing blob.
	p2 := filepath.Join(dir, "again.csv")
	os.WriteFile(p2, content, 0o644)
	if d2, _, err := s.Adopt(p2); err != nil || d2 != d {
		t.Fatalf("second Adopt = %s, %v", d2, err)
	}
	if blob2, _ := os.Stat(s.Path(d)); !os.SameFile(blob, blob2) {
		t.Error("second Adopt replaced the blob")
	}
}

func TestAdoptRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(filepath.Join(dir, "store"))
	target := filepath.Join(dir, "real")
	os.WriteFile(target, []byte("x"), 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	if _, _, err := s.Adopt(link); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Adopt(symlink) = %v", err)
	}
	if _, _, err := s.Adopt(dir); err == nil {
		t.Error("Adopt(directory) succeeded")
	}
	if _, _, err := s.Adopt(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Adopt(missing) = %v", err)
	}
}

func TestAdoptCrossFilesystemFallsBackToCopy(t *testing.T) {
	// /dev/shm is tmpfs on Linux: a different filesystem from TempDir on
	// most machines. Skip where it is not.
	shm, err := os.MkdirTemp("/dev/shm", "pawl-store-test-")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	defer os.RemoveAll(shm)
	s := newStore(t)
	p := filepath.Join(shm, "in.bin")
	content := []byte("across filesystems")
	os.WriteFile(p, content, 0o644)
	if err := os.Link(p, filepath.Join(s.Dir(), "tmp", "probe")); err == nil {
		os.Remove(filepath.Join(s.Dir(), "tmp", "probe"))
		t.Skip("/dev/shm is on the same filesystem as the test's TempDir")
	}
	d, _, err := s.Adopt(p)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.Stat(p)
	blob, _ := os.Stat(s.Path(d))
	if os.SameFile(src, blob) {
		t.Fatal("cross-filesystem adopt produced a link")
	}
	if src.Mode().Perm() != 0o444 {
		t.Errorf("source mode %v, want 0444", src.Mode().Perm())
	}
	if err := s.Verify(d); err != nil {
		t.Fatal(err)
	}
	if names := tmpEntries(t, s); len(names) != 0 {
		t.Errorf("tmp not empty: %v", names)
	}
}

func TestOpenRefusesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	os.WriteFile(p, nil, 0o644)
	if _, err := Open(p); err == nil {
		t.Fatal("Open on a regular file succeeded")
	}
}

func BenchmarkPut1MB(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for i := 0; b.Loop(); i++ {
		buf[0], buf[1], buf[2] = byte(i), byte(i>>8), byte(i>>16)
		if _, _, err := s.Put(bytes.NewReader(buf)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCleanTempRemovesAbandonedWrites(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	abandoned := filepath.Join(s.Dir(), "tmp", "put-123")
	if err := os.WriteFile(abandoned, []byte("half a blob"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, _, err := s.Put(strings.NewReader("kept"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CleanTemp(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abandoned); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("abandoned temp file still there: %v", err)
	}
	if err := s.Verify(d); err != nil {
		t.Fatalf("a blob was harmed: %v", err)
	}
}

// TestPutStoredWritesNothing: content stored already, in memory or in a
// small file (from the reader's position), is only hashed: Put works with
// no room for a temporary file, returns the digest and size of what it
// read and leaves the reader at its end; new content still needs one.
func TestPutStoredWritesNothing(t *testing.T) {
	s := newStore(t)
	content := []byte("header\npinned bytes")
	d, _, err := s.Put(bytes.NewReader(content[7:]))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(s.Dir(), "tmp")
	if err := os.Rename(tmp, tmp+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, nil, 0o600); err != nil { // no temporary file can be made in it
		t.Fatal(err)
	}
	br := bytes.NewReader(content)
	br.Seek(7, io.SeekStart)
	if got, n, err := s.Put(br); err != nil || got != d || n != int64(len(content)-7) || br.Len() != 0 {
		t.Fatalf("Put of stored bytes = %s, %d, %v (%d left); want %s, %d", got, n, err, br.Len(), d, len(content)-7)
	}
	path := filepath.Join(t.TempDir(), "pinned.txt")
	os.WriteFile(path, content, 0o644)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Seek(7, io.SeekStart)
	if got, n, err := s.Put(f); err != nil || got != d || n != int64(len(content)-7) {
		t.Fatalf("Put of a stored file = %s, %d, %v; want %s", got, n, err, d)
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(len(content)) {
		t.Fatalf("the file was left at %d, not at its end", pos)
	}
	if _, _, err := s.Put(bytes.NewReader([]byte("new bytes"))); err == nil {
		t.Fatal("new content was put without a temporary file")
	}
	os.Remove(tmp)
	os.Rename(tmp+".away", tmp)
}
