package project

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pawl-dev/pawl/audit"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/store"
)

// PinResult is what `pawl pin` changed.
type PinResult struct {
	Changes []actions.PinChange
	// Contract is the arbiter's classification of each job whose contract
	// the pins written change (a weakening held back is in the proposal).
	Contract []actions.ContractDiff
	// Policy and Limits are pawl.yaml's pinned settings, present when
	// their pin changed.
	Policy *actions.PolicySettings
	Limits *actions.Limits
	// Edited is present when pawl.lock was found edited by hand and the
	// edit was accepted (a reason was given).
	Edited *actions.LockEdit
	// ChangeSettings is pawl.yaml's change-control settings, present when
	// their pin changed.
	ChangeSettings *actions.ChangeSettings
	// ESign is pawl.yaml's e-signature settings, present when their pin
	// changed.
	ESign *actions.ESignSettings
	// Recorded says a pin.changed entry was written (at its sequence
	// number); Written that pawl.lock was.
	Recorded int64
	Written  bool
	// Proposal is the change the two-person rule held back: its guarded
	// pins are not in force (Changes lists only the others). Nil when no
	// guarded pin changed, or when they were applied.
	Proposal *Proposal
	// Applied names the approved change put in force; Waived says guarded
	// pins changed in force without a second person because
	// change.two_person was pinned false.
	Applied *actions.ChangeApplied
	Waived  bool
}

// PinOptions are the inputs of PinWith.
type PinOptions struct {
	Operator, Reason string
	// Apply is an approved change to put in force, its approval already
	// checked by the caller (esign.ApplyChange): the guarded pins are
	// written as it changes them, if the files still hash to them and it
	// was proposed against the guarded pins in force.
	Apply *ApprovedChange
	// Weaken accepts a weakening of a job's contract (`pawl pin
	// --weaken`): it is proposed for a second person's approval (or, with
	// change.two_person pinned false, written and marked waived) instead
	// of refused.
	Weaken bool
}

// ContractCheck is what the arbiter found comparing every job's contract
// under the pins in force with the pins about to be written.
type ContractCheck struct {
	// Diffs are the jobs whose contract changes, each classified.
	Diffs []actions.ContractDiff
	// Hold are the pins of the jobs whose contract weakens (or changes in
	// a way no static rule decides) that change: held back like guarded
	// pins, for a second person's approval.
	Hold []string
}

// ContractWeakenedError refuses a pin that weakens a job's contract
// without --weaken.
type ContractWeakenedError struct {
	Diffs []actions.ContractDiff
}

func (e *ContractWeakenedError) Error() string {
	var jobs []string
	for _, d := range e.Diffs {
		if d.Verdict == "tightening" {
			continue
		}
		first := ""
		for _, c := range d.Changes {
			if c.Kind != "tightening" {
				first = fmt.Sprintf(" (%s %s at %s: %s", c.Kind, c.Keyword, c.At, c.Reason)
				if n := countNotTightening(d.Changes) - 1; n > 0 {
					first += fmt.Sprintf("; %d more", n)
				}
				first += ")"
				break
			}
		}
		msg := fmt.Sprintf("the contract of job %s gets weaker%s", d.Job, first)
		if d.Verdict == "unknown" {
			msg = fmt.Sprintf("the contract of job %s changes in a way no static rule decides%s", d.Job, first)
		}
		if ev := d.Evidence; ev != nil {
			msg += "; " + DescribeEvidence(*ev)
		}
		jobs = append(jobs, msg)
	}
	return strings.Join(jobs, "; ") + ": a weakening is pinned only with --weaken and a --reason, and takes effect after a second person approves it (`pawl contract diff JOB` shows every change)"
}

// DescribeEvidence says what the empirical check found, for a person.
func DescribeEvidence(ev actions.ContractEvidence) string {
	switch {
	case ev.NowPass > 0:
		return fmt.Sprintf("the empirical check proves it: %d of %d past quarantined records (%d batch(es)) would now pass", ev.NowPass, ev.Quarantined, ev.Batches)
	case ev.Cleared:
		return fmt.Sprintf("the empirical check cleared it: none of %d past quarantined records (%d batch(es)) would now pass", ev.Quarantined, ev.Batches)
	case ev.Required == 0:
		return "the empirical check is off (change.contract_evidence 0)"
	}
	return fmt.Sprintf("the empirical check judged %d past quarantined records (%d batch(es)), none would now pass, but change.contract_evidence asks for %d", ev.Quarantined, ev.Batches, ev.Required)
}

func countNotTightening(cs []actions.ContractChange) int {
	n := 0
	for _, c := range cs {
		if c.Kind != "tightening" {
			n++
		}
	}
	return n
}

