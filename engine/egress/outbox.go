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

// Send writes the files into the outbox directory the policy allowed.
// Every destination is checked before anything is written (no symlink may
// lead out of the outbox, no file may exist already); writes go through
// os.Root (policies.CreateInOutbox), so a symlink planted after the check
// cannot lead out either; each file is fsynced, read back and hashed. On
// any failure the files written so far are removed.
func (o *outbox) Send(_ context.Context, _ string, files []File) ([]actions.ExportedFile, error) {
	if fi, err := os.Stat(o.dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("outbox %s (from the whitelisted prefix %s) is not an existing directory: create it; pawl does not create outboxes", o.dir, o.prefix)
	}
	rels := make([]string, len(files))
	for i, f := range files {
		rels[i] = filepath.Join(o.rel, f.Name)
		real, err := policies.ResolveFileDestination(o.dir, rels[i])
		if err != nil {
			return nil, &gate.DeniedError{Reasons: []string{err.Error()}, Hint: "pawl writes only inside the whitelisted outbox"}
		}
		if _, err := os.Lstat(real); err == nil {
			return nil, fmt.Errorf("%s already exists: an export never overwrites; choose another destination directory", real)
		}
	}
	root, err := os.OpenRoot(o.dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var done []actions.ExportedFile
	undo := func(err error) ([]actions.ExportedFile, error) {
		for i := range done {
			root.Remove(rels[i])
		}
		return nil, err
	}
	for i, f := range files {
		w, err := policies.CreateInOutbox(o.dir, rels[i])
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return undo(fmt.Errorf("%s: an export never overwrites: %w", rels[i], err))
			}
			return undo(&gate.DeniedError{Reasons: []string{err.Error()}, Hint: "pawl writes only inside the whitelisted outbox"})
		}
		to := filepath.Join(o.dir, rels[i])
		done = append(done, actions.ExportedFile{Name: f.Name, To: to, Hash: f.Hash, Bytes: int64(len(f.Data))})
		if _, werr := w.Write(f.Data); werr != nil {
			w.Close()
			return undo(fmt.Errorf("writing %s: %w", to, werr))
		}
		if err := durable.Finish(w); err != nil {
			return undo(err)
		}
		// Read it back through the root and compare.
		back, err := root.Open(rels[i])
		if err != nil {
			return undo(fmt.Errorf("reading back %s: %w", to, err))
		}
		h := sha256.New()
		_, err = io.Copy(h, back)
		back.Close()
		if err != nil {
			return undo(fmt.Errorf("reading back %s: %w", to, err))
		}
		if got := store.Digest("sha256:" + hex.EncodeToString(h.Sum(nil))); got != f.Hash {
			return undo(fmt.Errorf("%s: wrote %s, the destination holds %s", to, f.Hash, got))
		}
		done[len(done)-1].Confirmed = true
	}
	if err := durable.SyncDir(filepath.Join(o.dir, o.rel)); err != nil {
		return undo(err)
	}
	return done, nil
}
