package project

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/store"
)

// ErrLockEdited is matched (errors.Is) by the error of a pawl.lock that is
// not the last one on record.
var ErrLockEdited = errors.New("pawl.lock is not the last one on record")

// LockEditedError says pawl.lock is not the pins the audit trail last
// recorded: every command that writes pawl.lock records the digest of what
// it writes, so any other content was put there by hand (or by a copy from
// elsewhere, or by a command cut short before it wrote the file).
type LockEditedError struct {
	Found    store.Digest // the digest of pawl.lock as found
	Recorded store.Digest // the last pins digest on record ("" when that entry predates recorded digests)
	Seq      int64        // the entry that recorded it; 0 when no pins are on record
	Action   string       // its action
	// Behind: pawl.lock holds the pins on record before entry Seq, whose
	// write was cut short; `pawl pin` (or the command again) finishes it.
	Behind bool
	// Missing: there is no pawl.lock, though pins are on record.
	Missing bool
}

func (e *LockEditedError) Error() string {
	switch {
	case e.Missing:
		return fmt.Sprintf("%s is missing, but pins %s are on record (audit entry %d, %s): restore it from a backup or version control, or run `pawl pin --reason \"why\"` to pin the project afresh from the pins on record", LockFile, e.Recorded, e.Seq, e.Action)
	case e.Behind:
		return fmt.Sprintf("%s is behind the audit trail: audit entry %d (%s) records pins %s that were never written to it (a command cut short): run `pawl pin` to finish the change", LockFile, e.Seq, e.Action, e.Recorded)
	case e.Seq == 0:
		return fmt.Sprintf("%s was edited by hand: it holds pins (%s) but no pins are on record in the audit trail; review it and run `pawl pin --reason \"why\"` to put the change on record", LockFile, e.Found)
	case e.Recorded == "":
		return fmt.Sprintf("%s cannot be checked against the audit trail: its last change on record (audit entry %d, %s) was written before pins digests were recorded; review it (it hashes to %s) and run `pawl pin --reason \"why\"` to put it on record", LockFile, e.Seq, e.Action, e.Found)
	}
	return fmt.Sprintf("%s was edited by hand: it hashes to %s, but the last pins on record are %s (audit entry %d, %s); review it and run `pawl pin --reason \"why\"` to put the change on record", LockFile, e.Found, e.Recorded, e.Seq, e.Action)
}

// Is makes every LockEditedError match ErrLockEdited.
func (e *LockEditedError) Is(target error) bool { return target == ErrLockEdited }

// pinRecord is an audit entry that wrote pawl.lock.
type pinRecord struct {
	seq    int64
	action string
	digest store.Digest // "" in entries written before it was recorded
}

// lockState is pawl.lock as found and how it stands against the pins on
// record.
type lockState struct {
	found lockfile.Pins
	last  pinRecord // the newest entry that wrote pawl.lock (seq 0: none)
	// problem is nil when found is the last pins on record.
	problem *LockEditedError
}

// pinHistory lists the entries that wrote pawl.lock, oldest first: every
// pin.changed, plugin.added and plugin.removed.
func (p *Project) pinHistory(ctx context.Context) ([]pinRecord, error) {
	var out []pinRecord
	changed, err := p.Trail.Find(ctx, actions.PinChanged, "")
	if err != nil {
		return nil, err
	}
	for _, e := range changed {
		d, err := actions.Decode[actions.PinChangedDetails](e)
		if err != nil {
			return nil, err
		}
		out = append(out, pinRecord{e.Seq, e.Action, d.PinsDigest})
	}
	added, err := p.Trail.Find(ctx, actions.PluginAdded, "")
	if err != nil {
		return nil, err
	}
	for _, e := range added {
		d, err := actions.Decode[actions.PluginAddedDetails](e)
		if err != nil {
			return nil, err
		}
		out = append(out, pinRecord{e.Seq, e.Action, d.PinsDigest})
	}
	removed, err := p.Trail.Find(ctx, actions.PluginRemoved, "")
	if err != nil {
		return nil, err
	}
	for _, e := range removed {
		d, err := actions.Decode[actions.PluginRemovedDetails](e)
		if err != nil {
			return nil, err
		}
		out = append(out, pinRecord{e.Seq, e.Action, d.PinsDigest})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out, nil
}

// readLock reads pawl.lock and compares its digest with the last pins
// digest on record.
func (p *Project) readLock(ctx context.Context) (*lockState, error) {
	found, err := lockfile.Read(p.Root)
	if err != nil {
		return nil, err
	}
	hist, err := p.pinHistory(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the pin history of the audit trail: %w", err)
	}
	st := &lockState{found: found}
	got := found.Digest()
	empty := lockfile.Pins{}.Digest()
	if len(hist) == 0 {
		if got != empty {
			st.problem = &LockEditedError{Found: got, Recorded: empty}
		}
		return st, nil
	}
	st.last = hist[len(hist)-1]
	if st.last.digest == got {
		return st, nil
	}
	st.problem = &LockEditedError{Found: got, Recorded: st.last.digest, Seq: st.last.seq, Action: st.last.action}
	if _, err := os.Stat(p.LockPath()); errors.Is(err, os.ErrNotExist) {
		st.problem.Missing = true
		return st, nil
	}
	// A command records the change before it writes pawl.lock: one cut
	// short between the two leaves the pins on record before it.
	before := empty
	if len(hist) > 1 {
		before = hist[len(hist)-2].digest
	}
	if st.last.digest != "" && before != "" && got == before {
		st.problem.Behind = true
	}
	return st, nil
}

// Pins reads pawl.lock and checks it against the audit trail: its digest
// must be the last pins digest on record (every command that writes
// pawl.lock records it). A pawl.lock edited by hand, copied from elsewhere
// or left behind by a command cut short is a *LockEditedError (matching
// ErrLockEdited) that says what to do. Every command that acts on the pins
// reads them through Pins.
func (p *Project) Pins(ctx context.Context) (lockfile.Pins, error) {
	st, err := p.readLock(ctx)
	if err != nil {
		return nil, err
	}
	if st.problem != nil {
		return nil, st.problem
	}
	return st.found, nil
}

// recordedPins reads back the pins a digest on record names, from the
// store; ok is false when they are not there (a digest recorded before
// the pins' lines were kept).
func (p *Project) recordedPins(d store.Digest) (lockfile.Pins, bool) {
	if d == "" || !p.Store.Has(d) {
		return nil, false
	}
	b, err := p.ReadBlob(d)
	if err != nil {
		return nil, false
	}
	pins, err := lockfile.Parse(b)
	if err != nil || pins.Digest() != d {
		return nil, false
	}
	return pins, true
}

// storePins keeps the pins' lines in the store under their digest.
func (p *Project) storePins(pins lockfile.Pins) error {
	b := pins.Lines()
	d, _, err := p.Store.Put(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if d != pins.Digest() {
		return fmt.Errorf("the pins' lines are stored as %s, their digest is %s", d, pins.Digest())
	}
	return nil
}

// pinChanges turns lockfile changes into the trail's pin changes.
func pinChanges(cs []lockfile.Change) []actions.PinChange {
	out := []actions.PinChange{}
	for _, c := range cs {
		out = append(out, actions.PinChange{File: c.Key, Old: c.Old, New: c.New})
	}
	return out
}
