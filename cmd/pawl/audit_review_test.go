package main

import (
	"strings"
	"testing"
)

// TestAuditReviewSignedByAnAuditor: an auditor e-signs a review of the
// trail up to an entry (`pawl audit review`); a missing --through is a
// usage error, an entry the trail does not have a one-line refusal on
// record; `pawl audit reviews` shows the reviewer's printed name, the
// entry reviewed through and how many entries are unreviewed since; the
// trail still verifies.
func TestAuditReviewSignedByAnAuditor(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "admin", "--role", "ann=auditor")
	const pass = "a long enough pass phrase"
	mustPawl(t, "-C", dir, "operator", "add", "ann", "--name", "Ann Auditor", "--passphrase-fd", passFD(t, pass), "--reason", "inspections")
	if out := mustPawl(t, "-C", dir, "audit", "reviews"); !strings.Contains(out, "no valid review of the audit trail") {
		t.Fatalf("audit reviews before any:\n%s", out)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "audit", "review", "--operator", "ann", "--reason", "r"); code != 2 || !strings.Contains(errs, "--through SEQ is required") {
		t.Fatalf("no --through: exit %d %s", code, errs)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "audit", "review", "--through", "999", "--operator", "ann", "--reason", "r", "--passphrase-fd", passFD(t, pass)); code != 1 ||
		strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "--through 999: the audit trail has entries 1 to") || !strings.Contains(errs, "recorded in the audit trail") {
		t.Fatalf("an entry the trail does not have: exit %d %s", code, errs)
	}
	out := mustPawl(t, "-C", dir, "audit", "review", "--through", "2", "--operator", "ann", "--reason", "first review", "--passphrase-fd", passFD(t, pass))
	if !strings.Contains(out, "signed a review of the audit trail through entry 2: reviewed by Ann Auditor (ann)") {
		t.Fatalf("audit review:\n%s", out)
	}
	out = mustPawl(t, "-C", dir, "audit", "reviews")
	if !strings.Contains(out, "review through entry 2 (audit entry ") || !strings.Contains(out, "2 entries new): reviewed by Ann Auditor (ann)") ||
		!strings.Contains(out, "reviewed through entry 2; ") || !strings.Contains(out, "entries since are unreviewed") {
		t.Fatalf("audit reviews:\n%s", out)
	}
	if log := mustPawl(t, "-C", dir, "audit", "log", "--action", "esign.failed"); !strings.Contains(log, "review:999") {
		t.Fatalf("the refusal is not on record:\n%s", log)
	}
	mustPawl(t, "-C", dir, "audit", "verify")
}
