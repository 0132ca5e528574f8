package plugins

import (
	"embed"
	"io/fs"
)

// The guest kits a plugin skeleton carries (pawl plugin new): the Go PDK,
// its typed config and its state packages, and the C runtime with its ABI header. Embedded
// here because a package may embed files only below its own directory.
//
//go:embed pdk/*.go pdk/config/*.go pdk/state/*.go pdk/state/migrate/*.go c/pawl_abi.h c/pawl.h c/pawl.c c/unicode.h
var kitSources embed.FS

// KitSources returns the guest kits' sources, by their paths under
// plugins/ (pdk/pdk.go, c/pawl.h, …), test files included: the caller
// picks.
func KitSources() fs.FS { return kitSources }
