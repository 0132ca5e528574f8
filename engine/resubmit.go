package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/records"
)

// ActionResubmitted records that a corrected record was run again.
const ActionResubmitted = "record.resubmitted"

// Resubmission links a batch made of one corrected record to the
// quarantined record it replaces.
type Resubmission struct {
	OriginalBatch   string `json:"original_batch"`
	OriginalOrdinal int64  `json:"original_ordinal"`
}

// Resubmit runs a corrected version of a quarantined record through the
// same pins as its batch — the job spec, schema, lookup files and plugins
// recorded then, and the same as-of time — as a new batch of one record.
// The new batch's entry names the original record, and the resubmission is
// audited with its reason, which is required: changing a record after the
// fact is what a reviewer must be able to see (21 CFR 11.10(e)).
func (p *Project) Resubmit(ctx context.Context, id string, ordinal int64, fixed []byte, operator, reason string) (*Result, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, fmt.Errorf("a reason is required to resubmit a record: pass --reason \"what was corrected and why\"")
	}
	b, err := p.Batch(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := p.QuarantineEntry(b.BatchID, ordinal); err != nil {
		return nil, fmt.Errorf("only quarantined records can be resubmitted: %w", err)
	}
	if b.Format != "jsonl" {
		return nil, fmt.Errorf("batch %s is %s: resubmission takes one JSON record and is supported for jsonl jobs", b.BatchID, b.Format)
	}
	v, derr := records.DecodeJSON(fixed, records.DecodeOptions{RequireObject: true})
	if derr != nil {
		return nil, fmt.Errorf("the corrected record is not one JSON object: %v", derr)
	}
	if operator == "" {
		operator = p.Cfg.Operator
	}
	scratch, err := os.MkdirTemp(filepath.Join(p.Data, "pending"), ".resubmit-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	tree := filepath.Join(scratch, "project")
	if _, err := p.layOut(&b.BatchRecord, tree); err != nil {
		return nil, fmt.Errorf("the pins of batch %s: %w", b.BatchID, err)
	}
	in := filepath.Join(scratch, fmt.Sprintf("%s-record-%d.jsonl", b.BatchID[:12], ordinal))
	if err := os.WriteFile(in, append(records.AppendCanonical(nil, v), '\n'), 0o600); err != nil {
		return nil, err
	}
	asOf, err := time.Parse(time.RFC3339Nano, b.AsOf)
	if err != nil {
		return nil, err
	}
	res, err := p.Run(ctx, RunOptions{Job: b.Job, Input: in, Operator: operator, Reason: reason, AsOf: asOf,
		root: tree, resubmits: &Resubmission{OriginalBatch: b.BatchID, OriginalOrdinal: ordinal}})
	if err != nil {
		return nil, err
	}
	_, err = p.Trail.Append(ctx, audit.Entry{
		Operator: operator, Action: ActionResubmitted, Object: "batch:" + b.BatchID, Reason: reason,
		Details: mustJSON(map[string]any{"original_batch": b.BatchID, "original_ordinal": ordinal,
			"new_batch": res.BatchID, "status": res.Status, "verified": res.Verified == 1}),
	})
	return res, err
}
