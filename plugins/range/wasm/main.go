//go:build wasip1

// Command wasm is the range plugin as a WebAssembly module; build/plugins.sh
// builds it into plugins/range/range.wasm and appends manifest.json.
package main

import (
	"github.com/pawl-dev/pawl/plugins/pdk"
	rangecheck "github.com/pawl-dev/pawl/plugins/range"
)

func init() { pdk.Register(rangecheck.New()) }

func main() {}
