package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/esign"
)

// lifecycleProject is a project with one committed batch and alice
// enrolled; it returns the directory and the batch id.
func lifecycleProject(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "admin", "--role", "approver=policy_admin")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	var res struct {
		BatchID string `json:"batch_id"`
	}
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")), &res)
	if res.BatchID == "" {
		t.Fatal("no batch")
	}
	mustPawl(t, "-C", dir, "operator", "add", "alice", "--name", "Alice Example", "--passphrase-fd", passFD(t, alicePass), "--reason", "QA")
	grant(t, dir, "alice", "reviewer")
	grant(t, dir, "qa-admin", "admin")
	return dir, res.BatchID
}

const alicePass = "a long enough pass phrase"

// appendEntry appends an entry to the project's trail as someone with
// write access to it would, outside pawl's commands.
func appendEntry(t *testing.T, dir string, r actions.Record) audit.Entry {
	t.Helper()
	p, err := engine.Open(context.Background(), dir, config.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	e, err := actions.Append(context.Background(), p.Trail, r)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func signAs(t *testing.T, dir, batch, operator, pass string) (int, string, string) {
	t.Helper()
	return pawl(t, "", "-C", dir, "sign", batch, "--meaning", "reviewed", "--operator", operator, "--passphrase-fd", passFD(t, pass))
}

// TestWeakPassphrasesRefusedByTheCLI: twelve a's, and alice's own name
// with the year, are long enough and refused.
func TestWeakPassphrasesRefusedByTheCLI(t *testing.T) {
	dir, _ := lifecycleProject(t)
	for _, tc := range []struct{ id, name, pass, want string }{
		{"bob", "Bob Builder", "aaaaaaaaaaaa", "it scores 0 of 4"},
		{"carol", "Carol Example", "carol-example-2026", "the operator's id or printed name"},
	} {
		code, _, errs := pawl(t, "", "-C", dir, "operator", "add", tc.id, "--name", tc.name, "--passphrase-fd", passFD(t, tc.pass), "--reason", "QA")
		if code != 1 || !strings.Contains(errs, tc.want) || !strings.Contains(errs, "four or more unrelated words") || strings.Contains(errs, tc.pass) {
			t.Errorf("%s: exit %d %s", tc.pass, code, errs)
		}
	}
	code, _, errs := pawl(t, "", "-C", dir, "operator", "passwd", "alice", "--passphrase-fd", passFD(t, alicePass+"\naaaaaaaaaaaa"))
	if code != 1 || !strings.Contains(errs, "the new passphrase") || !strings.Contains(errs, "scores 0 of 4") {
		t.Fatalf("passwd to a weak passphrase: exit %d %s", code, errs)
	}
	code, _, errs = pawl(t, "", "-C", dir, "operator", "passwd", "alice", "--passphrase-fd", passFD(t, alicePass))
	if code != 1 || !strings.Contains(errs, "two lines: the old passphrase, then the new one") {
		t.Fatalf("passwd with one line: exit %d %s", code, errs)
	}
	if es := enginetest.TrailEntries(t, dir, actions.OperatorEnrolled, "operator:alice"); len(es) != 1 {
		t.Fatalf("%d enrolments", len(es))
	}
	if es := enginetest.TrailEntries(t, dir, actions.OperatorPassphraseChanged, ""); len(es) != 0 {
		t.Fatalf("%d changes", len(es))
	}
}

// TestEightWrongThenRightLocksOut: eight wrong passphrases, then the right
// one: refused, alice is locked (the alert on record), the unlock needs a
// reason and is on record with who unlocked.
func TestEightWrongThenRightLocksOut(t *testing.T) {
	dir, batch := lifecycleProject(t)
	for i := 1; i <= 8; i++ {
		if code, _, errs := signAs(t, dir, batch, "alice", "guess "+strconv.Itoa(i)+" of a patient attacker"); code != 1 {
			t.Fatalf("guess %d: exit %d %s", i, code, errs)
		}
	}
	code, _, errs := signAs(t, dir, batch, "alice", alicePass)
	if code != 1 || !strings.Contains(errs, "operator alice is locked since") || !strings.Contains(errs, "after 5 failed attempts") ||
		!strings.Contains(errs, "pawl operator unlock alice --reason") {
		t.Fatalf("the right passphrase after eight wrong ones: exit %d %s", code, errs)
	}
	if es := enginetest.TrailEntries(t, dir, actions.ESignSigned, "batch:"+batch); len(es) != 0 {
		t.Fatalf("%d signatures", len(es))
	}
	if es := enginetest.TrailEntries(t, dir, actions.OperatorLocked, "operator:alice"); len(es) != 1 {
		t.Fatalf("%d operator.locked entries", len(es))
	}
	if f := enginetest.TrailEntries(t, dir, actions.ESignFailed, ""); len(f) != 9 || !strings.Contains(string(f[8].Details), `"failure":"locked"`) {
		t.Fatalf("esign.failed: %d entries", len(f))
	}
	if list := mustPawl(t, "-C", dir, "operator", "list"); !strings.Contains(list, "locked since") {
		t.Fatalf("operator list:\n%s", list)
	}

	if code, _, errs := pawl(t, "", "-C", dir, "operator", "unlock", "alice"); code != 2 || !strings.Contains(errs, "--reason") {
		t.Fatalf("unlock without a reason: exit %d %s", code, errs)
	}
	if es := enginetest.TrailEntries(t, dir, actions.OperatorUnlocked, ""); len(es) != 0 {
		t.Fatalf("an unlock without a reason is on record")
	}
	mustPawl(t, "-C", dir, "operator", "unlock", "alice", "--reason", "she mistyped; confirmed by phone", "--operator", "qa-admin")
	un := enginetest.TrailEntries(t, dir, actions.OperatorUnlocked, "operator:alice")
	if len(un) != 1 || un[0].Operator != "qa-admin" || un[0].Reason != "she mistyped; confirmed by phone" || un[0].OSUser == "" {
		t.Fatalf("operator.unlocked: %+v", un)
	}
	if log := mustPawl(t, "-C", dir, "audit", "log", "--action", actions.OperatorUnlocked); !strings.Contains(log, "qa-admin") {
		t.Fatalf("audit log:\n%s", log)
	}
	if code, out, errs := signAs(t, dir, batch, "alice", alicePass); code != 0 {
		t.Fatalf("after the unlock: exit %d %s%s", code, out, errs)
	}
}

// TestExpiredPassphraseRefusedByTheCLI: 100 days after alice's enrolment
// (the lifecycle's clock moved); signing with it is refused and recorded;
// a change starts its age again.
func TestExpiredPassphraseRefusedByTheCLI(t *testing.T) {
	dir, batch := lifecycleProject(t)
	// 100 days from now on the lifecycle's clock (entry times never go
	// backwards, so an old change cannot be put on record instead).
	restore := esign.MoveClockForTest(100 * 24 * time.Hour)
	t.Cleanup(restore)
	code, _, errs := signAs(t, dir, batch, "alice", alicePass)
	if code != 1 || !strings.Contains(errs, "has expired: it was last changed 100 days ago") || !strings.Contains(errs, "change it with `pawl operator passwd alice`") {
		t.Fatalf("an expired passphrase: exit %d %s", code, errs)
	}
	if f := enginetest.TrailEntries(t, dir, actions.ESignFailed, ""); len(f) != 1 || !strings.Contains(string(f[0].Details), `"failure":"passphrase expired"`) {
		t.Fatalf("esign.failed: %+v", f)
	}
	if list := mustPawl(t, "-C", dir, "operator", "list"); !strings.Contains(list, "EXPIRED: set 100 d ago (max 90 d)") {
		t.Fatalf("operator list:\n%s", list)
	}
	// Back to today: the change is dated now, and its age starts again.
	restore()
	const newPass = "violet anchor meadow drizzle"
	if out := mustPawl(t, "-C", dir, "operator", "passwd", "alice", "--passphrase-fd", passFD(t, alicePass+"\n"+newPass)); !strings.Contains(out, "it expires in 89 days") {
		t.Fatalf("passwd: %s", out)
	}
	if code, _, errs := signAs(t, dir, batch, "alice", alicePass); code != 1 || !strings.Contains(errs, "wrong passphrase") {
		t.Fatalf("the old passphrase after the change: exit %d %s", code, errs)
	}
	if code, out, errs := signAs(t, dir, batch, "alice", newPass); code != 0 {
		t.Fatalf("the new passphrase: exit %d %s%s", code, out, errs)
	}
}

// TestRevokedOperatorInTheCLI: after the revocation alice cannot sign and
// her id cannot be enrolled again; her earlier signature stays valid; the
// same signature entry appended to the trail after the revocation —
// valid in every other way — is invalid, and `audit verify` names it.
func TestRevokedOperatorInTheCLI(t *testing.T) {
	dir, batch := lifecycleProject(t)
	if code, out, errs := signAs(t, dir, batch, "alice", alicePass); code != 0 {
		t.Fatalf("sign: exit %d %s%s", code, out, errs)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "operator", "revoke", "alice"); code != 2 || !strings.Contains(errs, "--reason") {
		t.Fatalf("revoke without a reason: exit %d %s", code, errs)
	}
	mustPawl(t, "-C", dir, "operator", "revoke", "alice", "--reason", "left the company", "--operator", "qa-admin")
	rev := enginetest.TrailEntries(t, dir, actions.OperatorRevoked, "operator:alice")
	if len(rev) != 1 || rev[0].Operator != "qa-admin" || rev[0].Reason != "left the company" {
		t.Fatalf("operator.revoked: %+v", rev)
	}
	if code, _, errs := signAs(t, dir, batch, "alice", alicePass); code != 1 || !strings.Contains(errs, "was revoked") {
		t.Fatalf("signing after the revocation: exit %d %s", code, errs)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "operator", "add", "alice", "--name", "Alice Again", "--passphrase-fd", passFD(t, "violet anchor meadow drizzle")); code != 1 ||
		!strings.Contains(errs, "never enrolled again") {
		t.Fatalf("re-enrolling alice: exit %d %s", code, errs)
	}
	if show := mustPawl(t, "-C", dir, "batches", "show", batch); !strings.Contains(show, "valid, made before alice was revoked at") {
		t.Fatalf("batches show:\n%s", show)
	}
	if out := mustPawl(t, "-C", dir, "audit", "verify"); !strings.Contains(out, "everything verifies") {
		t.Fatalf("audit verify before the forgery:\n%s", out)
	}

	signed := enginetest.TrailEntries(t, dir, actions.ESignSigned, "batch:"+batch)[0]
	sd, err := actions.Decode[actions.ESignSignedDetails](signed)
	if err != nil {
		t.Fatal(err)
	}
	forged := appendEntry(t, dir, actions.Record{Operator: signed.Operator, Object: signed.Object, Reason: signed.Reason, Details: sd})
	code, out, _ := pawl(t, "", "-C", dir, "audit", "verify")
	want := "e-signature in audit entry " + strconv.FormatInt(forged.Seq, 10) + ": signer alice was revoked (audit entry " + strconv.FormatInt(rev[0].Seq, 10)
	if code != exitNotVerified || !strings.Contains(out, want) {
		t.Fatalf("audit verify after a signature forged after the revocation: exit %d, want %q in\n%s", code, want, out)
	}
	show := mustPawl(t, "-C", dir, "batches", "show", batch)
	if !strings.Contains(show, "valid, made before alice was revoked") || !strings.Contains(show, "NOT VALID: signer alice was revoked") {
		t.Fatalf("batches show after the forgery:\n%s", show)
	}
}
