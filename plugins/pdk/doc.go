// Package pdk is the Go guest kit for pawl plugins (plugin ABI version 1,
// docs/plugin-abi.md).
//
// A validator is a plain Go type with two methods over typed columns:
//
//	type positive struct{}
//
//	func (positive) Init(in pdk.Init) error { return nil }
//
//	func (positive) Validate(b *pdk.Batch, r *pdk.Result) {
//		vals := b.Numbers(0)
//		for i := 0; i < b.N; i++ {
//			if v, ok := vals.Get(i); ok && v <= 0 {
//				r.Reject(i, 0, "positive", "value must be positive")
//			}
//		}
//	}
//
//	func init() { pdk.Register(positive{}) }
//	func main() {}
//
// built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -buildvcs=false
//
// and given a manifest by build/plugins.sh. The kit exports pawl_alloc,
// pawl_init and pawl_validate; the host hands the columns the manifest
// declares, already parsed, in guest memory; nothing is parsed from JSON
// per record. Columns are views of the host's message: a string from
// Strings.Get borrows the message's bytes and is valid only during the
// Validate call that received it. The rule, precisely: a borrowed string
// may be read, compared, sliced, formatted into a reason and used to look
// a map up during the call; anything that keeps it past the call must
// keep a copy (Strings.GetCopy, or strings.Clone) — a field of the plugin,
// a slice that outlives the call, and every map write with it as the key,
// not only the first insert: Go's map assignment stores the key again on
// every write (m[k] = v, m[k]++), so a borrowed key rebinds an entry made
// with a copy to the batch's memory (TestMapWriteRebindsTheKey).
//
// Typed config: package github.com/pawl-dev/pawl/plugins/pdk/config
// decodes Init.Config into a Go struct strictly (config.Decode) and
// generates the manifest's config_schema from the same struct
// (config.Schema), so the host and the plugin refuse the same configs
// with the same JSON pointer; a separate package, so that a plugin that
// does not use it carries no reflection in its module.
//
// Guarantees the guest can rely on: the wall clock is the batch's as-of
// time, random numbers are seeded from the batch, there is no filesystem,
// environment or network; a panic is reported to the host as a trap of the
// batch, which the host bisects to the record that caused it.
//
// State that must outlive the run — a per-device mean carried from one
// batch to the next — belongs in the host, not in a map of the instance:
// declare "state" in the manifest and use package
// github.com/pawl-dev/pawl/plugins/pdk/state (docs/plugin-abi.md §8; the
// zscore plugin is the example). The instance's memory then holds one
// batch's working set, whatever the number of keys.
//
// The wire encoding (DecodeBatch, Result.Bytes) builds on every platform
// so validators can be tested and benchmarked natively; only the exports
// need GOOS=wasip1.
package pdk
