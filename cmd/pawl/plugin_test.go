package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginAddRefusedIsOnRecord: `pawl plugin add` of a file that is no
// pawl plugin exits 1, says nothing was kept, and the refusal is in the
// trail.
func TestPluginAddRefusedIsOnRecord(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir)
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	os.WriteFile(bad, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	code, _, errs := pawl(t, "", "-C", dir, "plugin", "add", bad, "--reason", "trying a build")
	if code != 1 || !strings.Contains(errs, "bad.wasm") || !strings.Contains(errs, "nothing kept or pinned") {
		t.Fatalf("plugin add of a module without a manifest: exit %d %s", code, errs)
	}
	log := mustPawl(t, "-C", dir, "audit", "log", "--action", "plugin.add_refused")
	if !strings.Contains(log, "trying a build") || !strings.Contains(log, "plugin:sha256:") {
		t.Fatalf("refusal not on record:\n%s", log)
	}
}
