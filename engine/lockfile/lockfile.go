// Package lockfile is pawl.lock: the sha256 pin of every file the jobs
// reference, of every plugin module and of the policy bundle, like go.sum.
//
// It guarantees one spelling: Format writes the pins sorted by path, one
// "PATH sha256:HEX" line each, so equal pins give equal bytes and the same
// Digest. Parse refuses anything else (a malformed line, a digest that is
// not canonical, a path pinned twice) with the line number and what to do.
// It does not write the file (the project does, durably) and does not
// decide what is pinned.
package lockfile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pawl-dev/pawl/engine/store"
)

// Name is the lock file's name at the project's root.
const Name = "pawl.lock"

// PluginPrefix starts the key of a plugin pin: "plugin:name@version".
const PluginPrefix = "plugin:"

// PluginKey is how a plugin ("name@version") is pinned.
func PluginKey(id string) string { return PluginPrefix + id }

// Pins maps a file (relative to the project root, slash-separated), a
// plugin ("plugin:name@version") or the policy bundle ("policies/") to the
// sha256 digest it must have.
type Pins map[string]store.Digest

const header = "# pawl.lock: sha256 pins of every file the jobs reference. Written by `pawl pin`; do not edit by hand.\n"

// Read reads root/pawl.lock. A missing file is an empty set of pins.
func Read(root string) (Pins, error) {
	path := filepath.Join(root, Name)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Pins{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return Parse(b)
}

// Parse parses the lock file format: "PATH sha256:HEX" per line, '#' comments.
func Parse(b []byte) (Pins, error) {
	pins := Pins{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s line %d: want \"PATH sha256:HEX\", got %q: run `pawl pin` to rewrite it", Name, n, line)
		}
		d, err := store.ParseDigest(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %v: run `pawl pin` to rewrite it", Name, n, err)
		}
		if _, dup := pins[f[0]]; dup {
			return nil, fmt.Errorf("%s line %d: %s is pinned twice: run `pawl pin` to rewrite it", Name, n, f[0])
		}
		pins[f[0]] = d
	}
	return pins, sc.Err()
}

// Format renders pins in the lock file format, sorted by path.
func (p Pins) Format() []byte {
	var b bytes.Buffer
	b.WriteString(header)
	for _, k := range p.Sorted() {
		fmt.Fprintf(&b, "%s %s\n", k, p[k])
	}
	return b.Bytes()
}

// Sorted returns the pinned keys in byte order.
func (p Pins) Sorted() []string {
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
	for _, k := range p.Sorted() {
		fmt.Fprintf(h, "%s %s\n", k, p[k])
	}
	return store.Digest("sha256:" + hex.EncodeToString(h.Sum(nil)))
}

// MismatchError says a referenced file differs from its pin.
type MismatchError struct {
	File     string
	Pinned   store.Digest // "" when the file was never pinned
	Actual   store.Digest // "" when the file is missing
	Missing  bool
	Unpinned bool
}

func (e *MismatchError) Error() string {
	switch {
	case e.Missing:
		return fmt.Sprintf("%s is pinned (%s) but missing: restore it, or run `pawl pin` to record its removal", e.File, e.Pinned)
	case e.Unpinned:
		return fmt.Sprintf("%s is not pinned (it hashes to %s): review it, then run `pawl pin`", e.File, e.Actual)
	}
	return fmt.Sprintf("%s does not match its pin: pinned %s, actual %s: review the change, then run `pawl pin`", e.File, e.Pinned, e.Actual)
}

// Check hashes each file (relative to root) and compares it with its pin;
// it returns the subset of pins the files name. Plugin pins must exist;
// their modules are checked against them when loaded.
func Check(root string, pins Pins, files []string) (Pins, error) {
	out := Pins{}
	for _, f := range files {
		if id, ok := strings.CutPrefix(f, PluginPrefix); ok {
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
			return nil, &MismatchError{File: f, Pinned: want, Missing: true}
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", f, err)
		}
		if !ok {
			return nil, &MismatchError{File: f, Actual: got, Unpinned: true}
		}
		if got != want {
			return nil, &MismatchError{File: f, Pinned: want, Actual: got}
		}
		out[f] = got
	}
	return out, nil
}
