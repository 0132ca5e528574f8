package lockfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/store"
)

func TestFormatParseRoundTrip(t *testing.T) {
	p := Pins{
		"schemas/s.json":   store.HashBytes([]byte("s")),
		"jobs/j.yaml":      store.HashBytes([]byte("j")),
		"plugin:range@1.0": store.HashBytes([]byte("w")),
		"policies/":        store.HashBytes([]byte("b")),
	}
	b := p.Format()
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if !strings.HasPrefix(lines[0], "# pawl.lock") || len(lines) != 5 || !strings.HasPrefix(lines[1], "jobs/j.yaml ") || !strings.HasPrefix(lines[4], "schemas/s.json ") {
		t.Fatalf("not one sorted line per pin:\n%s", b)
	}
	q, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != len(p) || q.Digest() != p.Digest() {
		t.Fatalf("round trip: %v", q)
	}
	q["jobs/j.yaml"] = store.HashBytes([]byte("other"))
	if q.Digest() == p.Digest() {
		t.Fatal("another pin, the same digest")
	}
}

func TestParseRefuses(t *testing.T) {
	d := string(store.HashBytes(nil))
	for in, want := range map[string]string{
		"jobs/j.yaml\n":                          "want \"PATH sha256:HEX\"",
		"jobs/j.yaml sha256:abc\n":               "line 1",
		"a " + d + "\n# c\na " + d + "\n":        "line 3: a is pinned twice",
		"a " + strings.ToUpper(d) + "\n":         "line 1",
		"a " + d + " extra\n":                    "want \"PATH sha256:HEX\"",
		"\n\na md5:" + d[len("sha256:"):] + "\n": "line 3",
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "pawl pin") {
			t.Errorf("Parse(%q): %v, want an error with %q that says what to do", in, err, want)
		}
	}
}

func TestCheck(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "jobs"), 0o755)
	os.WriteFile(filepath.Join(root, "jobs", "j.yaml"), []byte("job"), 0o644)
	d := store.HashBytes([]byte("job"))
	pins := Pins{"jobs/j.yaml": d, "plugin:p@1": d, "gone.json": d}
	got, err := Check(root, pins, []string{"jobs/j.yaml", "plugin:p@1"})
	if err != nil || len(got) != 2 {
		t.Fatalf("check: %v %v", got, err)
	}
	var me *MismatchError
	if _, err := Check(root, pins, []string{"gone.json"}); !errors.As(err, &me) || !me.Missing {
		t.Fatalf("a pinned file that is missing: %v", err)
	}
	os.WriteFile(filepath.Join(root, "new.json"), []byte("{}"), 0o644)
	if _, err := Check(root, pins, []string{"new.json"}); !errors.As(err, &me) || !me.Unpinned || me.Actual == "" {
		t.Fatalf("a file that is not pinned: %v", err)
	}
	os.WriteFile(filepath.Join(root, "jobs", "j.yaml"), []byte("job, edited"), 0o644)
	if _, err := Check(root, pins, []string{"jobs/j.yaml"}); !errors.As(err, &me) || me.Pinned != d || me.Actual == d || !strings.Contains(err.Error(), "pawl pin") {
		t.Fatalf("an edited file: %v", err)
	}
	if _, err := Check(root, pins, []string{"plugin:q@1"}); err == nil || !strings.Contains(err.Error(), "pawl plugin add") {
		t.Fatalf("a plugin that is not pinned: %v", err)
	}
	if _, err := Check(root, pins, []string{"nowhere.json"}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("a referenced file that does not exist and is not pinned: %v", err)
	}
}

// TestLinesAreWhatTheDigestHashes: the pins' lines, kept in the store, are
// found under the pins digest and parse back to the same pins; Diff names
// every change.
func TestLinesAreWhatTheDigestHashes(t *testing.T) {
	p := Pins{
		"jobs/j.yaml":      store.HashBytes([]byte("j")),
		"pawl.yaml#policy": store.HashBytes([]byte("s")),
		"plugin:range@1.0": store.HashBytes([]byte("w")),
	}
	if store.HashBytes(p.Lines()) != p.Digest() {
		t.Fatal("the digest is not the sha256 of the lines")
	}
	if !strings.HasSuffix(string(p.Format()), string(p.Lines())) {
		t.Fatal("the lock file does not end with the lines")
	}
	q, err := Parse(p.Lines())
	if err != nil || q.Digest() != p.Digest() {
		t.Fatalf("lines round trip: %v %v", q, err)
	}
	q["jobs/j.yaml"] = store.HashBytes([]byte("other"))
	delete(q, "plugin:range@1.0")
	q["schemas/s.json"] = store.HashBytes([]byte("s"))
	got := q.Diff(p)
	want := []Change{
		{Key: "jobs/j.yaml", Old: p["jobs/j.yaml"], New: q["jobs/j.yaml"]},
		{Key: "plugin:range@1.0", Old: p["plugin:range@1.0"]},
		{Key: "schemas/s.json", New: q["schemas/s.json"]},
	}
	if len(got) != len(want) {
		t.Fatalf("diff %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("diff %v, want %v", got, want)
		}
	}
	for k, file := range map[string]bool{"jobs/j.yaml": true, "pawl.yaml#policy": false, "plugin:range@1.0": false, "policies/": false, "lookups/x.txt": true} {
		if IsFile(k) != file {
			t.Errorf("IsFile(%q) = %v", k, !file)
		}
	}
}
