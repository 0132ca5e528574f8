package ratchet

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/contract"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/project"
)

// ContractOf is the contract of a plan: everything in it that decides a
// verdict (engine/contract compares two).
func ContractOf(pl *Plan) (contract.Contract, error) {
	var c contract.Contract
	c.Schema.URL, c.Schema.Docs = pl.Schema.Documents()
	sum, err := pl.Job.Normalize.Summary()
	if err != nil {
		return c, fmt.Errorf("job %s: %w", pl.Job.Name, err)
	}
	c.Profile = contract.Profile{Classes: sum.Classes, Actions: sum.Actions, Forms: sum.Forms, SingleLine: sum.SingleLine,
		RestrictionLevel: sum.RestrictionLevel, References: map[string]string{}, Lowercase: sum.Lowercase, Language: sum.Language}
	for ptr, f := range sum.References {
		c.Profile.References[ptr] = string(pl.Pins[project.CleanRef(f)])
	}
	for _, v := range pl.Job.Validators {
		name, version, _ := strings.Cut(v.Plugin, "@")
		cfg, err := canonjson.Marshal(jsonValue(v.Config))
		if err != nil {
			return c, fmt.Errorf("job %s: validator %s: its configuration: %w", pl.Job.Name, v.Plugin, err)
		}
		val := contract.Validator{Name: name, Version: version, Module: string(pl.Pins[lockfile.PluginKey(v.Plugin)]),
			Config: string(cfg), Fields: v.Fields, Lookups: map[string]string{}}
		for l, f := range v.Lookups {
			val.Lookups[l] = string(pl.Pins[project.CleanRef(f)])
		}
		c.Validators = append(c.Validators, val)
	}
	c.MaxRecordBytes = pl.Limits.MaxRecordBytes
	return c, nil
}

