// Package version says which pawl this is and which components it links.
// The version string goes on record in every batch (pawl_version), so a
// reviewer knows which code produced it.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version overrides the version the module's build info gives: release
// builds may set it with
// -ldflags "-X github.com/pawl-dev/pawl/engine/version.Version=v1.2.3".
// Empty (the default): Pawl reads the build info.
var Version = ""

// Devel is the version of a build whose build info names none (a test
// binary, a build outside a module or a VCS checkout).
const Devel = "0.1.0-dev"

// Pawl is pawl's version: Version when the linker set it, else the main
// module's version from the build info (a tag for `go install …@v0.9.0`,
// a pseudo-version with the commit for a build in a checkout), else Devel.
func Pawl() string {
	v, _ := resolve()
	return v
}

// Source says where Pawl's answer comes from: "ldflags", "build info" or
// "default".
func Source() string {
	_, src := resolve()
	return src
}

func resolve() (version, source string) {
	if Version != "" {
		return Version, "ldflags"
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version, "build info"
	}
	return Devel, "default"
}

// VCS is what the build info says of the checkout the binary was built
// from: revision, commit time, and whether the tree had changes ("true" or
// "false"); empty values when it says nothing (go test, -buildvcs=false).
func VCS() (revision, time, modified string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", "", ""
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			time = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	return revision, time, modified
}

// Versions lists pawl's version and those of the components it links, by
// snake_case name: pawl, go, wazero, opa, jsonschema, x_text, go_sqlite3.
func Versions() map[string]string {
	v := map[string]string{"pawl": Pawl(), "go": runtime.Version()}
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
