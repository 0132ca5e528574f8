package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// vmHWM is the process's peak resident set (VmHWM), in bytes.
func vmHWM(tb testing.TB) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Skip("no VmHWM in /proc/self/status")
	return 0
}

// BenchmarkInstancesAtTheirCap: PAWL_BENCH_INSTANCES instances (default 4,
// as `--workers 4` makes of a stateless plugin) of a plugin that grows its
// memory to the cap (the default, 256 MiB) and writes to all of it, each
// validating a batch at once. It reports the process's peak resident set
// over its level before (VmHWM, reset first) per instance, and that less
// the cap: the host's overhead per instance, which issue 16 bounds at
// 64 MB. Run with -benchtime 1x; each round makes new instances.
func BenchmarkInstancesAtTheirCap(b *testing.B) {
	n := 4
	if v, err := strconv.Atoi(os.Getenv("PAWL_BENCH_INSTANCES")); err == nil && v > 0 {
		n = v
	}
	pages := uint32(DefaultMemoryLimitPages)
	if v, err := strconv.Atoi(os.Getenv("PAWL_BENCH_PAGES")); err == nil && v > 0 {
		pages = uint32(v)
	}
	rt := newRuntime(b, Config{MemoryLimitPages: pages})
	p := load(b, rt, "capfill")
	ctx := context.Background()
	capBytes := float64(pages) * 65536
	var worst float64
	for range b.N {
		b.StopTimer()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // VmHWM from here
		before := vmHWM(b)
		b.StartTimer()
		var wg sync.WaitGroup
		ins := make([]*Instance, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				in, err := p.NewInstance(ctx, InstanceConfig{AsOf: asOf, Seed: 42})
				if err != nil {
					errs[i] = err
					return
				}
				ins[i] = in
				v, err := in.Validate(ctx, numbers(1, 2, 3))
				if err == nil && len(v) != 3 {
					err = fmt.Errorf("%d verdicts for 3 records", len(v))
				}
				if err == nil && in.MemoryBytes() != uint32(capBytes) {
					err = fmt.Errorf("memory %d bytes, not at its cap", in.MemoryBytes())
				}
				errs[i] = err
			})
		}
		wg.Wait()
		b.StopTimer()
		peak := vmHWM(b)
		for i, in := range ins {
			if errs[i] != nil {
				b.Fatal(errs[i])
			}
			in.Close(ctx)
		}
		worst = max(worst, float64(peak-before)/float64(n))
		b.StartTimer()
	}
	b.ReportMetric(worst/(1<<20), "peak-MiB/instance")
	b.ReportMetric((worst-capBytes)/(1<<20), "over-cap-MiB/instance")
}
