package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/pawl-dev/pawl/engine/durable"
)

// Digest is the name of a blob: "sha256:" followed by 64 lowercase hex
// digits of the SHA-256 of its content.
type Digest string

const (
	digestPrefix = "sha256:"
	hexLen       = sha256.Size * 2

	blobMode = 0o444
	dirMode  = 0o700

	// copyBufSize bounds the memory one Put or hash uses, whatever the
	// blob size.
	copyBufSize = 256 << 10
)

// ParseDigest checks that s is a digest in canonical form and returns it.
// Upper-case hex, other algorithms and missing prefixes are refused rather
// than normalised, so that two spellings can never name the same blob.
func ParseDigest(s string) (Digest, error) {
	if len(s) != len(digestPrefix)+hexLen || s[:len(digestPrefix)] != digestPrefix {
		return "", fmt.Errorf("store: invalid digest %q: want %q followed by %d lowercase hex digits", s, digestPrefix, hexLen)
	}
	for i := len(digestPrefix); i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", fmt.Errorf("store: invalid digest %q: character %q at offset %d is not a lowercase hex digit", s, c, i)
		}
	}
	return Digest(s), nil
}

// Hex returns the 64 hex digits of d without the "sha256:" prefix, or ""
// if d is not a valid digest.
func (d Digest) Hex() string {
	if _, err := ParseDigest(string(d)); err != nil {
		return ""
	}
	return string(d[len(digestPrefix):])
}

// String returns d as written.
func (d Digest) String() string { return string(d) }

func digestOf(h hash.Hash) Digest {
	return Digest(digestPrefix + hex.EncodeToString(h.Sum(nil)))
}

// HashBytes returns the digest of b.
func HashBytes(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest(digestPrefix + hex.EncodeToString(sum[:]))
}

// HashFile returns the digest and size of the file at path, streaming it.
func HashFile(path string) (Digest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("store: hash %s: %w", path, err)
	}
	defer f.Close()
	d, n, err := hashReader(f)
	if err != nil {
		return "", 0, fmt.Errorf("store: hash %s: %w", path, err)
	}
	return d, n, nil
}

// HashReader returns the digest and size of what r reads, streaming it.
func HashReader(r io.Reader) (Digest, int64, error) { return hashReader(r) }

func hashReader(r io.Reader) (Digest, int64, error) {
	h := sha256.New()
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	n, err := io.CopyBuffer(h, r, *buf)
	if err != nil {
		return "", n, err
	}
	return digestOf(h), n, nil
}

// CorruptError reports a blob whose content no longer hashes to its name.
type CorruptError struct {
	Digest Digest // the name the blob is stored under
	Path   string // where it is stored
	Actual Digest // what its content hashes to now
	Size   int64  // how many bytes were hashed
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store: blob %s at %s is corrupt: its %d bytes hash to %s", e.Digest, e.Path, e.Size, e.Actual)
}

// Store is a content-addressed blob store rooted at a directory. A Store
// holds no open files and is safe for concurrent use.
type Store struct {
	dir string
}

// Open opens the store rooted at dir, creating dir (mode 0700) and its
// subdirectories if they are missing.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: open: empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, "sha256"), filepath.Join(abs, "tmp")} {
		if err := os.MkdirAll(d, dirMode); err != nil {
			return nil, fmt.Errorf("store: open %s: %w", abs, err)
		}
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store: open %s: not a directory", abs)
	}
	return &Store{dir: abs}, nil
}

// OpenReadOnly opens the store rooted at dir for reading only: it creates
// nothing, and refuses a missing directory.
func OpenReadOnly(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store: open %s: not a directory", abs)
	}
	return &Store{dir: abs}, nil
}

// Dir returns the absolute directory the store is rooted at.
func (s *Store) Dir() string { return s.dir }

// Path returns where the blob named d is (or would be) stored, or "" if d
// is not a valid digest; an invalid digest never yields a path, so a
// crafted one cannot point outside the store.
func (s *Store) Path(d Digest) string {
	h := d.Hex()
	if h == "" {
		return ""
	}
	return filepath.Join(s.dir, "sha256", h[:2], h)
}