// ApprovedChange is a change whose approval esign has checked.
type ApprovedChange struct {
	Proposal  *Proposal
	Approvals []int64 // the esign.signed entries that approve it
}

// Pin is PinWith without a change to apply.
func (p *Project) Pin(ctx context.Context, operator, reason string) (*PinResult, error) {
	return p.PinWith(ctx, PinOptions{Operator: operator, Reason: reason})
}

// Pin hashes every file every job references — the job spec, its schema
// and every file the schema reaches through $ref, the normalization
// reference files and the lookup files, each checked to be a regular file
// inside the project and outside the data directory — the policy bundle
// and pawl.yaml's pinned settings, writes pawl.lock and puts the change on
// record with the digest of the pins written. Job specs that do not parse
// and schemas that do not compile are errors: a broken job cannot be
// pinned.
//
// A pawl.lock that is not the last one on record (edited by hand) is
// refused unless a reason is given: then the edit is accepted, and on
// record with what was found. One left behind by a command cut short is
// finished without one.
//
// The two-person rule: when a guarded pin (GuardedPins: the policy bundle,
// pawl.yaml#policy, #limits, #change) would change from the one in force —
// the last pins on record — and change.two_person is pinned true, those
// pins are held back: every other pin is written, and the guarded change
// is recorded as a change.proposed entry (or found on record already) for
// a second person to approve. A project's first guarded pins (`pawl
// init`) are its creation, not a change, and are written at once.
func (p *Project) PinWith(ctx context.Context, opt PinOptions) (*PinResult, error) {
	operator, reason := opt.Operator, opt.Reason
	st, err := p.readLock(ctx)
	if err != nil {
		return nil, err
	}
	res := &PinResult{}
	if st.problem != nil && !st.problem.Behind {
		if strings.TrimSpace(reason) == "" {
			return nil, st.problem
		}
		res.Edited = &actions.LockEdit{Found: st.problem.Found, Recorded: st.problem.Recorded, RecordedSeq: st.problem.Seq}
		rec, ok := p.recordedPins(st.problem.Recorded)
		switch {
		case ok && st.problem.Missing:
			// Nothing was edited but everything lost: pin afresh from the
			// pins on record (the plugins among them).
			st.found = rec
		case ok:
			res.Edited.Changes = pinChanges(st.found.Diff(rec))
		}
	}
	old := st.found
	names, err := ListJobs(p.Root)
	if err != nil {
		return nil, err
	}
	next := lockfile.Pins{}
	for _, n := range names {
		rel := "jobs/" + n + ".yaml"
		if err := p.CheckReference(nil, Ref{rel, "job spec"}); err != nil {
			return nil, err
		}
		j, err := LoadJob(p.Root, rel)
		if err != nil {
			return nil, err
		}
		for _, r := range j.Refs() {
			if err := p.CheckReference(j, r); err != nil {
				return nil, err
			}
			d, _, err := p.Store.PutFile(p.File(r.Path))
			if err != nil {
				return nil, fmt.Errorf("job %s references %s: %w", n, r.Path, err)
			}
			next[r.Path] = d
		}
		// The schema is all the files it reaches through $ref: each is
		// pinned, with the bytes that compiled.
		_, refs, files, err := p.CompileSchema(j)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			d, _, err := p.Store.PutFile(p.File(r.Path))
			if err != nil {
				return nil, fmt.Errorf("job %s: %s %s: %w", n, r.What, r.Path, err)
			}
			if d != files[r.Path] {
				return nil, fmt.Errorf("job %s: %s changed while it was pinned: run `pawl pin` again", n, r.Path)
			}
			next[r.Path] = d
		}
	}
	// pawl.yaml's settings that can change an outcome, pinned as the
	// canonical JSON of each group (kept in the store).
	set, opts, err := p.policySettings()
	if err != nil {
		return nil, fmt.Errorf("pinning %s: %w", PolicySettingsPinKey, err)
	}
	if next[PolicySettingsPinKey], err = p.storeSettings(set); err != nil {
		return nil, err
	}
	lim, _ := p.Limits()
	if next[LimitsPinKey], err = p.storeSettings(lim); err != nil {
		return nil, err
	}
	// The policy bundle is pinned as a whole: the sha256 of its file list
	// (its files and the list are kept in the store). It must load, with
	// the signature checks the settings ask for.
	if d, ok, err := p.pinBundle(opts); err != nil {
		return nil, fmt.Errorf("pinning %s: %w", PolicyPinKey, err)
	} else if ok {
		next[PolicyPinKey] = d
	}
	chg := p.ChangeSettings()
	if next[ChangePinKey], err = p.storeSettings(chg); err != nil {
		return nil, err
	}
	es := p.ESignSettings()
	if next[ESignPinKey], err = p.storeSettings(es); err != nil {
		return nil, err
	}
	// Plugins are pinned by `pawl plugin add`, not derived from files; they
	// stay pinned like go.sum lines.
	for k, d := range old {
		if strings.HasPrefix(k, lockfile.PluginPrefix) {
			next[k] = d
		}
	}
	if err := p.holdGuarded(ctx, st, opt, next, res); err != nil {
		return nil, err
	}
	res.Changes = pinChanges(next.Diff(old))
	if len(res.Changes) == 0 && st.problem == nil {
		return res, nil
	}
	if old[PolicySettingsPinKey] != next[PolicySettingsPinKey] {
		res.Policy = &set
	}
	if old[LimitsPinKey] != next[LimitsPinKey] {
		res.Limits = &lim
	}
	if old[ChangePinKey] != next[ChangePinKey] {
		res.ChangeSettings = &chg
	}
	if old[ESignPinKey] != next[ESignPinKey] {
		res.ESign = &es
	}
	if reason == "" {
		reason = "pins updated"
	}
	// The pins written, and an edited pawl.lock found, are kept in the
	// store under their digests, so that the record can be read back.
	if err := p.storePins(next); err != nil {
		return nil, err
	}
	if res.Edited != nil {
		if err := p.storePins(old); err != nil {
			return nil, err
		}
	}
	// On record first: a crash before pawl.lock is written leaves a
	// change on record that the next `pawl pin` finds and records again,
	// never pins in force that the trail does not know.
	e, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "file:" + LockFile, Reason: reason,
		Details: actions.PinChangedDetails{Changes: res.Changes, PinsDigest: next.Digest(), Policy: res.Policy, Limits: res.Limits, Edited: res.Edited,
			ChangeSettings: res.ChangeSettings, ESign: res.ESign, Change: res.Applied, TwoPersonWaived: res.Waived, Contract: res.Contract}})
	if err != nil {
		return nil, err
	}
	res.Recorded = e.Seq
	failpoint.Hit("pin.after-record")
	if err := durable.WriteFile(p.LockPath(), next.Format(), 0o644); err != nil {
		return nil, fmt.Errorf("the pin change is on record but %s could not be written: %w: run `pawl pin` again", LockFile, err)
	}
	res.Written = true
	return res, nil
}

