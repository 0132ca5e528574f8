package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"

	"github.com/pawl-dev/pawl/engine/durable"
)

// File is a file being written that is to become a blob: every byte
// written goes to the file and into its SHA-256 in the same call, so that
// AdoptFile can add it to the store without reading it again.
//
// Why that hash can be trusted without a second read:
//
//   - It is the hash of exactly the bytes write(2) accepted for this file
//     in this process: a failed or short write fails the File for good
//     (every later Write and Finish return that error), so the hash never
//     covers bytes the file does not hold or misses bytes it does.
//   - The file is created new (O_EXCL) with mode 0444: no other open of it
//     can write; only this File's descriptor, opened at creation, can.
//   - Finish fsyncs it before it is closed, and records its identity,
//     size and modification time; AdoptFile refuses a file whose identity,
//     size or modification time are not those any more, before and after
//     it links it into the store.
//
// What it cannot see is what no check short of reading can: a change of
// content by the owner or root that keeps size and modification time
// (chmod, write, then set the time back). Reading through Store.Open and
// Store.Verify still re-hash a blob and report that as corruption, as for
// any blob.
type File struct {
	f    *os.File
	path string
	h    hash.Hash
	n    int64
	err  error       // the first failure: sticky
	fi   fs.FileInfo // set by Finish
	wb   writeBehind
}

// writeBehindWindow is how many bytes a File writes before it starts
// their writeback (writeBehind, on Linux).
const writeBehindWindow = 8 << 20

// Create creates a new file at path (mode 0444; an existing file is
// refused: the error matches fs.ErrExist) to be written through a File.
func Create(path string) (*File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, blobMode)
	if err != nil {
		return nil, fmt.Errorf("store: create %s: %w", path, err)
	}
	return &File{f: f, path: path, h: sha256.New()}, nil
}

// Name returns the path the file was created at.
func (w *File) Name() string { return w.path }

// Size returns how many bytes were written.
func (w *File) Size() int64 { return w.n }

// Write writes p to the file and hashes the part of it that was written.
// A failed or short write is an error from then on: the file is not a
// blob any more.
func (w *File) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.fi != nil {
		w.err = fmt.Errorf("store: write %s after it was finished", w.path)
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	w.wb.wrote(w.f, w.n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("store: write %s: %d of %d bytes written at offset %d: %w", w.path, n, len(p), w.n-int64(n), err)
		return n, w.err
	}
	return n, nil
}

// Finish makes the file durable (fsync) and closes it, and returns the
// digest and size of what was written. After a failed write it returns
// that failure.
func (w *File) Finish() (Digest, int64, error) {
	if w.err != nil {
		w.f.Close()
		return "", w.n, w.err
	}
	if w.fi != nil {
		return digestOf(w.h), w.n, nil
	}
	fi, err := w.f.Stat()
	if err == nil && fi.Size() != w.n {
		err = fmt.Errorf("%d bytes written but the file holds %d", w.n, fi.Size())
	}
	if err != nil {
		w.f.Close()
		w.err = fmt.Errorf("store: finish %s: %w", w.path, err)
		return "", w.n, w.err
	}
	if err := durable.Finish(w.f); err != nil {
		w.err = fmt.Errorf("store: finish %s: %w", w.path, err)
		return "", w.n, w.err
	}
	// The modification time after the last write: fsync does not change it.
	w.fi = fi
	return digestOf(w.h), w.n, nil
}

// Abort closes the file and removes it, unless it was finished.
func (w *File) Abort() {
	if w.fi == nil {
		w.f.Close()
		os.Remove(w.path)
	}
}

// unchanged says whether the file at w's path is still the one Finish
// closed: same identity, size and modification time.
func (w *File) unchanged() error {
	now, err := os.Lstat(w.path)
	if err != nil {
		return err
	}
	switch {
	case !os.SameFile(w.fi, now):
		return errors.New("it was replaced by another file")
	case now.Size() != w.n:
		return fmt.Errorf("%d bytes were written and hashed, it holds %d now", w.n, now.Size())
	case !now.ModTime().Equal(w.fi.ModTime()):
		return fmt.Errorf("it was modified at %s, after it was finished (at %s)", now.ModTime().UTC().Format("15:04:05.000000000"), w.fi.ModTime().UTC().Format("15:04:05.000000000"))
	}
	return nil
}

// AdoptFile adds a finished File to the store under the digest computed
// while it was written, without reading it again (see File for why that
// digest can be trusted): the file is hard-linked to its content path, as
// Adopt does, or copied where it cannot be linked (the copy is hashed and
// must match). It refuses a File that failed or was not finished, and a
// file that is no longer the one finished (identity, size or modification
// time changed); the refusal names the file and what changed.
func (s *Store) AdoptFile(w *File) (Digest, int64, error) {
	if w.err != nil {
		return "", 0, fmt.Errorf("store: adopt %s: %w", w.path, w.err)
	}
	if w.fi == nil {
		return "", 0, fmt.Errorf("store: adopt %s: not finished (Finish fsyncs it first)", w.path)
	}
	d, n := digestOf(w.h), w.n
	if err := w.unchanged(); err != nil {
		return "", 0, fmt.Errorf("store: adopt %s: the file changed after it was written: %w; it is not stored", w.path, err)
	}
	err := s.install(w.path, d, true)
	if err != nil {
		var le *os.LinkError
		if !errors.As(err, &le) || !canFallBackToCopy(le.Err) {
			return "", 0, fmt.Errorf("store: adopt %s as %s: %w", w.path, d, err)
		}
		// Not linkable: a copy, hashed again on the way, must be the
		// bytes that were written.
		d2, n2, err := s.PutFile(w.path)
		if err != nil {
			return "", 0, fmt.Errorf("store: adopt %s by copy: %w", w.path, err)
		}
		if d2 != d || n2 != n {
			return "", 0, fmt.Errorf("store: adopt %s: the file changed after it was written (wrote %s, %d bytes; copied %s, %d bytes)", w.path, d, n, d2, n2)
		}
		return d, n, nil
	}
	if err := w.unchanged(); err != nil {
		// The link may name content that does not match d: remove it if
		// it is still this file's inode.
		dst := s.Path(d)
		if bi, serr := os.Stat(dst); serr == nil && os.SameFile(bi, w.fi) {
			os.Remove(dst)
		}
		return "", 0, fmt.Errorf("store: adopt %s: the file changed while it was adopted: %w; it is not stored", w.path, err)
	}
	return d, n, nil
}
