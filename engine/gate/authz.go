package gate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/policies"
)

// The actions the engine asks about itself, with the facts only it has
// (the CLI asks every other one from its table, cmd/pawl/authz.go).
const (
	ActionSign              = "sign"
	ActionEnrol             = "operator.enrol"
	ActionUnlock            = "operator.unlock"
	ActionRevoke            = "operator.revoke"
	ActionTimeOutsideWindow = "time.outside_window"
	ActionApproveChange     = "change.approve"       // e-sign a proposed change "approved" (the two-person rule)
	ActionCorrectAgain      = "record.correct_again" // correct a record that already has an accepted correction
	ActionKeyRotate         = "key.rotate"           // rotate the engine key
	ActionReviewTrail       = "audit.review"         // e-sign a review of the audit trail (21 CFR 11.10(e))
)

// RotateKey asks the authz question key.rotate (the default bundle: admin)
// for operator, on record allow or deny, and only when allowed rotates the
// engine key (project.RotateKey).
func RotateKey(ctx context.Context, p *project.Project, operator, reason string) (actions.KeyRotatedDetails, error) {
	if err := Authorize(ctx, p, AuthzRequest{Action: ActionKeyRotate, Object: "engine-key", Operator: operator, Reason: reason}); err != nil {
		return actions.KeyRotatedDetails{}, err
	}
	return p.RotateKey(ctx, operator, reason)
}

// AllRoles are the roles the default bundle knows, in the order a person
// reads them; `pawl init` gives the initialising operator all of them.
var AllRoles = []string{"admin", "policy_admin", "operator", "reviewer", "approver", "auditor"}

// AuthzRequest is one request to authorise: may the caller (principal.From
// the context), acting as Operator, do Action on Object?
type AuthzRequest struct {
	Action   string // a stable verb: "run", "sign", "operator.enrol", ...
	Object   string // "batch:<id>", "operator:<id>", "project", ...
	Operator string // the operator id the request acts as
	Reason   string
	Facts    policies.AuthzFacts
	BatchID  string // for the decision's entry, when it is about a batch
	// ReadOnly says the request changes nothing (it reads the trail, the
	// batches, the operators). An allow that cannot go on record because
	// the clock is behind the trail's newest entry still lets it read —
	// the anomaly is on record in its place, and an inspector must be able
	// to look at a trail a clock ran ahead on; any other request is refused.
	ReadOnly bool
}

// Acting is what the trail says of an operator id: enrolled or not, and
// the account (or certificate) its enrolment bound it to.
func Acting(ctx context.Context, t *audit.Trail, id string) (policies.Acting, error) {
	a := policies.Acting{ID: id, UID: -1}
	es, err := t.Find(ctx, actions.OperatorEnrolled, "operator:"+id)
	if err != nil || len(es) == 0 {
		return a, err
	}
	d, err := actions.Decode[actions.OperatorEnrolledDetails](es[0]) // the first enrolment is the one that counts
	if err != nil {
		return a, err
	}
	a.Enrolled, a.Name, a.Cert = true, d.Name, d.Cert
	if d.UID != nil {
		a.UID = *d.UID
	}
	return a, nil
}

// Caller is the principal the context carries, as the authz input has it.
func Caller(ctx context.Context) policies.Caller {
	who := principal.From(ctx)
	return policies.Caller{UID: who.UID, User: who.User, Via: who.Via, Cert: who.Cert}
}

