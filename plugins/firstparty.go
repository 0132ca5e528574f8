// Package plugins ships pawl's first-party validator plugins: the
// WebAssembly modules built reproducibly from the sources beside them
// (build/plugins.sh) and committed, so that `pawl init` can pin them without
// a toolchain. The sources, the Go guest kit and the ABI are described in
// README.md and docs/plugin-abi.md.
package plugins

//go:generate go run ./c/gen c/unicode.h

import _ "embed"

var (
	//go:embed range/range.wasm
	rangeWasm []byte
	//go:embed freshness/freshness.wasm
	freshnessWasm []byte
	//go:embed registry/registry.wasm
	registryWasm []byte
	//go:embed zscore/zscore.wasm
	zscoreWasm []byte
)

// Module is one shipped plugin module.
type Module struct {
	File string // the module's file name in the source tree
	Wasm []byte
}

// FirstParty returns the shipped validators, in the order the example job
// runs them.
func FirstParty() []Module {
	return []Module{
		{"range/range.wasm", rangeWasm},
		{"freshness/freshness.wasm", freshnessWasm},
		{"registry/registry.wasm", registryWasm},
		{"zscore/zscore.wasm", zscoreWasm},
	}
}
