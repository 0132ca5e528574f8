package main

import (
	"fmt"
	"os"
	"path/filepath"
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

	// The inspectors' report shows the review, with the printed name, and
	// what is left unreviewed since.
	pkg := filepath.Join(t.TempDir(), "pkg")
	entries := func() int { return strings.Count(mustPawl(t, "-C", dir, "audit", "log", "--output", "json"), `"seq":`) }
	before := entries()
	mustPawl(t, "-C", dir, "inspect", pkg, "--reason", "inspection")
	after := entries()
	page, err := os.ReadFile(filepath.Join(pkg, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	section := between(string(page), `<section id="reviews">`, "</section>")
	for _, want := range []string{`<tr class="trail-review"><td>Ann Auditor</td><td>ann</td>`, `<td>2</td><td class="num">2</td><td>first review</td><td><span class="ok">valid</span>`} {
		if !strings.Contains(section, want) {
			t.Errorf("report.html does not show %q:\n%s", want, section)
		}
	}
	// The head the report saw is the trail's before the inspection was
	// recorded: everything after the review's entry 2 is unreviewed.
	var to, n int
	_, rest, _ := strings.Cut(section, "Unreviewed:</span> entries 3 to ")
	if k, err := fmt.Sscanf(rest, "%d (%d entries) since the last valid review, through entry 2.", &to, &n); k != 2 || err != nil || to < before || to >= after || n != to-2 {
		t.Errorf("report.html's unreviewed entries: %d to %d (%d entries), want 3 to a head in [%d, %d): %v\n%s", 3, to, n, before, after, err, section)
	}
}

// between is the part of s from the first start to the end after it.
func between(s, start, end string) string {
	_, after, _ := strings.Cut(s, start)
	before, _, _ := strings.Cut(after, end)
	return before
}
