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
// per record. Columns are views of the host's message: strings and slices
// from them are valid only during the Validate call that received them
// (copy what must outlive it, e.g. map keys of an ordered plugin: Go's
// map assignment copies the key string's header, not its bytes, so use
// strings.Clone).
//
// Typed config (stable API; `pawl plugin new --lang go` generates code that
// calls it): declare the config as a Go struct whose tags say its keys
// (`json`), descriptions (`doc`) and rules (`pawl:"required,enum=a|b,min=0,max=9"`),
// decode it in Init with
//
//	cfg := Config{K: 3} // the defaults
//	if err := in.DecodeConfig(&cfg); err != nil {
//		return err // "config /k: -1 is less than the minimum 0"
//	}
//
// (strict: unknown keys, repeated keys, wrong types, out-of-range numbers
// and trailing data are refused, each with its JSON pointer), and generate
// the manifest's config_schema with ConfigSchema(Config{K: 3}), natively,
// e.g. in a test that keeps manifest.json current. The schema refuses what
// DecodeConfig refuses, so the host reports a bad config before any record
// runs (`pawl job check JOB` reports it without running anything).
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
