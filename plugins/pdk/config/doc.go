// Package config is the Go guest kit's typed plugin config: decode a
// plugin's config (pdk.Init.Config) into a Go struct strictly, and generate
// the manifest's config_schema from the same struct, so that the host's
// check and the plugin's refuse the same configs with the same JSON
// pointer. A separate package so that a plugin that does not use it does
// not carry reflect and encoding/json in its module.
//
// A config is a Go struct. Its fields are named by their `json` tag (or
// their Go name), described by a `doc` tag, and constrained by a `pawl` tag
// of comma-separated rules:
//
//	required        the key must be present
//	enum=a|b|c      a string field: one of these values
//	min=N, max=N    a number field: inclusive bounds; a string field: its
//	                length in characters; a slice or map: its entries
//
// A pointer field may also be null (nil); no other field may. Fields of
// type any take any JSON value.
//
//	type Config struct {
//		Min  *float64 `json:"min" doc:"inclusive lower bound; null: none"`
//		Mode string   `json:"mode" pawl:"required,enum=strict|lenient"`
//		K    float64  `json:"k" pawl:"min=0" doc:"how many sigmas"`
//	}
//
//	func (p *plugin) Init(in pdk.Init) error {
//		cfg := Config{K: 3} // the defaults
//		return config.Decode(in.Config, &cfg) // "config /k: -1 is less than the minimum 0"
//	}
//
// and, natively (e.g. in a test that keeps manifest.json current),
// config.Schema(Config{K: 3}) is the config_schema, with the defaults. The
// host checks a job's config against it before any record runs (`pawl job
// check JOB` reports its refusals without running anything). Decode and
// Schema are stable API: `pawl plugin new --lang go` generates a plugin
// that calls them.
package config
