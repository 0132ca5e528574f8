// Package egress is how a committed batch leaves the perimeter: the egress
// policy decides (on record, allow or deny) whether a batch may go to a
// destination, and only on allow are the batch's verified output, its
// checkpoint and its signature sent — to a Destination, one implementation
// per URL scheme (file outboxes and https), each checking at the far end
// that what arrived has the hash that left.
//
// It guarantees that nothing is written anywhere on a deny, that nothing
// is written outside the directory the deciding whitelist prefix names
// (even through a symlink planted after the check), that redirects are
// never followed, and that every export and every failed export is on
// record. The quarantine never leaves.
package egress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// Files are the files of a batch an export sends, in order: the verified
// output, the trail checkpoint at the batch's entry, and the signature last
// (a destination that holds signature.json holds the rest).
var Files = []string{actions.VerifiedFile, actions.CheckpointFile, actions.SignatureFile}

// filesOf are the files an export of b sends: Files, with verified.parquet
// after verified.jsonl when the batch wrote it (its hash is in the record
// and the signature, like verified.jsonl's).
func filesOf(b *project.Batch) []string {
	if _, ok := b.Outputs[actions.VerifiedParquetFile]; !ok {
		return Files
	}
	return append([]string{Files[0], actions.VerifiedParquetFile}, Files[1:]...)
}

// File is one file to send, checked before anything leaves and again as
// it is sent. A batch's output (gigabytes, perhaps) is read as a stream
// from the batch's folder, its hash checked at its end; the checkpoint and
// the signature, a few hundred bytes whose contents are verified before
// they go, are held.
type File struct {
	Name string
	Hash store.Digest
	Size int64
	data []byte // the file's bytes, when held
	path string // else where it is read from
}

// heldFile is a small file to send, held in memory: a notice, a page of
// lineage events, a checkpoint, a signature.
func heldFile(name string, data []byte) File {
	return File{Name: name, Hash: store.HashBytes(data), Size: int64(len(data)), data: data}
}

// open reads the file as it goes out, checking it again: the reader
// gives out no byte past f.Size, and holds back the last ones unless the
// file, read to its end, still hashes to f.Hash; otherwise it returns an
// error naming the file. A destination sent the file with its declared
// length then never receives a whole copy of bytes that changed after
// the check.
func (f File) open() (io.ReadCloser, error) {
	if f.path == "" {
		return io.NopCloser(bytes.NewReader(f.data)), nil
	}
	fd, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	return &checkedFile{fd: fd, f: f, left: f.Size, h: sha256.New()}, nil
}

// checkedFile is a File being read as it is sent.
type checkedFile struct {
	fd   *os.File
	f    File
	left int64 // bytes still to give out
	h    hash.Hash
	err  error // sticky: io.EOF once the end is checked, or the failure
	// whole is set once every byte was given out and checked: a reader
	// on another goroutine (an https client's) learns whether the body
	// went out whole.
	whole atomic.Bool
}

func (c *checkedFile) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.left == 0 {
		if !c.whole.Load() { // an empty file: its end is its start
			if err := c.checkEnd(); err != nil {
				return 0, err
			}
		}
		c.err = io.EOF
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.fd.Read(p)
	c.h.Write(p[:n])
	c.left -= int64(n)
	switch {
	case err == io.EOF && c.left > 0:
		return 0, c.changed("it ended after %d of the %d bytes checked", c.f.Size-c.left, c.f.Size)
	case err != nil && err != io.EOF:
		c.err = fmt.Errorf("reading %s to send it: %w", c.f.path, err)
		return 0, c.err
	case c.left > 0:
		return n, nil
	}
	// The last bytes: given out only if the file ends here and hashes as
	// it did.
	if err := c.checkEnd(); err != nil {
		return 0, err
	}
	return n, nil
}

// checkEnd checks, once every byte was read, that the file ends there and
// hashes as it did when it was checked, and marks the file whole.
func (c *checkedFile) checkEnd() error {
	var one [1]byte
	if m, _ := c.fd.Read(one[:]); m > 0 {
		return c.changed("it grew past the %d bytes checked", c.f.Size)
	}
	if got := store.Digest("sha256:" + hex.EncodeToString(c.h.Sum(nil))); got != c.f.Hash {
		return c.changed("its %d bytes hash to %s", c.f.Size, got)
	}
	c.whole.Store(true)
	return nil
}

// changed fails the read: the file is not what was checked.
func (c *checkedFile) changed(format string, args ...any) error {
	c.err = fmt.Errorf("%s changed while it was sent: %s, the audit trail records %s: run `pawl audit verify`", c.f.path, fmt.Sprintf(format, args...), c.f.Hash)
	return c.err
}

