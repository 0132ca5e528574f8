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

// Pin hashes every file every job references, writes pawl.lock and puts
// the change on record. Job specs that do not parse are errors: a broken
// job cannot be pinned. It returns the changes (none when everything
// already matched).
func (p *Project) Pin(ctx context.Context, operator, reason string) ([]actions.PinChange, error) {
	old, err := lockfile.Read(p.Root)
	if err != nil {
		return nil, err
	}
	names, err := ListJobs(p.Root)
	if err != nil {
		return nil, err
	}
	next := lockfile.Pins{}
	for _, n := range names {
		j, err := LoadJob(p.Root, "jobs/"+n+".yaml")
		if err != nil {
			return nil, err
		}
		for _, f := range j.References() {
			d, _, err := p.Store.PutFile(p.File(f))
			if err != nil {
				return nil, fmt.Errorf("job %s references %s: %w", n, f, err)
			}
			next[f] = d
		}
	}
	// The policy bundle is pinned as a whole: the sha256 of its file list
	// (its files and the list are kept in the store). It must load, with
	// the signature checks the configuration asks for.
	if d, ok, err := p.pinBundle(); err != nil {
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
	var changes []actions.PinChange
	for _, f := range next.Sorted() {
		if old[f] != next[f] {
			changes = append(changes, actions.PinChange{File: f, Old: old[f], New: next[f]})
		}
	}
	for _, f := range old.Sorted() {
		if _, ok := next[f]; !ok {
			changes = append(changes, actions.PinChange{File: f, Old: old[f]})
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	if reason == "" {
		reason = "pins updated"
	}
	// On record first: a crash before pawl.lock is written leaves a
	// change on record that the next `pawl pin` finds and records again,
	// never pins in force that the trail does not know.
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "file:" + LockFile, Reason: reason,
		Details: actions.PinChangedDetails{Changes: changes, PinsDigest: next.Digest()}}); err != nil {
		return nil, err
	}
	failpoint.Hit("pin.after-record")
	if err := durable.WriteFile(p.LockPath(), next.Format(), 0o644); err != nil {
		return nil, fmt.Errorf("the pin change is on record but %s could not be written: %w: run `pawl pin` again", LockFile, err)
	}
	return changes, nil
}
