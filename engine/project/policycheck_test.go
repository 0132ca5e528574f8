package project

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyChecksAreMACed: a kept fact passes for the key and the build
// that kept it only; a forged or damaged file, another key's or another
// build's entry is no fact.
func TestPolicyChecksAreMACed(t *testing.T) {
	dir := t.TempDir()
	key := []byte(strings.Repeat("k", 32))
	c := &policyChecks{dir: dir, key: key, build: "build-1"}
	fact := "pawl policy check v1\x00bundle sha256:aa"
	if c.Passed(fact) {
		t.Fatal("a fact never kept passed")
	}
	c.Keep(fact)
	if !c.Passed(fact) {
		t.Fatal("a kept fact did not pass")
	}
	if c.Passed(fact + "b") {
		t.Fatal("another fact passed")
	}
	if (&policyChecks{dir: dir, key: key, build: "build-2"}).Passed(fact) {
		t.Fatal("another build's fact passed")
	}
	other := &policyChecks{dir: dir, key: []byte(strings.Repeat("o", 32)), build: "build-1"}
	if other.Passed(fact) {
		t.Fatal("a fact passed under another key")
	}
	// Another key's line put where this key's goes; then a damaged line.
	if err := os.WriteFile(c.file(fact), []byte("hmac-sha256 "+other.sum("passed", fact)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.Passed(fact) {
		t.Fatal("another key's MAC passed")
	}
	c.Keep(fact)
	b, _ := os.ReadFile(c.file(fact))
	b[len(b)-2] ^= 1
	os.WriteFile(c.file(fact), b, 0o600)
	if c.Passed(fact) {
		t.Fatal("a damaged MAC passed")
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
}
