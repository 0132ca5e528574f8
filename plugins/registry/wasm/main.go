//go:build wasip1

// Command wasm is the registry plugin as a WebAssembly module; build/plugins.sh
// builds it into plugins/registry/registry.wasm and appends manifest.json.
package main

import (
	"github.com/pawl-dev/pawl/plugins/pdk"
	"github.com/pawl-dev/pawl/plugins/registry"
)

func init() { pdk.Register(registry.New()) }

func main() {}
