package esign_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/store"
)

// reload opens the project again with the configuration pawl.yaml gives,
// as the next pawl process would.
func reload(t *testing.T, p *project.Project) *project.Project {
	t.Helper()
	cfg, err := config.Load(p.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TimeWindowPast = enginetest.PastWindow
	root := p.Root
	p.Close()
	q, err := engine.Open(context.Background(), root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func pins(t *testing.T, p *project.Project) lockfile.Pins {
	t.Helper()
	ps, err := p.Pins(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func editYAML(t *testing.T, p *project.Project, old, new string) {
	t.Helper()
	b, err := os.ReadFile(p.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("pawl.yaml has no %q", old)
	}
	if err := os.WriteFile(p.ConfigPath(), []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func failures(t *testing.T, p *project.Project, object string) []string {
	t.Helper()
	var out []string
	for _, d := range enginetest.Details[actions.ESignFailedDetails](t, p.Trail, object) {
		out = append(out, d.Failure)
	}
	return out
}

// TestPluginApprovalNeedsTwoPersons: a plugin approval (policies/data.json)
// pinned by one person alone is not in force: `pawl pin` records it as a
// proposal with the lines it changes. The proposer's own approval is
// refused and never counts, applying it unapproved is refused, a change
// whose files changed after the approval is not applied, and a second
// person's approval puts exactly the approved pins in force, on record.
func TestPluginApprovalNeedsTwoPersons(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	enginetest.EnrolAlice(t, p)
	enginetest.EnrolBob(t, p)
	before := pins(t, p)

	evil := gate.PluginApproval{Name: "evil", Version: "1.0.0", Hash: store.HashBytes([]byte("evil module")), Capabilities: []string{}}
	if err := gate.ApprovePlugins(ctx, p, []gate.PluginApproval{evil}, "alice", "alice approves her plugin"); err != nil {
		t.Fatal(err)
	}
	res, err := p.Pin(ctx, "alice", "approve evil")
	if err != nil {
		t.Fatal(err)
	}
	if res.Proposal == nil || res.Proposal.Existing || res.Written {
		t.Fatalf("one person's plugin approval was not held back: %+v", res)
	}
	pr := res.Proposal
	if got := pins(t, p); got[project.PolicyPinKey] != before[project.PolicyPinKey] {
		t.Fatalf("the bundle pin changed without a second person: %s, was %s", got[project.PolicyPinKey], before[project.PolicyPinKey])
	}
	if len(pr.Changes) != 1 || pr.Changes[0].File != project.PolicyPinKey || pr.Proposer != "alice" {
		t.Fatalf("proposal: %+v", pr.ChangeProposedDetails)
	}
	diff := ""
	for _, d := range pr.Diff {
		if d.File == "policies/data.json" {
			diff = strings.Join(d.Lines, "\n")
		}
	}
	if !strings.Contains(diff, "+") || !strings.Contains(diff, string(evil.Hash)) {
		t.Fatalf("the proposal's diff does not show the approval: %+v", pr.Diff)
	}
	if es := enginetest.Entries(t, p.Trail, actions.ChangeProposed, "change:"+pr.ID); len(es) != 1 {
		t.Fatalf("change.proposed entries: %d", len(es))
	}
	// The same pin again finds the same proposal and records nothing new.
	again, err := p.Pin(ctx, "alice", "again")
	if err != nil || again.Proposal == nil || !again.Proposal.Existing || again.Proposal.ID != pr.ID {
		t.Fatalf("pin again: %+v %v", again, err)
	}

	// The proposer approving their own change is refused and recorded.
	_, err = esign.ApproveChange(ctx, p, esign.ApproveOptions{Change: pr.ID, Operator: "alice", Reason: "mine", Passphrase: []byte(enginetest.AlicePass)})
	if err == nil || !strings.Contains(err.Error(), "two-person rule") {
		t.Fatalf("own approval: %v", err)
	}
	if f := failures(t, p, "change:"+pr.ID); len(f) != 1 || f[0] != esign.FailureOwnChange {
		t.Fatalf("esign.failed about the change: %v", f)
	}
	// Applying it unapproved is refused and recorded.
	if _, _, err := esign.ApplyChange(ctx, p, pr.ID, "alice", ""); !errors.Is(err, esign.ErrChangeNotApplied) {
		t.Fatalf("apply unapproved: %v", err)
	}
	ref := enginetest.Details[actions.ChangeApplyRefusedDetails](t, p.Trail, "change:"+pr.ID)
	if len(ref) != 1 || ref[0].Failure != esign.FailureNotApproved {
		t.Fatalf("apply refusals: %+v", ref)
	}
	if got := pins(t, p); got[project.PolicyPinKey] != before[project.PolicyPinKey] {
		t.Fatal("the bundle pin changed on a refused apply")
	}

	// A wrong passphrase of the second person does not approve.
	if _, err := esign.ApproveChange(ctx, p, esign.ApproveOptions{Change: pr.ID, Operator: "bob", Reason: "ok", Passphrase: []byte("wrong wrong wrong wrong")}); err == nil {
		t.Fatal("approved with a wrong passphrase")
	}
	s, err := esign.ApproveChange(ctx, p, esign.ApproveOptions{Change: pr.ID[:8], Operator: "bob", Reason: "reviewed the plugin", Passphrase: []byte(enginetest.BobPass)})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Valid || s.ChangeID != pr.ID || s.Manifest.ChangeEntrySeq != pr.Seq || s.Manifest.ChangeEntry != pr.Hash {
		t.Fatalf("approval: %+v", s)
	}
	c, err := esign.LookupChange(ctx, p, pr.ID)
	if err != nil || c.State != esign.ChangeApproved || len(c.Approvals) != 1 || c.Approvals[0] != s.AuditSeq {
		t.Fatalf("change after approval: %+v %v", c, err)
	}

	// The files changed after the approval: not applied.
	data := p.File("policies/data.json")
	approved, _ := os.ReadFile(data)
	if err := os.WriteFile(data, []byte(strings.Replace(string(approved), `"evil"`, `"eviler"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = esign.ApplyChange(ctx, p, pr.ID, "alice", "")
	if !errors.Is(err, esign.ErrChangeNotApplied) || !strings.Contains(err.Error(), "files changed after") {
		t.Fatalf("apply after the files changed: %v", err)
	}
	ref = enginetest.Details[actions.ChangeApplyRefusedDetails](t, p.Trail, "change:"+pr.ID)
	if len(ref) != 2 || ref[1].Failure != esign.FailureFilesChanged || len(ref[1].Mismatches) != 1 || ref[1].Mismatches[0].Old != pr.Changes[0].New {
		t.Fatalf("apply refusals: %+v", ref)
	}
	if got := pins(t, p); got[project.PolicyPinKey] != before[project.PolicyPinKey] {
		t.Fatal("the bundle pin changed to files nobody approved")
	}

	// Restored to what was approved: applied, on record with the approval.
	if err := os.WriteFile(data, approved, 0o644); err != nil {
		t.Fatal(err)
	}
	c, applied, err := esign.ApplyChange(ctx, p, pr.ID, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := pins(t, p); got[project.PolicyPinKey] != pr.Changes[0].New || !applied.Written || c.State != esign.ChangeApplied {
		t.Fatalf("after apply: pin %s, want %s; %+v", got[project.PolicyPinKey], pr.Changes[0].New, applied)
	}
	pc := enginetest.Details[actions.PinChangedDetails](t, p.Trail, "file:pawl.lock")
	last := pc[len(pc)-1]
	if last.Change == nil || last.Change.ID != pr.ID || last.Change.Proposed != pr.Seq || len(last.Change.Approvals) != 1 || last.TwoPersonWaived {
		t.Fatalf("pin.changed: %+v", last)
	}
	if _, _, err := esign.ApplyChange(ctx, p, pr.ID, "alice", ""); err == nil || !strings.Contains(err.Error(), "already in force") {
		t.Fatalf("apply twice: %v", err)
	}
}

// TestLimitChangeNeedsTwoPersons: a pawl.yaml limit changed by one person
// is not in force; a later proposal supersedes an earlier one, which can
// then be neither approved nor applied; turning the rule off is itself a
// change that needs the second person, and once it is off a change is
// applied at once and says so on record.
func TestLimitChangeNeedsTwoPersons(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	enginetest.EnrolBob(t, p)
	before := pins(t, p)

	editYAML(t, p, "max_record_bytes: 67108864", "max_record_bytes: 100")
	p = reload(t, p)
	r1, err := p.Pin(ctx, "tester", "smaller")
	if err != nil || r1.Proposal == nil || r1.Proposal.Limits == nil || r1.Proposal.Limits.MaxRecordBytes != 100 {
		t.Fatalf("limit change: %+v %v", r1, err)
	}
	if pins(t, p)[project.LimitsPinKey] != before[project.LimitsPinKey] {
		t.Fatal("the limits pin changed without a second person")
	}
	if _, err := p.CheckLimits(pins(t, p)); err == nil {
		t.Fatal("a run would take limits nobody approved")
	}
	editYAML(t, p, "max_record_bytes: 100", "max_record_bytes: 200")
	p = reload(t, p)
	r2, err := p.PinWith(ctx, project.PinOptions{Operator: "tester", Reason: "larger again", Weaken: true})
	if err != nil || r2.Proposal == nil || r2.Proposal.ID == r1.Proposal.ID {
		t.Fatalf("second limit change: %+v %v", r2, err)
	}
	if c, _ := esign.LookupChange(ctx, p, r1.Proposal.ID); c.State != esign.ChangeSuperseded || c.SupersededBy != r2.Proposal.Seq {
		t.Fatalf("first change: %+v", c)
	}
	if _, err := esign.ApproveChange(ctx, p, esign.ApproveOptions{Change: r1.Proposal.ID, Operator: "bob", Reason: "ok", Passphrase: []byte(enginetest.BobPass)}); err == nil {
		t.Fatal("a superseded change was approved")
	}
	if f := failures(t, p, "change:"+r1.Proposal.ID); len(f) != 1 || f[0] != esign.FailureSuperseded {
		t.Fatalf("esign.failed: %v", f)
	}

	// Turning the rule off needs the second person too.
	editYAML(t, p, "max_record_bytes: 200", "max_record_bytes: 67108864")
	editYAML(t, p, "two_person: true", "two_person: false")
	p = reload(t, p)
	r3, err := p.Pin(ctx, "tester", "one person from now on")
	if err != nil || r3.Proposal == nil || r3.Proposal.ChangeSettings == nil || r3.Proposal.ChangeSettings.TwoPerson {
		t.Fatalf("turning the rule off: %+v %v", r3, err)
	}
	if c, _ := esign.LookupChange(ctx, p, r2.Proposal.ID); c.State != esign.ChangeSuperseded {
		t.Fatalf("second change: %+v", c)
	}
	enginetest.Pin(t, p, "tester", "one person from now on")
	// Now off, on record: one person's change is in force, and says so.
	editYAML(t, p, "max_record_bytes: 67108864", "max_record_bytes: 300")
	p = reload(t, p)
	r4, err := p.Pin(ctx, "tester", "alone")
	if err != nil || r4.Proposal != nil || !r4.Waived || !r4.Written {
		t.Fatalf("with the rule off: %+v %v", r4, err)
	}
	pc := enginetest.Details[actions.PinChangedDetails](t, p.Trail, "file:pawl.lock")
	if last := pc[len(pc)-1]; !last.TwoPersonWaived || last.Limits == nil || last.Limits.MaxRecordBytes != 300 {
		t.Fatalf("pin.changed: %+v", last)
	}
}

// TestHandEditedGuardedPinIsProposed: pinning a guarded pin by editing
// pawl.lock and accepting the edit with a reason does not put it in force
// either: the pins on record are in force, and the change is proposed.
func TestHandEditedGuardedPinIsProposed(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	before := pins(t, p)
	editYAML(t, p, "max_record_bytes: 67108864", "max_record_bytes: 100")
	p = reload(t, p)
	_, d := p.Limits()
	edited := lockfile.Pins{}
	for k, v := range before {
		edited[k] = v
	}
	edited[project.LimitsPinKey] = d
	if err := os.WriteFile(p.LockPath(), edited.Format(), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := p.Pin(ctx, "tester", "I edited pawl.lock")
	if err != nil {
		t.Fatal(err)
	}
	if res.Proposal == nil || pins(t, p)[project.LimitsPinKey] != before[project.LimitsPinKey] {
		t.Fatalf("a hand-edited guarded pin went in force: %+v", res)
	}
}

// TestForgedApprovalIsNamedByVerify: an approval moved onto another change,
// or a change put in force on a forged approval, is named by `pawl audit
// verify`.
func TestForgedApprovalIsNamedByVerify(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	enginetest.EnrolBob(t, p)
	editYAML(t, p, "max_record_bytes: 67108864", "max_record_bytes: 100")
	p = reload(t, p)
	res := enginetest.Pin(t, p, "tester", "smaller")
	if res.Applied == nil {
		t.Fatalf("not applied: %+v", res)
	}
	rep, err := review.Verify(ctx, p)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after an honest change: %+v %v", rep, err)
	}
	// Bob's approval copied onto a second change, appended as if he signed it.
	editYAML(t, p, "max_record_bytes: 100", "max_record_bytes: 200")
	p = reload(t, p)
	r2, err := p.PinWith(ctx, project.PinOptions{Operator: "tester", Reason: "larger again", Weaken: true})
	if err != nil || r2.Proposal == nil {
		t.Fatalf("second change: %+v %v", r2, err)
	}
	signed := enginetest.Entries(t, p.Trail, actions.ESignSigned, "change:"+res.Applied.ID)[0]
	sd, _ := actions.Decode[actions.ESignSignedDetails](signed)
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: signed.Operator, Object: "change:" + r2.Proposal.ID, Reason: signed.Reason, Details: sd}); err != nil {
		t.Fatal(err)
	}
	c, err := esign.LookupChange(ctx, p, r2.Proposal.ID)
	if err != nil || c.State != esign.ChangePending || len(c.Approvals) != 0 {
		t.Fatalf("a copied approval counted: %+v %v", c, err)
	}
	if _, _, err := esign.ApplyChange(ctx, p, r2.Proposal.ID, "tester", ""); !errors.Is(err, esign.ErrChangeNotApplied) {
		t.Fatalf("applied on a copied approval: %v", err)
	}
	rep, err = review.Verify(ctx, p)
	if err != nil || rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "change "+r2.Proposal.ID+": e-signature") {
		t.Fatalf("verify does not name the copied approval: %+v %v", rep.Problems, err)
	}
}
