package esign

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// The two-person rule's signatures (21 CFR 11.10(g), 11.10(k), 11.70). A
// change of the guarded pins that `pawl pin` held back (a change.proposed
// entry, engine/project/change.go) takes effect only once an enrolled
// operator other than its proposer has e-signed it with the meaning
// "approved": an esign.signed entry about change:<id> whose manifest names
// the change.proposed entry by seq and hash, so the signature is linked to
// exactly the pins and lines proposed and cannot be moved to another
// change. ApplyChange then puts those pins in force (project.PinWith), only
// if the files still hash to them.

// changeFormat names the manifest of a signature on a change.
const changeFormat = "pawl-esign-change-v1"

// The states of a change.
const (
	ChangePending    = "pending"    // on record, not approved by a second person
	ChangeApproved   = "approved"   // a second person's valid approval; not applied yet
	ChangeApplied    = "applied"    // in force: a pin.changed names it
	ChangeSuperseded = "superseded" // never applied, and can no longer be: a later proposal, or other guarded pins put in force since
)

// The failures of a change.apply_refused entry and of an esign.failed
// entry about a change.
const (
	FailureNotApproved  = "not approved"
	FailureOwnChange    = "own change"
	FailureSuperseded   = "superseded"
	FailureFilesChanged = "files changed"
	FailureUnknownChg   = "unknown change"
	FailureApplied      = "already applied"
)

// Change is a proposed change with its state, read from the trail.
type Change struct {
	*project.Proposal
	State string `json:"state"`
	// Signatures are every e-signature on the change, verified; Approvals
	// the entries of the valid "approved" ones by someone other than the
	// proposer, which alone count.
	Signatures []ESignature `json:"signatures"`
	Approvals  []int64      `json:"approvals"`
	// AppliedEntry is the pin.changed entry that put it in force;
	// SupersededBy the entry that made it impossible to apply.
	AppliedEntry int64 `json:"applied_entry,omitempty"`
	SupersededBy int64 `json:"superseded_by,omitempty"`
}

// Changes lists every proposed change, oldest first, with its state.
func Changes(ctx context.Context, p *project.Project) ([]*Change, error) {
	props, err := p.Proposals(ctx)
	if err != nil {
		return nil, err
	}
	if len(props) == 0 {
		return []*Change{}, nil
	}
	ops, err := operators(ctx, p, false)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Operator{}
	for _, op := range ops {
		byID[op.ID] = op
	}
	pins, err := p.Trail.Find(ctx, actions.PinChanged, "")
	if err != nil {
		return nil, err
	}
	out := make([]*Change, 0, len(props))
	for i, pr := range props {
		c := &Change{Proposal: pr, Signatures: []ESignature{}, Approvals: []int64{}}
		es, err := p.Trail.Find(ctx, actions.ESignSigned, "change:"+pr.ID)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			s := verifyChange(pr, byID, e)
			c.Signatures = append(c.Signatures, s)
			if s.Valid && s.Meaning == MeaningApproved && s.SignerID != pr.Proposer {
				c.Approvals = append(c.Approvals, s.AuditSeq)
			}
		}
		for _, e := range pins {
			if e.Seq < pr.Seq {
				continue
			}
			d, err := actions.Decode[actions.PinChangedDetails](e)
			if err != nil {
				return nil, err
			}
			if d.Change != nil && d.Change.ID == pr.ID {
				c.AppliedEntry = e.Seq
				break
			}
			if c.SupersededBy == 0 && touchesGuarded(d.Changes) {
				c.SupersededBy = e.Seq
			}
		}
		if c.SupersededBy == 0 && i+1 < len(props) {
			c.SupersededBy = props[i+1].Seq
		}
		switch {
		case c.AppliedEntry != 0:
			c.State, c.SupersededBy = ChangeApplied, 0
		case c.SupersededBy != 0:
			c.State = ChangeSuperseded
		case len(c.Approvals) > 0:
			c.State = ChangeApproved
		default:
			c.State = ChangePending
		}
		out = append(out, c)
	}
	return out, nil
}

func touchesGuarded(cs []actions.PinChange) bool {
	for _, c := range cs {
		if project.IsGuarded(c.File) {
			return true
		}
	}
	return false
}

