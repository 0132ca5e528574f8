package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRemoveLeftBuilds: the build directories of test processes that are
// gone are removed, those of running ones and anything else are kept, and
// a directory named before process ids were in the name goes only once it
// is a day old.
func TestRemoveLeftBuilds(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mk := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(p, "pawl"), []byte("binary"), 0o755)
		if age > 0 {
			old := time.Now().Add(-age)
			os.Chtimes(p, old, old)
		}
		return p
	}
	alive := mk(fmt.Sprintf("%s%d-123", buildDirPrefix, os.Getpid()), 0)
	gone := mk(fmt.Sprintf("%s%d-456", buildDirPrefix, dead.Process.Pid), 0)
	oldFresh := mk(buildDirPrefix+"789", time.Hour)
	oldStale := mk(buildDirPrefix+"790", 48*time.Hour)
	other := mk("pawl-serve-1", 48*time.Hour)
	file := filepath.Join(dir, buildDirPrefix+"1-2")
	os.WriteFile(file, nil, 0o644)

	removeLeftBuilds(dir)
	for p, want := range map[string]bool{alive: true, gone: false, oldFresh: true, oldStale: false, other: true, file: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}
