// Package kit is the plugin author's kit behind `pawl plugin new` and
// `pawl plugin build`: skeletons of a working validator in Go, C and
// WebAssembly text (templates embedded in the binary, with the Go PDK and
// the C runtime of this pawl), and the build of a skeleton's directory
// into a module with its manifest embedded (sandbox.EmbedManifest).
//
// It needs no pawl source tree and no network: a Go skeleton carries the
// PDK it was written with (pawl-pdk/, which its go.mod's replace names),
// a C skeleton the C runtime. It refuses to write into a directory that
// holds anything, and to build with a toolchain that is not installed,
// naming the tool and what installs it.
package kit

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins"
	"github.com/pawl-dev/pawl/plugins/pdk/config"
	"golang.org/x/mod/semver"
)

//go:embed all:templates
var templates embed.FS

// Langs are the languages of the skeletons.
var Langs = []string{"go", "c", "wat"}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// The example rule's message in the WAT skeleton, which reads no config
// (min_length is 1 there).
const watMessage = "the value has 0 characters; at least 1 required"

const (
	schemaMinLength = `{"type": "object", "additionalProperties": false, "properties": {"min_length": {"type": "integer", "minimum": 0}}}`
	schemaNone      = `{"type": "object", "additionalProperties": false}`
)

// goConfig is the Go skeleton's Config (templates/go/_name_.go.tmpl), whose
// manifest's config_schema is generated from it by config.Schema, as the
// skeleton's own TestManifestConfigSchema does after every change of the
// author's. The three-command test runs that test on a fresh skeleton, so
// the two cannot drift apart.
type goConfig struct {
	MinLength int `json:"min_length" pawl:"min=0" doc:"the fewest characters (Unicode code points) a value may have"`
}

// goConfigSchema is config_schema of the Go skeleton's manifest, indented
// as the rest of manifest.json.
func goConfigSchema() (string, error) {
	b, err := config.Schema(goConfig{MinLength: 1})
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(strings.TrimRight(string(b), "\n"), "\n", "\n  "), nil
}

