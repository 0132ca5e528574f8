package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/policies"
)

// TestSignAsksAuthzBeforeThePassphrase: a person who may not sign is told
// so before anyone asks for their passphrase. alice (a reviewer) approving,
// with no passphrase to give (no terminal, no --passphrase-fd), gets the
// denial in one line, exit 3, and the deny is on record; a signer who may
// sign is asked (and, with no terminal, told how to give it: exit 2).
func TestSignAsksAuthzBeforeThePassphrase(t *testing.T) {
	dir, id := lifecycleProject(t)
	code, out, errs := pawl(t, "", "-C", dir, "sign", id, "--meaning", "approved", "--operator", "alice", "--reason", "fit for use")
	if code != 3 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `authz.role: sign "approved" needs one of the roles ["approver"]; operator "alice" has ["reviewer"]`) ||
		strings.Contains(errs, "passphrase") || strings.Contains(errs, "signing batch") || out != "" {
		t.Fatalf("a reviewer approves with no passphrase given: exit %d\n%s%s", code, out, errs)
	}
	ds := enginetest.TrailEntries(t, dir, actions.PolicyDecision, "batch:"+id)
	last, _ := actions.Decode[actions.PolicyDecisionDetails](ds[len(ds)-1])
	if last.Kind != policies.KindAuthz || last.Allow || ds[len(ds)-1].Operator != "alice" {
		t.Fatalf("the denial on record: %+v by %s", last.Decision, ds[len(ds)-1].Operator)
	}
	if n := len(enginetest.TrailEntries(t, dir, actions.ESignSigned, "batch:"+id)); n != 0 {
		t.Fatalf("%d signatures", n)
	}
	// Allowed: only then is the passphrase asked for.
	code, _, errs = pawl(t, "", "-C", dir, "sign", id, "--meaning", "reviewed", "--operator", "alice")
	if code != 2 || !strings.Contains(errs, "no terminal to ask for the passphrase") || !strings.Contains(errs, `as "reviewed": Alice Example (alice)`) {
		t.Fatalf("a reviewer reviews with no passphrase given: exit %d\n%s", code, errs)
	}
	ds = enginetest.TrailEntries(t, dir, actions.PolicyDecision, "batch:"+id)
	if last, _ := actions.Decode[actions.PolicyDecisionDetails](ds[len(ds)-1]); last.Kind != policies.KindAuthz || !last.Allow {
		t.Fatalf("the allow on record: %+v", last.Decision)
	}
}

// TestSigningSessionInTheCLI — 21 CFR 11.200(a)(1): `pawl sign --operator`
// opens a session; `pawl session show` shows it; `pawl sign` without
// --operator signs in it, asking the passphrase; `pawl session end` ends
// it on record, after which a sign without --operator is refused in one
// line (exit 1), on record.
func TestSigningSessionInTheCLI(t *testing.T) {
	dir, id := lifecycleProject(t)
	grant(t, dir, "alice", "reviewer", "approver")
	// The grant's approval opened a session for this account, as operator
	// "approver": this test's one account plays every person.
	if out := mustPawl(t, "-C", dir, "session", "end"); !strings.Contains(out, "of operator approver") {
		t.Fatalf("session end: %s", out)
	}
	code, _, errs := pawl(t, "", "-C", dir, "sign", id, "--meaning", "reviewed", "--passphrase-fd", passFD(t, alicePass))
	if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "no signing session open for uid") || !strings.Contains(errs, "was ended") || !strings.Contains(errs, "sign with --operator ID") {
		t.Fatalf("sign without --operator with no session open: exit %d\n%s", code, errs)
	}
	if code, _, _ := signAs(t, dir, id, "alice", alicePass); code != 0 {
		t.Fatal("alice signs with her id")
	}
	show := mustPawl(t, "-C", dir, "session", "show")
	if !strings.Contains(show, "of operator alice, for uid ") || !strings.Contains(show, "1 signing(s)") || !strings.Contains(show, "esign.session_timeout 15m0s") {
		t.Fatalf("session show:\n%s", show)
	}
	code, out, errs := pawl(t, "", "-C", dir, "sign", id, "--meaning", "approved", "--reason", "fit for use", "--passphrase-fd", passFD(t, alicePass))
	if code != 0 || !strings.Contains(errs, `as "approved": Alice Example (alice), in signing session ses-`) || !strings.Contains(out, "approved by Alice Example (alice)") {
		t.Fatalf("sign in the session: exit %d\n%s%s", code, out, errs)
	}
	signed := enginetest.TrailEntries(t, dir, actions.ESignSigned, "batch:"+id)
	d, _ := actions.Decode[actions.ESignSignedDetails](signed[len(signed)-1])
	if len(signed) != 2 || d.Session == nil || d.Session.Opened || d.Session.OpenedEntry != signed[0].Seq || strings.Join(d.Session.Components, ",") != "passphrase" {
		t.Fatalf("the session signing on record: %+v", d.Session)
	}
	if out := mustPawl(t, "-C", dir, "session", "end", "--reason", "done for today"); !strings.Contains(out, "ended signing session ses-") || !strings.Contains(out, "(2 signing(s))") {
		t.Fatalf("session end: %s", out)
	}
	if es := enginetest.TrailEntries(t, dir, actions.ESignSessionEnded, "operator:alice"); len(es) != 1 || es[0].Reason != "done for today" {
		t.Fatalf("esign.session_ended: %+v", es)
	}
	code, _, errs = pawl(t, "", "-C", dir, "sign", id, "--meaning", "responsible", "--passphrase-fd", passFD(t, alicePass))
	if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "was ended (audit entry") || !strings.Contains(errs, "sign with --operator ID") {
		t.Fatalf("sign without --operator after the end: exit %d\n%s", code, errs)
	}
	failed := enginetest.TrailEntries(t, dir, actions.ESignFailed, "batch:"+id)
	if f, _ := actions.Decode[actions.ESignFailedDetails](failed[len(failed)-1]); f.Failure != "no session" {
		t.Fatalf("the refusal on record: %+v", f)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "session", "end"); code != 1 || !strings.Contains(errs, "no signing session open") {
		t.Fatalf("ending no session: exit %d %s", code, errs)
	}
}

