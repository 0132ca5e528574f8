package project

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/store"
)

// The state index (data/state-index/) finds a job's plugin state and the
// committed batch of a base id without reading every batch on record. The
// trail stays the source of truth: the index says up to which entry it
// covers the trail, a reader applies the entries after that (the tail, one
// or two after each commit) and writes the index again, a missing or
// unreadable index is rebuilt from the whole trail, a head is checked
// against the entry it names before it is used, and `audit verify`
// rebuilds the index in memory and compares (CheckStateIndex).
//
//	state-index/heads.json     {"covered": seq, "jobs": {job: head}}
//	state-index/bases/<base>   the id of the first committed batch of that
//	                           base id (not a resubmission)
const stateIndexDir = "state-index"

// StateHead is a job's plugin state now and what put it there, as the
// trail says: the state_out of its last committed batch that advances it
// (resubmissions do not), or a state.reset after it.
type StateHead struct {
	State store.Digest `json:"state"`
	Keys  int64        `json:"keys"`
	Batch string       `json:"batch,omitempty"`       // the batch that produced it
	Reset int64        `json:"reset_entry,omitempty"` // the state.reset entry that put it there
	Seq   int64        `json:"entry"`                 // the entry of either
}

type stateIndex struct {
	Covered int64                `json:"covered"`
	Jobs    map[string]StateHead `json:"jobs"`
	bases   map[string]string    // found in the tail: base id -> batch id
}

var baseRE = regexp.MustCompile(`^[0-9a-f]{16,128}$`)

func (p *Project) stateIndexPath(name ...string) string {
	return filepath.Join(append([]string{p.Data, stateIndexDir}, name...)...)
}

// StateIndexRead is how many trail entries the last StateHeadOf or
// CommittedBase read to bring the index up to date: 0 when it was current
// (for tests).
func (p *Project) StateIndexRead() int { return int(p.stateIndexRead.Load()) }

// StateHeadOf returns a job's state head (nil: the job has kept no state)
// through the index, bringing it up to date from the trail first.
func (p *Project) StateHeadOf(ctx context.Context, job string) (*StateHead, error) {
	idx, err := p.currentStateIndex(ctx)
	if err != nil {
		return nil, err
	}
	h, ok := idx.Jobs[job]
	if !ok {
		return nil, nil
	}
	if ok, err := p.headOnRecord(ctx, job, h); err != nil {
		return nil, err
	} else if !ok {
		// The index does not agree with the entry it names: rebuilt
		// from the whole trail (audit verify reports such an index).
		if idx, err = p.rebuildStateIndex(ctx); err != nil {
			return nil, err
		}
		if h, ok = idx.Jobs[job]; !ok {
			return nil, nil
		}
	}
	return &h, nil
}