// New writes a skeleton of plugin name in lang into dir (made when
// absent; refused when it holds anything) and returns the files written,
// relative to dir. pawlVersion is the running pawl's version: a Go
// skeleton's go.mod requires the PDK module at it (any version does, the
// replace decides; a version that is not semver becomes v0.0.0).
func New(name, lang, dir, pawlVersion string) ([]string, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("plugin name %q: use a lower-case letter, then up to 63 of a-z, 0-9, _ and - (it is the manifest's name)", name)
	}
	if !contains(Langs, lang) {
		return nil, fmt.Errorf("--lang %q: say go, c or wat", lang)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty: pawl plugin new writes a skeleton only into a new or empty directory (--dir names another)", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	v := pawlVersion
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		v = "v0.0.0"
	}
	data := map[string]any{
		"Name": name, "Dir": filepath.ToSlash(dir), "PDKVersion": v, "ConfigSchema": schemaMinLength,
		"Rule": name + ".too_short", "Message": watMessage,
	}
	if lang == "go" {
		sch, err := goConfigSchema()
		if err != nil {
			return nil, err
		}
		data["ConfigSchema"] = sch
	}
	if lang == "wat" {
		rule := name + ".too_short"
		data["ConfigSchema"] = schemaNone
		data["RuleLen"] = fmt.Sprintf(`\%02x`, len(rule))
		data["MessageLen"] = fmt.Sprintf(`\%02x`, len(watMessage))
		data["ReasonBytes"] = 4 + len(rule) + 4 + len(watMessage)
		data["ReasonSize"] = 8 + 4 + len(rule) + 4 + len(watMessage)
	}
	files := map[string][]byte{}
	for _, sub := range []string{"all", lang} {
		err := fs.WalkDir(templates, "templates/"+sub, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			src, err := templates.ReadFile(p)
			if err != nil {
				return err
			}
			t, err := template.New(p).Option("missingkey=error").Parse(string(src))
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if err := t.Execute(&b, data); err != nil {
				return err
			}
			rel := strings.TrimPrefix(p, "templates/"+sub+"/")
			rel = strings.ReplaceAll(strings.TrimSuffix(rel, ".tmpl"), "_name_", name)
			files[rel] = b.Bytes()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("skeleton %s: %w", lang, err)
		}
	}
	src := plugins.KitSources()
	switch lang {
	case "go":
		files["pawl-pdk/go.mod"] = []byte("// The Go PDK of pawl " + pawlVersion + ", written by pawl plugin new: only the\n// packages a plugin imports (plugins/pdk, plugins/pdk/state,\n// plugins/pdk/state/migrate), which import only the standard library.\nmodule github.com/pawl-dev/pawl\n\ngo 1.26\n")
		err := fs.WalkDir(src, "pdk", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := fs.ReadFile(src, p)
			files["pawl-pdk/plugins/"+p] = b
			return err
		})
		if err != nil {
			return nil, err
		}
	case "c":
		for _, f := range []string{"pawl_abi.h", "pawl.h", "pawl.c", "unicode.h"} {
			b, err := fs.ReadFile(src, "c/"+f)
			if err != nil {
				return nil, err
			}
			files[f] = b
		}
	}
	var names []string
	for rel := range files {
		names = append(names, rel)
	}
	slices.Sort(names)
	for _, rel := range names {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := durable.WriteFile(p, files[rel], 0o644); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// ToolError is a build that cannot start: the toolchain is not installed.
type ToolError struct {
	Tool, Lang, Install string
}

func (e *ToolError) Error() string {
	return fmt.Sprintf("building a %s plugin needs %s, which is not on PATH: %s", e.Lang, e.Tool, e.Install)
}

// Built is a module pawl plugin build wrote.
type Built struct {
	Path     string
	Lang     string
	Manifest *sandbox.Manifest
	Pin      string
}

// Build compiles the skeleton in dir (its language told by go.mod,
// NAME.c or NAME.wat, NAME from manifest.json) and writes dir/NAME.wasm
// with manifest.json embedded. Go: GOOS=wasip1 GOARCH=wasm go build
// -buildmode=c-shared -trimpath -buildvcs=false -ldflags=-buildid=. C:
// clang-14 (or $PAWL_CLANG) for wasm32, freestanding, with wasm-ld. WAT:
// wat2wasm. The compilers' output is part of a failure's error.
func Build(ctx context.Context, dir string) (*Built, error) {
	mpath := filepath.Join(dir, "manifest.json")
	manifest, err := os.ReadFile(mpath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s has no manifest.json: not a plugin directory (pawl plugin new NAME --lang go|c|wat makes one)", dir)
		}
		return nil, err
	}
	var head struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(manifest, &head); err != nil || !nameRE.MatchString(head.Name) {
		return nil, fmt.Errorf("%s: no valid \"name\" (%v): the manifest names the plugin and its module file", mpath, err)
	}
	name := head.Name
	exists := func(f string) bool { _, err := os.Stat(filepath.Join(dir, f)); return err == nil }
	var lang string
	switch {
	case exists("go.mod"):
		lang = "go"
	case exists(name + ".c"):
		lang = "c"
	case exists(name + ".wat"):
		lang = "wat"
	default:
		return nil, fmt.Errorf("%s holds no go.mod, %s.c or %s.wat: pawl plugin build builds a Go module, a C file or a WAT file named after the manifest's name", dir, name, name)
	}
	tmp, err := os.MkdirTemp("", "pawl-plugin-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	raw := filepath.Join(tmp, name+".wasm")
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	switch lang {
	case "go":
		tool, err := look("go", lang, "install Go 1.26 or later (the go command)")
		if err != nil {
			return nil, err
		}
		cmd = exec.CommandContext(ctx, tool, "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-ldflags=-buildid=", "-o", raw, ".")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	case "c":
		cc := os.Getenv("PAWL_CLANG")
		if cc == "" {
			cc = "clang-14"
		}
		tool, err := look(cc, lang, "install clang-14 and lld-14 (Debian packages; build/setup-tools.sh in pawl's source installs them), or name another clang with wasm32 support in PAWL_CLANG")
		if err != nil {
			return nil, err
		}
		cmd = exec.CommandContext(ctx, tool, "--target=wasm32", "-mbulk-memory", "-nostdlib", "-ffreestanding", "-ffp-contract=off", "-Os", "-Wall",
			"-ffile-prefix-map="+abs+"=.", "-Wl,--no-entry", "-Wl,--strip-all", "-Wl,--export-dynamic",
			"-o", raw, "pawl.c", name+".c")
	case "wat":
		tool, err := look("wat2wasm", lang, "install wabt (the Debian package; build/setup-tools.sh in pawl's source installs it)")
		if err != nil {
			return nil, err
		}
		cmd = exec.CommandContext(ctx, tool, name+".wat", "-o", raw)
	}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s failed (%v):\n%s", path.Base(cmd.Path), err, strings.TrimRight(string(out), "\n"))
	}
	wasm, err := os.ReadFile(raw)
	if err != nil {
		return nil, err
	}
	full, err := sandbox.EmbedManifest(wasm, manifest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mpath, err)
	}
	m, err := sandbox.ReadManifest(full)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, name+".wasm")
	if err := durable.WriteFile(out, full, 0o644); err != nil {
		return nil, err
	}
	return &Built{Path: out, Lang: lang, Manifest: m, Pin: sandbox.Pin(full)}, nil
}

func look(tool, lang, install string) (string, error) {
	p, err := exec.LookPath(tool)
	if err != nil {
		return "", &ToolError{Tool: tool, Lang: lang, Install: install}
	}
	return p, nil
}

func contains(l []string, s string) bool { return slices.Contains(l, s) }
