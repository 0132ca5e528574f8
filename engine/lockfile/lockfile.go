// Package lockfile is pawl.lock: the sha256 pin of every file the jobs
// reference, of every plugin module, of the policy bundle and of
// pawl.yaml's pinned settings (pseudo-files "pawl.yaml#..."), like go.sum.
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

// SettingsPrefix starts the key of a pseudo-file that pins settings of
// pawl.yaml: "pawl.yaml#policy", "pawl.yaml#limits" (the sha256 of the
// canonical JSON of those settings, kept in the store).
const SettingsPrefix = "pawl.yaml#"

// Pins maps a file (relative to the project root, slash-separated), a
// plugin ("plugin:name@version"), the policy bundle ("policies/") or the
// settings of pawl.yaml ("pawl.yaml#policy", "pawl.yaml#limits") to the
// sha256 digest it must have.
type Pins map[string]store.Digest

// IsFile says whether a pin's key names a file of the project, as opposed
// to a plugin, the policy bundle or a pseudo-file of settings.
func IsFile(key string) bool {
	return !strings.HasPrefix(key, PluginPrefix) && !strings.HasSuffix(key, "/") && !strings.HasPrefix(key, SettingsPrefix)
}

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

// Lines are the pins' lock-file lines without the header: what Digest
// hashes, and what is kept in the store under that digest, so that the
// pins on record can be read back from it (Parse reads them).
func (p Pins) Lines() []byte {
	var b bytes.Buffer
	for _, k := range p.Sorted() {
		fmt.Fprintf(&b, "%s %s\n", k, p[k])
	}
	return b.Bytes()
}

// Digest is the digest of a set of pins: sha256 over their lock-file lines.
func (p Pins) Digest() store.Digest {
	sum := sha256.Sum256(p.Lines())
	return store.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// Diff lists what changed from old to p, sorted by key: every key whose
// digest differs, every new key (Old empty) and every removed one (New
// empty).
func (p Pins) Diff(old Pins) []Change {
	var out []Change
	for _, k := range p.Sorted() {
		if old[k] != p[k] {
			out = append(out, Change{Key: k, Old: old[k], New: p[k]})
		}
	}
	for _, k := range old.Sorted() {
		if _, ok := p[k]; !ok {
			out = append(out, Change{Key: k, Old: old[k]})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Change is one pin that differs between two sets of pins.
type Change struct {
	Key      string
	Old, New store.Digest
}

// MismatchError says a referenced file (or pinned settings) differs from
// its pin.
type MismatchError struct {
	File     string
	Pinned   store.Digest // "" when the file was never pinned
	Actual   store.Digest // "" when the file is missing
	Missing  bool
	Unpinned bool
	// Now says what the file or settings hold today, for settings whose
	// digest alone tells a person nothing; "" for files.
	Now string
}

func (e *MismatchError) Error() string {
	now := ""
	if e.Now != "" {
		now = " (now " + e.Now + ")"
	}
	switch {
	case e.Missing:
		return fmt.Sprintf("%s is pinned (%s) but missing: restore it, or run `pawl pin` to record its removal", e.File, e.Pinned)
	case e.Unpinned:
		return fmt.Sprintf("%s is not pinned (it hashes to %s%s): review it, then run `pawl pin`", e.File, e.Actual, now)
	}
	return fmt.Sprintf("%s does not match its pin: pinned %s, actual %s%s: review the change, then run `pawl pin`", e.File, e.Pinned, e.Actual, now)
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
