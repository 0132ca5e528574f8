package egress

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// outbox is a file:// destination: a directory inside the perimeter,
// below the outbox directory a whitelisted prefix names.
type outbox struct {
	dir    string // the outbox: the whitelisted prefix's path
	rel    string // the destination directory below it
	prefix string
}

// newOutbox splits a canonical file URL at the prefix that allowed it: the
// outbox directory (the prefix's path) and the directory below it.
func newOutbox(canonical, prefix string) (*outbox, error) {
	op, err := url.PathUnescape(strings.TrimPrefix(prefix, "file://"))
	if err != nil {
		return nil, err
	}
	rp, err := url.PathUnescape(canonical[len(prefix):])
	if err != nil {
		return nil, err
	}
	return &outbox{dir: filepath.FromSlash(op), rel: filepath.FromSlash(strings.TrimSuffix(rp, "/")), prefix: prefix}, nil
}

// Send writes the files into the outbox directory the policy allowed,
// under temporary names first, each fsynced, read back and hashed, and then
// renamed into place in order, the signature last: a reader that sees
// signature.json sees the rest, and a crash leaves at most temporary files
// and a prefix of the batch's files, never a torn one.
//
// Every destination is checked before anything is written: no symlink may
// lead out of the outbox, and a file that already exists must be the very
// file this export would write (a retry of an interrupted export of the same
// batch finishes it; anything else is refused: an export never overwrites).
// Writes go through os.Root (policies.CreateInOutbox), so a symlink planted
// after the check cannot lead out either. On failure the files this attempt
// wrote are removed.
func (o *outbox) Send(_ context.Context, batchID string, files []File) ([]actions.ExportedFile, error) {
	if fi, err := os.Stat(o.dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("outbox %s (from the whitelisted prefix %s) is not an existing directory: create it; pawl does not create outboxes", o.dir, o.prefix)
	}
	root, err := os.OpenRoot(o.dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	finals := make([]string, len(files))
	temps := make([]string, len(files))
	there := make([]bool, len(files)) // already in place from an earlier attempt
	for i, f := range files {
		finals[i] = filepath.Join(o.rel, f.Name)
		temps[i] = filepath.Join(o.rel, "."+f.Name+"."+shortBatch(batchID)+".partial")
		for _, rel := range []string{finals[i], temps[i]} {
			if _, err := policies.ResolveFileDestination(o.dir, rel); err != nil {
				return nil, &gate.DeniedError{Reasons: []string{err.Error()}, Hint: "pawl writes only inside the whitelisted outbox"}
			}
		}
		switch got, err := hashIn(root, finals[i]); {
		case err == nil && got == f.Hash:
			there[i] = true
		case err == nil:
			return nil, fmt.Errorf("%s already exists with other content (%s, this export is %s): an export never overwrites; choose another destination directory", filepath.Join(o.dir, finals[i]), got, f.Hash)
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("%s: %w", filepath.Join(o.dir, finals[i]), err)
		}
	}
	var written []int // temporary files of this attempt, then files renamed by it
	renamed := map[int]bool{}
	undo := func(err error) ([]actions.ExportedFile, error) {
		for _, i := range written {
			if renamed[i] {
				root.Remove(finals[i])
			} else {
				root.Remove(temps[i])
			}
		}
		return nil, err
	}
	out := make([]actions.ExportedFile, len(files))
	for i, f := range files {
		out[i] = actions.ExportedFile{Name: f.Name, To: filepath.Join(o.dir, finals[i]), Hash: f.Hash, Bytes: f.Size, Confirmed: there[i]}
		if there[i] {
			continue
		}
		root.Remove(temps[i]) // left by an attempt that was cut short
		w, err := policies.CreateInOutbox(o.dir, temps[i])
		if err != nil {
			return undo(&gate.DeniedError{Reasons: []string{err.Error()}, Hint: "pawl writes only inside the whitelisted outbox"})
		}
		written = append(written, i)
		if werr := copyFile(w, f); werr != nil {
			w.Close()
			return undo(fmt.Errorf("writing %s: %w", filepath.Join(o.dir, temps[i]), werr))
		}
		if err := durable.Finish(w); err != nil {
			return undo(err)
		}
		if got, err := hashIn(root, temps[i]); err != nil {
			return undo(fmt.Errorf("reading back %s: %w", filepath.Join(o.dir, temps[i]), err))
		} else if got != f.Hash {
			return undo(fmt.Errorf("%s: wrote %s, the destination holds %s", filepath.Join(o.dir, temps[i]), f.Hash, got))
		}
		failpoint.Hit("export.after-file")
	}
	for i := range files {
		if there[i] {
			continue
		}
		if err := root.Rename(temps[i], finals[i]); err != nil {
			return undo(fmt.Errorf("moving %s into place: %w", filepath.Join(o.dir, finals[i]), err))
		}
		renamed[i] = true
		out[i].Confirmed = true
		failpoint.Hit("export.after-rename")
	}
	if err := durable.SyncDir(filepath.Join(o.dir, o.rel)); err != nil {
		return undo(err)
	}
	return out, nil
}

// copyFile writes f to w as a stream.
func copyFile(w io.Writer, f File) error {
	r, err := f.open()
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

// hashIn hashes the file rel below root.
func hashIn(root *os.Root, rel string) (store.Digest, error) {
	f, err := root.Open(rel)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return store.Digest("sha256:" + hex.EncodeToString(h.Sum(nil))), nil
}

func shortBatch(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
