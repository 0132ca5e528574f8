//go:build wasip1

// Command wasm is the zscore plugin as a WebAssembly module; build/plugins.sh
// builds it into plugins/zscore/zscore.wasm and appends manifest.json.
package main

import (
	"github.com/pawl-dev/pawl/plugins/pdk"
	"github.com/pawl-dev/pawl/plugins/zscore"
)

func init() { pdk.Register(zscore.New()) }

func main() {}
