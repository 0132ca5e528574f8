package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStaticBuildFromTheReadme builds pawl with the README's static-build
// command, as written there, and checks that the result is a static
// executable (no program interpreter, so no C library to match on the
// target) that runs and says which build it is.
func TestStaticBuildFromTheReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pawl once more, statically (-short skips it)")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^(CGO_ENABLED=1 go build -trimpath -tags '[^']*osusergo netgo[^']*' \\\n[^\n]*-o pawl ./cmd/pawl)$`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no static-build command (CGO_ENABLED=1 go build … -tags 'osusergo netgo …' … -o pawl ./cmd/pawl)")
	}
	bin := filepath.Join(t.TempDir(), "pawl")
	cmdline := strings.Replace(string(m[1]), "-o pawl ", "-o "+bin+" ", 1)
	build := exec.Command("bash", "-c", cmdline)
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the README's static build failed: %v\n%s\n%s", err, cmdline, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the README's static build made a dynamically linked executable (it has a program interpreter)")
		}
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "pawl ") {
		t.Fatalf("the static pawl's version: %v\n%s", err, out)
	}
}
