package esign_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/policies"
)

// editPolicyData rewrites the project's policies/data.json with edit.
func editPolicyData(t *testing.T, p *project.Project, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(p.PolicyBundleDir(), "data.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	edit(data)
	out, err := json.MarshalIndent(data, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAdoptingRoles — a project whose bundle in force was written before
// pawl asked authz (no package pawl.authz). Asking that bundle would refuse
// every request, the pin that adopts roles included; allowing everything
// would be the world before roles. The built-in transition bundle answers
// instead: reads and the steps of the adoption are allowed, everything else
// is refused naming what to do, each decision on record; a bundle with
// roles that names nobody admin or policy_admin cannot be adopted; after
// the adoption (two-person rule included) the new bundle's roles decide.
func TestAdoptingRoles(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	dir := p.PolicyBundleDir()
	authzRego, err := os.ReadFile(filepath.Join(dir, "pawl", "authz.rego"))
	if err != nil {
		t.Fatal(err)
	}
	var defaultAuthz any
	editPolicyData(t, p, func(d map[string]any) { defaultAuthz = d["authz"]; delete(d, "authz") })
	for _, f := range []string{"authz.rego", "authz_test.rego"} {
		if err := os.Remove(filepath.Join(dir, "pawl", f)); err != nil {
			t.Fatal(err)
		}
	}
	enginetest.Pin(t, p, "tester", "a bundle from before roles")
	e, _, err := p.PolicyInForce(ctx)
	if err != nil || e.Answers(policies.KindAuthz) {
		t.Fatalf("the bundle in force answers authz (%v): the test set-up failed", err)
	}
	legacy := e.Bundle().SHA256

	ask := func(action, object, reason string, read bool) error {
		return gate.Authorize(ctx, p, gate.AuthzRequest{Action: action, Object: object, Operator: "tester", Reason: reason, ReadOnly: read})
	}
	// Reading is allowed, by the transition bundle, on record.
	if err := ask("batches.read", "batches", "", true); err != nil {
		t.Fatalf("reading while adopting roles: %v", err)
	}
	if d, _ := lastAuthz(t, p); !d.Allow || d.Bundle.Revision != "pawl-transition-1" || !strings.Contains(string(d.Input), `"read_only":true`) {
		t.Fatalf("the allow on record: %v by bundle %s, input %s", d.Allow, d.Bundle.Revision, d.Input)
	}
	// A run is refused, naming the bundle in force and what to do.
	err = ask("run", "job:sensor-feed", "", false)
	denied(t, p, "run", err, "authz.transition: the policy bundle in force ("+legacy+") has no package pawl.authz")
	if !strings.Contains(err.Error(), `"Adopting roles"`) {
		t.Fatalf("the refusal does not say where to read on: %v", err)
	}
	// A pin without a reason is refused.
	denied(t, p, "pin without reason", ask("pin", "file:pawl.lock", "", false), "authz.reason: pin while the project adopts roles needs a reason")

	// The bundle with roles comes back, but names nobody: adopting it
	// would lock everyone out.
	if err := os.WriteFile(filepath.Join(dir, "pawl", "authz.rego"), authzRego, 0o644); err != nil {
		t.Fatal(err)
	}
	editPolicyData(t, p, func(d map[string]any) {
		az := defaultAuthz.(map[string]any)
		az["roles"] = map[string]any{"tester": []any{"operator"}}
		d["authz"] = az
	})
	denied(t, p, "adopting a bundle with no admin", ask("pin", "file:pawl.lock", "adopt roles", false), `authz.adoption: the bundle about to be put in force has roles, but its data.authz.roles gives nobody ["admin", "policy_admin"]`)

	// Named holders: the pin is allowed; under the two-person rule it is
	// a proposal bob approves (allowed by the transition bundle: he did not
	// propose it), and applying it puts roles in force.
	editPolicyData(t, p, func(d map[string]any) {
		d["authz"].(map[string]any)["roles"] = map[string]any{
			"tester": []any{"admin", "operator", "policy_admin"},
			"bob":    []any{"policy_admin", "approver"},
		}
	})
	// Enrolling is one of the steps (a second person for the two-person
	// rule): allowed with a reason.
	enginetest.EnrolBob(t, p)
	enginetest.EnrolAlice(t, p)
	asBob := func(action, object, reason string) error {
		return gate.Authorize(ctx, p, gate.AuthzRequest{Action: action, Object: object, Operator: "bob", Reason: reason})
	}
	if err := asBob("pin", "file:pawl.lock", "adopt roles"); err != nil {
		t.Fatalf("the pin that adopts roles: %v", err)
	}
	res, err := p.Pin(ctx, "bob", "adopt roles")
	if err != nil || res.Proposal == nil {
		t.Fatalf("pin: %v, proposal %v", err, res)
	}
	// bob may not approve his own proposal, even now.
	_, err = esign.ApproveChange(ctx, p, esign.ApproveOptions{Change: res.Proposal.ID, Operator: "bob", Reason: "mine", Passphrase: []byte(enginetest.BobPass)})
	if err == nil || !strings.Contains(err.Error(), "another person") {
		t.Fatalf("the proposer approves their own adoption: %v", err)
	}
	if _, err := esign.ApproveChange(ctx, p, esign.ApproveOptions{Change: res.Proposal.ID, Operator: "alice", Reason: "reviewed the roles", Passphrase: []byte(enginetest.AlicePass)}); err != nil {
		t.Fatalf("alice approves the adoption: %v", err)
	}
	if err := ask("change.apply", "change:"+res.Proposal.ID, "adopt roles", false); err != nil {
		t.Fatalf("applying the adoption: %v", err)
	}
	if _, _, err := esign.ApplyChange(ctx, p, res.Proposal.ID, "tester", "adopt roles"); err != nil {
		t.Fatal(err)
	}

	// Now the bundle in force answers, with its roles.
	if err := ask("run", "job:sensor-feed", "", false); err != nil {
		t.Fatalf("a run after the adoption: %v", err)
	}
	if d, _ := lastAuthz(t, p); !d.Allow || d.Bundle.Revision != "pawl-default-1" || strings.Contains(string(d.Input), "read_only") {
		t.Fatalf("the allow on record after adoption: %v by %s, input %s", d.Allow, d.Bundle.Revision, d.Input)
	}
	if err := gate.Authorize(ctx, p, gate.AuthzRequest{Action: "export", Object: "batch:b", Operator: "bob"}); !errors.Is(err, gate.ErrDenied) {
		t.Fatalf("bob, who holds no export role, exports after the adoption: %v", err)
	}
}