func (c *checkedFile) Close() error { return c.fd.Close() }

// A Destination receives a batch's files below one directory URL that the
// egress policy allowed. Send writes the files in order and reports each as
// it reached the destination (Confirmed when the destination's copy was
// hashed and matched); on failure it returns what was written so far, or
// nothing when it could undo it.
type Destination interface {
	Send(ctx context.Context, batchID string, files []File) ([]actions.ExportedFile, error)
}

// Options say what to export where.
type Options struct {
	Batch    string // a batch id or a unique prefix of at least six characters
	To       string // the destination URL: file:///DIR/ or https://HOST/PATH/, ending in "/"
	Purpose  string
	Operator string // default: the project's operator
	Reason   string
	// Time is the decision's time; default now. A time given outside the
	// configured window around now (time_window.past, time_window.future)
	// is refused unless Reason says why, and the export's records then say
	// it was outside the window.
	Time time.Time
}

// Result is what an export did.
type Result struct {
	BatchID     string                 `json:"batch_id"`
	URL         string                 `json:"url"`
	Destination string                 `json:"destination"` // the canonical URL
	Decision    *policies.Decision     `json:"decision,omitempty"`
	DecisionSeq int64                  `json:"decision_seq,omitempty"`
	Files       []actions.ExportedFile `json:"files,omitempty"`
	AuditSeq    int64                  `json:"audit_seq,omitempty"`
	// TimeOutsideWindow says --time was outside the window that needs no
	// reason, and TimeWindow is that window, as the export's records say.
	TimeOutsideWindow bool                `json:"time_outside_window,omitempty"`
	TimeWindow        *actions.TimeWindow `json:"time_window,omitempty"`
}

// Export asks the egress policy whether a batch may go to a destination
// and, only when it may, sends the batch's verified output, checkpoint and
// signature there, checking each file's hash at the destination. The
// decision is on record either way. A denial (or a destination that leads
// out of what the policy allowed) is a *gate.DeniedError matching
// gate.ErrDenied, and nothing is written anywhere; the result carries the
// decision.
func Export(ctx context.Context, p *project.Project, opt Options) (*Result, error) {
	if opt.Operator == "" {
		opt.Operator = p.Cfg.Operator
	}
	if opt.To == "" {
		return nil, fmt.Errorf("no destination: pass --to file:///DIR/ or --to https://HOST/PATH/")
	}
	if !strings.HasSuffix(opt.To, "/") {
		return nil, fmt.Errorf("destination %q must end in \"/\": it names the directory pawl writes %s into", opt.To, strings.Join(Files, ", "))
	}
	res := &Result{URL: opt.To}
	asOf := opt.Time
	if now := time.Now(); asOf.IsZero() {
		asOf = now.Truncate(time.Second)
	} else {
		w, err := gate.WindowOf(p.Cfg).Admit(ctx, p, now, gate.GivenTime{Flag: "--time", Time: asOf, Operator: opt.Operator,
			Reason: opt.Reason, Record: "the export's records"}, "batch:"+opt.Batch)
		if err != nil {
			return nil, err
		}
		res.TimeOutsideWindow, res.TimeWindow = w != nil, w
	}
	pins, err := p.Pins(ctx)
	if err != nil {
		return nil, err
	}
	e, _, err := p.PinnedPolicy(ctx, pins)
	if err != nil {
		return nil, err
	}

	resource, b, err := describe(ctx, p, opt.Batch)
	if err != nil {
		return nil, err
	}
	res.BatchID = resource.BatchID
	if resource.State == "committed" { // only a committed batch can be signed
		if resource.Signatures, err = esign.Valid(ctx, p, b); err != nil {
			return nil, fmt.Errorf("reading the e-signatures of batch %s: %w", resource.BatchID, err)
		}
	}
	in := policies.EgressInput{
		Destination: policies.Destination{URL: opt.To},
		Principal:   policies.Principal{ID: opt.Operator},
		Purpose:     opt.Purpose,
		Resource:    resource,
		Time:        asOf.UTC().Format(time.RFC3339Nano),
	}
	what := fmt.Sprintf("export of batch %s to %s", resource.BatchID, opt.To)
	d, dent, err := gate.Decide(ctx, p.Trail, e, gate.Question{Kind: policies.KindEgress, Input: in, Operator: opt.Operator,
		Object: "batch:" + resource.BatchID, Reason: opt.Reason, BatchID: resource.BatchID, What: what})
	res.Decision, res.DecisionSeq = &d, dent.Seq
	if err != nil {
		return res, err
	}
	// Allowed. What follows writes only below the prefix that allowed it.
	canonical, prefix, err := allowedDestination(d)
	if err != nil {
		return res, failed(ctx, p, opt, res, nil, withWhat(err, what))
	}
	res.Destination = canonical
	if b == nil || resource.State != "committed" {
		// The policy must never allow this; refuse anyway.
		return res, failed(ctx, p, opt, res, nil, &gate.DeniedError{What: what, Reasons: []string{fmt.Sprintf("batch %s is %s, not committed", resource.BatchID, resource.State)}})
	}
	files, err := readFiles(ctx, p, b)
	if err != nil {
		return res, failed(ctx, p, opt, res, nil, err)
	}
	dest, err := open(p, canonical, prefix)
	if err != nil {
		return res, failed(ctx, p, opt, res, nil, withWhat(err, what))
	}
	// The attempt is on record before the first byte leaves: an export
	// cut short (a crash, a pulled cable) is visible as a start without an
	// outcome, and a retry finishes it.
	planned := make([]actions.OutgoingFile, len(files))
	for i, f := range files {
		planned[i] = actions.OutgoingFile{Name: f.Name, Hash: f.Hash, Bytes: f.Size}
	}
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: opt.Operator, Object: "batch:" + b.BatchID, Reason: opt.Reason,
		Details: actions.BatchExportStartedDetails{BatchID: b.BatchID, URL: opt.To, Destination: canonical, Prefix: prefix,
			Purpose: opt.Purpose, DecisionID: d.ID, DecisionSeq: dent.Seq, Files: planned,
			TimeOutsideWindow: res.TimeOutsideWindow, TimeWindow: res.TimeWindow}}); err != nil {
		return res, fmt.Errorf("the export of batch %s could not be put on record, so nothing was sent: %w", b.BatchID, err)
	}
	failpoint.Hit("export.after-started")
	sent, err := dest.Send(ctx, b.BatchID, files)
	if err != nil {
		return res, failed(ctx, p, opt, res, sent, withWhat(err, what))
	}
	res.Files = sent
	failpoint.Hit("export.before-record")
	ent, err := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: opt.Operator, Object: "batch:" + b.BatchID, Reason: opt.Reason,
		Details: actions.BatchExportedDetails{BatchID: b.BatchID, URL: opt.To, Destination: canonical, Prefix: prefix,
			Purpose: opt.Purpose, DecisionID: d.ID, DecisionSeq: dent.Seq, Files: sent,
			TimeOutsideWindow: res.TimeOutsideWindow, TimeWindow: res.TimeWindow}})
	if err != nil {
		return res, fmt.Errorf("batch %s was exported to %s but the export could not be put on record: %w", b.BatchID, canonical, err)
	}
	res.AuditSeq = ent.Seq
	return res, nil
}

