// Package version says which pawl this is and which components it links.
// The version string goes on record in every batch (pawl_version), so a
// reviewer knows which code produced it.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is pawl's version; release builds set it with
// -ldflags "-X github.com/pawl-dev/pawl/engine/version.Version=v1.2.3".
var Version = "0.1.0-dev"

// Versions lists pawl's version and those of the components it links, by
// snake_case name: pawl, go, wazero, opa, jsonschema, x_text, go_sqlite3.
func Versions() map[string]string {
	v := map[string]string{"pawl": Version, "go": runtime.Version()}
	mods := map[string]string{
		"github.com/tetratelabs/wazero":            "wazero",
		"github.com/open-policy-agent/opa":         "opa",
		"github.com/santhosh-tekuri/jsonschema/v6": "jsonschema",
		"golang.org/x/text":                        "x_text",
		"github.com/mattn/go-sqlite3":              "go_sqlite3",
	}
	for _, name := range mods {
		v[name] = "not linked"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if name, ok := mods[d.Path]; ok {
				v[name] = d.Version
			}
		}
	}
	return v
}
