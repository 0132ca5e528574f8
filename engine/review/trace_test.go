package review_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/review"
)

// TestTraceVerifiedAndQuarantined follows a record the boundary changed
// and let through, one the schema refused and one a validator refused.
func TestTraceVerifiedAndQuarantined(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	soft := `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"cel` + "\u00ad" + `sius"}`
	unknown := `{"device_id":"ZZ-999999","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`
	// A byte order mark moves every offset by three bytes.
	input := "\uFEFF" + enginetest.GoodReading + "\n" + soft + "\r\n" + enginetest.HotReading + "\n" + unknown + "\n"
	b := enginetest.Run(t, p, enginetest.WriteInput(t, t.TempDir(), "in.jsonl", []byte(input)), 2)
	if b.Verified != 2 || b.Quarantined != 2 {
		t.Fatalf("batch: %d verified, %d quarantined", b.Verified, b.Quarantined)
	}
	enginetest.EnrolAlice(t, p)
	if _, err := esign.Sign(ctx, p, esign.SignOptions{Batch: b.BatchID, Meaning: "reviewed", Operator: "alice", Reason: "weekly review", Passphrase: []byte(enginetest.AlicePass)}); err != nil {
		t.Fatal(err)
	}
	if _, err := esign.Sign(ctx, p, esign.SignOptions{Batch: b.BatchID, Meaning: "approved", Operator: "alice", Passphrase: []byte("not the passphrase")}); err == nil {
		t.Fatal("a wrong passphrase signed")
	}
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return "sha256:" + hex.EncodeToString(h[:]) }

	cases := []struct {
		ord      int64
		raw      string
		outcome  string
		verdicts map[string]string
		rule     string // a reason or action rule the trace must show
	}{
		{2, soft, "verified", map[string]string{"normalize": review.VerdictPassed, "validate:registry": review.VerdictPassed}, "unicode.soft_hyphen"},
		{3, enginetest.HotReading, "quarantined", map[string]string{"normalize": review.VerdictPassed, "schema": review.VerdictRejected, "validate:range": review.VerdictNotReached}, "type"},
		{4, unknown, "quarantined", map[string]string{"schema": review.VerdictPassed, "validate:registry": review.VerdictRejected, "validate:range": review.VerdictPassed}, "registry/"},
	}
	for _, tc := range cases {
		tr, err := review.Trace(ctx, p, b.BatchID[:10], tc.ord)
		if err != nil {
			t.Fatal(err)
		}
		r := tr.Record
		if r.InputHash != hash(tc.raw) || r.Outcome != tc.outcome || r.Line != tc.ord {
			t.Errorf("record %d: input hash %s (want %s), outcome %s, line %d", tc.ord, r.InputHash, hash(tc.raw), r.Outcome, r.Line)
		}
		if got := input[r.Offset : r.Offset+r.Length]; got != tc.raw {
			t.Errorf("record %d: offset %d length %d point at %q", tc.ord, r.Offset, r.Length, got)
		}
		got := map[string]string{}
		var rules []string
		for _, s := range tr.Stages {
			got[s.Stage] = s.Verdict
			for _, x := range s.Reasons {
				rules = append(rules, x.Rule)
			}
			for _, x := range s.Actions {
				rules = append(rules, x.Rule)
			}
		}
		for st, v := range tc.verdicts {
			if got[st] != v {
				t.Errorf("record %d: stage %s %q, want %q (%v)", tc.ord, st, got[st], v, got)
			}
		}
		if !strings.Contains(strings.Join(rules, " "), tc.rule) {
			t.Errorf("record %d: rules %v lack %s", tc.ord, rules, tc.rule)
		}
		if !tr.Lineage.Proved || tr.Lineage.Proof == nil || tr.Lineage.Leaf != tr.Lineage.LeafOnRecord || tr.Lineage.Root != b.Lineage.Root {
			t.Errorf("record %d: lineage %+v", tc.ord, tr.Lineage)
		}
		if tr.Operator != "tester" || tr.Reason != "test" || tr.AuditSeq != b.AuditSeq {
			t.Errorf("record %d: batch entry: operator %q reason %q seq %d", tc.ord, tr.Operator, tr.Reason, tr.AuditSeq)
		}
		if len(tr.Signatures) != 1 || !tr.Signatures[0].Valid || tr.Signatures[0].SignerName != "Alice Example" || tr.Signatures[0].Meaning != esign.MeaningReviewed {
			t.Errorf("record %d: signatures %+v", tc.ord, tr.Signatures)
		}
		failed := 0
		for _, e := range tr.Events {
			if e.Action == actions.ESignFailed {
				failed++
			}
		}
		if failed != 1 {
			t.Errorf("record %d: %d esign.failed events, want 1", tc.ord, failed)
		}
	}
	canonical := `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","unit":"celsius","value":21.5}`
	if tr, _ := review.Trace(ctx, p, b.BatchID, 2); tr.Record.Output != canonical || tr.Record.OutputHash != hash(canonical+"\n") {
		t.Errorf("verified output %q %s, want the canonical record %q", tr.Record.Output, tr.Record.OutputHash, canonical)
	}

	// An export recorded against the batch shows up.
	if _, err := p.Trail.Append(ctx, audit.Entry{Operator: "alice", Action: actions.BatchExported, Object: "batch:" + b.BatchID,
		Reason: "to the LIMS", Details: []byte(`{"batch_id":"` + b.BatchID + `"}`)}); err != nil {
		t.Fatal(err)
	}
	if tr, err := review.Trace(ctx, p, b.BatchID, 1); err != nil || len(tr.Exports) != 1 || tr.Exports[0].Reason != "to the LIMS" {
		t.Fatalf("exports: %+v %v", tr, err)
	}
	if _, err := review.Trace(ctx, p, b.BatchID, 5); err == nil || !strings.Contains(err.Error(), "between 1 and 4") {
		t.Fatalf("ordinal out of range: %v", err)
	}
}

// TestTraceNoticesAnAlteredInput: the input blob is rewritten in place with
// another record of the same length; the trace recomputes the leaf from the
// bytes and says it is not the one on record.
func TestTraceNoticesAnAlteredInput(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
	path := p.Store.Path(b.Input)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o600)
	if err := os.WriteFile(path, []byte(strings.Replace(string(raw), `"hot"`, `"HOT"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := review.Trace(ctx, p, b.BatchID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Lineage.Proved || !strings.Contains(tr.Lineage.Problem, "was altered") {
		t.Fatalf("lineage after tampering: %+v", tr.Lineage)
	}
}