// open returns the destination for a canonical URL the policy allowed by
// prefix: one implementation per scheme.
func open(p *project.Project, canonical, prefix string) (Destination, error) {
	switch {
	case strings.HasPrefix(canonical, "file://"):
		return newOutbox(canonical, prefix)
	case strings.HasPrefix(canonical, "https://"):
		return newHTTPS(p, canonical)
	}
	return nil, fmt.Errorf("destination %s: no exporter for this scheme", canonical)
}

// withWhat names the refused export in a refusal pawl made itself.
func withWhat(err error, what string) error {
	var de *gate.DeniedError
	if errors.As(err, &de) && de.Decision == nil {
		de.What = what
	}
	return err
}

// failed records an allowed export that did not complete and returns err
// (with the audit failure joined, if any).
func failed(ctx context.Context, p *project.Project, opt Options, res *Result, written []actions.ExportedFile, err error) error {
	if written == nil {
		written = []actions.ExportedFile{}
	}
	id := ""
	if res.Decision != nil {
		id = res.Decision.ID
	}
	_, aerr := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: opt.Operator, Object: "batch:" + res.BatchID, Reason: opt.Reason,
		Details: actions.BatchExportFailedDetails{BatchID: res.BatchID, URL: opt.To, Destination: res.Destination, DecisionID: id,
			DecisionSeq: res.DecisionSeq, Error: err.Error(), Written: written,
			TimeOutsideWindow: res.TimeOutsideWindow, TimeWindow: res.TimeWindow}})
	if aerr != nil {
		return fmt.Errorf("%w (and recording the failure failed: %v)", err, aerr)
	}
	return err
}