// holdGuarded applies the two-person rule to the pins about to be written
// (next): it leaves them alone when no guarded pin changes from the ones
// in force, when this is the project's first pinning of them, when
// opt.Apply approves exactly these changes (res.Applied), or when
// change.two_person is pinned false (res.Waived); otherwise it puts the
// guarded pins in force back into next and records the change as a
// proposal (res.Proposal), or finds the same one on record.
func (p *Project) holdGuarded(ctx context.Context, st *lockState, opt PinOptions, next lockfile.Pins, res *PinResult) error {
	// In force are the last pins on record, not a pawl.lock edited by hand.
	inForce := st.found
	if st.problem != nil {
		if rec, ok := p.recordedPins(st.problem.Recorded); ok {
			inForce = rec
		}
	}
	first := true
	for _, k := range GuardedPins {
		if inForce[k] != "" {
			first = false
		}
	}
	// The keys held: the guarded pins, and the files of the jobs whose
	// contract weakens (the arbiter), or those an approved change names.
	keys := append([]string(nil), GuardedPins...)
	var chk *ContractCheck
	switch {
	case opt.Apply != nil:
		for _, c := range opt.Apply.Proposal.Changes {
			keys = addKey(keys, c.File)
		}
	case p.ContractCheck != nil && !first:
		var err error
		if chk, err = p.ContractCheck(ctx, p, inForce, next); err != nil {
			return fmt.Errorf("comparing the jobs' contracts with the pins in force: %w", err)
		}
		for _, k := range chk.Hold {
			keys = addKey(keys, k)
		}
	}
	now, want := pick(inForce, keys), pick(next, keys)
	var changes []actions.PinChange
	held := false
	for _, k := range keys {
		if now[k] != want[k] {
			changes = append(changes, actions.PinChange{File: k, Old: now[k], New: want[k]})
			if chk != nil && slices.Contains(chk.Hold, k) {
				held = true
			}
		}
	}
	if opt.Apply != nil {
		return p.checkApply(opt.Apply, now, want, keys, res)
	}
	// The contract changes written with these pins (a tightening, or
	// anything when nothing is held) are on record with them.
	var weaker []actions.ContractDiff
	if chk != nil {
		for _, d := range chk.Diffs {
			if held && d.Verdict != "tightening" {
				weaker = append(weaker, d)
			} else {
				res.Contract = append(res.Contract, d)
			}
		}
	}
	if len(changes) == 0 || first {
		return nil
	}
	two, err := p.twoPersonInForce(inForce)
	if err != nil {
		return err
	}
	if held && !opt.Weaken && (!two || !p.sameAsLastProposal(ctx, inForce, changes)) {
		return &ContractWeakenedError{Diffs: weaker}
	}
	if !two {
		res.Waived = true
		res.Contract = append(res.Contract, weaker...)
		return nil
	}
	// Held back: the pins in force stay.
	for _, k := range keys {
		if now[k] == "" {
			delete(next, k)
		} else {
			next[k] = now[k]
		}
	}
	d := actions.ChangeProposedDetails{Base: inForce.Digest(), Changes: changes, Diff: p.proposalDiff(now, want, keys), Contract: weaker}
	if want[PolicySettingsPinKey] != now[PolicySettingsPinKey] {
		s, _, _ := p.policySettings()
		d.Policy = &s
	}
	if want[LimitsPinKey] != now[LimitsPinKey] {
		l, _ := p.Limits()
		d.Limits = &l
	}
	if want[ChangePinKey] != now[ChangePinKey] {
		c := p.ChangeSettings()
		d.ChangeSettings = &c
	}
	if want[ESignPinKey] != now[ESignPinKey] {
		e := p.ESignSettings()
		d.ESign = &e
	}
	all, err := p.Proposals(ctx)
	if err != nil {
		return err
	}
	if n := len(all); n > 0 && sameChange(&all[n-1].ChangeProposedDetails, &d) {
		if applied, err := p.AppliedBy(ctx, all[n-1].ID); err != nil {
			return err
		} else if applied == 0 {
			res.Proposal = all[n-1]
			res.Proposal.Existing = true
			return nil
		}
	}
	d.ID = changeID(&d, len(all))
	reason := opt.Reason
	if strings.TrimSpace(reason) == "" {
		reason = "pins changed"
	}
	if err := p.storePins(inForce); err != nil {
		return err
	}
	e, err := actions.Append(ctx, p.Trail, actions.Record{Operator: opt.Operator, Object: "change:" + d.ID, Reason: reason, Details: d})
	if err != nil {
		return err
	}
	res.Proposal = &Proposal{ChangeProposedDetails: d, Seq: e.Seq, Hash: e.Hash, Proposer: e.Operator, Reason: e.Reason,
		Time: audit.EntryTime{Time: e.Time.UTC()}}
	return nil
}