func (s *Store) checkedPath(d Digest) (string, error) {
	if _, err := ParseDigest(string(d)); err != nil {
		return "", err
	}
	return s.Path(d), nil
}

// Has reports whether a blob named d is present. It does not check the
// content; use Verify for that.
func (s *Store) Has(d Digest) bool {
	p := s.Path(d)
	if p == "" {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// copyBufs are the copy buffers of Put and the hashes: a run puts or
// hashes a dozen small files, and a fresh 256 KiB buffer (zeroed) for each
// was a few milliseconds of a 10-record run.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// smallPut is the largest content Put hashes before it writes anything,
// to find it stored already: the files a run pins are put again every
// run, and nearly all of them are stored (reading such a file twice when
// it is new costs less than a temporary file each time it is not).
const smallPut = 1 << 20

// Put stores the content of r and returns its digest and size. The content
// is streamed to a temporary file while it is hashed, so memory use does not
// depend on its size. If the content is already stored, the existing blob is
// kept; content in memory (a *bytes.Reader) or a small file that is stored
// already is only hashed, no temporary file written.
func (s *Store) Put(r io.Reader) (Digest, int64, error) {
	if d, n, ok := s.storedAlready(r); ok {
		return d, n, nil
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("store: put: create temporary file in %s: %w", s.dir, err)
	}
	tmpName := tmp.Name()
	// The temporary file goes whatever happens: on success its content
	// lives on under the blob's own name.
	defer os.Remove(tmpName)

	h := sha256.New()
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), r, *buf)
	copyBufs.Put(buf)
	if err != nil {
		tmp.Close()
		return "", n, fmt.Errorf("store: put: copy to %s after %d bytes: %w", tmpName, n, err)
	}
	d := digestOf(h)
	if fi, err := os.Lstat(s.Path(d)); err == nil && fi.Mode().IsRegular() {
		// Stored already, and durable since it was installed (its content
		// fsynced before it was linked under its name, its shard directory
		// after): this copy goes without an fsync of its own, as it would
		// when install found the name taken. A run puts every pinned file
		// again, and nearly all of them are stored already.
		tmp.Close()
		return d, n, nil
	}
	if err := tmp.Chmod(blobMode); err != nil {
		tmp.Close()
		return "", n, fmt.Errorf("store: put: chmod %s: %w", tmpName, err)
	}
	if err := durable.Finish(tmp); err != nil {
		return "", n, fmt.Errorf("store: put: %w", err)
	}
	if err := s.install(tmpName, d, false); err != nil {
		return "", n, err
	}
	return d, n, nil
}

// storedAlready hashes what r holds from its position when that is in
// memory or a small regular file, and reports whether the store has it:
// then r is read to its end, as Put would have. Otherwise r is left where
// it was (ok false).
func (s *Store) storedAlready(r io.Reader) (d Digest, n int64, ok bool) {
	var (
		ra   io.ReaderAt
		pos  int64
		size int64
		end  func()
	)
	switch v := r.(type) {
	case *bytes.Reader:
		pos, _ = v.Seek(0, io.SeekCurrent)
		ra, size, end = v, v.Size(), func() { v.Seek(0, io.SeekEnd) }
	case *os.File:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > smallPut {
			return "", 0, false
		}
		if pos, err = v.Seek(0, io.SeekCurrent); err != nil {
			return "", 0, false
		}
		ra, size = v, fi.Size()
		end = func() {
			// A file that changed while it was hashed is put as Put
			// reads it, from where it was.
			if fi2, err := v.Stat(); err != nil || fi2.Size() != fi.Size() || !fi2.ModTime().Equal(fi.ModTime()) {
				ok = false
				return
			}
			v.Seek(0, io.SeekEnd)
		}
	default:
		return "", 0, false
	}
	if pos > size {
		return "", 0, false
	}
	d, n, err := hashReader(io.NewSectionReader(ra, pos, size-pos))
	if err != nil || n != size-pos {
		return "", 0, false
	}
	if fi, err := os.Lstat(s.Path(d)); err != nil || !fi.Mode().IsRegular() {
		return "", 0, false
	}
	ok = true
	end()
	if !ok {
		return "", 0, false
	}
	return d, n, true
}

