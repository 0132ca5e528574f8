package ratchet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/records"
)

// Resubmit runs a corrected version of a quarantined record as a new batch
// of one record under the plan of its original batch, rebuilt from the
// store and the original's record: the same job spec, schema, lookup files,
// plugins, policy bundle, limits and as-of time, whatever the project holds
// today. The new batch's record names the original record, and the
// resubmission is on record with its reason, which is required: changing a
// record after the fact is what a reviewer must be able to see (21 CFR
// 11.10(e)).
func Resubmit(ctx context.Context, p *project.Project, id string, ordinal int64, fixed []byte, operator, reason string) (*Result, error) {
	start := time.Now()
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
	scratch, err := os.MkdirTemp(p.PendingDir(), ".resubmit-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	pl, err := planFromRecord(p, &b.BatchRecord, scratch)
	if err != nil {
		return nil, err
	}
	if err := pl.policyFor(ctx, p); err != nil {
		return nil, err
	}
	d, size, err := p.Store.Put(bytes.NewReader(append(canonjson.Append(nil, v), '\n')))
	if err != nil {
		return nil, &InfraError{Err: err}
	}
	pl.Resubmits = &actions.Resubmission{OriginalBatch: b.BatchID, OriginalOrdinal: ordinal}
	pl.Bind(fmt.Sprintf("%s-record-%d.jsonl", b.BatchID[:12], ordinal), d, size, pl.AsOf)
	res, err := execute(ctx, p, pl, execOptions{operator: operator, reason: reason, start: start})
	if err != nil {
		return nil, err
	}
	failpoint.Hit("resubmit.before-record")
	_, err = actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "batch:" + b.BatchID, Reason: reason,
		Details: actions.RecordResubmittedDetails{OriginalBatch: b.BatchID, OriginalOrdinal: ordinal,
			NewBatch: res.BatchID, Status: res.Status, Verified: res.Verified == 1}})
	return res, err
}
