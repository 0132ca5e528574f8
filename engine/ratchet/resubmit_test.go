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
