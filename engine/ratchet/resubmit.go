package ratchet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/gate"
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
//
// The corrections of one original record form a chain: the
// record.resubmitted entry names the correction before it (Previous) and,
// when the record corrected is itself a correction, the original (Root).
// A record that already has an accepted correction is corrected again
// only with a reason and by an approver (mayCorrectAgain); a refusal is a
// record.resubmit_refused entry.
func Resubmit(ctx context.Context, p *project.Project, id string, ordinal int64, fixed []byte, operator, reason string) (*Result, error) {
	start := time.Now()
	b, err := p.Batch(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := p.IsQuarantined(ctx, b.BatchID, ordinal); err != nil {
		return nil, fmt.Errorf("only quarantined records can be resubmitted: %w", err)
	}
	if operator == "" {
		operator = p.Cfg.Operator
	}
	// The corrections of the original record so far: this one joins the
	// chain, and a record that already has an accepted correction is
	// corrected again only by an approver, with a reason.
	chain, err := p.Corrections(ctx, b.BatchID, ordinal)
	if err != nil {
		return nil, err
	}
	refuse := func(failure string, err error) (*Result, error) {
		d := actions.ResubmitRefusedDetails{OriginalBatch: b.BatchID, OriginalOrdinal: ordinal, Failure: failure, Error: err.Error()}
		if a := chain.Accepted(); a != nil {
			d.Accepted = &actions.Correction{Batch: a.Batch, Entry: a.Entry, Verified: true}
		}
		if _, aerr := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: operator, Object: "batch:" + b.BatchID, Reason: reason, Details: d}); aerr != nil {
			return nil, errors.Join(err, fmt.Errorf("and the refusal could not be recorded: %w", aerr))
		}
		return nil, fmt.Errorf("%w (the refusal is recorded in the audit trail)", err)
	}
	accepted := chain.Accepted()
	if strings.TrimSpace(reason) == "" {
		if accepted != nil {
			return refuse("no reason", fmt.Errorf("record %d of batch %s already has an accepted correction (batch %s, audit entry %d): correcting it again needs a reason: pass --reason \"what is wrong with the accepted correction\"",
				chain.Original.OriginalOrdinal, chain.Original.OriginalBatch, accepted.Batch, accepted.Entry))
		}
		return refuse("no reason", fmt.Errorf("a reason is required to resubmit a record: pass --reason \"what was corrected and why\""))
	}
	if accepted != nil {
		if err := mayCorrectAgain(ctx, p, operator, reason, chain); err != nil {
			return refuse("denied", err)
		}
	}
	if b.Format != "jsonl" && b.Format != "parquet" {
		return nil, fmt.Errorf("batch %s is %s: resubmission takes one JSON record and is supported for jsonl and parquet jobs", b.BatchID, b.Format)
	}
	v, derr := records.DecodeJSON(fixed, records.DecodeOptions{RequireObject: true})
	if derr != nil {
		return nil, fmt.Errorf("the corrected record is not one JSON object: %v", derr)
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
	// A new batch: in this release's quarantine format, whichever the
	// original was written in (the format is no verdict's input).
	pl.QuarantineFormat = newQuarantineFormat
	if err := pl.policyFor(ctx, p); err != nil {
		return nil, err
	}
	if pl.Job.Format == "parquet" {
		// A Parquet row's bytes are its canonical JSON: the correction is
		// one JSON line, read as such under the batch's plan otherwise.
		pl.Job.Format = "jsonl"
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
	details := actions.RecordResubmittedDetails{OriginalBatch: b.BatchID, OriginalOrdinal: ordinal,
		NewBatch: res.BatchID, Status: res.Status, Verified: res.Verified == 1}
	if last := chain.Last(); last != nil {
		details.Previous = &actions.Correction{Batch: last.Batch, Entry: last.Entry, Verified: last.Verified}
	}
	if o := chain.Original; o.OriginalBatch != b.BatchID || o.OriginalOrdinal != ordinal {
		details.Root = &o
	}
	failpoint.Hit("resubmit.before-record")
	_, err = actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "batch:" + b.BatchID, Reason: reason, Details: details})
	return res, err
}

// mayCorrectAgain asks the authz question record.correct_again for
// operator correcting a record that already has an accepted correction
// (the default bundle: approver). The decision is on record, allow or
// deny; a denial is also a record.resubmit_refused entry.
func mayCorrectAgain(ctx context.Context, p *project.Project, operator, reason string, chain *project.CorrectionChain) error {
	o := chain.Original
	return gate.Authorize(ctx, p, gate.AuthzRequest{Action: gate.ActionCorrectAgain,
		Object: fmt.Sprintf("record:%s/%d", o.OriginalBatch, o.OriginalOrdinal), Operator: operator, Reason: reason,
		BatchID: o.OriginalBatch})
}
