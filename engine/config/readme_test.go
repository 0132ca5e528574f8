package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadme: the README points to docs/configuration.md and states the
// precedence, rather than listing the keys a second time.
func TestReadme(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range []string{"docs/configuration.md", Precedence} {
		if !strings.Contains(readme, s) {
			t.Errorf("README.md does not say %q", s)
		}
	}
	for _, k := range table {
		if strings.Contains(readme, k.Env) {
			t.Errorf("README.md names %s: the key list belongs in docs/configuration.md alone", k.Env)
		}
	}
}