// describe finds the batch and describes it for the egress policy. A
// committed batch is returned with its record; a batch that failed is
// described (state "failed") so the policy can refuse it on record.
func describe(ctx context.Context, p *project.Project, id string) (policies.Resource, *project.Batch, error) {
	r := policies.Resource{Signatures: []policies.ESignature{}}
	b, err := p.Batch(ctx, id)
	if err == nil {
		r.BatchID, r.State, r.Classification = b.BatchID, "committed", b.Classification
		r.Hashes = map[string]string{}
		for name, o := range b.Outputs {
			r.Hashes[strings.TrimSuffix(name, ".jsonl")] = string(o.Hash)
		}
		return r, b, nil
	}
	if len(id) < 6 {
		return r, nil, err
	}
	es, lerr := p.Trail.List(ctx, audit.Filter{Action: actions.BatchFailed, ObjectPrefix: "batch:" + id})
	if lerr != nil || len(es) == 0 {
		return r, nil, err
	}
	last := es[len(es)-1]
	for _, x := range es {
		if x.Object != last.Object {
			return r, nil, fmt.Errorf("batch prefix %q is ambiguous among failed batches: give more characters", id)
		}
	}
	r.BatchID, r.State = strings.TrimPrefix(last.Object, "batch:"), "failed"
	// From the record, never from today's job spec.
	r.Classification = "unknown"
	if det, derr := actions.Decode[actions.BatchFailedDetails](last); derr == nil && det.Classification != "" {
		r.Classification = det.Classification
	}
	return r, nil, nil
}

// allowedDestination reads the canonical URL and the deciding whitelist
// prefix from an allowing egress decision, and checks that the one lies
// below the other and that the prefix is a directory.
func allowedDestination(d policies.Decision) (canonical, prefix string, err error) {
	var in struct {
		Destination policies.Destination `json:"destination"`
	}
	if err := json.Unmarshal(d.Input, &in); err != nil {
		return "", "", fmt.Errorf("decision %s: input unreadable: %w", d.ID, err)
	}
	var out struct {
		Prefix string `json:"prefix"`
	}
	if err := json.Unmarshal(d.Result, &out); err != nil {
		return "", "", fmt.Errorf("decision %s: result unreadable: %w", d.ID, err)
	}
	canonical, prefix = in.Destination.Canonical, out.Prefix
	if canonical == "" || prefix == "" || !strings.HasPrefix(canonical, prefix) || !strings.HasSuffix(prefix, "/") || !strings.HasSuffix(canonical, "/") {
		return "", "", &gate.DeniedError{What: "export", Reasons: []string{fmt.Sprintf(
			"the policy allowed %q by prefix %q: pawl exports only into a directory below a whitelisted directory prefix (ending in \"/\")", canonical, prefix)}}
	}
	return canonical, prefix, nil
}

// readFiles checks the files to send from the batch folder: the verified
// output has the hash on record (verified.parquet too, when the batch
// wrote it), read as a stream and read again as it is sent (File.open);
// the signature, read once and held, verifies with the engine key and
// names this batch's audit entry, and the checkpoint is the engine's
// checkpoint of the trail at that entry.
func readFiles(ctx context.Context, p *project.Project, b *project.Batch) ([]File, error) {
	var out []File
	for _, name := range filesOf(b) {
		path := filepath.Join(b.Dir, name)
		if o, ok := b.Outputs[name]; ok {
			d, n, err := store.HashFile(path)
			if err != nil {
				return nil, fmt.Errorf("batch %s: %w", b.BatchID, err)
			}
			if d != o.Hash {
				return nil, fmt.Errorf("batch %s: %s hashes to %s, the audit trail records %s: run `pawl audit verify`", b.BatchID, name, d, o.Hash)
			}
			out = append(out, File{Name: name, Hash: d, Size: n, path: path})
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("batch %s: %w", b.BatchID, err)
		}
		f := heldFile(name, data)
		switch name {
		case actions.SignatureFile:
			chk, err := p.Keys.VerifySignatureBytes(b.Signature, data)
			if err != nil {
				return nil, fmt.Errorf("batch %s: %w: run `pawl audit verify`", b.BatchID, err)
			}
			if chk.Signature.BatchID != b.BatchID || chk.Signature.AuditSeq != b.AuditSeq {
				return nil, fmt.Errorf("batch %s: its signature names batch %s, audit entry %d: run `pawl audit verify`", b.BatchID, chk.Signature.BatchID, chk.Signature.AuditSeq)
			}
		case actions.CheckpointFile:
			cp, err := p.Keys.VerifyCheckpoint(ctx, p.Trail, data)
			if err != nil {
				return nil, fmt.Errorf("batch %s: its checkpoint: %w: run `pawl audit verify`", b.BatchID, err)
			}
			if cp.Size != b.AuditSeq {
				return nil, fmt.Errorf("batch %s: its checkpoint is of %d entries, the batch's entry is %d: run `pawl audit verify`", b.BatchID, cp.Size, b.AuditSeq)
			}
		}
		out = append(out, f)
	}
	return out, nil
}