// PutFile stores a copy of the file at path; see Put.
func (s *Store) PutFile(path string) (Digest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("store: put %s: %w", path, err)
	}
	defer f.Close()
	d, n, err := s.Put(f)
	if err != nil {
		return "", 0, fmt.Errorf("store: put %s: %w", path, err)
	}
	return d, n, nil
}

// install gives the finished file src its content name. A hard link is
// used rather than a rename because link(2) never replaces an existing
// name: whichever of several concurrent writers of the same content comes
// first wins, and the blob already on disk is never touched. If the
// filesystem cannot link, it falls back to rename, which is safe because
// any existing blob of that name has the same content or is corrupt, and a
// corrupt blob is left in place for Verify to report rather than silently
// repaired — see the existence check below.
func (s *Store) install(src string, d Digest, mustLink bool) error {
	dst := s.Path(d)
	shard := filepath.Dir(dst)
	if err := os.Mkdir(shard, dirMode); err == nil {
		if err := durable.SyncDir(filepath.Dir(shard)); err != nil {
			return fmt.Errorf("store: put %s: %w", d, err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("store: put %s: create %s: %w", d, shard, err)
	}
	err := os.Link(src, dst)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return nil
	case mustLink:
		return err
	default:
		if _, serr := os.Lstat(dst); serr == nil {
			return nil
		}
		if rerr := os.Rename(src, dst); rerr != nil {
			return fmt.Errorf("store: put %s: link %s to %s: %v; rename: %w", d, src, dst, err, rerr)
		}
	}
	if err := durable.SyncDir(shard); err != nil {
		return fmt.Errorf("store: put %s: %w", d, err)
	}
	return nil
}

// Adopt adds the existing regular file at path to the store without
// copying it: after hashing, the file is made read-only (0444) and
// hard-linked to its content path, so the original name and the blob share
// one inode. Across filesystems (or where hard links are not permitted) it
// falls back to a copy; the original is made read-only either way, since
// the caller is handing it over. Adopt refuses symlinks and other
// non-regular files, and a file that changed while it was being hashed.
func (s *Store) Adopt(path string) (Digest, int64, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", 0, fmt.Errorf("store: adopt %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", 0, fmt.Errorf("store: adopt %s: not a regular file (mode %s)", path, fi.Mode())
	}
	// Read-only first, so that nobody opening the file from now on can
	// write to it; a writer that already has it open is caught by the
	// before/after comparison below.
	if err := os.Chmod(path, blobMode); err != nil {
		return "", 0, fmt.Errorf("store: adopt %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("store: adopt %s: %w", path, err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("store: adopt %s: %w", path, err)
	}
	if !os.SameFile(fi, before) {
		return "", 0, fmt.Errorf("store: adopt %s: file was replaced while being adopted", path)
	}
	d, n, err := hashReader(f)
	if err != nil {
		return "", 0, fmt.Errorf("store: adopt %s: hash: %w", path, err)
	}
	if n != before.Size() {
		return "", 0, fmt.Errorf("store: adopt %s: file changed while being hashed (size %d at start, %d bytes read)", path, before.Size(), n)
	}

	err = s.install(path, d, true)
	if err != nil {
		var le *os.LinkError
		if !errors.As(err, &le) || !canFallBackToCopy(le.Err) {
			return "", 0, fmt.Errorf("store: adopt %s as %s: %w", path, d, err)
		}
		// Not linkable: copy from the descriptor we hashed, and let Put
		// recompute the digest so that a change in between is not
		// recorded under the old name.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", 0, fmt.Errorf("store: adopt %s: %w", path, err)
		}
		d2, n2, err := s.Put(f)
		if err != nil {
			return "", 0, fmt.Errorf("store: adopt %s by copy: %w", path, err)
		}
		if d2 != d || n2 != n {
			return "", 0, fmt.Errorf("store: adopt %s: file changed while being adopted (hashed %s, %d bytes; copied %s, %d bytes)", path, d, n, d2, n2)
		}
		return d, n, nil
	}

	after, err := os.Stat(path)
	if err != nil {
		return "", 0, fmt.Errorf("store: adopt %s: %w", path, err)
	}
	if !os.SameFile(before, after) || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		// The link may now name content that does not match d; it is the
		// blob's own name, so only remove it if it is still our inode.
		dst := s.Path(d)
		if bi, err := os.Stat(dst); err == nil && os.SameFile(bi, after) {
			os.Remove(dst)
		}
		return "", 0, fmt.Errorf("store: adopt %s: file changed while being adopted (size %d→%d, mtime %s→%s)",
			path, before.Size(), after.Size(), before.ModTime(), after.ModTime())
	}
	return d, n, nil
}

