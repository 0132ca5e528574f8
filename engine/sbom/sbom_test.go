package sbom_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/sbom"
	"github.com/pawl-dev/pawl/plugins"
)

// cyclonedx compiles the official CycloneDX 1.6 schema (testdata, with
// the SPDX and JSF schemas it references).
func cyclonedx(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	for _, f := range []string{"bom-1.6", "spdx", "jsf-0.82"} {
		b, err := os.ReadFile(filepath.Join("testdata", "cyclonedx", f+".SNAPSHOT.schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		// Registered under the URL the bom schema's $refs resolve to.
		if err := c.AddResource("http://cyclonedx.org/schema/"+f+".SNAPSHOT.schema.json", doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile("http://cyclonedx.org/schema/bom-1.6.SNAPSHOT.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBOMIsValidCycloneDX: the BOM of the running binary conforms to the
// official CycloneDX 1.6 schema and names what pawl is made of: the Go
// modules linked in, SQLite with the version linked, and every embedded
// first-party plugin with the sha256 of its module; a broken BOM fails
// the same check.
func TestBOMIsValidCycloneDX(t *testing.T) {
	s := cyclonedx(t)
	// A test binary carries no module list in its build info, so the one
	// a release build of pawl carries is made from go.mod's requirements.
	bi := buildInfoFromGoMod(t)
	b, err := sbom.FromBuildInfo(bi, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	js, err := b.JSON()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		t.Fatalf("the BOM does not conform to CycloneDX 1.6: %v\n%s", err, js)
	}
	text := string(js)
	for _, want := range []string{`"name": "github.com/tetratelabs/wazero"`, `"name": "github.com/mattn/go-sqlite3"`, `"name": "github.com/open-policy-agent/opa"`,
		`"name": "SQLite"`, `"purl": "pkg:golang/github.com/trustelem/zxcvbn@v1.0.1"`, `"version": "` + audit.SQLiteVersion() + `"`, `"pkg:golang/github.com/tetratelabs/wazero@v`} {
		if !strings.Contains(text, want) {
			t.Errorf("the BOM lacks %s", want)
		}
	}
	for _, d := range bi.Deps {
		if !strings.Contains(text, `"purl": "pkg:golang/`+d.Path+"@"+d.Version+`"`) {
			t.Errorf("the BOM lacks module %s %s", d.Path, d.Version)
		}
	}
	for _, m := range plugins.FirstParty() {
		sum := sha256.Sum256(m.Wasm)
		if !strings.Contains(text, `"content": "`+hex.EncodeToString(sum[:])+`"`) {
			t.Errorf("the BOM lacks plugin %s with its sha256", m.File)
		}
	}
	if len(b.Dependencies) != 1 || len(b.Dependencies[0].DependsOn) != len(b.Components) {
		t.Errorf("pawl depends on %d of %d components", len(b.Dependencies[0].DependsOn), len(b.Components))
	}
	// The check can fail: a hash that is not hex, an unknown field.
	for name, edit := range map[string][2]string{
		"a hash that is not hex": {`"alg": "SHA-256",` + "\n" + `          "content": "`, `"alg": "SHA-256",` + "\n" + `          "content": "zz`},
		"no specVersion":         {`"specVersion": "1.6",`, ``},
		"an unknown type":        {`"type": "library"`, `"type": "gadget"`},
	} {
		bad := strings.Replace(text, edit[0], edit[1], 1)
		if bad == text {
			t.Fatalf("%s: the edit did not apply", name)
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if err != nil {
			continue // no longer JSON: fails anyway
		}
		if s.Validate(doc) == nil {
			t.Errorf("%s passes the CycloneDX schema", name)
		}
	}
}

// buildInfoFromGoMod is the build info of a pawl binary as far as go.mod
// says: a dep line for every requirement.
func buildInfoFromGoMod(t *testing.T) *debug.BuildInfo {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	text := "path\tgithub.com/pawl-dev/pawl/cmd/pawl\nmod\tgithub.com/pawl-dev/pawl\t(devel)\t\n"
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && strings.Contains(f[0], ".") && strings.HasPrefix(f[1], "v") {
			text += "dep\t" + f[0] + "\t" + f[1] + "\th1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
			n++
		}
	}
	bi, err := debug.ParseBuildInfo(text)
	if err != nil || n < 10 {
		t.Fatalf("go.mod as build info: %d requirements, %v", n, err)
	}
	return bi
}
