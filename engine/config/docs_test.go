package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from the key table")

// repo is the repository's root, from this package's directory.
const repo = "../.."

// TestDocs: docs/configuration.md is what the table generates.
func TestDocs(t *testing.T) {
	path := filepath.Join(repo, "docs", "configuration.md")
	got := markdown()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run `go test ./engine/config -update`", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/configuration.md is not what the key table generates: run `go test ./engine/config -update`")
	}
	documented := map[Type]bool{}
	for _, d := range typeDocs {
		documented[d.t] = true
	}
	for _, k := range table {
		if !documented[k.Type] {
			t.Errorf("%s: type %s is not among the documented types", k.Name, k.Type)
		}
		for _, s := range []string{"`" + k.Name + "`", "`" + k.Env + "`", cell(k.Doc)} {
			if !bytes.Contains(got, []byte(s)) {
				t.Errorf("docs/configuration.md lacks %s", s)
			}
		}
	}
}

// keyLine is a key in YAML, once any comment mark is taken off.
var keyLine = regexp.MustCompile(`^( *)([a-z][a-z0-9_]*):(?:\s+(\S.*))?$`)

// yamlKeys returns the keys a YAML file names, commented out or not,
// dotted, and the sections (keys with nothing after the colon).
func yamlKeys(b []byte) (keys, sections []string) {
	type level struct {
		indent int
		name   string
	}
	var stack []level
	for _, line := range strings.Split(string(b), "\n") {
		if s := strings.TrimLeft(line, " "); strings.HasPrefix(s, "#") {
			line = strings.TrimPrefix(strings.TrimPrefix(s, "#"), " ")
		}
		m := keyLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		indent := len(m[1])
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		var name []string
		for _, l := range stack {
			name = append(name, l.name)
		}
		name = append(name, m[2])
		if m[3] == "" || strings.HasPrefix(m[3], "#") {
			sections = append(sections, strings.Join(name, "."))
			stack = append(stack, level{indent, m[2]})
		} else {
			keys = append(keys, strings.Join(name, "."))
		}
	}
	return keys, sections
}

func TestYAMLKeys(t *testing.T) {
	keys, sections := yamlKeys([]byte("# A comment: prose.\na: 1\n# b: 2\nc:\n  d: x # e: no\n#  f: y\ng:\n#   h: 3\n"))
	if strings.Join(keys, " ") != "a b c.d c.f g.h" || strings.Join(sections, " ") != "c g" {
		t.Fatalf("keys %q, sections %q", keys, sections)
	}
}

// TestScaffold: every key the pawl.yaml of `pawl init` names, commented out
// or not, is a known key, and what it sets is the defaults.
func TestScaffold(t *testing.T) {
	clean(t)
	b, err := os.ReadFile(filepath.Join(repo, "engine", "project", "scaffold", File))
	if err != nil {
		t.Fatal(err)
	}
	keys, sections := yamlKeys(b)
	known := map[string]bool{}
	for _, k := range table {
		known[k.Name] = true
		for i := range k.Name {
			if k.Name[i] == '.' {
				known[k.Name[:i]+"."] = true // a section
			}
		}
	}
	for _, k := range keys {
		if !known[k] {
			t.Errorf("the scaffold names %s, which is not a key", k)
		}
	}
	for _, s := range sections {
		if !known[s+"."] {
			t.Errorf("the scaffold has a section %s, which no key is in", s)
		}
	}
	if !strings.Contains(" "+strings.Join(keys, " ")+" ", " operator ") {
		t.Errorf("commented-out keys are not read: %q", keys)
	}

	root := project(t, string(b))
	if got, want := load(t, root, nil), load(t, t.TempDir(), nil); got != want {
		t.Errorf("the scaffold sets\n%+v\nnot the defaults\n%+v", got, want)
	}
}
