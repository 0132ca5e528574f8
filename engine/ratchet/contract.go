package ratchet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/contract"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
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

// ContractOfBatch is the contract a committed batch was judged by,
// rebuilt from the store and its record alone.
func ContractOfBatch(p *project.Project, rec *actions.BatchRecord) (contract.Contract, error) {
	scratch, err := os.MkdirTemp(p.PendingDir(), ".contract-*")
	if err != nil {
		return contract.Contract{}, err
	}
	defer os.RemoveAll(scratch)
	pl, err := planFromRecord(p, rec, scratch)
	if err != nil {
		return contract.Contract{}, err
	}
	return ContractOf(pl)
}

// ContractAtPins is job's contract under a set of pins on record (pins in
// force, or any earlier version): its files as kept in the store, and the
// limits they pin.
func ContractAtPins(p *project.Project, pins lockfile.Pins, job string) (contract.Contract, error) {
	jobRel, err := project.JobPath(p.Root, job)
	if err != nil {
		return contract.Contract{}, err
	}
	if _, ok := pins[jobRel]; !ok {
		return contract.Contract{}, fmt.Errorf("job %s is not pinned there (no %s among the pins)", job, jobRel)
	}
	scratch, err := os.MkdirTemp(p.PendingDir(), ".contract-*")
	if err != nil {
		return contract.Contract{}, err
	}
	defer os.RemoveAll(scratch)
	tree := scratch + string(os.PathSeparator) + "project"
	if err := layOutPins(p, pins, tree); err != nil {
		return contract.Contract{}, err
	}
	pl, err := planContract(project.Layout{Root: tree}, jobRel, pins)
	if err != nil {
		return contract.Contract{}, err
	}
	pl.Limits = (&actions.BatchRecord{}).RecordedLimits()
	if d, ok := pins[project.LimitsPinKey]; ok {
		b, err := p.ReadBlob(d)
		if err != nil {
			return contract.Contract{}, fmt.Errorf("the limits pinned as %s: %w", d, err)
		}
		if err := json.Unmarshal(b, &pl.Limits); err != nil {
			return contract.Contract{}, fmt.Errorf("the limits pinned as %s: %w", d, err)
		}
	}
	return ContractOf(pl)
}

// ContractOfTree is job's contract as its files are now: what `pawl pin`
// would pin (the plugins as pinned, the limits as configured). A job spec
// that does not parse or a schema that does not compile is an error.
func ContractOfTree(ctx context.Context, p *project.Project, job string) (contract.Contract, error) {
	jobRel, err := project.JobPath(p.Root, job)
	if err != nil {
		return contract.Contract{}, err
	}
	pins, err := p.Pins(ctx)
	if err != nil {
		return contract.Contract{}, err
	}
	pins = treePins(pins)
	if err := p.CheckReference(nil, project.Ref{Path: jobRel, What: "job spec"}); err != nil {
		return contract.Contract{}, err
	}
	j, err := project.LoadJob(p.Root, jobRel)
	if err != nil {
		return contract.Contract{}, err
	}
	for _, r := range j.Refs() {
		if err := p.CheckReference(j, r); err != nil {
			return contract.Contract{}, err
		}
		if pins[r.Path], _, err = store.HashFile(p.File(r.Path)); err != nil {
			return contract.Contract{}, fmt.Errorf("job %s: %s %s: %w", j.Name, r.What, r.Path, err)
		}
	}
	_, refs, files, err := p.CompileSchema(j)
	if err != nil {
		return contract.Contract{}, err
	}
	for _, r := range refs {
		pins[r.Path] = files[r.Path]
	}
	pl, err := planContract(p.Layout, jobRel, pins)
	if err != nil {
		return contract.Contract{}, err
	}
	pl.Limits, _ = p.Limits()
	return ContractOf(pl)
}

// treePins is a copy of pins to be overwritten with the tree's digests.
func treePins(pins lockfile.Pins) lockfile.Pins {
	out := lockfile.Pins{}
	for k, v := range pins {
		out[k] = v
	}
	return out
}