// jsonValue is v (decoded from YAML) as encoding/json would decode its
// JSON: what canonjson encodes.
func jsonValue(v any) any {
	if v == nil {
		return map[string]any{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// PlanOfBatch is the contract part of the plan a committed batch was
// judged by, rebuilt from the store and its record alone.
func PlanOfBatch(p *project.Project, rec *actions.BatchRecord) (*Plan, error) {
	scratch, err := os.MkdirTemp(p.PendingDir(), ".contract-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	return planFromRecord(p, rec, scratch)
}

// PlanAtPins is the contract part of the plan of job under a set of pins
// on record (pins in force, or any earlier version): its files as kept in
// the store, and the limits they pin.
func PlanAtPins(p *project.Project, pins lockfile.Pins, job string) (*Plan, error) {
	jobRel, err := project.JobPath(p.Root, job)
	if err != nil {
		return nil, err
	}
	return planAtPins(p, pins, jobRel)
}

// planAtPins is the contract part of the plan of the job at jobRel under
// pins, its files laid out from the store, with the limits they pin.
func planAtPins(p *project.Project, pins lockfile.Pins, jobRel string) (*Plan, error) {
	lo, err := layOutTemp(p, pins)
	if err != nil {
		return nil, err
	}
	defer lo.remove()
	return lo.plan(jobRel)
}

// pinsLayout is a set of pins laid out from the store in a scratch tree,
// so that the plans of several jobs, or of one job several times, are
// built from one copy of the files.
type pinsLayout struct {
	p       *project.Project
	pins    lockfile.Pins
	scratch string
	tree    string
}

func layOutTemp(p *project.Project, pins lockfile.Pins) (*pinsLayout, error) {
	scratch, err := os.MkdirTemp(p.PendingDir(), ".contract-*")
	if err != nil {
		return nil, err
	}
	lo := &pinsLayout{p: p, pins: pins, scratch: scratch, tree: filepath.Join(scratch, "project")}
	if err := layOutPins(p, pins, lo.tree); err != nil {
		lo.remove()
		return nil, err
	}
	return lo, nil
}

func (lo *pinsLayout) remove() { os.RemoveAll(lo.scratch) }

// plan is the contract part of the plan of the job at jobRel, with the
// limits the pins pin.
func (lo *pinsLayout) plan(jobRel string) (*Plan, error) {
	if _, ok := lo.pins[jobRel]; !ok {
		return nil, fmt.Errorf("job %s is not pinned there (no %s among the pins)", strings.TrimSuffix(strings.TrimPrefix(jobRel, "jobs/"), ".yaml"), jobRel)
	}
	pl, err := planContract(project.Layout{Root: lo.tree}, jobRel, lo.pins)
	if err != nil {
		return nil, err
	}
	pl.Limits = (&actions.BatchRecord{}).RecordedLimits()
	if d, ok := lo.pins[project.LimitsPinKey]; ok {
		b, err := lo.p.ReadBlob(d)
		if err != nil {
			return nil, fmt.Errorf("the limits pinned as %s: %w", d, err)
		}
		if err := json.Unmarshal(b, &pl.Limits); err != nil {
			return nil, fmt.Errorf("the limits pinned as %s: %w", d, err)
		}
	}
	return pl, nil
}

// CheckContracts is the arbiter at `pawl pin` (project.Project's
// ContractCheck): for every job pinned both in force and in next, its
// contract under each, compared. A job whose contract weakens, or changes
// in a way no static rule decides, has its changed pins held (Hold). A
// job whose pins did not change is not compared.
func CheckContracts(ctx context.Context, p *project.Project, inForce, next lockfile.Pins) (*project.ContractCheck, error) {
	chk := &project.ContractCheck{}
	// Each set of pins is laid out once, for every job. The pins in force
	// may not lay out (pinned broken): then every job is compared with
	// nothing, below. The pins to be written are laid out only when a job
	// changed.
	before, berr := layOutTemp(p, inForce)
	if berr == nil {
		defer before.remove()
	}
	var after *pinsLayout
	defer func() {
		if after != nil {
			after.remove()
		}
	}()
	for _, jobRel := range inForce.Sorted() {
		if !strings.HasPrefix(jobRel, "jobs/") || !strings.HasSuffix(jobRel, ".yaml") || next[jobRel] == "" {
			continue
		}
		var prev *Plan
		perr := berr
		if berr == nil {
			prev, perr = before.plan(jobRel)
		}
		changed := inForce[project.LimitsPinKey] != next[project.LimitsPinKey] || perr != nil
		if perr == nil {
			for k := range prev.Pins {
				changed = changed || inForce[k] != next[k]
			}
		}
		if !changed {
			continue
		}
		if after == nil {
			var err error
			if after, err = layOutTemp(p, next); err != nil {
				return nil, fmt.Errorf("under the pins to be written: %w", err)
			}
		}
		cur, err := after.plan(jobRel)
		if err != nil {
			return nil, fmt.Errorf("under the pins to be written: %w", err)
		}
		if perr != nil {
			// Pinned broken (before the arbiter, or by a hand edit
			// accepted): nothing to compare with, so nothing says the
			// new contract is not weaker. Held, like a weakening.
			chk.Diffs = append(chk.Diffs, actions.ContractDiff{Job: cur.Job.Name, Verdict: contract.Unknown.String(), Changes: []actions.ContractChange{{
				Kind: contract.Unknown.String(), Part: "contract", At: cur.Job.Name,
				Reason: fmt.Sprintf("the contract under the pins in force cannot be resolved (%v): the new one cannot be compared with it", perr)}}})
			chk.Hold = holdKeys(chk.Hold, inForce, next, nil, cur.Pins)
			continue
		}
		pc, err := ContractOf(prev)
		if err != nil {
			return nil, err
		}
		nc, err := ContractOf(cur)
		if err != nil {
			return nil, err
		}
		changes, err := contract.Compare(pc, nc)
		if err != nil {
			return nil, err
		}
		if len(changes) == 0 {
			continue
		}
		v := contract.Verdict(changes)
		d := actions.ContractDiff{Job: cur.Job.Name, Verdict: v.String()}
		for _, c := range changes {
			d.Changes = append(d.Changes, actions.ContractChange{Kind: c.Kind.String(), Part: c.Part, At: c.At, Keyword: c.Keyword, Reason: c.Reason})
		}
		if v == contract.Unknown {
			// No static rule decides: the new contract judges the past
			// quarantined records again.
			if d.Evidence, err = pinEvidence(ctx, p, inForce, after, jobRel); err != nil {
				return nil, err
			}
			switch {
			case d.Evidence.NowPass > 0:
				d.Verdict = contract.Weakening.String()
			case d.Evidence.Cleared:
				v = contract.Tightening // pinned as a tightening is; the verdict stays unknown, with its evidence
			}
		}
		chk.Diffs = append(chk.Diffs, d)
		if v == contract.Tightening {
			continue
		}
		chk.Hold = holdKeys(chk.Hold, inForce, next, prev.Pins, cur.Pins)
	}
	return chk, nil
}

// holdKeys adds to hold the pins of a job (either side's, and the limits)
// that differ between inForce and next.
func holdKeys(hold []string, inForce, next, prev, cur lockfile.Pins) []string {
	keys := map[string]bool{project.LimitsPinKey: true}
	for k := range prev {
		keys[k] = true
	}
	for k := range cur {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if inForce[k] != next[k] && !slices.Contains(hold, k) {
			hold = append(hold, k)
		}
	}
	return hold
}

// PlanOfTree is the contract part of the plan of job as its files are
// now: what `pawl pin` would pin (the plugins as pinned, the limits as
// configured). Its files are kept in the store, as a run keeps them, so
// that it can judge records (Rejudge). A job spec that does not parse or
// a schema that does not compile is an error.
func PlanOfTree(ctx context.Context, p *project.Project, job string) (*Plan, error) {
	jobRel, err := project.JobPath(p.Root, job)
	if err != nil {
		return nil, err
	}
	pins, err := p.Pins(ctx)
	if err != nil {
		return nil, err
	}
	pins = maps.Clone(pins) // overwritten with the tree's digests below
	if err := p.CheckReference(nil, project.Ref{Path: jobRel, What: "job spec"}); err != nil {
		return nil, err
	}
	j, err := project.LoadJob(p.Root, jobRel)
	if err != nil {
		return nil, err
	}
	for _, r := range j.Refs() {
		if err := p.CheckReference(j, r); err != nil {
			return nil, err
		}
		if pins[r.Path], _, err = p.Store.PutFile(p.File(r.Path)); err != nil {
			return nil, fmt.Errorf("job %s: %s %s: %w", j.Name, r.What, r.Path, err)
		}
	}
	_, refs, files, err := p.CompileSchema(j)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		pins[r.Path] = files[r.Path]
	}
	pl, err := planContract(p.Layout, jobRel, pins)
	if err != nil {
		return nil, err
	}
	pl.Limits, _ = p.Limits()
	return pl, nil
}

// pinEvidence is the empirical check at `pawl pin`: the contract under next
// judges again the records of the job's committed batches, newest first,
// until change.contract_evidence (as in force) quarantined records have
// been judged or one of them would now pass.
func pinEvidence(ctx context.Context, p *project.Project, inForce lockfile.Pins, next *pinsLayout, jobRel string) (*actions.ContractEvidence, error) {
	need, err := p.ContractEvidenceInForce(inForce)
	if err != nil {
		return nil, err
	}
	ev := &actions.ContractEvidence{Required: need}
	if need == 0 {
		return ev, nil
	}
	all, err := p.Batches(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(all) - 1; i >= 0 && ev.Quarantined < int64(need) && ev.NowPass == 0; i-- {
		b := all[i]
		if b.Pins[jobRel] == "" || b.Quarantined == 0 {
			continue // another job's, or nothing to judge
		}
		pl, err := next.plan(jobRel) // a fresh plan: Rejudge binds and loads it
		if err != nil {
			return nil, err
		}
		if pl.Job.Name != b.Job {
			continue
		}
		r, err := Rejudge(ctx, p, pl, &b.BatchRecord, p.Cfg.Operator)
		if err != nil {
			return nil, fmt.Errorf("the empirical check over batch %s: %w", b.BatchID, err)
		}
		ev.Batches++
		ev.Quarantined += r.Quarantined
		ev.NowPass += len(r.NowPass)
	}
	ev.Cleared = ev.NowPass == 0 && ev.Quarantined >= int64(need)
	return ev, nil
}