// Authorize asks the bundle in force (project.PolicyInForce: the one the
// pins on record name, not what policies/ holds now) the authz question
// for r and puts the decision on record, allow or deny. A bundle in force
// that predates roles (no package pawl.authz) is not asked: the built-in
// transition bundle is (policies.Transition), which allows only reading
// and the steps that adopt a bundle with roles (CheckAdoption). A denial is a
// *DeniedError (exit 3) carrying every reason; a question that cannot be
// asked or recorded is an error, and nothing is allowed.
func Authorize(ctx context.Context, p *project.Project, r AuthzRequest) error {
	acting, err := Acting(ctx, p.Trail, r.Operator)
	if err != nil {
		return fmt.Errorf("authorising %s: reading the enrolment of operator %q: %w", r.Action, r.Operator, err)
	}
	e, _, err := p.PolicyInForce(ctx)
	if err != nil {
		return fmt.Errorf("authorising %s: %w", r.Action, err)
	}
	in := policies.AuthzInput{
		Action: r.Action, Object: r.Object, Reason: r.Reason, Facts: r.Facts,
		Operator: acting, Principal: Caller(ctx),
		Time: time.Now().UTC().Format(time.RFC3339Nano),
	}
	if !e.Answers(policies.KindAuthz) {
		// The bundle in force predates roles: the transition bundle
		// answers, allowing reads and the steps that adopt roles.
		in.Facts.ReadOnly, in.Facts.BundleInForce = r.ReadOnly, e.Bundle().SHA256
		if r.Action == "pin" || r.Action == "change.apply" {
			in.Facts.MissingRoles = missingAdoptionRoles(ctx, p)
		}
		if e, err = policies.Transition(ctx); err != nil {
			return fmt.Errorf("authorising %s: %w", r.Action, err)
		}
	}
	what := r.Action
	if r.Action == ActionSign {
		what = fmt.Sprintf("sign %q", r.Facts.Meaning)
	}
	if r.Object != "" {
		what += " on " + r.Object
	}
	what += fmt.Sprintf(" as operator %s (%s)", r.Operator, principal.From(ctx))
	d, _, err := Decide(ctx, p.Trail, e, Question{Kind: policies.KindAuthz, Input: in, Operator: r.Operator, Object: r.Object,
		Reason: r.Reason, BatchID: r.BatchID, What: what})
	if err != nil && r.ReadOnly && d.Allow && errors.Is(err, audit.ErrClockBehind) {
		return nil
	}
	return err
}

// adoptionRoles are the roles a bundle with roles must give someone before
// it replaces a bundle in force that predates roles: with nobody holding
// admin and policy_admin, nobody could enrol, grant or change the policy
// again, and the project would be locked for good.
var adoptionRoles = []string{"admin", "policy_admin"}

// missingAdoptionRoles: when the bundle in policies/ (the one a pin or an
// applied change is about to put in force) answers authz, the
// adoptionRoles its data.authz.roles gives nobody. A bundle that does not
// load or does not answer authz adopts nothing (the pin itself checks the
// bundle).
func missingAdoptionRoles(ctx context.Context, p *project.Project) []string {
	e, err := policies.Open(ctx, p.PolicyBundleDir(), policies.LoadOptions{})
	if err != nil || !e.Answers(policies.KindAuthz) {
		return nil
	}
	var missing []string
	for _, want := range adoptionRoles {
		if !e.Held(want) {
			missing = append(missing, want)
		}
	}
	return missing
}

var roleName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// GrantRoles sets the roles operator holds in the project's bundle
// (policies/data.json, authz.roles) and records it (policy.roles_granted).
// Like a plugin approval it changes the bundle, so it is in force only once
// the bundle is pinned again (`pawl pin`, which needs policy_admin under
// the bundle in force). A signed bundle is refused.
func GrantRoles(ctx context.Context, p *project.Project, operator string, roles []string, by, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("granting roles needs a reason: pass --reason \"why\"")
	}
	roles = slices.Clone(roles)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	for _, r := range roles {
		if !roleName.MatchString(r) {
			return fmt.Errorf("role %q: a role is 1 to 32 lower-case letters, digits or '_' (the default bundle's: %s)", r, strings.Join(AllRoles, ", "))
		}
	}
	path, data, err := readPolicyData(p, "granting", "set authz.roles in "+project.PolicyDir+"/data.json", "grant")
	if err != nil {
		return err
	}
	az, _ := data["authz"].(map[string]any)
	if az == nil {
		return fmt.Errorf("%s/data.json has no \"authz\" object: the bundle predates roles; copy authz from the default bundle (docs/policy-guide.md)", project.PolicyDir)
	}
	held, _ := az["roles"].(map[string]any)
	if held == nil {
		if _, present := az["roles"]; present {
			return fmt.Errorf("%s/data.json: \"authz.roles\" is not an object", project.PolicyDir)
		}
		held = map[string]any{}
		az["roles"] = held
	}
	held[operator] = roles
	out, err := encodePolicyData(data)
	if err != nil {
		return err
	}
	// On record first, as approvals are.
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: by, Object: "operator:" + operator, Reason: reason,
		Details: actions.RolesGrantedDetails{Operator: operator, Roles: roles, File: project.PolicyDir + "/data.json"}}); err != nil {
		return err
	}
	if err := durable.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("the grant is on record but %s/data.json could not be written: %w: grant again", project.PolicyDir, err)
	}
	return nil
}
