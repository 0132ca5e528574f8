package ratchet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins"
	"github.com/pawl-dev/pawl/plugins/freshness"
	"github.com/pawl-dev/pawl/plugins/pdk"
	rangecheck "github.com/pawl-dev/pawl/plugins/range"
	"github.com/pawl-dev/pawl/plugins/registry"
)

// nativeChecker runs a plugin's own Go code in the host, through the same
// columnar encoding and result checks as the sandbox: the baseline the
// sandbox's cost is measured against.
type nativeChecker struct {
	p pdk.Plugin
	m *sandbox.Manifest
	r *pdk.Result
	t time.Time
}

func (c *nativeChecker) Validate(_ context.Context, b *sandbox.Batch) ([]sandbox.Verdict, error) {
	msg, err := b.Encode(c.m.Fields, c.t)
	if err != nil {
		return nil, err
	}
	out, err := pdk.Run(c.p, msg, c.r)
	if err != nil {
		return nil, err
	}
	return sandbox.DecodeResult(out, b.N, c.m)
}

func (c *nativeChecker) Close(context.Context) {}

func natives(b *testing.B) map[string]func(sandbox.InstanceConfig) (ratchet.Checker, error) {
	out := map[string]func(sandbox.InstanceConfig) (ratchet.Checker, error){}
	news := map[string]func() pdk.Plugin{
		"range@1.1.0":     func() pdk.Plugin { return rangecheck.New() },
		"freshness@1.1.0": func() pdk.Plugin { return freshness.New() },
		"registry@1.1.0":  func() pdk.Plugin { return registry.New() },
	}
	for _, mod := range plugins.FirstParty() {
		m, err := sandbox.ReadManifest(mod.Wasm)
		if err != nil {
			b.Fatal(err)
		}
		mk, ok := news[m.ID()]
		if !ok {
			continue
		}
		out[m.ID()] = func(ic sandbox.InstanceConfig) (ratchet.Checker, error) {
			p := mk()
			if err := p.Init(pdk.Init{Config: ic.Config, Lookups: ic.Lookup, AsOf: ic.AsOf}); err != nil {
				return nil, err
			}
			return &nativeChecker{p: p, m: m, r: pdk.NewResult(0), t: ic.AsOf}, nil
		}
	}
	return out
}

// BenchmarkSandboxTax runs the same 200,000-record batch through the three
// stateless first-party validators as sandboxed WebAssembly and as the same
// plugin code built natively into the host, alternating, and reports the
// WebAssembly pipeline's throughput as a share of the native one.
func BenchmarkSandboxTax(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	f, _ := os.Create(in)
	demo.GenerateSensorReadings(f, demo.GenOptions{Records: 200000, Seed: 1, AsOf: enginetest.AsOf, FailureRate: 0.008})
	f.Close()
	job := `name: stateless
source: bench
classification: internal
format: jsonl
schema: schemas/sensor-reading.json
normalize: {identifiers: [/device_id]}
validators:
  - plugin: range@1.1.0
  - plugin: freshness@1.1.0
  - plugin: registry@1.1.0
    lookups: {registry: lookups/device-registry.txt}
`
	native := natives(b)
	var wasmT, nativeT time.Duration
	outputs := map[bool]actions.OutputRef{}
	for i := 0; i < b.N; i++ {
		for _, nat := range []bool{false, true} {
			p, err := engine.Init(context.Background(), filepath.Join(dir, fmt.Sprintf("p%d-%v", i, nat)), engine.InitOptions{Operator: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			enginetest.UseTestCacheKey(b, p.Data) // the projects share the warm cache, as one project's runs do
			os.WriteFile(filepath.Join(p.Root, "jobs", "stateless.yaml"), []byte(job), 0o644)
			if _, err := p.Pin(context.Background(), "bench", ""); err != nil {
				b.Fatal(err)
			}
			if nat {
				ratchet.SetNativeCheckers(native)
			}
			start := time.Now()
			res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "stateless", Input: in, AsOf: enginetest.AsOf, Workers: 2})
			ratchet.SetNativeCheckers(nil)
			if err != nil {
				b.Fatal(err)
			}
			if nat {
				nativeT += time.Since(start)
			} else {
				wasmT += time.Since(start)
			}
			if res.Quarantined == 0 {
				b.Fatal("nothing quarantined")
			}
			outputs[nat] = res.Outputs[actions.QuarantineFile]
			if o, ok := outputs[!nat]; ok && o.Hash != res.Outputs[actions.QuarantineFile].Hash {
				b.Fatalf("the native and the WebAssembly builds disagree: %+v vs %+v", o, res.Outputs[actions.QuarantineFile])
			}
			p.Close()
		}
	}
	b.ReportMetric(float64(nativeT)/float64(wasmT)*100, "wasm-throughput-%-of-native")
}
