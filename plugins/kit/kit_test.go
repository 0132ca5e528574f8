package kit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
)

// The skeletons' files; their builds run in cmd/pawl's
// TestPluginKitThreeCommands (one per language, from the how-to's commands).
func TestNew(t *testing.T) {
	want := map[string][]string{
		"go":  {"README.md", "cases.jsonl", "go.mod", "main.go", "manifest.json", "pawl-pdk/go.mod", "pawl-pdk/plugins/pdk/pdk.go", "pawl-pdk/plugins/pdk/state/state.go", "x.go", "x_test.go"},
		"c":   {"README.md", "cases.jsonl", "manifest.json", "pawl.c", "pawl.h", "pawl_abi.h", "unicode.h", "x.c"},
		"wat": {"README.md", "cases.jsonl", "manifest.json", "x.wat"},
	}
	for _, lang := range Langs {
		t.Run(lang, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "x")
			files, err := New("x", lang, dir, "v1.2.3")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range want[lang] {
				if !slices.Contains(files, f) {
					t.Errorf("no %s among %v", f, files)
				}
			}
			for _, f := range files {
				if strings.HasSuffix(f, "_test.go") && strings.HasPrefix(f, "pawl-pdk/") || strings.Contains(f, "{{") {
					t.Errorf("%s: a PDK test file or an unexpanded name", f)
				}
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(b), "{{") || strings.Contains(string(b), "<no value>") {
					t.Errorf("%s holds an unexpanded template", f)
				}
			}
			// The manifest is one the host accepts, embedded as is.
			m, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			wasm, err := sandbox.EmbedManifest([]byte("\x00asm\x01\x00\x00\x00"), m)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := sandbox.ReadManifest(wasm); got.ID() != "x@0.1.0" || len(got.Fields) != 1 || got.Fields[0].Pointer != "/value" {
				t.Errorf("manifest %+v", got)
			}
			if lang == "go" {
				mod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
				if !strings.Contains(string(mod), "require github.com/pawl-dev/pawl v1.2.3\n") || !strings.Contains(string(mod), "replace github.com/pawl-dev/pawl => ./pawl-pdk\n") {
					t.Errorf("go.mod:\n%s", mod)
				}
			}
			if _, err := New("x", lang, dir, "v1.2.3"); err == nil || !strings.Contains(err.Error(), "is not empty") {
				t.Errorf("a second skeleton into the same directory: %v", err)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, lang, want string }{
		{"X", "go", `plugin name "X": use a lower-case letter`},
		{"x", "rust", `--lang "rust": say go, c or wat`},
	} {
		if _, err := New(c.name, c.lang, filepath.Join(dir, "new"), "0.1.0-dev"); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s %s: %v, want %q", c.name, c.lang, err, c.want)
		}
	}
	// pawl's default version is semver with a v; one that is not becomes
	// v0.0.0 (the replace decides anyway).
	for v, want := range map[string]string{"0.1.0-dev": "v0.1.0-dev", "(devel)": "v0.0.0"} {
		d := filepath.Join(dir, strings.Trim(v, "()"))
		if _, err := New("x", "go", d, v); err != nil {
			t.Fatal(err)
		}
		if mod, _ := os.ReadFile(filepath.Join(d, "go.mod")); !strings.Contains(string(mod), "require github.com/pawl-dev/pawl "+want+"\n") {
			t.Errorf("go.mod of pawl %s:\n%s", v, mod)
		}
	}
}

// Without the toolchain, Build names the tool and what installs it; in a
// directory that is no skeleton, it says what it looked for.
func TestBuildRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x")
	if _, err := New("x", "wat", dir, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err := Build(context.Background(), dir)
	var te *ToolError
	if !errors.As(err, &te) || te.Tool != "wat2wasm" || !strings.Contains(err.Error(), "build/setup-tools.sh") {
		t.Errorf("no wat2wasm: %v", err)
	}
	os.Remove(filepath.Join(dir, "x.wat"))
	if _, err := Build(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "holds no go.mod, x.c or x.wat") {
		t.Errorf("no source: %v", err)
	}
	if _, err := Build(context.Background(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "has no manifest.json") {
		t.Errorf("no manifest: %v", err)
	}
}
