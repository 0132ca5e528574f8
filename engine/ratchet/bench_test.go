package ratchet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

// BenchmarkRun measures a whole batch of the schema-only job (the example
// job's contract and normalization, no validators) on generated readings
// with 0.8% defects; b.N batches of 100,000 records each, each in a fresh
// project (a batch already committed would not run again).
func BenchmarkRun(b *testing.B) { benchRun(b, "schema-only") }

// BenchmarkRunValidators is BenchmarkRun through the example job with its
// four validators.
func BenchmarkRunValidators(b *testing.B) { benchRun(b, "sensor-feed") }

// BenchmarkRunAllQuarantined is BenchmarkRunValidators with a device
// registry that knows none of the devices: every record is quarantined
// (by the schema, or by registry with a reason), the rejected path's cost
// (build/bench.sh's sensor-feed-unknown).
func BenchmarkRunAllQuarantined(b *testing.B) { benchRun(b, "sensor-feed-unknown") }

// schemaOnlyJob is the example job without its validators, as
// build/bench.sh runs it.
const schemaOnlyJob = `name: schema-only
source: plant-7-scada
classification: internal
format: jsonl
schema: schemas/sensor-reading.json
normalize:
  form: NFC
  identifiers: [/device_id]
`

func benchRun(b *testing.B, job string) {
	in := filepath.Join(b.TempDir(), "in.jsonl")
	f, err := os.Create(in)
	if err != nil {
		b.Fatal(err)
	}
	if err := demo.GenerateSensorReadings(f, demo.GenOptions{Records: 100000, Seed: 1, AsOf: enginetest.AsOf, FailureRate: 0.008}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(in)
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var records, quarantined int64
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := enginetest.NewProject(b) // the tests' time window reaches AsOf
		if job == "schema-only" {
			if err := os.WriteFile(filepath.Join(p.Root, "jobs", job+".yaml"), []byte(schemaOnlyJob), 0o644); err != nil {
				b.Fatal(err)
			}
			enginetest.Pin(b, p, "tester", "bench")
		}
		if job == "sensor-feed-unknown" {
			if err := os.WriteFile(filepath.Join(p.Root, "lookups", "device-registry.txt"), []byte("ZZ-000000\n"), 0o644); err != nil {
				b.Fatal(err)
			}
			enginetest.Pin(b, p, "tester", "bench")
		}
		b.StartTimer()
		res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: strings.TrimSuffix(job, "-unknown"), Input: in, AsOf: enginetest.AsOf, Workers: 2})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		records += res.RecordsIn
		quarantined = res.Quarantined
		elapsed += res.Elapsed
		p.Close()
		b.StartTimer()
	}
	if records != int64(b.N)*100000 || quarantined == 0 || (job == "sensor-feed-unknown" && quarantined != 100000) {
		b.Fatalf("%d records in over %d batches, %d quarantined in the last: expected 100,000 a batch and some quarantined", records, b.N, quarantined)
	}
	b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
}

// overhead runs the same 200,000-record batch with a part of the pipeline
// on and off, alternating, and reports the ratio of the total times.
func overhead(b *testing.B, skip *bool) {
	dir := b.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	f, _ := os.Create(in)
	demo.GenerateSensorReadings(f, demo.GenOptions{Records: 200000, Seed: 1, AsOf: enginetest.AsOf, FailureRate: 0.008})
	f.Close()
	var with, without time.Duration
	for i := 0; i < b.N; i++ {
		for _, off := range []bool{false, true} {
			p, err := engine.Init(context.Background(), filepath.Join(dir, fmt.Sprintf("p%d-%v", i, off)), engine.InitOptions{Operator: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			enginetest.UseTestCacheKey(b, p.Data) // the projects share the warm cache, as one project's runs do
			p.Cfg.TimeWindowPast = enginetest.PastWindow
			*skip = off
			start := time.Now()
			_, err = ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf, Workers: 2})
			*skip = false
			if err != nil {
				b.Fatal(err)
			}
			if off {
				without += time.Since(start)
			} else {
				with += time.Since(start)
			}
			p.Close()
		}
	}
	b.ReportMetric(float64(with)/float64(without), "with/without")
	b.ReportMetric(100*(float64(with)/float64(without)-1), "overhead-%")
}

// BenchmarkLineageOverhead: what hashing a leaf per record costs.
func BenchmarkLineageOverhead(b *testing.B) { overhead(b, ratchet.SkipLineage) }

// BenchmarkNormalizeOverhead: what the Unicode boundary costs.
func BenchmarkNormalizeOverhead(b *testing.B) { overhead(b, ratchet.SkipNormalize) }
