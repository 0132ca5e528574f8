package project

import (
	"context"
	"fmt"
	"strings"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/lockfile"
)

// PinResult is what `pawl pin` changed.
type PinResult struct {
	Changes []actions.PinChange
	// Policy and Limits are pawl.yaml's pinned settings, present when
	// their pin changed.
	Policy *actions.PolicySettings
	Limits *actions.Limits
	// Edited is present when pawl.lock was found edited by hand and the
	// edit was accepted (a reason was given).
	Edited *actions.LockEdit
	// Recorded says a pin.changed entry was written (at its sequence
	// number); Written that pawl.lock was.
	Recorded int64
	Written  bool
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
func (p *Project) Pin(ctx context.Context, operator, reason string) (*PinResult, error) {
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
	// Plugins are pinned by `pawl plugin add`, not derived from files; they
	// stay pinned like go.sum lines.
	for k, d := range old {
		if strings.HasPrefix(k, lockfile.PluginPrefix) {
			next[k] = d
		}
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
		Details: actions.PinChangedDetails{Changes: res.Changes, PinsDigest: next.Digest(), Policy: res.Policy, Limits: res.Limits, Edited: res.Edited}})
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
