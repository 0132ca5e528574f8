package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/pawl-dev/pawl/engine/durable"
)

// ErrInputChanged is matched by the error of an Ingest whose file did not
// read as the digest and size it was started with.
var ErrInputChanged = errors.New("the input changed while it was read")

// Ingest copies a file into the store while its reader reads it, instead
// of before: one read of the file feeds the reader, the copy and the
// copy's hash. It is started with the digest and size of an earlier read
// of the same file (HashFile), which named the input before it was read
// again; the copy is stored under that digest only if the bytes read now
// hash to it, so the bytes the reader was given are the bytes stored under
// the name on record. Reading to the end checks that (Read returns an
// error matching ErrInputChanged instead of io.EOF, and the copy is never
// stored); Commit then makes the copy durable and installs it, as Put
// does.
//
// An Ingest is read by one goroutine; ReadAt reads the copy of what Read
// has already returned and may be called from others.
type Ingest struct {
	s        *Store
	path     string
	src      *os.File
	tmp      *os.File
	want     Digest
	wantSize int64
	h        hash.Hash
	n        int64
	copied   atomic.Int64 // n, for ReadAt on other goroutines
	err      error        // sticky: io.EOF once checked, or the failure
	done     bool         // committed
}

// Ingest opens the file at path to be read and copied into the store as
// the blob want, of size bytes (see type Ingest). Close it in any case.
func (s *Store) Ingest(path string, want Digest, size int64) (*Ingest, error) {
	if _, err := ParseDigest(string(want)); err != nil {
		return nil, err
	}
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("store: put %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("store: put: create temporary file in %s: %w", s.dir, err)
	}
	return &Ingest{s: s, path: path, src: src, tmp: tmp, want: want, wantSize: size, h: sha256.New()}, nil
}

// Read reads the file, copying and hashing what it returns. At the end of
// the file it returns io.EOF only if what was read is the digest and size
// the Ingest was started with.
func (g *Ingest) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.src.Read(p)
	if n > 0 {
		if _, werr := g.tmp.Write(p[:n]); werr != nil {
			g.err = fmt.Errorf("store: put %s: copy to %s after %d bytes: %w", g.path, g.tmp.Name(), g.n, werr)
			return 0, g.err
		}
		g.h.Write(p[:n])
		g.n += int64(n)
		g.copied.Store(g.n)
		if g.n > g.wantSize {
			g.err = fmt.Errorf("%w: %s was %d bytes (%s) when it was hashed before the run, and had grown to %d bytes as the run read it; nothing of it is stored: run it again once it is complete", ErrInputChanged, g.path, g.wantSize, g.want, g.n)
			return 0, g.err
		}
	}
	if err == io.EOF {
		if got := digestOf(g.h); got != g.want || g.n != g.wantSize {
			g.err = fmt.Errorf("%w: %s was %d bytes (%s) when it was hashed before the run, and read %d bytes (%s) as the run read it; nothing of it is stored: run it again once it is complete", ErrInputChanged, g.path, g.wantSize, g.want, g.n, got)
			return n, g.err
		}
		g.err = io.EOF
		return n, io.EOF
	}
	if err != nil {
		g.err = fmt.Errorf("store: read %s after %d bytes: %w", g.path, g.n, err)
		return n, g.err
	}
	return n, nil
}

// ReadAt reads the copy: the bytes Read has returned, before off+len(p).
func (g *Ingest) ReadAt(p []byte, off int64) (int, error) {
	if n := g.copied.Load(); off < 0 || off+int64(len(p)) > n {
		return 0, fmt.Errorf("store: put %s: read of %d bytes at %d past the %d bytes read so far", g.path, len(p), off, n)
	}
	return g.tmp.ReadAt(p, off)
}

// Commit reads what is left of the file (all of it when nothing was read)
// and, when it hashes to the digest the Ingest was started with, makes the
// copy durable and installs it as that blob. A blob already stored is
// kept. It returns the failure of Read, if there was one.
func (g *Ingest) Commit() error {
	if g.done {
		return nil
	}
	if g.err == nil {
		if _, err := io.CopyBuffer(io.Discard, g, make([]byte, copyBufSize)); err != nil {
			return err
		}
	}
	if g.err != io.EOF {
		return g.err
	}
	if err := g.tmp.Chmod(blobMode); err != nil {
		return fmt.Errorf("store: put %s: chmod %s: %w", g.path, g.tmp.Name(), err)
	}
	if err := durable.Finish(g.tmp); err != nil {
		return fmt.Errorf("store: put %s: %w", g.path, err)
	}
	if err := g.s.install(g.tmp.Name(), g.want, false); err != nil {
		return err
	}
	g.done = true
	os.Remove(g.tmp.Name())
	return nil
}

// Committed says whether Commit has installed the copy.
func (g *Ingest) Committed() bool { return g.done }

// Close closes the file and removes the copy's temporary file (after
// Commit, the blob has its own name).
func (g *Ingest) Close() error {
	g.src.Close()
	if g.done {
		return nil
	}
	g.tmp.Close()
	if err := os.Remove(g.tmp.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
