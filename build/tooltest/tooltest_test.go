package tooltest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestInstalledMatchesSetupTools: setup-tools.sh's list of tool:package is
// Installed, no more, no less.
func TestInstalledMatchesSetupTools(t *testing.T) {
	b, err := os.ReadFile("../setup-tools.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^tools=\(([^)]*)\)$`).FindAllStringSubmatch(string(b), -1)
	if len(m) != 1 {
		t.Fatalf("setup-tools.sh has %d lines tools=(tool:package ...), want 1", len(m))
	}
	script := map[string]string{}
	for _, tp := range strings.Fields(m[0][1]) {
		name, pkg, _ := strings.Cut(tp, ":")
		script[name] = pkg
	}
	for name, pkg := range Installed {
		if script[name] != pkg {
			t.Errorf("setup-tools.sh's tools=(...) lacks %s:%s", name, pkg)
		}
	}
	for name, pkg := range script {
		if Installed[name] != pkg {
			t.Errorf("setup-tools.sh installs %s (%s) but tooltest.Installed does not list it", name, pkg)
		}
	}
}

// recorder is a testing.TB that records how Need stopped.
type recorder struct {
	testing.TB
	failed, skipped string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }
func (r *recorder) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }

func TestNeed(t *testing.T) {
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "python3"), []byte("#!/bin/sh\n"), 0o755)
	t.Setenv("PATH", bin)

	for _, ci := range []string{"", "0", "1"} {
		t.Setenv(CIEnv, ci)
		r := &recorder{TB: t}
		if p := Need(r, "python3"); p != filepath.Join(bin, "python3") || r.failed != "" || r.skipped != "" {
			t.Errorf("PAWL_CI=%q, present: %q %+v", ci, p, r)
		}
		r = &recorder{TB: t}
		Need(r, "chromium")
		if ci == "1" {
			if r.failed == "" || r.skipped != "" || !strings.Contains(r.failed, "build/setup-tools.sh") {
				t.Errorf("PAWL_CI=1, missing: want a failure naming build/setup-tools.sh, got %+v", r)
			}
		} else if r.skipped == "" || r.failed != "" || !strings.Contains(r.skipped, "build/setup-tools.sh") {
			t.Errorf("PAWL_CI=%q, missing: want a skip naming build/setup-tools.sh, got %+v", ci, r)
		}
		r = &recorder{TB: t}
		Need(r, "gcc")
		if r.failed == "" || !strings.Contains(r.failed, "does not install") {
			t.Errorf("PAWL_CI=%q, a tool setup-tools.sh does not install: %+v", ci, r)
		}
	}
}
