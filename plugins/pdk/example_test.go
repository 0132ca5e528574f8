package pdk_test

import (
	"fmt"
	"log"
	"time"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/pdk"
	"github.com/pawl-dev/pawl/plugins/pdk/config"
)

// minLength is a validator: a string must have at least Min characters.
// In the plugin's wasip1 main package it would be registered with
//
//	func init() { pdk.Register(&minLength{}) }
//	func main() {}
type minLength struct{ min int }

// minLengthConfig is the plugin's config, {"min": N}. Its tags give the
// schema (config.Schema) and the checks (config.Decode) at once.
type minLengthConfig struct {
	Min int `json:"min" pawl:"min=0,max=1000" doc:"the fewest characters a value may have"`
}

// Init reads the config (default min 1). An error refuses the config; the
// kit's errors name the key ("config /min: -1 is less than the minimum 0").
func (p *minLength) Init(in pdk.Init) error {
	cfg := minLengthConfig{Min: 1}
	if err := config.Decode(in.Config, &cfg); err != nil {
		return err
	}
	p.min = cfg.Min
	return nil
}

// Validate judges column 0, the manifest's first field. An absent value
// passes: presence is the schema's job.
func (p *minLength) Validate(b *pdk.Batch, r *pdk.Result) {
	vals := b.Strings(0)
	for i := 0; i < b.N; i++ {
		if s, ok := vals.Get(i); ok && utf8.RuneCountInString(s) < p.min {
			r.Reject(i, 0, "min_length.short", fmt.Sprintf("%q has fewer than %d characters", s, p.min))
		}
	}
}

// A validator runs natively too, through the same wire format the sandbox
// uses: the host encodes a batch (sandbox.Batch.Encode), pdk.Run decodes
// it, calls Validate and encodes the result, and the host decodes the
// verdicts (sandbox.DecodeResult) with every check it applies to a guest.
// This is how a plugin is tested and benchmarked without building it for
// wasip1.
func Example() {
	p := &minLength{}
	if err := p.Init(pdk.Init{Config: []byte(`{"min": 3}`)}); err != nil {
		log.Fatal(err)
	}

	// The host's side: the fields the manifest declares, one column each.
	fields := []sandbox.Field{{Name: "device_id", Pointer: "/device_id", Type: sandbox.TypeString}}
	b := sandbox.NewBatch(fields, 4)
	b.SetString(0, 0, "AB-1")
	b.SetString(0, 1, "AB")
	b.SetString(0, 2, "épé") // characters, not bytes
	// record 3: absent
	msg, err := b.Encode(fields, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		log.Fatal(err)
	}

	out, err := pdk.Run(p, msg, pdk.NewResult(b.N))
	if err != nil {
		log.Fatal(err)
	}

	verdicts, err := sandbox.DecodeResult(out, b.N, &sandbox.Manifest{Fields: fields})
	if err != nil {
		log.Fatal(err)
	}
	for i, v := range verdicts {
		if v.OK {
			fmt.Printf("record %d: ok\n", i)
		}
		for _, r := range v.Reasons {
			fmt.Printf("record %d: %s on %s: %s\n", i, r.Rule, r.Field, r.Message)
		}
	}
	// Output:
	// record 0: ok
	// record 1: min_length.short on device_id: "AB" has fewer than 3 characters
	// record 2: ok
	// record 3: ok
}

// The manifest's config_schema is generated from the config type, with the
// defaults the plugin sets; a test of the plugin keeps manifest.json's copy
// current. A config the schema refuses is refused by the host before any
// record runs (and reported by `pawl job check`); the plugin's
// config.Decode refuses the same configs, naming the same key.
func Example_config() {
	sch, err := config.Schema(minLengthConfig{Min: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(sch))

	err = (&minLength{}).Init(pdk.Init{Config: []byte(`{"min": -1}`)})
	fmt.Println(err)
	err = (&minLength{}).Init(pdk.Init{Config: []byte(`{"minimum": 3}`)})
	fmt.Println(err)
	// Output:
	// {
	//   "$schema": "https://json-schema.org/draft/2020-12/schema",
	//   "additionalProperties": false,
	//   "properties": {
	//     "min": {
	//       "default": 1,
	//       "description": "the fewest characters a value may have",
	//       "maximum": 1000,
	//       "minimum": 0,
	//       "type": "integer"
	//     }
	//   },
	//   "type": "object"
	// }
	// config /min: -1 is less than the minimum 0
	// config /minimum: unknown key "minimum" (the keys are "min")
}
