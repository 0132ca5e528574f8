package audit

import (
	"fmt"
	"testing"
)

// BenchmarkAppend measures one entry per transaction, each fsynced
// (synchronous=FULL in WAL mode): the rate is bound by the disk's fsync
// latency, not by hashing.
func BenchmarkAppend(b *testing.B) {
	tr, _ := newTrail(b)
	e := Entry{Operator: "alice", Action: "batch.committed", Reason: "bench", Details: []byte(`{"records":1000,"quarantined":3,"input":"sha256:aa"}`)}
	i := 0
	for b.Loop() {
		e.Object = fmt.Sprintf("batch:%d", i)
		i++
		if _, err := tr.Append(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAppendParallel shows that concurrent callers queue on one
// writer; throughput stays fsync bound.
func BenchmarkAppendParallel(b *testing.B) {
	tr, _ := newTrail(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tr.Append(ctx, Entry{Operator: "alice", Action: "batch.committed", Object: "batch:p"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// bulkFill appends n entries in one transaction, through the same code as
// Append, to build large trails quickly for benchmarks.
func bulkFill(tb testing.TB, tr *Trail, n int) {
	tb.Helper()
	tx, err := tr.w.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	for i := range n {
		if _, err := appendTx(ctx, tx, Entry{
			Operator: "alice", Action: "batch.committed", Object: fmt.Sprintf("batch:%d", i),
			Reason: "bulk", Details: fmt.Appendf(nil, `{"records":%d,"quarantined":%d,"input":"sha256:%064x"}`, i, i%7, i),
		}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkVerify10k(b *testing.B) {
	tr, _ := newTrail(b)
	bulkFill(b, tr, 10000)
	for b.Loop() {
		rep, err := tr.Verify(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK || rep.Entries != 10001 {
			b.Fatalf("report %+v", rep)
		}
	}
	b.ReportMetric(float64(b.N)*10001/b.Elapsed().Seconds(), "entries/s")
}

func TestBulkFillVerifies(t *testing.T) {
	tr, _ := newTrail(t)
	bulkFill(t, tr, 500)
	if rep := mustVerifyOK(t, tr); rep.Entries != 501 {
		t.Fatalf("%d entries", rep.Entries)
	}
}
