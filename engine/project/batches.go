package project

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/finding"
)

// Batch is a committed batch: its record and where its folder is.
type Batch struct {
	actions.BatchRecord
	AuditSeq  int64  // its batch.committed entry
	Reason    string // that entry's reason (why an as-of outside the window was used, among others)
	Dir       string // batches/<id>
	Signature string // the path of its signature.json
}

// CommittedEntry finds a batch's batch.committed entry.
func (p *Project) CommittedEntry(ctx context.Context, id string) (audit.Entry, bool, error) {
	es, err := p.Trail.Find(ctx, actions.BatchCommitted, "batch:"+id)
	if err != nil {
		return audit.Entry{}, false, err
	}
	if len(es) == 0 {
		return audit.Entry{}, false, nil
	}
	return es[len(es)-1], true, nil
}

// BatchOf reads a batch from its batch.committed entry.
func (p *Project) BatchOf(e audit.Entry) (*Batch, error) {
	br, err := actions.Decode[actions.BatchRecord](e)
	if err != nil {
		return nil, err
	}
	return &Batch{BatchRecord: br, AuditSeq: e.Seq, Reason: e.Reason, Dir: p.BatchDir(br.BatchID), Signature: p.SignaturePath(br.BatchID)}, nil
}

// Batches returns every committed batch, oldest first.
func (p *Project) Batches(ctx context.Context) ([]*Batch, error) {
	es, err := p.Trail.List(ctx, audit.Filter{Action: actions.BatchCommitted})
	if err != nil {
		return nil, err
	}
	out := make([]*Batch, 0, len(es))
	for _, e := range es {
		b, err := p.BatchOf(e)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Batch returns one committed batch; id may be a unique prefix of at least
// six characters.
func (p *Project) Batch(ctx context.Context, id string) (*Batch, error) {
	all, err := p.Batches(ctx)
	if err != nil {
		return nil, err
	}
	var found []*Batch
	for _, b := range all {
		if b.BatchID == id || (len(id) >= 6 && strings.HasPrefix(b.BatchID, id)) {
			found = append(found, b)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no committed batch %q: `pawl batches list` shows them", id)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("batch prefix %q is ambiguous (%d batches): give more characters", id, len(found))
}

// Quarantined reads a committed batch's quarantine.jsonl, calling fn for
// each entry in input order until fn returns false.
func (p *Project) Quarantined(id string, fn func(*finding.QuarantineEntry) bool) error {
	path := p.BatchFile(id, actions.QuarantineFile)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read the quarantine of batch %s: %w", id, err)
	}
	defer f.Close()
	return finding.ReadQuarantine(f, path, fn)
}

// QuarantineEntry returns one quarantined record by its ordinal.
func (p *Project) QuarantineEntry(id string, ordinal int64) (*finding.QuarantineEntry, error) {
	var found *finding.QuarantineEntry
	err := p.Quarantined(id, func(q *finding.QuarantineEntry) bool {
		if q.Ordinal == ordinal {
			found = q
			return false
		}
		return q.Ordinal < ordinal
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("record %d of batch %s is not in quarantine (it was verified, or the batch has fewer records)", ordinal, id)
	}
	return found, nil
}
