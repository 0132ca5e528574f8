package ratchet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

// BenchmarkRun measures a whole batch (schema only) on generated readings
// with 0.8% defects; b.N batches of 100,000 records each.
func BenchmarkRun(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	f, _ := os.Create(in)
	demo.GenerateSensorReadings(f, demo.GenOptions{Records: 100000, Seed: 1, AsOf: enginetest.AsOf, FailureRate: 0.008})
	f.Close()
	fi, _ := os.Stat(in)
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p, err := engine.Init(context.Background(), filepath.Join(dir, "p", string(rune('a'+i%26))+filepath.Base(b.TempDir())), engine.InitOptions{Operator: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		enginetest.UseTestCacheKey(b, p.Data) // the projects share the warm cache, as one project's runs do
		b.StartTimer()
		res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf, Workers: 2})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(res.RecordsIn)/res.Elapsed.Seconds(), "records/s")
		p.Close()
		b.StartTimer()
	}
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