func canFallBackToCopy(err error) bool {
	return errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EPERM) ||
		errors.Is(err, syscall.EMLINK) || errors.Is(err, syscall.ENOTSUP) ||
		errors.Is(err, syscall.EOPNOTSUPP)
}

// Reader reads one blob and checks it: when the content is exhausted it
// returns a *CorruptError instead of io.EOF if the bytes read do not hash
// to the blob's digest. Callers that stop before EOF get no check.
type Reader struct {
	f      *os.File
	d      Digest
	path   string
	size   int64
	h      hash.Hash
	n      int64
	result error // sticky end-of-content result: io.EOF or *CorruptError
}

// Size returns the size of the blob when it was opened.
func (r *Reader) Size() int64 { return r.size }

// Read reads from the blob, verifying it at the end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.result != nil {
		return 0, r.result
	}
	n, err := r.f.Read(p)
	if n > 0 {
		r.h.Write(p[:n])
		r.n += int64(n)
	}
	if err == io.EOF {
		if got := digestOf(r.h); got != r.d {
			r.result = &CorruptError{Digest: r.d, Path: r.path, Actual: got, Size: r.n}
		} else {
			r.result = io.EOF
		}
		return n, r.result
	}
	if err != nil {
		return n, fmt.Errorf("store: read %s at %s: %w", r.d, r.path, err)
	}
	return n, nil
}

// Close closes the underlying file.
func (r *Reader) Close() error { return r.f.Close() }

// Open opens the blob named d for reading. A missing blob is reported with
// an error that matches fs.ErrNotExist.
func (s *Store) Open(d Digest) (*Reader, error) {
	p, err := s.checkedPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("store: open blob %s: %w", d, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: open blob %s: %w", d, err)
	}
	return &Reader{f: f, d: d, path: p, size: fi.Size(), h: sha256.New()}, nil
}

// Verify rehashes the blob named d. It returns a *CorruptError if the
// content does not match, and an error matching fs.ErrNotExist if the blob
// is missing.
func (s *Store) Verify(d Digest) error {
	p, err := s.checkedPath(d)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("store: verify blob %s: %w", d, err)
	}
	defer f.Close()
	got, n, err := hashReader(f)
	if err != nil {
		return fmt.Errorf("store: verify blob %s at %s: %w", d, p, err)
	}
	if got != d {
		return &CorruptError{Digest: d, Path: p, Actual: got, Size: n}
	}
	return nil
}

// CleanTemp removes the temporary files that writers killed mid-Put left
// behind. The caller must hold whatever lock keeps other writers out: a
// temporary file being written is indistinguishable from an abandoned one.
func (s *Store) CleanTemp() error {
	dir := filepath.Join(s.dir, "tmp")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("store: clean %s: %w", dir, err)
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: clean %s: %w", dir, err)
		}
	}
	return nil
}
