package project

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/records"
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
// each entry in input order until fn returns false. An entry whose line
// leaves the record's bytes to the input (actions.QuarantineByReference)
// is given them from the batch's input blob, so that every entry holds
// what a format 1 line does.
func (p *Project) Quarantined(ctx context.Context, id string, fn func(*finding.QuarantineEntry) bool) error {
	return p.QuarantinedAsStored(ctx, id, func(q *finding.QuarantineEntry, fill func(*finding.QuarantineEntry) error) bool {
		return fill(q) == nil && fn(q)
	})
}

// QuarantinedAsStored is Quarantined for a reader that needs few records'
// bytes or none (a list of reasons, a count): each entry as its line holds
// it, and fill, which gives an entry the bytes Quarantined would have, read
// from the input blob only when it is called. When fill fails, fn should
// stop (return false): QuarantinedAsStored returns fill's error.
func (p *Project) QuarantinedAsStored(ctx context.Context, id string, fn func(q *finding.QuarantineEntry, fill func(*finding.QuarantineEntry) error) bool) error {
	qs, err := p.openQuarantine(ctx, id)
	if err != nil {
		return err
	}
	defer qs.close()
	if err := finding.ReadQuarantine(qs.f, qs.path, func(q *finding.QuarantineEntry) bool { return fn(q, qs.fill) }); err != nil {
		return err
	}
	return qs.err
}

// QuarantineEntry returns one quarantined record by its ordinal, with its
// bytes (as Quarantined gives them).
func (p *Project) QuarantineEntry(ctx context.Context, id string, ordinal int64) (*finding.QuarantineEntry, error) {
	qs, q, err := p.quarantineEntry(ctx, id, ordinal)
	if err != nil {
		return nil, err
	}
	defer qs.close()
	return q, qs.fill(q)
}

// IsQuarantined says why record ordinal of batch id is not in its
// quarantine, or nil when it is (its bytes are not read).
func (p *Project) IsQuarantined(ctx context.Context, id string, ordinal int64) error {
	qs, _, err := p.quarantineEntry(ctx, id, ordinal)
	if err == nil {
		qs.close()
	}
	return err
}

// quarantineEntry finds record ordinal in batch id's quarantine; the
// caller closes the quarantine it returns.
func (p *Project) quarantineEntry(ctx context.Context, id string, ordinal int64) (*quarantineFile, *finding.QuarantineEntry, error) {
	qs, err := p.openQuarantine(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	// Bisected, not read line by line: the entry of the last record of a
	// million-record quarantine is a few reads away.
	var found *finding.QuarantineEntry
	fi, err := qs.f.Stat()
	if err == nil {
		found, _, _, err = finding.SeekQuarantineEntry(qs.f, fi.Size(), qs.path, ordinal)
	}
	if err == nil && found == nil {
		err = fmt.Errorf("record %d of batch %s is not in quarantine (it was verified, or the batch has fewer records)", ordinal, id)
	}
	if err != nil {
		qs.close()
		return nil, nil, err
	}
	return qs, found, nil
}

// quarantineFile is a committed batch's quarantine output being read, and
// what gives its entries their records' bytes.
type quarantineFile struct {
	b     *Batch
	path  string
	f     *os.File
	max   int64      // the batch's max_record_bytes
	blob  string     // the input blob's path
	input *os.File   // the input blob, opened for the first entry that needs it
	ahead *readAhead // reads it for fill
	err   error      // fill's first failure
}

func (p *Project) openQuarantine(ctx context.Context, id string) (*quarantineFile, error) {
	e, ok, err := p.CommittedEntry(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no committed batch %q: `pawl batches list` shows them", id)
	}
	b, err := p.BatchOf(e)
	if err != nil {
		return nil, err
	}
	if err := b.CheckQuarantineFormat(); err != nil {
		return nil, err
	}
	qs := &quarantineFile{b: b, path: p.BatchFile(id, actions.QuarantineFile), max: b.RecordedLimits().MaxRecordBytes, blob: p.Store.Path(b.Input)}
	if qs.max <= 0 {
		qs.max = records.DefaultMaxRecordBytes
	}
	if qs.f, err = os.Open(qs.path); err != nil {
		return nil, fmt.Errorf("cannot read the quarantine of batch %s: %w", id, err)
	}
	return qs, nil
}

// fill gives q the record's bytes from the input blob when its line leaves
// them there.
func (qs *quarantineFile) fill(q *finding.QuarantineEntry) error {
	if qs.b.QuarantineFormat != actions.QuarantineByReference || q.HasBytes() || q.Length == 0 {
		return nil
	}
	if qs.input == nil {
		f, err := os.Open(qs.blob)
		if err != nil {
			qs.err = fmt.Errorf("batch %s: its quarantine leaves the records' bytes to the input blob %s: %w", qs.b.BatchID, qs.b.Input, err)
			return qs.err
		}
		qs.input = f
	}
	if qs.ahead == nil {
		qs.ahead = &readAhead{f: qs.input}
	}
	if err := q.FillRaw(qs.ahead, qs.max); err != nil {
		qs.err = fmt.Errorf("batch %s: %w", qs.b.BatchID, err)
		return qs.err
	}
	return nil
}

func (qs *quarantineFile) close() {
	qs.f.Close()
	if qs.input != nil {
		qs.input.Close()
	}
}

// readAhead is an io.ReaderAt over f that reads a block at a time: a
// quarantine's entries name spans of the input in ascending order, so one
// read serves every record of a block instead of one read each (a million
// reads for a million quarantined records).
type readAhead struct {
	f   *os.File
	buf []byte
	off int64 // of buf[0] in f
}

// readAheadBlock is what readAhead reads at a time; a longer span is read
// on its own.
const readAheadBlock = 256 << 10

func (r *readAhead) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.off && off+int64(len(p)) <= r.off+int64(len(r.buf)) {
		return copy(p, r.buf[off-r.off:]), nil
	}
	if len(p) > readAheadBlock || off < 0 {
		return r.f.ReadAt(p, off)
	}
	if r.buf == nil {
		r.buf = make([]byte, readAheadBlock)
	}
	n, err := r.f.ReadAt(r.buf[:readAheadBlock], off)
	r.buf, r.off = r.buf[:n], off
	if n >= len(p) {
		return copy(p, r.buf), nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return copy(p, r.buf), err
}
