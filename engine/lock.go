package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/store"
)

// Pins maps a file (relative to the project root, slash-separated) to the
// sha256 digest it must have. It is the content of pawl.lock.
type Pins map[string]store.Digest

const lockHeader = "# pawl.lock: sha256 pins of every file the jobs reference. Written by `pawl pin`; do not edit by hand.\n"

// ReadPins reads pawl.lock. A missing file is an empty set of pins.
func ReadPins(root string) (Pins, error) {
	path := filepath.Join(root, LockFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Pins{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return ParsePins(b)
}

// ParsePins parses the lock file format: "PATH sha256:HEX" per line, '#' comments.
func ParsePins(b []byte) (Pins, error) {
	pins := Pins{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s line %d: want \"PATH sha256:HEX\", got %q: run `pawl pin` to rewrite it", LockFile, n, line)
		}
		d, err := store.ParseDigest(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %v: run `pawl pin` to rewrite it", LockFile, n, err)
		}
		if _, dup := pins[f[0]]; dup {
			return nil, fmt.Errorf("%s line %d: %s is pinned twice: run `pawl pin` to rewrite it", LockFile, n, f[0])
		}
		pins[f[0]] = d
	}
	return pins, sc.Err()
}

// Format renders pins in the lock file format, sorted by path.
func (p Pins) Format() []byte {
	var b bytes.Buffer
	b.WriteString(lockHeader)
	for _, k := range p.sorted() {
		fmt.Fprintf(&b, "%s %s\n", k, p[k])
	}
	return b.Bytes()
}

func (p Pins) sorted() []string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Digest is the digest of a set of pins: sha256 over their lock-file lines.
func (p Pins) Digest() store.Digest {
	h := sha256.New()
	for _, k := range p.sorted() {
		fmt.Fprintf(h, "%s %s\n", k, p[k])
	}
	return store.Digest("sha256:" + hex.EncodeToString(h.Sum(nil)))
}

// PinMismatchError says a referenced file differs from its pin.
type PinMismatchError struct {
	File     string
	Pinned   store.Digest // "" when the file was never pinned
	Actual   store.Digest // "" when the file is missing
	Missing  bool
	Unpinned bool
}

func (e *PinMismatchError) Error() string {
	switch {
	case e.Missing:
		return fmt.Sprintf("%s is pinned (%s) but missing: restore it, or run `pawl pin` to record its removal", e.File, e.Pinned)
	case e.Unpinned:
		return fmt.Sprintf("%s is not pinned (it hashes to %s): review it, then run `pawl pin`", e.File, e.Actual)
	}
	return fmt.Sprintf("%s does not match its pin: pinned %s, actual %s: review the change, then run `pawl pin`", e.File, e.Pinned, e.Actual)
}

// CheckPins hashes each file and compares it with its pin; it returns the
// job's own pins (the subset that feeds the batch id). Plugin pins
// ("plugin:name@version") must exist; their modules are checked against
// them when loaded.
func CheckPins(root string, pins Pins, files []string) (Pins, error) {
	out := Pins{}
	for _, f := range files {
		if id, ok := strings.CutPrefix(f, "plugin:"); ok {
			d, ok := pins[f]
			if !ok {
				return nil, fmt.Errorf("plugin %s is not pinned: add it with `pawl plugin add FILE`", id)
			}
			out[f] = d
			continue
		}
		want, ok := pins[f]
		got, _, err := store.HashFile(filepath.Join(root, filepath.FromSlash(f)))
		if errors.Is(err, os.ErrNotExist) {
			if !ok {
				return nil, fmt.Errorf("%s is referenced by the job but does not exist", f)
			}
			return nil, &PinMismatchError{File: f, Pinned: want, Missing: true}
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", f, err)
		}
		if !ok {
			return nil, &PinMismatchError{File: f, Actual: got, Unpinned: true}
		}
		if got != want {
			return nil, &PinMismatchError{File: f, Pinned: want, Actual: got}
		}
		out[f] = got
	}
	return out, nil
}

// PinChange is one line of a pin change.
type PinChange struct {
	File string       `json:"file"`
	Old  store.Digest `json:"old,omitempty"`
	New  store.Digest `json:"new,omitempty"`
}

// Pin hashes every file every job references, writes pawl.lock and audits
// the change. Job specs that do not parse are errors: a broken job cannot be
// pinned. It returns the changes (none when everything already matched).
func (p *Project) Pin(ctx context.Context, operator, reason string) ([]PinChange, error) {
	old, err := ReadPins(p.Root)
	if err != nil {
		return nil, err
	}
	names, err := ListJobs(p.Root)
	if err != nil {
		return nil, err
	}
	next := Pins{}
	for _, n := range names {
		j, err := LoadJob(p.Root, "jobs/"+n+".yaml")
		if err != nil {
			return nil, err
		}
		for _, f := range j.References() {
			d, _, err := p.Store.PutFile(filepath.Join(p.Root, filepath.FromSlash(f)))
			if err != nil {
				return nil, fmt.Errorf("job %s references %s: %w", n, f, err)
			}
			next[f] = d
		}
	}
	// The policy bundle is pinned as a whole: the sha256 of its file list
	// (its files and the list are kept in the store). It must load, with
	// the signature checks the configuration asks for.
	if d, ok, err := p.pinBundle(); err != nil {
		return nil, fmt.Errorf("pinning %s: %w", PolicyPinKey, err)
	} else if ok {
		next[PolicyPinKey] = d
	}
	// Plugins are pinned by `pawl plugin add`, not derived from files; they
	// stay pinned like go.sum lines.
	for k, d := range old {
		if strings.HasPrefix(k, "plugin:") {
			next[k] = d
		}
	}
	var changes []PinChange
	for _, f := range next.sorted() {
		if old[f] != next[f] {
			changes = append(changes, PinChange{File: f, Old: old[f], New: next[f]})
		}
	}
	for _, f := range old.sorted() {
		if _, ok := next[f]; !ok {
			changes = append(changes, PinChange{File: f, Old: old[f]})
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	if err := writeFileSync(filepath.Join(p.Root, LockFile), next.Format(), 0o644); err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "pins updated"
	}
	_, err = p.Trail.Append(ctx, audit.Entry{
		Operator: operator, Action: audit.ActionPinChanged, Object: "file:" + LockFile, Reason: reason,
		Details: mustJSON(map[string]any{"changes": changes, "pins_digest": next.Digest()}),
	})
	return changes, err
}
