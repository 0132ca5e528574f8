package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/policies"
)

// TestStateResetCommand — the attack: an operator throws the job's
// history away to let an outlier through. `pawl state reset` needs the
// approver role: olga (operator) is denied, exit 3, one line, on record,
// and the state is unchanged; without a reason the approver is refused as
// well, on record. With a reason the reset is on record (state.reset),
// `pawl state show` shows the empty state, and `audit verify` passes.
func TestStateResetCommand(t *testing.T) {
	root := t.TempDir()
	mustPawl(t, "init", root, "--role", "approver=policy_admin")
	grant(t, root, "olga", "operator")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	mustPawl(t, "-C", root, "run", "sensor-feed", "-i", in, "--as-of", "2026-11-25T00:00:00Z")

	show := mustPawl(t, "-C", root, "state", "show", "sensor-feed")
	if strings.Contains(show, plugstate.EmptyDigest) || !strings.Contains(show, "keys:   1\n") || !strings.Contains(show, "by:     batch ") {
		t.Fatalf("state show after a batch:\n%s", show)
	}
	code, _, errs := pawl(t, "", "-C", root, "state", "reset", "sensor-feed", "--reason", "let it through", "--operator", "olga")
	if code != 3 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `authz.role: state.reset needs one of the roles ["approver"]; operator "olga" has ["operator"]`) {
		t.Fatalf("olga resets: exit %d\n%s", code, errs)
	}
	code, _, errs = pawl(t, "", "-C", root, "state", "reset", "sensor-feed")
	if code != 3 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "authz.reason: resetting the plugin state of job:sensor-feed needs a reason (--reason TEXT)") {
		t.Fatalf("a reset without a reason: exit %d\n%s", code, errs)
	}
	if again := mustPawl(t, "-C", root, "state", "show", "sensor-feed"); again != show {
		t.Fatalf("a refused reset changed the state:\n%s\nthen\n%s", show, again)
	}
	var denials []string
	for _, d := range enginetest.TrailEntries(t, root, actions.PolicyDecision, "") {
		det, _ := actions.Decode[actions.PolicyDecisionDetails](d)
		if det.Kind == policies.KindAuthz && !det.Allow && strings.HasPrefix(d.Object, "job:") {
			denials = append(denials, d.Operator+" "+d.Object)
		}
	}
	if len(denials) != 2 || denials[0] != "olga job:sensor-feed" {
		t.Fatalf("denials on record: %v", denials)
	}
	if n := len(enginetest.TrailEntries(t, root, actions.StateReset, "")); n != 0 {
		t.Fatalf("%d state.reset entries after two refusals", n)
	}

	out := mustPawl(t, "-C", root, "state", "reset", "sensor-feed", "--reason", "sensor AB-123456 recalibrated")
	if !strings.Contains(out, "the state of job sensor-feed was reset") || !strings.Contains(out, "(1 keys, from batch ") {
		t.Fatalf("reset: %s", out)
	}
	es := enginetest.TrailEntries(t, root, actions.StateReset, "")
	if len(es) != 1 || es[0].Object != "job:sensor-feed" || es[0].Reason != "sensor AB-123456 recalibrated" {
		t.Fatalf("state.reset on record: %+v", es)
	}
	show = mustPawl(t, "-C", root, "state", "show", "sensor-feed")
	if !strings.Contains(show, "state:  "+plugstate.EmptyDigest) || !strings.Contains(show, "keys:   0\n") || !strings.Contains(show, "the state reset of audit entry") {
		t.Fatalf("state show after the reset:\n%s", show)
	}
	code, _, errs = pawl(t, "", "-C", root, "state", "reset", "sensor-feed", "--reason", "again")
	if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "nothing to reset") {
		t.Fatalf("a reset of the empty state: exit %d\n%s", code, errs)
	}
	if v := mustPawl(t, "-C", root, "audit", "verify"); !strings.Contains(v, "OK") {
		t.Fatalf("audit verify after a reset:\n%s", v)
	}
}