// LookupChange finds a change by id (or a unique prefix) with its state.
func LookupChange(ctx context.Context, p *project.Project, id string) (*Change, error) {
	pr, err := p.Proposal(ctx, id)
	if err != nil {
		return nil, err
	}
	all, err := Changes(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, c := range all {
		if c.ID == pr.ID {
			return c, nil
		}
	}
	return nil, fmt.Errorf("change %s: not found", pr.ID)
}

// manifestForChange builds the manifest of a signature on a change.
func manifestForChange(pr *project.Proposal, meaning Meaning, op *Operator, tm, reason string) *actions.ESignManifest {
	return &actions.ESignManifest{
		Format: changeFormat, ChangeID: pr.ID, ChangeEntrySeq: pr.Seq, ChangeEntry: pr.Hash, Outputs: map[string]store.Digest{},
		Meaning: string(meaning), SignerID: op.ID, SignerName: op.Name, SignerKeyID: op.KeyID, Time: tm, Reason: reason,
	}
}

// verifyChange checks one esign.signed entry against change pr.
func verifyChange(pr *project.Proposal, ops map[string]*Operator, e audit.Entry) ESignature {
	s := verifySigned(ops, e, func(m *actions.ESignManifest, op *Operator) (*actions.ESignManifest, string) {
		if m.ChangeID != pr.ID {
			return nil, fmt.Sprintf("it was made for change %q (audit entry %d), not change %s: a signature cannot be moved to another change", m.ChangeID, m.ChangeEntrySeq, pr.ID)
		}
		return manifestForChange(pr, Meaning(m.Meaning), op, m.Time, m.Reason), ""
	})
	s.ChangeID = pr.ID
	return s
}

// ApproveOptions are the inputs of ApproveChange.
type ApproveOptions struct {
	Change     string // a change id or a unique prefix
	Operator   string // the approver
	Reason     string // required
	Passphrase []byte
}

// ApproveChange records the operator's e-signature approving a change
// (meaning "approved"): the second person of the two-person rule. The
// proposer, a change already applied or superseded, and every failure of
// a signature (wrong passphrase, locked, revoked, expired, no reason) are
// refused and recorded as esign.failed entries about the change.
func ApproveChange(ctx context.Context, p *project.Project, opt ApproveOptions) (*ESignature, error) {
	ps, err := PrepareApproval(ctx, p, opt)
	if err != nil {
		return nil, err
	}
	return ps.Sign(opt.Passphrase)
}

// PrepareApproval makes every check of an approval that needs no
// passphrase, the authz question included (on record), as PrepareSign
// does for a batch; the Pending signs with the passphrase.
func PrepareApproval(ctx context.Context, p *project.Project, opt ApproveOptions) (*Pending, error) {
	var c *Change
	so := SignOptions{Batch: "change:" + opt.Change, Meaning: string(MeaningApproved), Operator: opt.Operator, Reason: opt.Reason}
	return prepare(ctx, p, so, "change:"+opt.Change, signTarget{
		resolve: func() (string, string, error) {
			var err error
			if c, err = LookupChange(ctx, p, opt.Change); err != nil {
				return "", FailureUnknownChg, err
			}
			switch c.State {
			case ChangeApplied:
				return "change:" + c.ID, FailureApplied, fmt.Errorf("change %s is already in force (audit entry %d)", c.ID, c.AppliedEntry)
			case ChangeSuperseded:
				return "change:" + c.ID, FailureSuperseded, fmt.Errorf("change %s is superseded (audit entry %d): approve the change in force now (`pawl change list`)", c.ID, c.SupersededBy)
			}
			return "change:" + c.ID, "", nil
		},
		refuse: func(op *Operator) (string, error) {
			if op.ID == c.Proposer {
				return FailureOwnChange, fmt.Errorf("%w: operator %s proposed change %s, and the two-person rule needs another person's approval", ErrOwnChange, op.ID, c.ID)
			}
			return "", nil
		},
		authorize:    func(op *Operator, _ Meaning) error { return mayApproveChange(ctx, p, op, c, opt.Reason) },
		approvalHint: "why this change is approved",
		manifest: func(meaning Meaning, op *Operator, tm, reason string) *actions.ESignManifest {
			return manifestForChange(c.Proposal, meaning, op, tm, reason)
		},
		verify: func(ops map[string]*Operator, e audit.Entry) ESignature { return verifyChange(c.Proposal, ops, e) },
	})
}

// mayApproveChange asks the authz question change.approve for op
// approving change c, with the facts its rules need: the proposer (never
// the approver) and the meanings op already signed it with (one approval
// per person). The default bundle wants policy_admin, in the bundle in
// force (not the one proposed). The decision is on record, allow or deny.
func mayApproveChange(ctx context.Context, p *project.Project, op *Operator, c *Change, reason string) error {
	f := policies.AuthzFacts{Meaning: string(MeaningApproved), Proposer: c.Proposer, ResubmittedBy: []string{}, SignedMeanings: []string{}, EnrolledNames: []string{}}
	for _, s := range c.Signatures {
		if s.Valid && s.SignerID == op.ID && !slices.Contains(f.SignedMeanings, string(s.Meaning)) {
			f.SignedMeanings = append(f.SignedMeanings, string(s.Meaning))
		}
	}
	slices.Sort(f.SignedMeanings)
	return gate.Authorize(ctx, p, gate.AuthzRequest{Action: gate.ActionApproveChange, Object: "change:" + c.ID, Operator: op.ID,
		Reason: reason, Facts: f})
}

// ErrChangeNotApplied is matched by every refusal of ApplyChange, and
// ErrOwnChange by a proposer's attempt to approve their own change.
var (
	ErrChangeNotApplied = errors.New("change not applied")
	ErrOwnChange        = errors.New("a proposer cannot approve their own change")
)

// ApplyChange puts an approved change in force: it writes exactly the
// guarded pins approved — refused when the files no longer hash to them,
// or when the guarded pins in force are no longer the ones it was
// proposed against — with every other pin as `pawl pin` would, and
// records the pin.changed entry naming the change and its approvals
// (project.PinWith: on record first, then pawl.lock). Every refusal is a
// change.apply_refused entry.
func ApplyChange(ctx context.Context, p *project.Project, id, operator, reason string) (*Change, *project.PinResult, error) {
	c, err := LookupChange(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	refuse := func(failure string, err error, mis []actions.PinChange) (*Change, *project.PinResult, error) {
		_, aerr := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: operator, Object: "change:" + c.ID, Reason: reason,
			Details: actions.ChangeApplyRefusedDetails{ID: c.ID, Failure: failure, Error: err.Error(), Mismatches: mis}})
		if aerr != nil {
			return c, nil, errors.Join(err, fmt.Errorf("and the refusal could not be recorded: %w", aerr))
		}
		return c, nil, fmt.Errorf("%w: %w (the refusal is recorded in the audit trail)", ErrChangeNotApplied, err)
	}
	switch c.State {
	case ChangeApplied:
		return c, nil, fmt.Errorf("change %s is already in force (audit entry %d)", c.ID, c.AppliedEntry)
	case ChangeSuperseded:
		return refuse(FailureSuperseded, fmt.Errorf("change %s is superseded (audit entry %d): run `pawl pin` to propose the change again", c.ID, c.SupersededBy), nil)
	case ChangePending:
		own := false
		for _, s := range c.Signatures {
			if s.Valid && s.SignerID == c.Proposer {
				own = true
			}
		}
		if own {
			return refuse(FailureOwnChange, fmt.Errorf("change %s is signed only by its proposer %s: the two-person rule needs another enrolled operator's approval (`pawl change approve %s`)", c.ID, c.Proposer, c.ID), nil)
		}
		return refuse(FailureNotApproved, fmt.Errorf("change %s is not approved: another enrolled operator than its proposer %s approves it with `pawl change approve %s`", c.ID, c.Proposer, c.ID), nil)
	}
	if reason == "" {
		reason = "change " + c.ID + " applied"
	}
	res, err := p.PinWith(ctx, project.PinOptions{Operator: operator, Reason: reason, Apply: &project.ApprovedChange{Proposal: c.Proposal, Approvals: c.Approvals}})
	var mis *project.ChangeMismatchError
	if errors.As(err, &mis) {
		failure := FailureFilesChanged
		if mis.Superseded {
			failure = FailureSuperseded
		}
		return refuse(failure, err, mis.Mismatches)
	}
	if err != nil {
		return c, nil, err
	}
	c.State, c.AppliedEntry = ChangeApplied, res.Recorded
	return c, res, nil
}
