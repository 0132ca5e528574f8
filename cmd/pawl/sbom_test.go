package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/pawl-dev/pawl/plugins"
)

// TestSBOMCommand: `pawl sbom` prints a CycloneDX BOM naming every
// embedded plugin by the sha256 of its module (engine/sbom validates it
// against the CycloneDX schema), with no project, and --out writes it.
func TestSBOMCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pawl.cdx.json")
	mustPawl(t, "-C", t.TempDir(), "sbom", "--out", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Components  []struct {
			Name   string `json:"name"`
			Hashes []struct {
				Content string `json:"content"`
			} `json:"hashes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &bom); err != nil || bom.BOMFormat != "CycloneDX" || bom.SpecVersion != "1.6" {
		t.Fatalf("not a CycloneDX 1.6 BOM: %v\n%s", err, b)
	}
	hashes := map[string]bool{}
	for _, c := range bom.Components {
		for _, h := range c.Hashes {
			hashes[h.Content] = true
		}
	}
	for _, m := range plugins.FirstParty() {
		sum := sha256.Sum256(m.Wasm)
		if !hashes[hex.EncodeToString(sum[:])] {
			t.Errorf("the BOM does not name %s by its sha256", m.File)
		}
	}
	if stdout := mustPawl(t, "sbom"); len(stdout) < 100 || stdout[0] != '{' {
		t.Errorf("pawl sbom to standard output: %.200s", stdout)
	}
}
