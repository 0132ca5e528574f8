// Package tooltest is how a test asks for a program outside Go that
// build/setup-tools.sh installs (python3 for build/verify-trail.py, headless
// Chromium for the HTML report, wat2wasm, sha256sum, script): [Need] returns
// its path, or stops the test.
//
// A missing tool is not a reason to check less where the tools are
// promised: with PAWL_CI=1 (.ci/run sets it, after running
// build/setup-tools.sh) the test fails. Without it the test is skipped with
// a message that names build/setup-tools.sh, so `go test ./...` passes on a
// fresh machine and says what it did not check.
//
// It lives in build/, beside the script whose promise it checks, and not
// under an internal/ directory: audit, policies, plugins and cmd/pawl all
// use it, and Go's internal rule would let only one subtree import it (the
// module's top level is fixed, so there is no root internal/). It imports
// nothing of pawl's, so any package's tests may import it without a cycle.
package tooltest

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"testing"
)

// Installed maps every program a test may [Need] to the Debian package
// build/setup-tools.sh installs it from. A test in this package holds the
// script and this table in step.
var Installed = map[string]string{
	"wat2wasm":   "wabt",      // WebAssembly text modules (plugins/notblank, engine/sandbox/testdata/wat)
	"chromium":   "chromium",  // the inspectors' HTML report, rendered headless
	"python3":    "python3",   // build/verify-trail.py
	"sha256sum":  "coreutils", // an export's SHA256SUMS; the policy bundle digest
	"script":     "bsdutils",  // a terminal for the progress bar
	"strace":     "strace",    // which fsyncs a run makes, in order
	"clang-14":   "clang-14",  // the first-party plugins written in C (build/plugins.sh)
	"wasm-ld-14": "lld-14",    // the linker clang-14 uses for wasm32
	// Not Debian packages: Go programs, which setup-tools.sh builds with
	// go install into /usr/local/bin. torchwood's witness and its control
	// tool: a third-party C2SP tlog-witness that pawl's pushes must satisfy.
	"litewitness": "filippo.io/torchwood/cmd/litewitness@v0.6.1",
	"witnessctl":  "filippo.io/torchwood/cmd/witnessctl@v0.6.1",
	// The OPA CLI at the version go.mod pins: docs/policy-guide.md's
	// recipe for checking pawl's bundle signatures with it.
	"opa": "github.com/open-policy-agent/opa@v1.22.3",
}

// CIEnv is the environment variable that says the tools were installed:
// with CIEnv=1, a missing tool fails the test.
const CIEnv = "PAWL_CI"

// InCI reports whether CIEnv is set to 1.
func InCI() bool { return os.Getenv(CIEnv) == "1" }

// Need returns the path of the named program. When it is not on PATH, the
// test fails if PAWL_CI=1 and is skipped otherwise. Naming a program that
// build/setup-tools.sh does not install fails the test: add it there and to
// [Installed] first.
func Need(t testing.TB, name string) string {
	t.Helper()
	pkg, ok := Installed[name]
	if !ok {
		known := make([]string, 0, len(Installed))
		for n := range Installed {
			known = append(known, n)
		}
		sort.Strings(known)
		t.Fatalf("tooltest.Need(%q): build/setup-tools.sh does not install %s (it installs %v); add it there and to tooltest.Installed", name, name, known)
		return ""
	}
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not on PATH (Debian package %s; `bash build/setup-tools.sh` installs it)", name, pkg)
	if InCI() {
		t.Fatalf("%s, and %s=1 says the tools were installed: failing rather than skipping", msg, CIEnv)
		return ""
	}
	t.Skipf("%s: skipped (with %s=1 this fails)", msg, CIEnv)
	return ""
}
