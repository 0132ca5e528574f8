package engine_test

import (
	"os/exec"
	"strings"
	"testing"
)

// layers is the import graph the code keeps: a package may import only
// packages of lower layers (and the standard library and third parties).
// docs/architecture.md draws it.
var layers = [][]string{
	// a copy of a third party's module (engine/esign/internal/zxcvbn/PAWL.md): its own packages only
	{"engine/esign/internal/zxcvbn/internal/mathutils", "engine/esign/internal/zxcvbn/adjacency", "engine/esign/internal/zxcvbn/frequency", "engine/esign/internal/zxcvbn/match"},
	{"engine/esign/internal/zxcvbn/scoring"},
	{"engine/esign/internal/zxcvbn/matching"},
	{"engine/esign/internal/zxcvbn"},
	// the foundation: nothing of ours
	{"audit/canonjson", "engine/contract", "engine/durable", "engine/failpoint", "engine/jsonptr", "engine/version", "engine/demo", "engine/records",
		"engine/sandbox", "engine/plugstate", "engine/config", "engine/principal", "engine/wire", "engine/serve/tlstest", "plugins", "plugins/pdk", "plugins/pdk/config", "plugins/pdk/state", "plugins/pdk/state/migrate", "engine/normalize/internal/gen", "build/tooltest", "plugins/internal/cgen"},
	// the leaves: one foundation package at most
	{"audit", "policies", "engine/store", "engine/normalize", "engine/schema",
		"plugins/range", "plugins/freshness", "plugins/registry", "plugins/zscore", "plugins/internal/addsection", "plugins/internal/plugintest", "plugins/c/gen", "plugins/pdk/pdktest", "plugins/kit"},
	{"engine/lockfile", "engine/sbom"},
	{"engine/actions", "engine/finding"},
	{"engine/seal", "engine/openlineage"},
	{"engine/project"},
	{"engine/gate"},
	{"engine/esign"},
	{"engine/ratchet", "engine/review", "engine/egress", "engine/serve", "engine/witness"},
	// the network hub pushes its own trail as a site does (engine/witness)
	// and checks the cosignatures as audit verify does (engine/review)
	{"engine/inbox", "engine/distrib", "engine/network"},
	{"engine"},
	{"engine/enginetest", "engine/validate"},
	{"cmd/pawl", "cmd/pawl/proctest", "cmd/pawl/proctest/crash", "cmd/pawl/proctest/kill", "cmd/pawl/proctest/fsync", "cmd/pawl/proctest/serve", "build/bench"},
}

// TestImportsFlowOneWay: no package imports one of its own layer or above,
// so cmd → engine → engine/* → the leaves, and audit, policies and store
// import nothing of ours but the foundation (canonical JSON, durable
// writes).
func TestImportsFlowOneWay(t *testing.T) {
	const mod = "github.com/pawl-dev/pawl/"
	layer := map[string]int{}
	for i, ps := range layers {
		for _, p := range ps {
			layer[p] = i
		}
	}
	// go test puts its own toolchain first on PATH, so go list is always
	// there: an error is a broken module, not a reason to check nothing.
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, mod+"...").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], mod)
		l, ok := layer[pkg]
		if !ok {
			t.Errorf("%s is in no layer of engine/imports_test.go: place it", pkg)
			continue
		}
		for _, imp := range f[1:] {
			dep, ours := strings.CutPrefix(imp, mod)
			if !ours {
				continue
			}
			if dl, ok := layer[dep]; !ok || dl >= l {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports flow one way", pkg, l, dep, dl)
			}
		}
	}
}
