package validate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestModulesAreTheSandboxs: the OQ's embedded modules are byte for byte
// the sandbox's hostile test modules, which build/plugins.sh rebuilds
// reproducibly and the plugins' TestReproducible checks.
func TestModulesAreTheSandboxs(t *testing.T) {
	for name, embedded := range map[string][]byte{"ok.wasm": okWasm, "loop.wasm": loopWasm} {
		b, err := os.ReadFile(filepath.Join("..", "sandbox", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, embedded) {
			t.Errorf("engine/validate/modules/%s differs from engine/sandbox/testdata/%s: run build/plugins.sh", name, name)
		}
	}
}
