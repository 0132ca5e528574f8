package ratchet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/review"
)

func TestResubmitACorrectedRecord(t *testing.T) {
	p := enginetest.NewProject(t)
	bad := `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":"hot","unit":"celsius"}`
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", []byte(goodRecord+"\n"+bad+"\n"))
	res := enginetest.Run(t, p, in, 1)
	if res.Quarantined != 1 {
		t.Fatalf("setup: %d quarantined", res.Quarantined)
	}
	fixed := []byte(strings.Replace(bad, `"hot"`, `21.5`, 1))
	if _, err := ratchet.Resubmit(context.Background(), p, res.BatchID, 2, fixed, "alice", ""); err == nil || !strings.Contains(err.Error(), "reason is required") {
		t.Fatalf("resubmission without a reason: %v", err)
	}
	if _, err := ratchet.Resubmit(context.Background(), p, res.BatchID, 1, fixed, "alice", "fix"); err == nil {
		t.Fatal("a verified record was resubmitted")
	}
	again, err := ratchet.Resubmit(context.Background(), p, res.BatchID, 2, fixed, "alice", "sensor firmware sent a label; value read from the plant log")
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != "committed" || again.Verified != 1 || again.BatchID == res.BatchID {
		t.Fatalf("resubmitted batch: %+v", again)
	}
	if again.Resubmits == nil || again.Resubmits.OriginalBatch != res.BatchID || again.Resubmits.OriginalOrdinal != 2 {
		t.Fatalf("the new batch does not name the original record: %+v", again.Resubmits)
	}
	if again.JobSpec != res.JobSpec || again.PinsDigest != res.PinsDigest || again.AsOf != res.AsOf {
		t.Fatal("the resubmission did not use the original pins and as-of time")
	}
	es, _ := p.Trail.Find(context.Background(), actions.RecordResubmitted, "batch:"+res.BatchID)
	if len(es) != 1 || es[0].Operator != "alice" || !strings.Contains(string(es[0].Details), again.BatchID) {
		t.Fatalf("resubmission on record: %+v", es)
	}
	// The inspectors' report flags the original batch.
	exp, err := review.ExportAudit(context.Background(), p, filepath.Join(t.TempDir(), "x"), "html", "inspector", "")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(exp.Dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), "records changed since original entry (resubmitted)"); n != 1 {
		t.Fatalf("the report flags %d batches as resubmitted, want 1", n)
	}
}

// TestCorrectionsFormAChain: the corrections of one quarantined record are
// linked: each record.resubmitted entry names the correction before it,
// the chain is read back (project.Corrections) from the original record
// and from a correction's own record, and trace shows it. A record that
// already has an accepted correction is not corrected again without a
// reason: the refusal is on record, naming the accepted correction.
func TestCorrectionsFormAChain(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	res := enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
	if res.Quarantined != 1 {
		t.Fatalf("setup: %d quarantined", res.Quarantined)
	}
	stillBad := strings.Replace(enginetest.HotReading, `"hot"`, `"warm"`, 1)
	first, err := ratchet.Resubmit(ctx, p, res.BatchID, 2, []byte(stillBad), "alice", "typed the label again")
	if err != nil || first.Verified != 0 {
		t.Fatalf("first correction: %+v %v", first, err)
	}
	fixed := strings.Replace(enginetest.HotReading, `"hot"`, `21.5`, 1)
	second, err := ratchet.Resubmit(ctx, p, res.BatchID, 2, []byte(fixed), "alice", "value read from the plant log")
	if err != nil || second.Verified != 1 {
		t.Fatalf("second correction: %+v %v", second, err)
	}
	// Accepted now: a third correction without a reason is refused, on record.
	third := strings.Replace(enginetest.HotReading, `"hot"`, `21.6`, 1)
	if _, err := ratchet.Resubmit(ctx, p, res.BatchID, 2, []byte(third), "mallory", " "); err == nil || !strings.Contains(err.Error(), "already has an accepted correction") {
		t.Fatalf("a second correction of an accepted one without a reason: %v", err)
	}
	ref := enginetest.Details[actions.ResubmitRefusedDetails](t, p.Trail, "batch:"+res.BatchID)
	if len(ref) != 1 || ref[0].Failure != "no reason" || ref[0].Accepted == nil || ref[0].Accepted.Batch != second.BatchID {
		t.Fatalf("refusal on record: %+v", ref)
	}
	thirdRes, err := ratchet.Resubmit(ctx, p, res.BatchID, 2, []byte(third), "bob", "the plant log was misread: 21.6")
	if err != nil || thirdRes.Verified != 1 {
		t.Fatalf("third correction: %+v %v", thirdRes, err)
	}
	rs := enginetest.Details[actions.RecordResubmittedDetails](t, p.Trail, "batch:"+res.BatchID)
	if len(rs) != 3 || rs[0].Previous != nil || rs[1].Previous == nil || rs[1].Previous.Batch != first.BatchID || rs[1].Previous.Verified ||
		rs[2].Previous == nil || rs[2].Previous.Batch != second.BatchID || !rs[2].Previous.Verified {
		t.Fatalf("the corrections are not chained: %+v", rs)
	}
	for _, from := range []struct {
		batch string
		ord   int64
	}{{res.BatchID, 2}, {second.BatchID, 1}} {
		chain, err := p.Corrections(ctx, from.batch, from.ord)
		if err != nil {
			t.Fatal(err)
		}
		if chain.Original.OriginalBatch != res.BatchID || chain.Original.OriginalOrdinal != 2 || len(chain.Corrections) != 3 ||
			chain.Corrections[0].Batch != first.BatchID || chain.Corrections[2].Batch != thirdRes.BatchID || chain.Accepted().Batch != thirdRes.BatchID {
			t.Fatalf("chain from record %d of %s: %+v", from.ord, from.batch, chain)
		}
	}
	tr, err := review.Trace(ctx, p, res.BatchID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Corrections == nil || len(tr.Corrections.Corrections) != 3 {
		t.Fatalf("trace of the original record: %+v", tr.Corrections)
	}
	if tr, err := review.Trace(ctx, p, res.BatchID, 1); err != nil || tr.Corrections != nil {
		t.Fatalf("trace of a record never corrected: %+v %v", tr.Corrections, err)
	}
	// A correction of a correction's record names the original as its root.
	again := strings.Replace(enginetest.HotReading, `"hot"`, `21.7`, 1)
	if _, err := ratchet.Resubmit(ctx, p, first.BatchID, 1, []byte(again), "bob", "corrected from the first correction"); err != nil {
		t.Fatal(err)
	}
	last := enginetest.Details[actions.RecordResubmittedDetails](t, p.Trail, "batch:"+first.BatchID)
	if len(last) != 1 || last[0].Root == nil || last[0].Root.OriginalBatch != res.BatchID || last[0].Previous == nil || last[0].Previous.Batch != thirdRes.BatchID {
		t.Fatalf("a correction of a correction: %+v", last)
	}
}
