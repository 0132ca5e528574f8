package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins"
)

// Load a plugin (here pawl's first-party range validator, which ships
// inside the plugins package), start an instance with its config, fill a
// batch column by column and validate it.
func Example() {
	ctx := context.Background()
	// No CacheDir: compiled code stays in memory. pawl itself uses a
	// private cache directory so that later runs start warm.
	rt, err := sandbox.NewRuntime(ctx, sandbox.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)

	var wasm []byte
	for _, m := range plugins.FirstParty() {
		if m.File == "range/range.wasm" {
			wasm = m.Wasm
		}
	}
	// The pin normally comes from the job spec; Load refuses bytes that
	// do not match it before it does anything else with them.
	p, err := rt.Load(ctx, wasm, sandbox.Pin(wasm))
	if err != nil {
		log.Fatal(err)
	}
	m := p.Manifest()
	fmt.Println("loaded", p.ID(), m.Mode)
	for _, f := range m.Fields {
		fmt.Printf("  field %s (%s) at %s\n", f.Name, f.Type, f.Pointer)
	}

	in, err := p.NewInstance(ctx, sandbox.InstanceConfig{
		Config: json.RawMessage(`{"units": {"celsius": {"min": -40, "max": 60}}}`),
		AsOf:   time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), // the guest's clock stands here
		Seed:   1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close(ctx)

	// Columns follow the manifest's fields; a value not set is absent.
	value, unit := m.FieldIndex("value"), m.FieldIndex("unit")
	b := sandbox.NewBatch(m.Fields, 4)
	b.SetNumber(value, 0, 21.5)
	b.SetString(unit, 0, "celsius")
	b.SetNumber(value, 1, 75)
	b.SetString(unit, 1, "celsius")
	b.SetNumber(value, 2, -5)
	b.SetString(unit, 2, "kelvin")
	b.SetString(unit, 3, "celsius") // no value: presence is the schema's job, not range's

	verdicts, err := in.Validate(ctx, b)
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
	// loaded range@1.1.0 stateless
	//   field value (number) at /value
	//   field unit (string) at /unit
	// record 0: ok
	// record 1: range.max on value: value 75 is above the maximum 60 for unit "celsius"
	// record 2: range.min on value: value -5 is below the minimum 0 for unit "kelvin"
	// record 3: ok
}
