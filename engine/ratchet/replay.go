package ratchet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
)

// ReplayReport is what a replay found, and the audit entry that records it.
type ReplayReport struct {
	actions.BatchReplayedDetails
	AuditSeq int64 `json:"audit_seq"`
}

// Replay re-runs a committed batch (id or unique prefix) from the store
// alone, under the plan its record describes — the input blob, the pinned
// job spec, schema, lookup and reference files and plugin modules, the
// recorded limits, as-of time and seed — whatever the configuration and
// the project's files say today, and compares every output hash and the
// lineage root with the record. Nothing is committed and no policy is
// asked; the replay and its verdict are on record.
func Replay(ctx context.Context, p *project.Project, id, operator, reason string) (*ReplayReport, error) {
	b, err := p.Batch(ctx, id)
	if err != nil {
		return nil, err
	}
	if operator == "" {
		operator = p.Cfg.Operator
	}
	d := actions.BatchReplayedDetails{BatchID: b.BatchID}
	replayed, err := replay(ctx, p, &b.BatchRecord, operator, "")
	if err != nil {
		d.Failure = err.Error()
	} else {
		check := func(name, recorded, got string) {
			d.Artifacts = append(d.Artifacts, actions.ArtifactCheck{Name: name, Recorded: recorded, Replayed: got, Match: recorded == got})
		}
		for _, n := range []string{actions.VerifiedFile, actions.QuarantineFile, actions.VerifiedParquetFile} {
			_, rec := b.Outputs[n]
			_, rep := replayed.Outputs[n]
			if rec || rep {
				check(n, string(b.Outputs[n].Hash), string(replayed.Outputs[n].Hash))
			}
		}
		check(actions.ActionsFile, string(b.Lineage.Actions.Hash), string(replayed.Lineage.Actions.Hash))
		check(actions.LineageFile, string(b.Lineage.Leaves), string(replayed.Lineage.Leaves))
		check(actions.TilesFile, string(b.Lineage.Tiles), string(replayed.Lineage.Tiles))
		check("lineage root", b.Lineage.Root, replayed.Lineage.Root)
		if b.State != nil {
			// The state the batch produced, from the state it started from.
			var got string
			if replayed.State != nil {
				got = string(replayed.State.Out)
			}
			check("state_out", string(b.State.Out), got)
		}
		check("counts", fmt.Sprintf("%d in, %d verified, %d quarantined", b.RecordsIn, b.Verified, b.Quarantined),
			fmt.Sprintf("%d in, %d verified, %d quarantined", replayed.RecordsIn, replayed.Verified, replayed.Quarantined))
	}
	d.Match = d.Failure == "" && len(d.Artifacts) > 0
	for _, a := range d.Artifacts {
		d.Match = d.Match && a.Match
	}
	if d.Artifacts == nil {
		d.Artifacts = []actions.ArtifactCheck{}
	}
	failpoint.Hit("replay.before-record")
	e, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "batch:" + b.BatchID, Reason: reason, Details: d})
	if err != nil {
		return nil, err
	}
	return &ReplayReport{BatchReplayedDetails: d, AuditSeq: e.Seq}, nil
}

// replay runs the batch's plan again in a scratch directory and returns
// the batch record it would have written; its outputs are left in out
// when that is not "" (tests).
func replay(ctx context.Context, p *project.Project, rec *actions.BatchRecord, operator, out string) (*actions.BatchRecord, error) {
	scratch, err := os.MkdirTemp(p.PendingDir(), ".replay-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	pl, err := planFromRecord(p, rec, scratch)
	if err != nil {
		return nil, err
	}
	if pl.stateful {
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
	if !p.Store.Has(rec.Input) {
		return nil, fmt.Errorf("the input blob %s is missing from the store", rec.Input)
	}
	again := pl.record()
	if out == "" {
		out = filepath.Join(scratch, "out")
	}
	if err := processWithin(ctx, p, pl, &again, runtime.NumCPU(), nil, out, false); err != nil {
		return nil, err
	}
	if pl.state != nil {
		h := sha256.New()
		if _, err := pl.state.WriteTo(h); err != nil {
			return nil, err
		}
		again.State = &actions.StateRef{In: pl.StateIn, Out: store.Digest("sha256:" + hex.EncodeToString(h.Sum(nil))), Base: pl.BaseID, Keys: pl.state.Len(), Migrated: pl.migrated}
	}
	return &again, nil
}
