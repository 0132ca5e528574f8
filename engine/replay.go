package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/schema"
)

// ActionReplayed records a replay and its verdict.
const ActionReplayed = "batch.replayed"

// ArtifactCheck compares one artifact of a batch with its replay.
type ArtifactCheck struct {
	Name     string `json:"name"`
	Recorded string `json:"recorded"`
	Replayed string `json:"replayed"`
	Match    bool   `json:"match"`
}

// ReplayReport is what a replay found.
type ReplayReport struct {
	BatchID   string          `json:"batch_id"`
	Match     bool            `json:"match"`
	Artifacts []ArtifactCheck `json:"artifacts"`
	// Failure says why the replay could not run to the end (a pinned blob
	// that is missing or no longer matches its hash, say); the artifact it
	// names is the one that changed.
	Failure  string `json:"failure,omitempty"`
	AuditSeq int64  `json:"audit_seq"`
}

// Replay re-runs a committed batch from the store alone — the input blob,
// the pinned job spec, schema, lookup files and plugin modules, the
// recorded as-of time and the seed derived from the batch id — and compares
// every output hash and the lineage root with the record. Nothing is
// committed; the replay and its verdict are audited.
func (p *Project) Replay(ctx context.Context, id, operator, reason string) (*ReplayReport, error) {
	b, err := p.Batch(ctx, id)
	if err != nil {
		return nil, err
	}
	if operator == "" {
		operator = p.Cfg.Operator
	}
	rep := &ReplayReport{BatchID: b.BatchID}
	replayed, err := p.replay(ctx, &b.BatchRecord)
	if err != nil {
		rep.Failure = err.Error()
	} else {
		check := func(name, recorded, got string) {
			rep.Artifacts = append(rep.Artifacts, ArtifactCheck{Name: name, Recorded: recorded, Replayed: got, Match: recorded == got})
		}
		for _, n := range []string{VerifiedFile, QuarantineFile} {
			check(n, string(b.Outputs[n].Hash), string(replayed.Outputs[n].Hash))
		}
		check(ActionsFile, string(b.Lineage.Actions.Hash), string(replayed.Lineage.Actions.Hash))
		check(LineageFile, string(b.Lineage.Leaves), string(replayed.Lineage.Leaves))
		check(TilesFile, string(b.Lineage.Tiles), string(replayed.Lineage.Tiles))
		check("lineage root", b.Lineage.Root, replayed.Lineage.Root)
		check("counts", fmt.Sprintf("%d in, %d verified, %d quarantined", b.RecordsIn, b.Verified, b.Quarantined),
			fmt.Sprintf("%d in, %d verified, %d quarantined", replayed.RecordsIn, replayed.Verified, replayed.Quarantined))
	}
	rep.Match = rep.Failure == "" && len(rep.Artifacts) > 0
	for _, a := range rep.Artifacts {
		rep.Match = rep.Match && a.Match
	}
	e, err := p.Trail.Append(ctx, audit.Entry{
		Operator: operator, Action: ActionReplayed, Object: "batch:" + b.BatchID, Reason: reason,
		Details: mustJSON(rep),
	})
	if err != nil {
		return nil, err
	}
	rep.AuditSeq = e.Seq
	return rep, nil
}

// replay runs the batch's pipeline again in a scratch directory and
// returns the batch record it would have written.
func (p *Project) replay(ctx context.Context, rec *BatchRecord) (*BatchRecord, error) {
	scratch, err := os.MkdirTemp(filepath.Join(p.Data, "pending"), ".replay-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	tree := filepath.Join(scratch, "project")
	jobPath, err := p.layOut(rec, tree)
	if err != nil {
		return nil, err
	}
	job, err := LoadJob(tree, jobPath)
	if err != nil {
		return nil, fmt.Errorf("pinned job spec: %w", err)
	}
	sch, err := schema.Compile(filepath.Join(tree, filepath.FromSlash(job.Schema)))
	if err != nil {
		return nil, fmt.Errorf("pinned schema %s: %w", job.Schema, err)
	}
	prof, err := p.normalizeProfile(tree, job)
	if err != nil {
		return nil, err
	}
	asOf, err := time.Parse(time.RFC3339Nano, rec.AsOf)
	if err != nil {
		return nil, fmt.Errorf("recorded as-of %q: %w", rec.AsOf, err)
	}
	vs, _, err := p.loadValidators(ctx, job, rec.Pins, p.Cfg.Operator, asOf, rec.BatchID)
	if err != nil {
		return nil, err
	}
	if !p.Store.Has(rec.Input) {
		return nil, fmt.Errorf("the input blob %s is missing from the store", rec.Input)
	}
	again := &BatchRecord{BatchID: rec.BatchID, Input: rec.Input, InputBytes: rec.InputBytes, AsOf: rec.AsOf}
	if err := p.process(ctx, again, job, sch, prof, vs, runtime.NumCPU(), nil, filepath.Join(scratch, "out"), false); err != nil {
		return nil, err
	}
	return again, nil
}

// layOut writes the batch's pinned files, exactly as recorded, in their
// project layout under tree: the job spec, the schema (and what it refers
// to), lookup and reference files, and a pawl.lock of the batch's pins. Each
// comes out of the store checked against its hash. It returns the job
// spec's path.
func (p *Project) layOut(rec *BatchRecord, tree string) (string, error) {
	for f, d := range rec.Pins {
		if strings.HasPrefix(f, "plugin:") || strings.HasSuffix(f, "/") {
			continue // plugins are loaded from the store by their pin; bundles are checked where they are used
		}
		b, err := p.readBlob(d)
		if err != nil {
			return "", fmt.Errorf("pinned %s: %w", f, err)
		}
		dst := filepath.Join(tree, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return "", err
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(tree, LockFile), rec.Pins.Format(), 0o600); err != nil {
		return "", err
	}
	for f, d := range rec.Pins {
		if d == rec.JobSpec && strings.HasPrefix(f, "jobs/") {
			return f, nil
		}
	}
	return "", fmt.Errorf("the batch's job spec %s is not among its pins", rec.JobSpec)
}

// ReplayFrom reads a replay report back from its audit entry.
func ReplayFrom(e audit.Entry) (*ReplayReport, error) {
	var r ReplayReport
	if err := json.Unmarshal(e.Details, &r); err != nil {
		return nil, err
	}
	r.AuditSeq = e.Seq
	return &r, nil
}
