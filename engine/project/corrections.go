package project

import (
	"context"
	"fmt"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
)

// CorrectionLink is one correction of a record, as its record.resubmitted
// entry has it.
type CorrectionLink struct {
	Entry    int64           `json:"entry"` // the record.resubmitted entry
	Time     audit.EntryTime `json:"time"`
	Operator string          `json:"operator"`
	Reason   string          `json:"reason"`
	Batch    string          `json:"batch"`  // the batch the corrected record ran as
	Status   string          `json:"status"` // that batch's
	Verified bool            `json:"verified"`
	// Corrects is the record it corrected: the original, or an earlier
	// correction of it.
	Corrects actions.Resubmission `json:"corrects"`
	// Previous is the correction before it, as its entry recorded it.
	Previous *actions.Correction `json:"previous,omitempty"`
}

// CorrectionChain is an original record and every correction of it,
// oldest first.
type CorrectionChain struct {
	Original    actions.Resubmission `json:"original"`
	Corrections []CorrectionLink     `json:"corrections"`
}

// Accepted is the newest correction whose record was verified, or nil.
func (c *CorrectionChain) Accepted() *CorrectionLink {
	for i := len(c.Corrections) - 1; i >= 0; i-- {
		if c.Corrections[i].Verified {
			return &c.Corrections[i]
		}
	}
	return nil
}

// Last is the newest correction, or nil.
func (c *CorrectionChain) Last() *CorrectionLink {
	if len(c.Corrections) == 0 {
		return nil
	}
	return &c.Corrections[len(c.Corrections)-1]
}

// maxCorrectionDepth bounds how far a correction of a correction is
// followed back to its original record.
const maxCorrectionDepth = 1000

// OriginalRecord follows a record of a correction batch back to the
// record it corrects, and that one back, to the original record: a
// record of a batch that is not a correction is its own original.
func (p *Project) OriginalRecord(ctx context.Context, batch string, ordinal int64) (actions.Resubmission, error) {
	return p.originalRecord(ctx, batch, ordinal, map[string]*actions.Resubmission{})
}

func (p *Project) originalRecord(ctx context.Context, batch string, ordinal int64, resubmits map[string]*actions.Resubmission) (actions.Resubmission, error) {
	cur := actions.Resubmission{OriginalBatch: batch, OriginalOrdinal: ordinal}
	for range maxCorrectionDepth {
		r, ok := resubmits[cur.OriginalBatch]
		if !ok {
			b, err := p.Batch(ctx, cur.OriginalBatch)
			if err != nil {
				return cur, err
			}
			cur.OriginalBatch = b.BatchID
			r = b.Resubmits
			resubmits[b.BatchID] = r
		}
		// A correction batch holds one record: the corrected one.
		if r == nil || cur.OriginalOrdinal != 1 {
			return cur, nil
		}
		cur = *r
	}
	return cur, fmt.Errorf("record %d of batch %s: corrections nested deeper than %d", ordinal, batch, maxCorrectionDepth)
}

// Corrections returns the original record of a record (OriginalRecord) and
// every correction of it on record, oldest first: every record.resubmitted
// entry whose corrected record leads back to the same original.
func (p *Project) Corrections(ctx context.Context, batch string, ordinal int64) (*CorrectionChain, error) {
	cache := map[string]*actions.Resubmission{}
	orig, err := p.originalRecord(ctx, batch, ordinal, cache)
	if err != nil {
		return nil, err
	}
	c := &CorrectionChain{Original: orig, Corrections: []CorrectionLink{}}
	es, err := p.Trail.Find(ctx, actions.RecordResubmitted, "")
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		d, err := actions.Decode[actions.RecordResubmittedDetails](e)
		if err != nil {
			return nil, err
		}
		o, err := p.originalRecord(ctx, d.OriginalBatch, d.OriginalOrdinal, cache)
		if err != nil || o != orig {
			continue
		}
		c.Corrections = append(c.Corrections, CorrectionLink{Entry: e.Seq, Time: audit.EntryTime{Time: e.Time.UTC()}, Operator: e.Operator, Reason: e.Reason,
			Batch: d.NewBatch, Status: d.Status, Verified: d.Verified,
			Corrects: actions.Resubmission{OriginalBatch: d.OriginalBatch, OriginalOrdinal: d.OriginalOrdinal}, Previous: d.Previous})
	}
	return c, nil
}