// TestOperatorListAndShowNameTheBinding: `operator list` and `operator
// show` say what each operator is bound to — the uid (and its account's
// name) or the client certificate — and the roles the bundle in force
// gives them, in text and in JSON.
func TestOperatorListAndShowNameTheBinding(t *testing.T) {
	root := t.TempDir()
	mustPawl(t, "init", root, "--role", "approver=policy_admin")
	other := os.Getuid() + 4242
	cert := "sha256:" + strings.Repeat("ab", 32)
	mustPawl(t, "-C", root, "operator", "add", "ghost", "--name", "Ghost Writer", "--uid", strconv.Itoa(other), "--cert", cert, "--reason", "remote",
		"--passphrase-fd", passFD(t, "a long enough pass phrase"))
	mustPawl(t, "-C", root, "operator", "add", "alice", "--name", "Alice Example", "--reason", "QA", "--passphrase-fd", passFD(t, alicePass))
	grant(t, root, "alice", "reviewer", "approver")
	show := mustPawl(t, "-C", root, "operator", "show", "ghost")
	if !strings.Contains(show, fmt.Sprintf("bound to   uid %d and certificate %s\n", other, cert)) || !strings.Contains(show, "roles      none (in the policy bundle in force)") {
		t.Fatalf("operator show ghost:\n%s", show)
	}
	me := principal.Process()
	show = mustPawl(t, "-C", root, "operator", "show", "alice")
	if !strings.Contains(show, fmt.Sprintf("bound to   uid %d (%s)\n", me.UID, me.User)) || !strings.Contains(show, "roles      approver, reviewer (in the policy bundle in force)") {
		t.Fatalf("operator show alice:\n%s", show)
	}
	list := mustPawl(t, "-C", root, "operator", "list")
	if !strings.Contains(list, fmt.Sprintf("    bound to uid %d and certificate %s; roles none", other, cert)) || !strings.Contains(list, "roles approver, reviewer") {
		t.Fatalf("operator list:\n%s", list)
	}
	var ops []struct {
		ID    string   `json:"id"`
		UID   *int     `json:"uid"`
		Cert  string   `json:"cert"`
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal([]byte(mustPawl(t, "-C", root, "operator", "list", "--output", "json")), &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) < 2 || ops[0].ID != "ghost" || ops[0].UID == nil || *ops[0].UID != other || ops[0].Cert != cert || len(ops[0].Roles) != 0 || ops[0].Roles == nil ||
		ops[1].ID != "alice" || *ops[1].UID != me.UID || strings.Join(ops[1].Roles, ",") != "approver,reviewer" {
		t.Fatalf("operator list --output json: %+v", ops)
	}
	if code, _, errs := pawl(t, "", "-C", root, "operator", "show", "nobody"); code != 1 || !strings.Contains(errs, `unknown operator "nobody"`) {
		t.Fatalf("operator show nobody: exit %d %s", code, errs)
	}
}
