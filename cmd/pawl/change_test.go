package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
)

// approverPass is the passphrase of the approver pinTwoPerson enrols.
const approverPass = "harbour violin thistle marmalade"

var changeIDRe = regexp.MustCompile(`change (chg-[0-9a-f]{12})`)

// pinTwoPerson runs `pawl pin --weaken` and, when the two-person rule
// holds a change back (a guarded pin, or a job's contract weakened: the
// tests rewrite jobs to set up what they test), does the two-person dance
// at the command line: operator
// "approver" (enrolled if need be) approves the change with their
// passphrase, and `pawl change apply` puts it in force.
func pinTwoPerson(t *testing.T, dir, reason string) string {
	t.Helper()
	out := mustPawl(t, "-C", dir, "pin", "--weaken", "--reason", reason)
	m := changeIDRe.FindStringSubmatch(out)
	if !strings.Contains(out, "NOT in force") || m == nil {
		return out
	}
	if list := mustPawl(t, "-C", dir, "operator", "list"); !strings.Contains(list, "approver") {
		mustPawl(t, "-C", dir, "operator", "add", "approver", "--name", "Ada Approver", "--reason", "second person", "--passphrase-fd", passFD(t, approverPass))
	}
	mustPawl(t, "-C", dir, "change", "approve", m[1], "--operator", "approver", "--reason", "reviewed: "+reason, "--passphrase-fd", passFD(t, approverPass))
	return mustPawl(t, "-C", dir, "change", "apply", m[1])
}

// TestTwoPersonRuleAtTheCommandLine: a limit raised in pawl.yaml and
// pinned by one person is not in force (a run is refused, the proposal is
// on record); the proposer's own approval and an apply without approval
// exit 3 and are on record; another operator's approval and `pawl pin`
// put it in force.
func TestTwoPersonRuleAtTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	// alice proposes and bob approves: both policy_admin from the start.
	mustPawl(t, "init", dir, "--operator", "admin", "--role", "alice=policy_admin", "--role", "bob=policy_admin")
	const alicePass = "copper kettle winter sonnet"
	mustPawl(t, "-C", dir, "operator", "add", "alice", "--name", "Alice Example", "--reason", "proposes", "--passphrase-fd", passFD(t, alicePass))
	mustPawl(t, "-C", dir, "operator", "add", "bob", "--name", "Bob Example", "--reason", "approves", "--passphrase-fd", passFD(t, approverPass))
	cfg := filepath.Join(dir, "pawl.yaml")
	os.WriteFile(cfg, []byte(strings.Replace(string(mustRead(t, cfg)), "max_record_bytes: 67108864", "max_record_bytes: 134217728", 1)), 0o644)

	out := mustPawl(t, "-C", dir, "pin", "--operator", "alice", "--weaken", "--reason", "bigger records")
	m := changeIDRe.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "NOT in force") {
		t.Fatalf("pin by one person:\n%s", out)
	}
	id := m[1]
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	if code, _, errs := pawl(t, "", "-C", dir, "run", "sensor-feed", "-i", in); code != 1 || !strings.Contains(errs, "pawl.yaml#limits does not match its pin") {
		t.Fatalf("a run under limits nobody approved: exit %d %s", code, errs)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "change", "approve", id, "--operator", "alice", "--reason", "mine", "--passphrase-fd", passFD(t, alicePass)); code != 3 || !strings.Contains(errs, "two-person rule") {
		t.Fatalf("own approval: exit %d %s", code, errs)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "change", "apply", id); code != 3 || !strings.Contains(errs, "not approved") {
		t.Fatalf("apply unapproved: exit %d %s", code, errs)
	}
	if show := mustPawl(t, "-C", dir, "change", "show", id); !strings.Contains(show, "pending") || !strings.Contains(show, "+max_record_bytes: 134217728") {
		t.Fatalf("change show:\n%s", show)
	}
	mustPawl(t, "-C", dir, "change", "approve", id, "--operator", "bob", "--reason", "the instrument writes bigger records", "--passphrase-fd", passFD(t, approverPass))
	if out := mustPawl(t, "-C", dir, "pin"); !strings.Contains(out, "change "+id+" is in force") {
		t.Fatalf("pin after the approval:\n%s", out)
	}
	mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in)
	if list := mustPawl(t, "-C", dir, "change", "list"); !strings.Contains(list, id+"  applied") {
		t.Fatalf("change list:\n%s", list)
	}
	refused := enginetest.TrailEntries(t, dir, actions.ChangeApplyRefused, "change:"+id)
	failed := enginetest.TrailEntries(t, dir, actions.ESignFailed, "change:"+id)
	if len(refused) != 1 || len(failed) != 1 {
		t.Fatalf("refusals on record: %d apply, %d approval", len(refused), len(failed))
	}
}
