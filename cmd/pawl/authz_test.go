package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/policies"
	"github.com/spf13/cobra"
)

// TestEveryCommandIsAuthorized walks the command tree: every command that
// runs has a rule in authzRules — an action a.open asks about, the engine
// call that asks with its facts, or why it acts on no project — and every
// action a.open asks is one the default bundle grants to some role. A new
// command without a rule fails here (and a.open refuses it).
func TestEveryCommandIsAuthorized(t *testing.T) {
	seen := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c != c.Root() && c.Name() != "help" && c.Name() != "completion" {
			name := commandName(c)
			seen[name] = true
			r, ok := authzRules[name]
			n := 0
			for _, set := range []bool{r.action != "", r.engine != "", r.none != ""} {
				if set {
					n++
				}
			}
			switch {
			case !ok:
				t.Errorf("pawl %s has no authz rule in cmd/pawl/authz.go", name)
			case n != 1:
				t.Errorf("pawl %s: a rule has exactly one of action, engine, none: %+v", name, r)
			case r.action != "" && r.object == nil:
				t.Errorf("pawl %s: no object", name)
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd(&streams{}))
	for name := range authzRules {
		if !seen[name] {
			t.Errorf("authzRules has %q, which is no command", name)
		}
	}
	var data struct {
		Authz struct {
			Actions map[string][]string `json:"actions"`
		} `json:"authz"`
	}
	if err := json.Unmarshal(mustRead(t, "../../policies/default/data.json"), &data); err != nil {
		t.Fatal(err)
	}
	for name, r := range authzRules {
		if r.action != "" && r.action != "operator.passwd" && len(data.Authz.Actions[r.action]) == 0 {
			t.Errorf("pawl %s asks %q, which the default bundle grants to no role", name, r.action)
		}
	}
}

// TestApprovingOwnPluginNeedsPolicyAdmin — the attack: someone approved
// their own plugin. Now `policy approve-plugin` (and `pin`, which puts an
// approval in force) needs policy_admin; a refusal exits 3, says why in
// one line, and is on record.
func TestApprovingOwnPluginNeedsPolicyAdmin(t *testing.T) {
	root := t.TempDir()
	mustPawl(t, "init", root, "--role", "approver=policy_admin")
	code, _, errs := pawl(t, "", "-C", root, "operator", "grant", "olga", "operator", "--reason", "runs batches")
	if code != 0 {
		t.Fatalf("grant: %d %s", code, errs)
	}
	pinTwoPerson(t, root, "olga runs batches")
	code, _, errs = pawl(t, "", "-C", root, "policy", "approve-plugin", "range@1.1.0", "--reason", "mine, trust me", "--operator", "olga")
	if code != 3 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `authz.role: policy.approve_plugin needs one of the roles ["policy_admin"]; operator "olga" has ["operator"]`) {
		t.Fatalf("olga approves: exit %d\n%s", code, errs)
	}
	code, _, errs = pawl(t, "", "-C", root, "pin", "--operator", "olga")
	if code != 3 || !strings.Contains(errs, `authz.role: pin needs one of the roles ["policy_admin"]`) {
		t.Fatalf("olga pins: exit %d\n%s", code, errs)
	}
	var denials []string
	for _, d := range enginetest.TrailEntries(t, root, actions.PolicyDecision, "") {
		det, _ := actions.Decode[actions.PolicyDecisionDetails](d)
		if det.Kind == policies.KindAuthz && !det.Allow {
			denials = append(denials, d.Operator+" "+d.Object)
		}
	}
	if strings.Join(denials, ", ") != "olga plugin:range@1.1.0, olga file:pawl.lock" {
		t.Fatalf("denials on record: %v", denials)
	}
	// An auditor reads and changes nothing.
	grant(t, root, "aud", "auditor")
	t.Setenv("PAWL_OPERATOR", "aud")
	if code, _, errs := pawl(t, "", "-C", root, "audit", "log"); code != 0 {
		t.Fatalf("the auditor verifies: %d %s", code, errs)
	}
	if code, _, errs := pawl(t, "", "-C", root, "run", "sensor-feed", "--input", "-"); code != 3 || !strings.Contains(errs, `authz.role: run needs one of the roles ["operator"]; operator "aud" has ["auditor"]`) {
		t.Fatalf("the auditor runs: %d %s", code, errs)
	}
}

// grant gives operator id its roles in the project in dir and pins them,
// as the admin who created it (the OS user): a grant is a change of the
// bundle, which operator "approver" approves (pinTwoPerson; the project
// must be made with --role approver=policy_admin).
func grant(t *testing.T, dir, id string, roles ...string) {
	t.Helper()
	mustPawl(t, append([]string{"-C", dir, "operator", "grant", id}, append(roles, "--reason", "test roles")...)...)
	pinTwoPerson(t, dir, "roles granted")
}

// TestOperatorFlagBoundToAnotherAccount — the attack: operator ids on runs
// were whatever --operator said. An enrolled operator bound to another
// account cannot be named by --operator (or PAWL_OPERATOR): exit 3, one
// line, on record, and nothing ran.
func TestOperatorFlagBoundToAnotherAccount(t *testing.T) {
	root := t.TempDir()
	mustPawl(t, "init", root, "--role", "approver=policy_admin")
	other := strconv.Itoa(os.Getuid() + 4242)
	code, _, errs := pawl(t, "", "-C", root, "operator", "add", "ghost", "--name", "Ghost Writer", "--uid", other, "--reason", "works from another account",
		"--passphrase-fd", passFD(t, "a long enough pass phrase"))
	if code != 0 {
		t.Fatalf("operator add --uid: %d %s", code, errs)
	}
	grant(t, root, "ghost", "operator")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	code, _, errs = pawl(t, "", "-C", root, "run", "sensor-feed", "--input", in, "--operator", "ghost")
	if code != 3 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `authz.identity: operator "ghost" is bound to uid `+other+`; the request comes from uid `+strconv.Itoa(os.Getuid())) {
		t.Fatalf("run --operator ghost: exit %d\n%s", code, errs)
	}
	if es := enginetest.TrailEntries(t, root, actions.BatchCommitted, ""); len(es) != 0 {
		t.Fatalf("%d batches committed", len(es))
	}
	t.Setenv("PAWL_OPERATOR", "ghost")
	if code, _, errs := pawl(t, "", "-C", root, "batches", "list"); code != 3 || !strings.Contains(errs, "authz.identity") {
		t.Fatalf("PAWL_OPERATOR=ghost batches list: exit %d\n%s", code, errs)
	}
}
