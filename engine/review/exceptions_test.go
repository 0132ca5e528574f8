package review_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/policies"
)

// TestExceptions builds a trail with one entry of every sort of exception
// among entries that are none, and checks that each exception, and only
// those, is listed with its seq, time, who, what and why, in the order of
// the kinds.
func TestExceptions(t *testing.T) {
	if got := review.Exceptions(nil); got != nil {
		t.Fatalf("an empty trail has exceptions: %v", got)
	}
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	var entries []audit.Entry
	add := func(action, object, operator, reason string, details any) {
		b, err := json.Marshal(details)
		if err != nil {
			t.Fatal(err)
		}
		n := int64(len(entries) + 1)
		entries = append(entries, audit.Entry{Seq: n, Time: t0.Add(time.Duration(n) * time.Minute), Operator: operator, Action: action, Object: object, Reason: reason, Details: b})
	}
	verified := policies.BundleInfo{SHA256: "sha256:b1", Signed: true, SignatureVerified: true, KeyFingerprint: "sha256:k1"}
	decision := func(kind policies.Kind, allow bool, b policies.BundleInfo, deny ...string) actions.PolicyDecisionDetails {
		return actions.PolicyDecisionDetails{Decision: policies.Decision{Kind: kind, Allow: allow, Deny: deny, Bundle: b}}
	}
	// 1-4: none of these is an exception.
	add(actions.PolicyDecision, "batch:b1", "admin", "", decision("plugins", true, verified))
	add(actions.BatchCommitted, "batch:b1", "admin", "", actions.BatchRecord{BatchID: "b1", AsOf: "2026-11-25T00:00:00Z"})
	add(actions.RecordResubmitted, "batch:b1", "admin", "typo", actions.RecordResubmittedDetails{OriginalBatch: "b1", OriginalOrdinal: 2, NewBatch: "b2", Status: "committed", Verified: true})
	add(actions.ESignSigned, "batch:b1", "alice", "release", actions.ESignSignedDetails{Manifest: actions.ESignManifest{BatchID: "b1", Meaning: "approved", SignerID: "alice", SignerName: "Alice Example"}})
	// 5-: each is one.
	add(actions.ESignFailed, "batch:b1", "alice", "release", actions.ESignFailedDetails{Batch: "b1", Operator: "alice", Meaning: "approved", Failure: "wrong passphrase", Error: "the passphrase is wrong"})
	add(actions.OperatorLocked, "operator:alice", "alice", "", actions.OperatorLockedDetails{ID: "alice", FailedAttempts: 3, Attempts: []int64{5, 6, 7}, LockoutAfter: 3})
	add(actions.PolicyDecision, "batch:b1", "admin", "", decision("egress", false, verified, "destination not whitelisted"))
	add(actions.PluginRefused, "plugin:range@1.0.0", "admin", "", actions.PluginRefusedDetails{Plugin: "range@1.0.0", Pinned: "sha256:aa", Job: "feed", Error: "hash mismatch"})
	add(actions.TrailClockAnomaly, "trail:t", "admin", "", map[string]any{"clock": "2026-11-25T08:00:00Z", "head_seq": 8, "head_time": "2026-11-25T09:08:00Z", "refused_action": "batch.committed", "refused_object": "batch:b3", "refused_operator": "admin"})
	add(actions.BatchCommitted, "batch:b3", "bob", "backfill", actions.BatchRecord{BatchID: "b3", AsOf: "2025-01-01T00:00:00Z", AsOfOutsideWindow: true, AsOfWindow: &actions.TimeWindow{Past: "720h", Future: "5m"}})
	add(actions.RecordResubmitted, "batch:b1", "admin", "typo again", actions.RecordResubmittedDetails{OriginalBatch: "b1", OriginalOrdinal: 2, NewBatch: "b4", Status: "committed", Previous: &actions.Correction{Batch: "b2", Entry: 3}})
	add(actions.ESignSigned, "batch:b3", "bob", "mine", actions.ESignSignedDetails{Manifest: actions.ESignManifest{BatchID: "b3", Meaning: "approved", SignerID: "bob", SignerName: "Bob Builder"}})
	add(actions.EngineKeyRotated, actions.EngineKeyObject, "admin", "annual rotation", actions.KeyRotatedDetails{OldKey: "ed25519 AAAA key-old", NewKey: "ed25519 BBBB key-new", AtRest: "plain"})
	add(actions.PolicyDecision, "operator:bob", "bob", "", decision("authz", true, policies.BundleInfo{SHA256: "sha256:b2", Signed: true, SignatureVerified: true, KeyFingerprint: "sha256:k2"}))
	add(actions.PinChanged, "file:pawl.lock", "admin", "looser schema", actions.PinChangedDetails{Changes: []actions.PinChange{{File: "schemas/s.json", Old: "sha256:01", New: "sha256:02"}}, Contract: []actions.ContractDiff{{Job: "feed", Verdict: "weakening", Changes: []actions.ContractChange{{}}}}})
	add(actions.BatchExported, "batch:b1", "admin", "", actions.BatchExportedDetails{BatchID: "b1", Destination: "file:///out/", Purpose: "release", Files: []actions.ExportedFile{{}}})

	got := review.Exceptions(entries)
	want := []struct {
		kind string
		seq  int64
		who  string
		in   []string // in What or Why
	}{
		{"Failed e-signature", 5, "alice", []string{"wrong passphrase", "the passphrase is wrong", "release"}},
		{"Lock-out", 6, "alice", []string{"operator alice locked out after 3", "entries 5, 6, 7"}},
		{"Policy denial", 7, "admin", []string{"egress decision about batch:b1 denied", "destination not whitelisted"}},
		{"Unsigned or re-keyed policy bundle", 14, "bob", []string{"verified with key sha256:k2", "with key sha256:k1"}},
		{"Refused plugin", 8, "admin", []string{"range@1.0.0", "hash mismatch"}},
		{"Clock anomaly", 9, "admin", []string{"batch.committed about batch:b3 refused", "before entry 8"}},
		{"Time outside the window", 10, "bob", []string{"as of 2025-01-01T00:00:00Z", "720h back", "backfill"}},
		{"Correction of a correction", 11, "admin", []string{"corrected again as batch b4", "batch b2, entry 3"}},
		{"Self-approval", 12, "bob", []string{`Bob Builder (bob) signed "approved" the batch b3 they ran`}},
		{"Engine key rotation", 13, "admin", []string{"key-old replaced by key-new", "annual rotation"}},
		{"Configuration or pin change", 15, "admin", []string{"CONTRACT WEAKENING of job feed", "schemas/s.json changed"}},
		{"Export", 16, "admin", []string{"batch b1 exported to file:///out/ (1 files)"}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d exceptions, want %d:\n%s", len(got), len(want), dump(got))
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.kind || g.Seq != w.seq || g.Who != w.who || g.Time != t0.Add(time.Duration(w.seq)*time.Minute).Format(time.RFC3339) {
			t.Errorf("exception %d is %s entry %d by %s at %s, want %s entry %d by %s", i+1, g.Kind, g.Seq, g.Who, g.Time, w.kind, w.seq, w.who)
		}
		for _, s := range w.in {
			if !strings.Contains(g.What+" | "+g.Why, s) {
				t.Errorf("exception %d (%s): %q does not say %q", i+1, g.Kind, g.What+" | "+g.Why, s)
			}
		}
	}

	// An unsigned bundle is named once, at its first decision.
	entries = entries[:0]
	unsigned := policies.BundleInfo{SHA256: "sha256:b3", Revision: "r1"}
	add(actions.PolicyDecision, "project", "admin", "", decision("authz", true, unsigned))
	add(actions.PolicyDecision, "project", "admin", "", decision("authz", true, unsigned))
	// A change approved by its proposer is a self-approval; by another, not.
	add(actions.ChangeProposed, "change:c1", "carol", "looser limits", actions.ChangeProposedDetails{ID: "c1"})
	add(actions.ESignSigned, "change:c1", "dave", "ok", actions.ESignSignedDetails{Manifest: actions.ESignManifest{ChangeID: "c1", Meaning: "approved", SignerID: "dave", SignerName: "Dave"}})
	add(actions.ESignSigned, "change:c1", "carol", "mine", actions.ESignSignedDetails{Manifest: actions.ESignManifest{ChangeID: "c1", Meaning: "approved", SignerID: "carol", SignerName: "Carol"}})
	got = review.Exceptions(entries)
	if len(got) != 2 || got[1].Kind != "Self-approval" || got[1].Seq != 5 || !strings.Contains(got[1].What, `Carol (carol) signed "approved" the change c1 they proposed`) {
		t.Errorf("a change approved by its proposer:\n%s", dump(got))
	}
	if len(got) < 1 || got[0].Seq != 1 || !strings.Contains(got[0].What, "policy bundle sha256:b3") || !strings.Contains(got[0].What, "not verified") {
		t.Errorf("an unsigned bundle's decisions:\n%s", dump(got))
	}
}

func dump(xs []review.Exception) string {
	var b strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&b, "%s %d %s: %s | %s\n", x.Kind, x.Seq, x.Who, x.What, x.Why)
	}
	return b.String()
}
