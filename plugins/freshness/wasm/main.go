//go:build wasip1

// Command wasm is the freshness plugin as a WebAssembly module; build/plugins.sh
// builds it into plugins/freshness/freshness.wasm and appends manifest.json.
package main

import (
	"github.com/pawl-dev/pawl/plugins/freshness"
	"github.com/pawl-dev/pawl/plugins/pdk"
)

func init() { pdk.Register(freshness.New()) }

func main() {}
