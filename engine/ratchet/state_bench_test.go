package ratchet_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

// writeReadings writes n readings spread over devices distinct devices
// (values around 21 with a spread of 1; timestamps within the day before
// enginetest.AsOf), streaming, and returns the file.
func writeReadings(b *testing.B, n, devices int) string {
	in := filepath.Join(b.TempDir(), fmt.Sprintf("readings-%d-%d.jsonl", n, devices))
	f, err := os.Create(in)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		ts := enginetest.AsOf.Add(-time.Duration(1+i%86000) * time.Second).Format(time.RFC3339)
		fmt.Fprintf(w, `{"device_id":"ZZ-%06d","timestamp":%q,"value":%s,"unit":"celsius"}`+"\n", i%devices, ts,
			strconv.FormatFloat(21+rng.NormFloat64(), 'f', 3, 64))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return in
}

// peakRSS is the process's peak resident set (VmHWM) in MB.
func peakRSS(b *testing.B) float64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(s), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux:
// writing 5 to clear_refs), so that the peak is the run's, not the input
// generation's.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func freshProject(b *testing.B, dir string) *project.Project {
	p, err := engine.Init(context.Background(), dir, engine.InitOptions{Operator: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	enginetest.UseTestCacheKey(b, p.Data) // the projects share the warm cache, as one project's runs do
	return p
}

// BenchmarkHighCardinality: 1,000,000 readings from 1,000,000 distinct
// devices through the example job (the four validators, zscore keeping a
// key per device in the host's state), in a fresh project each time:
// records/s, the state's keys, the peak RSS of the process during the run,
// and the replay of the batch (which must reproduce state_out).
// PAWL_BENCH_RECORDS overrides the count, PAWL_BENCH_DEVICES the devices
// (default: as many as records); PAWL_BENCH_HEAPPROFILE names a file to
// receive a heap profile taken near the run's peak of Go heap in use.
func BenchmarkHighCardinality(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("PAWL_BENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	devices := n
	if s := os.Getenv("PAWL_BENCH_DEVICES"); s != "" {
		devices, _ = strconv.Atoi(s)
	}
	in := writeReadings(b, n, devices)
	dir := b.TempDir()
	warmCache(b, filepath.Join(dir, "warm"))
	for i := 0; i < b.N; i++ {
		p := freshProject(b, filepath.Join(dir, fmt.Sprintf("p%d", i)))
		runtimeGC()
		resetPeakRSS()
		stop := heapPeakProfile(b, os.Getenv("PAWL_BENCH_HEAPPROFILE"))
		res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf, Workers: 2, Reason: "benchmark at the tests' as-of time"})
		stop()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(peakRSS(b), "peak-RSS-MB")
		b.ReportMetric(float64(res.RecordsIn)/res.Elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(res.State.Keys), "state-keys")
		start := time.Now()
		rep, err := ratchet.Replay(context.Background(), p, res.BatchID, "bench", "")
		if err != nil || !rep.Match {
			b.Fatalf("replay: %v %+v", err, rep)
		}
		b.ReportMetric(time.Since(start).Seconds(), "replay-s")
		p.Close()
	}
}

// BenchmarkStateCost: 200,000 readings of 5,000 devices through the
// example job, run as two batches in one project (the second starts from
// the first's 5,000 keys): the share of the run's time spent in the host's
// state — loading state_in, every state_get and state_put on the host
// side, storing state_out. (The guest's side of a call, a few instructions
// and the copy of 24 bytes, is not counted.)
func BenchmarkStateCost(b *testing.B) {
	in1 := writeReadings(b, 200_000, 5000)
	in2 := filepath.Join(b.TempDir(), "second.jsonl")
	data, _ := os.ReadFile(in1)
	os.WriteFile(in2, []byte(strings.ReplaceAll(string(data), `"unit":"celsius"`, `"unit":"celsius" `)), 0o600)
	dir := b.TempDir()
	warmCache(b, filepath.Join(dir, "warm"))
	*ratchet.MeasureState = true
	defer func() { *ratchet.MeasureState = false }()
	var total, state time.Duration
	for i := 0; i < b.N; i++ {
		p := freshProject(b, filepath.Join(dir, fmt.Sprintf("p%d", i)))
		for _, in := range []string{in1, in2} {
			ratchet.StateNanos.Store(0)
			res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf, Workers: 2, Reason: "benchmark at the tests' as-of time"})
			if err != nil {
				b.Fatal(err)
			}
			if res.State.Keys != 5000 {
				b.Fatalf("state keys %d", res.State.Keys)
			}
			total += res.Elapsed
			state += time.Duration(ratchet.StateNanos.Load())
		}
		p.Close()
	}
	b.ReportMetric(100*float64(state)/float64(total), "state-%")
	b.ReportMetric(total.Seconds()/float64(2*b.N), "s/batch")
}

// heapPeakProfile, given a file name, samples the Go heap in use every
// 100 ms until stopped and writes a heap profile to the file whenever the
// heap in use passes its previous peak by 5%: the last one written is taken
// near the peak. With no file name it does nothing.
func heapPeakProfile(b *testing.B, file string) (stop func()) {
	if file == "" {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			metrics.Read(samples)
			if v := samples[0].Value.Uint64(); v > peak+peak/20 {
				peak = v
				f, err := os.Create(file)
				if err != nil {
					b.Error(err)
					return
				}
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
	}()
	return func() { close(done); <-finished }
}

func runtimeGC() { debug.FreeOSMemory() }

// warmCache runs a small batch in a project of its own, so that the
// plugins are compiled into the shared cache before anything is measured
// (as they are for every run of a project but its first).
func warmCache(b *testing.B, dir string) {
	p := freshProject(b, dir)
	defer p.Close()
	in := writeReadings(b, 10, 10)
	if _, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf, Workers: 2, Reason: "benchmark at the tests' as-of time"}); err != nil {
		b.Fatal(err)
	}
	runtimeGC()
}