// CommittedBase returns the id of the first committed batch (not a
// resubmission) of the given base id, "" when there is none, through the
// index.
func (p *Project) CommittedBase(ctx context.Context, base string) (string, error) {
	if !baseRE.MatchString(base) {
		return "", fmt.Errorf("base id %q: not a batch id", base)
	}
	if _, err := p.currentStateIndex(ctx); err != nil {
		return "", err
	}
	b, err := os.ReadFile(p.stateIndexPath("bases", base))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// headOnRecord says whether the entry a head names says what the head
// does.
func (p *Project) headOnRecord(ctx context.Context, job string, h StateHead) (bool, error) {
	e, err := p.Trail.Get(ctx, h.Seq)
	if err != nil {
		return false, nil
	}
	idx := &stateIndex{Jobs: map[string]StateHead{}, bases: map[string]string{}}
	if err := idx.apply(e); err != nil {
		return false, err
	}
	got, ok := idx.Jobs[job]
	return ok && got == h, nil
}

// apply updates the index with one entry, in trail order.
func (idx *stateIndex) apply(e audit.Entry) error {
	switch e.Action {
	case actions.BatchCommitted:
		br, err := actions.Decode[actions.BatchRecord](e)
		if err != nil {
			return err
		}
		if br.State == nil || br.Resubmits != nil {
			return nil
		}
		idx.Jobs[br.Job] = StateHead{State: br.State.Out, Keys: br.State.Keys, Batch: br.BatchID, Seq: e.Seq}
		if _, ok := idx.bases[br.State.Base]; !ok && baseRE.MatchString(br.State.Base) {
			idx.bases[br.State.Base] = br.BatchID
		}
	case actions.StateReset:
		d, err := actions.Decode[actions.StateResetDetails](e)
		if err != nil {
			return err
		}
		idx.Jobs[d.Job] = StateHead{State: d.After, Reset: e.Seq, Seq: e.Seq}
	}
	idx.Covered = max(idx.Covered, e.Seq)
	return nil
}

// tail applies the entries after idx.Covered up to the trail's head.
func (p *Project) tail(ctx context.Context, idx *stateIndex) (int, error) {
	head, err := p.Trail.Head(ctx)
	if err != nil {
		return 0, err
	}
	if head.Seq < idx.Covered {
		return 0, fmt.Errorf("the state index covers the trail up to entry %d, but the trail ends at %d", idx.Covered, head.Seq)
	}
	var es []audit.Entry
	for _, a := range []string{actions.BatchCommitted, actions.StateReset} {
		got, err := p.Trail.List(ctx, audit.Filter{Action: a, AfterSeq: idx.Covered})
		if err != nil {
			return 0, err
		}
		es = append(es, got...)
	}
	slices.SortFunc(es, func(a, b audit.Entry) int { return int(a.Seq - b.Seq) })
	for _, e := range es {
		if err := idx.apply(e); err != nil {
			return 0, err
		}
	}
	idx.Covered = max(idx.Covered, head.Seq)
	return len(es), nil
}

// readStateIndex reads the index file: nil when it is missing or cannot
// be read (then it is rebuilt).
func (p *Project) readStateIndex() *stateIndex {
	b, err := os.ReadFile(p.stateIndexPath("heads.json"))
	if err != nil {
		return nil
	}
	var idx stateIndex
	if json.Unmarshal(b, &idx) != nil || idx.Covered < 0 || idx.Jobs == nil {
		return nil
	}
	idx.bases = map[string]string{}
	return &idx
}

func (p *Project) currentStateIndex(ctx context.Context) (*stateIndex, error) {
	idx := p.readStateIndex()
	if idx == nil {
		return p.rebuildStateIndex(ctx)
	}
	before := idx.Covered
	n, err := p.tail(ctx, idx)
	if err != nil {
		return p.rebuildStateIndex(ctx)
	}
	p.stateIndexRead.Store(int64(n))
	if idx.Covered != before {
		p.writeStateIndex(idx)
	}
	return idx, nil
}

func (p *Project) rebuildStateIndex(ctx context.Context) (*stateIndex, error) {
	idx, err := p.trailStateIndex(ctx)
	if err != nil {
		return nil, err
	}
	if !p.ReadOnly {
		os.RemoveAll(p.stateIndexPath())
		p.writeStateIndex(idx)
	}
	return idx, nil
}

// trailStateIndex builds the index from the whole trail, in memory.
func (p *Project) trailStateIndex(ctx context.Context) (*stateIndex, error) {
	idx := &stateIndex{Jobs: map[string]StateHead{}, bases: map[string]string{}}
	n, err := p.tail(ctx, idx)
	if err != nil {
		return nil, err
	}
	p.stateIndexRead.Store(int64(n))
	return idx, nil
}

// writeStateIndex writes the bases found, then the heads that cover them:
// a crash in between leaves markers the next reader writes again. A
// failure to write is not an error: the trail answers, and the next
// reader tries again (a process that may not write the data directory
// still reads).
//
// The base markers are durable (fsynced, and their folder) before
// heads.json is written: a marker lost in a crash under a heads.json that
// covers its batch would make the base look uncommitted, and a stateful
// job take the same input twice. heads.json itself is not fsynced (two
// fsyncs of a run's four for the index): it is replaced by a rename, so a
// crash leaves the previous version, the new one, or — on a file system
// that renames before the data is written — an empty or unreadable file,
// and each is safe: a previous version covers fewer entries and the reader
// applies the rest from the trail (tail), an unreadable one is rebuilt
// from the whole trail (readStateIndex returns nil), and every version
// was written from entries already committed, so none is ahead of the
// trail, and a head is checked against the entry it names before it is
// used (headOnRecord). What it names is only ever durable already: the
// markers before it, the trail's entries.
func (p *Project) writeStateIndex(idx *stateIndex) {
	if p.ReadOnly {
		return
	}
	if err := os.MkdirAll(p.stateIndexPath("bases"), 0o700); err != nil {
		return
	}
	for _, base := range slices.Sorted(maps.Keys(idx.bases)) {
		path := p.stateIndexPath("bases", base)
		if _, err := os.Stat(path); err == nil {
			continue // the first batch of a base stays
		}
		if durable.WriteFile(path, []byte(idx.bases[base]+"\n"), 0o600) != nil {
			return
		}
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return
	}
	replaceFile(p.stateIndexPath("heads.json"), append(b, '\n'), 0o600)
}

// crashLeftover says whether b is what a crash can leave of a file replaced
// without fsync (replaceFile) on a file system that renames before it
// writes the data: nothing, or zeros. It is rebuilt when next read, and is
// no fault.
func crashLeftover(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// replaceFile replaces path with data by a rename, without fsync: for a
// file that is a cache of durable facts, where a crash may leave the old
// version, the new one or an unreadable file, and each is safe
// (writeStateIndex says why for heads.json).
func replaceFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone after the rename; removes a failed attempt
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// CheckStateIndex compares the state index with the trail up to the entry
// it says it covers (an index behind the trail is not a fault: it catches
// up when next read): every head and every base marker must be what the
// trail says. A missing index is no fault either. It returns the
// differences, for audit verify.
func (p *Project) CheckStateIndex(ctx context.Context) ([]string, error) {
	idx := p.readStateIndex()
	if idx == nil {
		if b, err := os.ReadFile(p.stateIndexPath("heads.json")); err == nil && !crashLeftover(b) {
			return []string{"the state index " + p.stateIndexPath("heads.json") + " cannot be read; it is rebuilt from the trail when next used (or remove it)"}, nil
		}
		return nil, nil
	}
	want := &stateIndex{Jobs: map[string]StateHead{}, bases: map[string]string{}}
	var es []audit.Entry
	for _, a := range []string{actions.BatchCommitted, actions.StateReset} {
		got, err := p.Trail.List(ctx, audit.Filter{Action: a})
		if err != nil {
			return nil, err
		}
		es = append(es, got...)
	}
	slices.SortFunc(es, func(a, b audit.Entry) int { return int(a.Seq - b.Seq) })
	all := &stateIndex{Jobs: map[string]StateHead{}, bases: map[string]string{}}
	for _, e := range es {
		if err := all.apply(e); err != nil {
			return nil, err
		}
		if e.Seq <= idx.Covered {
			want.apply(e)
		}
	}
	var problems []string
	fix := "remove " + p.stateIndexPath() + " and it is rebuilt from the trail"
	for _, job := range slices.Sorted(maps.Keys(want.Jobs)) {
		if got, ok := idx.Jobs[job]; !ok || got != want.Jobs[job] {
			problems = append(problems, fmt.Sprintf("the state index says job %s's state is %+v, the trail up to entry %d says %+v: %s", job, got, idx.Covered, want.Jobs[job], fix))
		}
	}
	for _, job := range slices.Sorted(maps.Keys(idx.Jobs)) {
		if _, ok := want.Jobs[job]; !ok {
			problems = append(problems, fmt.Sprintf("the state index holds a state for job %s, which has kept none on record: %s", job, fix))
		}
	}
	for _, base := range slices.Sorted(maps.Keys(want.bases)) {
		b, err := os.ReadFile(p.stateIndexPath("bases", base))
		if got := strings.TrimSpace(string(b)); err != nil || got != want.bases[base] {
			problems = append(problems, fmt.Sprintf("the state index's base %s names batch %q, the trail says %s: %s", base, got, want.bases[base], fix))
		}
	}
	ents, _ := os.ReadDir(p.stateIndexPath("bases"))
	for _, d := range ents {
		if _, ok := all.bases[d.Name()]; !ok && !strings.HasPrefix(d.Name(), ".") {
			problems = append(problems, fmt.Sprintf("the state index has a base %s that no committed batch has: %s", d.Name(), fix))
		}
	}
	return problems, nil
}
