package ratchet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
)

// Evidence is what the empirical check found when one contract judged a
// committed batch's records again: the records whose verdict it changes.
type Evidence struct {
	Batch       string `json:"batch"`
	Records     int64  `json:"records"`
	Quarantined int64  `json:"quarantined"` // as recorded
	// NowPass are records the batch quarantined that the contract would
	// verify, with the reasons they were quarantined for: proof that it
	// is weaker.
	NowPass []Rejudged `json:"now_pass"`
	// NowFail are records the batch verified that the contract would
	// quarantine, with the reasons it would give: the impact of a
	// tightening.
	NowFail []Rejudged `json:"now_fail"`
}

// Rejudged is one record whose verdict changes, and why it was (NowPass)
// or would be (NowFail) quarantined.
type Rejudged struct {
	Ordinal int64             `json:"ordinal"`
	Offset  int64             `json:"offset"`
	Reasons []finding.Finding `json:"reasons"`
}

// Rejudge runs the contract part of pl (a plan from PlanOfTree, PlanAtPins
// or PlanOfBatch, not run yet) over the input of a committed batch, as of
// the batch's time, with its seed and, for plugins that keep state, from
// the state it started from, and compares each record's verdict with the
// recorded one. Nothing is committed or written but scratch files.
func Rejudge(ctx context.Context, p *project.Project, pl *Plan, rec *actions.BatchRecord, operator string) (*Evidence, error) {
	if !p.Store.Has(rec.Input) {
		return nil, fmt.Errorf("batch %s: its input %s is missing from the store", rec.BatchID, rec.Input)
	}
	asOf, err := time.Parse(time.RFC3339Nano, rec.AsOf)
	if err != nil {
		return nil, fmt.Errorf("batch %s: recorded as-of %q: %w", rec.BatchID, rec.AsOf, err)
	}
	pl.Input, pl.InputBytes, pl.InputName, pl.AsOf = rec.Input, rec.InputBytes, rec.InputName, asOf
	pl.BatchID, pl.Seed = rec.BatchID, actions.Seed(rec.BatchID)
	if pl.stateful, err = keepsState(p, pl.Job, pl.Pins); err != nil {
		return nil, err
	}
	if pl.stateful {
		pl.StateIn = store.Digest(plugstate.EmptyDigest)
		if rec.State != nil {
			pl.StateIn = rec.State.In
		}
		defer pl.releaseState()
		if err = pl.loadState(p, pl.StateIn); err != nil {
			return nil, err
		}
	}
	if err := pl.loadValidators(ctx, p, operator, false); err != nil {
		return nil, err
	}
	if err := pl.migrateStates(ctx); err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(p.PendingDir(), ".rejudge-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	br := pl.record()
	dir := filepath.Join(scratch, "out")
	if err := process(ctx, p, pl, &br, runtime.NumCPU(), nil, dir, false); err != nil {
		return nil, fmt.Errorf("batch %s judged again: %w", rec.BatchID, err)
	}
	now := map[int64]*finding.QuarantineEntry{}
	f, err := os.Open(filepath.Join(dir, actions.QuarantineFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := finding.ReadQuarantine(f, actions.QuarantineFile, func(q *finding.QuarantineEntry) bool {
		now[q.Ordinal] = q
		return true
	}); err != nil {
		return nil, err
	}
	ev := &Evidence{Batch: rec.BatchID, Records: rec.RecordsIn, Quarantined: rec.Quarantined, NowPass: []Rejudged{}, NowFail: []Rejudged{}}
	was := map[int64]bool{}
	if err := p.QuarantinedAsStored(ctx, rec.BatchID, func(q *finding.QuarantineEntry, _ func(*finding.QuarantineEntry) error) bool {
		was[q.Ordinal] = true
		if _, still := now[q.Ordinal]; !still {
			ev.NowPass = append(ev.NowPass, Rejudged{Ordinal: q.Ordinal, Offset: q.Offset, Reasons: q.Reasons})
		}
		return true
	}); err != nil {
		return nil, err
	}
	for ord, q := range now {
		if !was[ord] {
			ev.NowFail = append(ev.NowFail, Rejudged{Ordinal: q.Ordinal, Offset: q.Offset, Reasons: q.Reasons})
		}
	}
	sort.Slice(ev.NowFail, func(i, j int) bool { return ev.NowFail[i].Ordinal < ev.NowFail[j].Ordinal })
	return ev, nil
}
