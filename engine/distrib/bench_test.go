package distrib

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

// BenchmarkDistributedRun runs 100,000 generated sensor readings through
// the job's stateless stages on this machine (two local workers), then
// distributed over 1, 2 and 4 in-process workers on an embedded JetStream
// server: on one machine the workers share its cores, so what it shows is
// the protocol's cost (BENCHMARKS.md, "Worker scale-out"). Each iteration
// is a batch of its own (a different input).
//
//	go test ./engine/distrib -run '^$' -bench BenchmarkDistributedRun -benchtime 3x
func BenchmarkDistributedRun(b *testing.B) {
	const n = 100_000
	url := startNATS(b)
	o := Options{AckWait: 30 * time.Second}
	com, err := NewCommitter(context.Background(), connect(b, url), url, o)
	if err != nil {
		b.Fatal(err)
	}
	seed := uint64(100)
	bench := func(b *testing.B, p *project.Project, d ratchet.Distributor) {
		for b.Loop() {
			b.StopTimer()
			seed++
			in := enginetest.WriteInput(b, b.TempDir(), "in.jsonl", enginetest.GenInput(b, n, seed))
			b.StartTimer()
			res, err := run(p, in, d)
			if err != nil {
				b.Fatal(err)
			}
			if res.RecordsIn != n {
				b.Fatalf("%d records in, want %d", res.RecordsIn, n)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	}
	// The job without its ordered plugin (the workers finalize), then the
	// scaffold's job (zscore runs on the committer, which finalizes).
	for _, job := range []struct {
		name      string
		stateless bool
	}{{"stateless", true}, {"zscore", false}} {
		p := sameProjects(b, 1, job.stateless, url)[0]
		b.Run(job.name+"/local", func(b *testing.B) { bench(b, p, nil) })
		for _, w := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", job.name, w), func(b *testing.B) {
				stop := workers(b, url, w, o, nil)
				defer stop()
				bench(b, p, com)
			})
		}
	}
}