// checkApply checks that an approved change can be put in force: it was
// proposed against the guarded pins in force (now), and the files hash to
// what it approved (want); every guarded pin it does not change stays.
func (p *Project) checkApply(a *ApprovedChange, now, want map[string]store.Digest, keys []string, res *PinResult) error {
	pr := a.Proposal
	base := map[string]store.Digest{}
	if rec, ok := p.recordedPins(pr.Base); ok {
		base = pick(rec, keys)
	} else {
		for _, k := range keys {
			base[k] = now[k]
		}
	}
	approved := map[string]store.Digest{}
	for k, v := range base {
		approved[k] = v
	}
	for _, c := range pr.Changes {
		base[c.File] = c.Old
		approved[c.File] = c.New
	}
	stale := &ChangeMismatchError{ID: pr.ID, Superseded: true}
	moved := &ChangeMismatchError{ID: pr.ID}
	for _, k := range keys {
		if now[k] != base[k] {
			stale.Mismatches = append(stale.Mismatches, actions.PinChange{File: k, Old: base[k], New: now[k]})
		}
		if want[k] != approved[k] {
			moved.Mismatches = append(moved.Mismatches, actions.PinChange{File: k, Old: approved[k], New: want[k]})
		}
	}
	if len(stale.Mismatches) > 0 {
		return stale
	}
	if len(moved.Mismatches) > 0 {
		return moved
	}
	res.Applied = &actions.ChangeApplied{ID: pr.ID, Proposed: pr.Seq, Approvals: a.Approvals}
	res.Contract = pr.Contract
	return nil
}

// sameAsLastProposal says the last change proposed holds back exactly
// these changes from these pins and is not applied yet: pinning it again
// finds it (and applies it once approved) rather than proposing anew.
func (p *Project) sameAsLastProposal(ctx context.Context, inForce lockfile.Pins, changes []actions.PinChange) bool {
	all, err := p.Proposals(ctx)
	if err != nil || len(all) == 0 {
		return false
	}
	last := all[len(all)-1]
	if !sameChange(&last.ChangeProposedDetails, &actions.ChangeProposedDetails{Base: inForce.Digest(), Changes: changes}) {
		return false
	}
	applied, err := p.AppliedBy(ctx, last.ID)
	return err == nil && applied == 0
}

func addKey(keys []string, k string) []string {
	if slices.Contains(keys, k) {
		return keys
	}
	return append(keys, k)
}
