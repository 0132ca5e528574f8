package esign_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/policies"
)

// asUID is a request from another OS account, as `pawl serve` vouches for
// its socket's peer (SO_PEERCRED).
func asUID(uid int) context.Context {
	return principal.With(context.Background(), principal.Principal{UID: uid, Via: principal.ViaUnix})
}

func uid(n int) *int { return &n }

// lastAuthz is the newest authz decision on record.
func lastAuthz(t *testing.T, p *project.Project) (policies.Decision, string) {
	t.Helper()
	ds := enginetest.Entries(t, p.Trail, actions.PolicyDecision, "")
	for i := len(ds) - 1; i >= 0; i-- {
		d, err := actions.Decode[actions.PolicyDecisionDetails](ds[i])
		if err != nil {
			t.Fatal(err)
		}
		if d.Kind == policies.KindAuthz {
			return d.Decision, ds[i].Operator
		}
	}
	t.Fatal("no authz decision on record")
	return policies.Decision{}, ""
}

// denied checks that err is a refusal by policy naming reason, and that
// the deny is on record.
func denied(t *testing.T, p *project.Project, what string, err error, reason string) {
	t.Helper()
	if !errors.Is(err, gate.ErrDenied) || !strings.Contains(err.Error(), reason) {
		t.Fatalf("%s: want a denial by policy naming %q, got %v", what, reason, err)
	}
	d, _ := lastAuthz(t, p)
	if d.Allow || !strings.Contains(strings.Join(d.Deny, "\n"), reason) {
		t.Fatalf("%s: the decision on record is %v %q", what, d.Allow, d.Deny)
	}
}

// TestAnyoneEnrolsAnyoneIsRefused — the attack: anyone enrols anyone,
// under someone else's printed name. Now enrolment needs the admin role
// (of an operator the caller may act as) and a reason, a printed name is
// unique, and every refusal is a decision on record; nothing is enrolled.
func TestAnyoneEnrolsAnyoneIsRefused(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t) // "tester" created it: every role, not enrolled
	alice := enginetest.EnrolAlice(t, p)
	if alice.EnrolledBy != "tester" {
		t.Fatalf("alice enrolled by %q", alice.EnrolledBy)
	}
	if _, err := esign.EnrolOperator(ctx, p, esign.EnrolOptions{ID: "bob", Name: "Bob Example", Passphrase: []byte(newPass), Reason: "reviewer", UID: uid(1002)}); err != nil {
		t.Fatal(err)
	}
	enginetest.Grant(t, p, "bob", "reviewer", "approver")
	enrol := func(ctx context.Context, by, id, name, reason string) error {
		_, err := esign.EnrolOperator(ctx, p, esign.EnrolOptions{ID: id, Name: name, By: by, Reason: reason, Passphrase: []byte(newPass), UID: uid(1666)})
		return err
	}
	// bob, from his own account, is no admin.
	denied(t, p, "bob enrols eve", enrol(asUID(1002), "bob", "eve", "Eve Example", "my friend"), `authz.role: operator.enrol needs one of the roles ["admin"]; operator "bob" has ["approver", "reviewer"]`)
	// bob, from his account, claims to be the admin who created the
	// project: under a service an operator id must be an enrolment bound
	// to the caller.
	denied(t, p, "bob as tester", enrol(asUID(1002), "tester", "eve", "Eve Example", "my friend"), `authz.not_enrolled: operator "tester" is not enrolled`)
	// An admin must give a reason.
	denied(t, p, "no reason", enrol(ctx, "tester", "eve", "Eve Example", " "), "authz.reason: enrolling an operator needs a reason")
	// Nobody is enrolled under someone else's printed name.
	denied(t, p, "alice's name", enrol(ctx, "tester", "alice2", "alice EXAMPLE", "second account"), `authz.name_taken: the printed name "alice EXAMPLE" is already enrolled`)
	for _, id := range []string{"eve", "alice2"} {
		if es := enginetest.Entries(t, p.Trail, actions.OperatorEnrolled, "operator:"+id); len(es) != 0 {
			t.Fatalf("%s enrolled after a refusal", id)
		}
		if _, err := os.Stat(p.OperatorKeyFile(id)); !os.IsNotExist(err) {
			t.Fatalf("%s has a key file after a refusal: %v", id, err)
		}
	}
	// The admin, with a reason and a new name, enrols; the enrolment
	// records the account eve is bound to.
	if err := enrol(ctx, "tester", "eve", "Eve Example", "new operator"); err != nil {
		t.Fatal(err)
	}
	d := enginetest.Details[actions.OperatorEnrolledDetails](t, p.Trail, "operator:eve")
	if len(d) != 1 || d[0].UID == nil || *d[0].UID != 1666 {
		t.Fatalf("eve's enrolment: %+v", d)
	}
	if d, who := lastAuthz(t, p); !d.Allow || who != "tester" || !strings.Contains(string(d.Input), `"action":"operator.enrol"`) {
		t.Fatalf("the allow on record: %v by %s %s", d.Allow, who, d.Input)
	}
	// By default an enrolment binds the caller's account.
	a := enginetest.Details[actions.OperatorEnrolledDetails](t, p.Trail, "operator:alice")
	if len(a) != 1 || a[0].UID == nil || *a[0].UID != os.Getuid() {
		t.Fatalf("alice's enrolment: %+v", a)
	}
}

