package gate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/policies"
)

// TestTimeOutsideWindowNeedsTheRole: a time outside the window with a
// reason is an authz question (time.outside_window); the default bundle
// gives it to admin. Both answers are on record.
func TestTimeOutsideWindowNeedsTheRole(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	enginetest.Grant(t, p, "olga", "operator")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	w := gate.Window{Past: time.Hour, Future: time.Hour}
	given := gate.GivenTime{Flag: "--as-of", Time: time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), Operator: "olga", Reason: "backfill", Record: "the batch record"}
	if _, err := w.Admit(ctx, p, now, given, "job:sensor-feed"); !errors.Is(err, gate.ErrDenied) ||
		!strings.Contains(err.Error(), `authz.role: time.outside_window needs one of the roles ["admin"]; operator "olga" has ["operator"]`) {
		t.Fatalf("olga back-dates: %v", err)
	}
	given.Operator = "tester"
	tw, err := w.Admit(ctx, p, now, given, "job:sensor-feed")
	if err != nil || tw == nil || tw.Past != "1h" {
		t.Fatalf("the admin back-dates with a reason: %+v %v", tw, err)
	}
	// Inside the window nothing is asked.
	before := len(enginetest.Entries(t, p.Trail, actions.PolicyDecision, ""))
	given.Time = now
	if tw, err := w.Admit(ctx, p, now, given, "job:sensor-feed"); tw != nil || err != nil {
		t.Fatalf("inside: %+v %v", tw, err)
	}
	ds := enginetest.Entries(t, p.Trail, actions.PolicyDecision, "job:sensor-feed")
	if len(ds) != 2 || before != len(enginetest.Entries(t, p.Trail, actions.PolicyDecision, "")) {
		t.Fatalf("%d decisions about the job; %d before and after a time inside", len(ds), before)
	}
	for i, allow := range []bool{false, true} {
		d, _ := actions.Decode[actions.PolicyDecisionDetails](ds[i])
		if d.Kind != policies.KindAuthz || d.Allow != allow || !strings.Contains(string(d.Input), `"given_time":"2019-01-01T00:00:00Z"`) {
			t.Fatalf("decision %d: %s %v %s", i, d.Kind, d.Allow, d.Input)
		}
	}
}

// TestAuthorizeUsesTheBundleInForce: granting oneself a role by editing
// policies/data.json grants nothing until the bundle is pinned; the
// decision names the caller as the OS vouches for them.
func TestAuthorizeUsesTheBundleInForce(t *testing.T) {
	p := enginetest.NewProject(t)
	ctx := principal.With(context.Background(), principal.Principal{UID: 4242, User: "mallory", Via: principal.ViaProcess})
	req := gate.AuthzRequest{Action: "pin", Object: "file:pawl.lock", Operator: "mallory"}
	if err := gate.GrantRoles(ctx, p, "mallory", []string{"policy_admin"}, "mallory", "I am policy admin now"); err != nil {
		t.Fatal(err)
	}
	err := gate.Authorize(ctx, p, req)
	if !errors.Is(err, gate.ErrDenied) || !strings.Contains(err.Error(), `authz.role: pin needs one of the roles ["policy_admin"]; operator "mallory" has []`) ||
		!strings.Contains(err.Error(), "as operator mallory (uid 4242 (mallory) via process)") {
		t.Fatalf("an unpinned grant: %v", err)
	}
	// A grant is a change of the bundle: bob approves it (the two-person
	// rule), and it is applied.
	enginetest.Pin(t, p, "tester", "the grant, pinned by the admin")
	if err := gate.Authorize(ctx, p, req); err != nil {
		t.Fatalf("after the pin: %v", err)
	}
	es := enginetest.Details[actions.RolesGrantedDetails](t, p.Trail, "operator:mallory")
	if len(es) != 1 || strings.Join(es[0].Roles, ",") != "policy_admin" {
		t.Fatalf("policy.roles_granted: %+v", es)
	}
	if err := gate.GrantRoles(ctx, p, "x", []string{"Admin!"}, "tester", "r"); err == nil || !strings.Contains(err.Error(), `role "Admin!"`) {
		t.Fatalf("a malformed role: %v", err)
	}
	if err := gate.GrantRoles(ctx, p, "x", []string{"admin"}, "tester", ""); err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Fatalf("no reason: %v", err)
	}
}
