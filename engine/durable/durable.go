// Package durable is the one place pawl makes bytes durable on disk: every
// file whose loss or tearing would matter after a crash or a power cut is
// written through it.
//
// What it guarantees: when a function returns nil, the data and the
// directory entry that names it have been fsynced. A file replaced with
// WriteFile is, after a crash at any point, either the old file or the new
// one, never a mix, never empty. WriteNew never replaces anything.
//
// What it does not do: it does not lock (one writer per file is the
// caller's business) and it cannot make a filesystem that ignores fsync
// honest.
package durable

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// syncs counts the fsyncs made through this package.
var syncs atomic.Int64

// Syncs is the number of fsyncs (of files and of directories) this process
// has made through this package: what a test counts to hold a path to the
// fsyncs its durability needs, and no more.
func Syncs() int64 { return syncs.Load() }

// WriteFile writes data to path through a temporary file in the same
// directory: write, chmod, fsync the file, rename it into place, fsync the
// directory. A crash leaves either the old file or the new one.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteFileFrom(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileFrom is WriteFile for a file fn writes as a stream.
func WriteFileFrom(path string, perm os.FileMode, fn func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; removes a failed attempt
	if err := fn(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := Finish(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// WriteNew creates path with data and mode perm and makes it durable. It
// refuses to replace an existing file (the error matches os.ErrExist) and
// removes what it created if any step fails.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := Finish(f); err != nil {
		os.Remove(path)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Finish fsyncs and closes a file that was written as a stream. The file is
// closed whatever happens.
func Finish(f *os.File) error {
	syncs.Add(1)
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", f.Name(), err)
	}
	return nil
}

// SyncDir fsyncs a directory, making the names created, renamed or removed
// in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	defer d.Close()
	syncs.Add(1)
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// Rename moves oldpath to newpath and fsyncs both parent directories, so
// that after a crash the entry is in exactly one of them.
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return fmt.Errorf("moving %s to %s: %w", oldpath, newpath, err)
	}
	err := SyncDir(filepath.Dir(newpath))
	if od := filepath.Dir(oldpath); od != filepath.Dir(newpath) {
		err = errors.Join(err, SyncDir(od))
	}
	return err
}

// Scrub overwrites the regular file at path with zeros, in place, and
// fsyncs it, before the caller removes or replaces it: a key that is
// destroyed should not be left readable in the file's blocks. On a copy-on-
// write or flash file system the old blocks may survive elsewhere; the
// overwrite is what a program can do, not a guarantee.
func Scrub(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("scrubbing %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("scrubbing %s: not a regular file", path)
	}
	if _, err := f.WriteAt(make([]byte, fi.Size()), 0); err != nil {
		f.Close()
		return fmt.Errorf("scrubbing %s: %w", path, err)
	}
	return Finish(f)
}