// TestOwnBatchCannotBeReviewedOrApproved — the attack: the same person
// ran, reviewed and approved their own batch, twice. Now nobody reviews or
// approves a batch they ran, one person signs each meaning once, and each
// refusal is on record before any passphrase is tried.
func TestOwnBatchCannotBeReviewedOrApproved(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	enginetest.EnrolAlice(t, p)
	enginetest.Grant(t, p, "alice", "operator", "reviewer", "approver")
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", []byte(enginetest.GoodReading+"\n"))
	res, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf, Operator: "alice", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(op, meaning, pass string) error {
		_, err := esign.Sign(ctx, p, esign.SignOptions{Batch: res.BatchID, Meaning: meaning, Operator: op, Reason: "looked at it", Passphrase: []byte(pass)})
		return err
	}
	denied(t, p, "alice reviews her batch", sign("alice", "reviewed", enginetest.AlicePass), `authz.own_batch: operator "alice" ran batch:`+res.BatchID)
	denied(t, p, "alice approves her batch", sign("alice", "approved", enginetest.AlicePass), `authz.own_batch`)
	// Refused before the passphrase: a wrong one does not count either.
	denied(t, p, "alice, a wrong passphrase", sign("alice", "approved", "not alice's passphrase at all"), `authz.own_batch`)
	if op := lookup(t, p, "alice"); op.FailedAttempts != 0 {
		t.Fatalf("a refused signature counted %d failed attempts", op.FailedAttempts)
	}
	if err := sign("alice", "responsible", enginetest.AlicePass); err != nil {
		t.Fatalf("alice takes responsibility for her run: %v", err)
	}
	// Someone else reviews and approves, once each.
	if _, err := esign.EnrolOperator(ctx, p, esign.EnrolOptions{ID: "bob", Name: "Bob Example", Passphrase: []byte(newPass), Reason: "second person"}); err != nil {
		t.Fatal(err)
	}
	enginetest.Grant(t, p, "bob", "reviewer", "approver")
	if err := sign("bob", "reviewed", newPass); err != nil {
		t.Fatal(err)
	}
	if err := sign("bob", "approved", newPass); err != nil {
		t.Fatal(err)
	}
	denied(t, p, "bob approves twice", sign("bob", "approved", newPass), `authz.signed_twice: operator "bob" has already signed batch:`+res.BatchID+` "approved"`)
	sigs, err := esign.Signatures(ctx, p, res.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sigs {
		got = append(got, s.SignerID+" "+string(s.Meaning))
	}
	if strings.Join(got, ", ") != "alice responsible, bob reviewed, bob approved" {
		t.Fatalf("signatures: %v", got)
	}
}

// TestOperatorBoundToAnotherAccountIsRefused — the attack: operator ids on
// runs and signatures were whatever --operator said. Now an enrolled
// operator is bound to an OS account: a request from another account
// (another socket peer, or this process) cannot act as them, and cannot
// lock them out by guessing.
func TestOperatorBoundToAnotherAccountIsRefused(t *testing.T) {
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	if _, err := esign.EnrolOperator(context.Background(), p, esign.EnrolOptions{ID: "alice", Name: "Alice Example", Passphrase: []byte(enginetest.AlicePass), Reason: "r", UID: uid(1001)}); err != nil {
		t.Fatal(err)
	}
	enginetest.Grant(t, p, "alice", "reviewer", "approver")
	for _, ctx := range []context.Context{asUID(1002), context.Background()} {
		who := principal.From(ctx)
		_, err := esign.Sign(ctx, p, esign.SignOptions{Batch: b.BatchID, Meaning: "reviewed", Operator: "alice", Passphrase: []byte(enginetest.AlicePass)})
		denied(t, p, "as "+who.String(), err, `authz.identity: operator "alice" is bound to uid 1001; the request comes from uid `)
		d, _ := lastAuthz(t, p)
		if !strings.Contains(string(d.Result), `"roles":[]`) {
			t.Fatalf("an unbound caller got alice's roles: %s", d.Result)
		}
	}
	if op := lookup(t, p, "alice"); op.FailedAttempts != 0 || len(enginetest.Entries(t, p.Trail, actions.ESignSigned, "batch:"+b.BatchID)) != 0 {
		t.Fatalf("alice after refused requests: %d failed attempts", op.FailedAttempts)
	}
	// From her own account she signs.
	if _, err := esign.Sign(asUID(1001), p, esign.SignOptions{Batch: b.BatchID, Meaning: "reviewed", Operator: "alice", Passphrase: []byte(enginetest.AlicePass)}); err != nil {
		t.Fatal(err)
	}
}

// TestUnlockAndRevokeNeedAdmin: the lifecycle's admin actions are authz
// questions; an operator without the admin role is refused, on record.
func TestUnlockAndRevokeNeedAdmin(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	enginetest.EnrolAlice(t, p)
	_, err := esign.RevokeOperator(ctx, p, esign.AdminOptions{ID: "alice", By: "alice", Reason: "revoke myself"})
	denied(t, p, "alice revokes", err, `authz.role: operator.revoke needs one of the roles ["admin"]`)
	if op := lookup(t, p, "alice"); op.Revoked != nil {
		t.Fatal("revoked after a refusal")
	}
	if _, err := esign.RevokeOperator(ctx, p, esign.AdminOptions{ID: "alice", By: "tester", Reason: "left"}); err != nil {
		t.Fatal(err)
	}
}
