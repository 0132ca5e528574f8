package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/egress"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
)

// MaxReasons is how many reasons a notice lists; the rest are counted.
const MaxReasons = 20

// NoticeFormat names the notice's JSON format.
const NoticeFormat = "pawl-notice-v1"

// Notice is a quarantine report for a source: what became of one file.
// It never holds a record's bytes unless the source asked for them and
// the egress policy allowed them for the destination (Records).
type Notice struct {
	Format         string              `json:"format"`
	Job            string              `json:"job"`
	Source         string              `json:"source"`
	File           string              `json:"file"`
	SHA256         string              `json:"sha256"`
	Bytes          int64               `json:"bytes"`
	BatchID        string              `json:"batch_id"`
	Status         string              `json:"status"` // committed, failed
	Error          string              `json:"error,omitempty"`
	RecordsIn      int64               `json:"records_in"`
	Verified       int64               `json:"records_verified"`
	Quarantined    int64               `json:"records_quarantined"`
	Rules          []actions.RuleCount `json:"rules"`
	Reasons        []NoticeReason      `json:"reasons"`
	ReasonsOmitted int64               `json:"reasons_omitted"`
	Records        []NoticeRecord      `json:"records,omitempty"`
}

// NoticeReason is one reason a record was quarantined, located in the
// file by the record's ordinal and byte offset.
type NoticeReason struct {
	Ordinal int64  `json:"ordinal"`
	Offset  int64  `json:"offset"`
	Stage   string `json:"stage"`
	Rule    string `json:"rule"`
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// NoticeRecord is a quarantined record's bytes, for a notice allowed to
// carry them.
type NoticeRecord struct {
	Ordinal    int64  `json:"ordinal"`
	Raw        string `json:"raw,omitempty"`
	RawBase64  string `json:"raw_base64,omitempty"`
	RawOmitted string `json:"raw_omitted,omitempty"`
}

// queued is a notice waiting in <data_dir>/notices/pending/ to be sent.
type queued struct {
	Job            string `json:"job"`
	Source         string `json:"source"`
	To             string `json:"to"`
	BatchID        string `json:"batch_id"`
	State          string `json:"state"`
	Classification string `json:"classification"`
	Name           string `json:"name"`
	// The reports' exact bytes (base64 in the queue file): a retry sends
	// the very bytes the first attempt did.
	Report      []byte `json:"report"`
	WithRecords []byte `json:"with_records,omitempty"`
	Attempts    int    `json:"attempts"`
	// Next is when the next attempt is due, after an undeliverable one.
	Next time.Time `json:"next,omitzero"`
}

// NoticeOutcome is what a scan did with one notice.
type NoticeOutcome struct {
	Job, Source, BatchID, URL string
	Status                    string // sent, denied, queued
	Records                   bool   // the notice sent carries record bytes
	Error                     string
}

// PendingDir is where notices wait to be sent.
func PendingDir(p *project.Project) string { return filepath.Join(p.Data, "notices", "pending") }

// buildNotice reads a committed batch's quarantine (or takes the failure)
// into the report, without and, when asked, with the records' bytes.
func buildNotice(ctx context.Context, p *project.Project, j *project.Job, src project.SourceSpec, out Outcome, size int64, failure string) (plain, withRecords []byte, err error) {
	n := Notice{Format: NoticeFormat, Job: j.Name, Source: src.Name, File: out.File, SHA256: out.Input.Hex(), Bytes: size,
		BatchID: out.BatchID, Status: "committed", Rules: []actions.RuleCount{}, Reasons: []NoticeReason{}}
	if failure != "" {
		n.Status, n.Error = StatusFailed, failure
	} else {
		b, err := p.Batch(context.Background(), out.BatchID)
		if err != nil {
			return nil, nil, err
		}
		n.RecordsIn, n.Verified, n.Quarantined = b.RecordsIn, b.Verified, b.Quarantined
		if b.Rules != nil {
			n.Rules = b.Rules
		}
		// The records' bytes are read (from the input blob, in quarantine
		// format 2) only for the records the notice carries.
		err = p.QuarantinedAsStored(ctx, out.BatchID, func(q *finding.QuarantineEntry, fill func(*finding.QuarantineEntry) error) bool {
			listed := false
			for _, r := range q.Reasons {
				if len(n.Reasons) >= MaxReasons {
					n.ReasonsOmitted++
					continue
				}
				listed = true
				n.Reasons = append(n.Reasons, NoticeReason{Ordinal: q.Ordinal, Offset: q.Offset, Stage: r.Stage, Rule: r.Rule, Pointer: r.Pointer, Message: r.Message})
			}
			if listed && src.NotifyRecords {
				if fill(q) != nil {
					return false
				}
				n.Records = append(n.Records, NoticeRecord{Ordinal: q.Ordinal, Raw: q.Raw, RawBase64: q.RawBase64, RawOmitted: q.RawOmitted})
			}
			return true
		})
		if err != nil {
			return nil, nil, err
		}
	}
	recs := n.Records
	n.Records = nil
	if plain, err = canonjson.Marshal(n); err != nil {
		return nil, nil, err
	}
	if src.NotifyRecords && failure == "" {
		n.Records = recs
		if n.Records == nil {
			n.Records = []NoticeRecord{}
		}
		if withRecords, err = canonjson.Marshal(n); err != nil {
			return nil, nil, err
		}
	}
	return plain, withRecords, nil
}

// queueNotice builds the notice for a file, puts it in the queue durably
// and tries to send it once.
func (s *Scanner) queueNotice(ctx context.Context, p *project.Project, opt Options, j *project.Job, src project.SourceSpec, out Outcome, size int64, failure string, rep *Report) error {
	plain, with, err := buildNotice(ctx, p, j, src, out, size, failure)
	if err != nil {
		// The batch stands; a report that cannot be built is on record.
		_, aerr := actions.Append(ctx, p.Trail, actions.Record{Operator: opt.Operator, Object: "source:" + j.Name + "/" + src.Name,
			Details: actions.NoticeFailedDetails{Job: j.Name, Source: src.Name, BatchID: out.BatchID, URL: src.Notify, Problem: "unbuildable", Error: err.Error()}})
		return aerr
	}
	batch := out.BatchID
	state := "committed"
	if failure != "" {
		state = StatusFailed
		if batch == "" {
			batch = string(out.Input) // no batch began: the input names it
		}
	}
	h := sha256.Sum256([]byte(j.Name + "\x00" + src.Name + "\x00" + out.File))
	name := "notice-" + strings.TrimPrefix(batch, "sha256:") + "-" + hex.EncodeToString(h[:4]) + ".json"
	q := &queued{Job: j.Name, Source: src.Name, To: src.Notify, BatchID: batch, State: state, Classification: j.Classification,
		Name: name, Report: plain, WithRecords: with}
	path := filepath.Join(PendingDir(p), name)
	if err := writeQueued(path, q); err != nil {
		return err
	}
	return s.deliver(ctx, p, opt, path, q, rep)
}

func writeQueued(path string, q *queued) error {
	b, err := json.Marshal(q)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return durable.WriteFile(path, b, 0o600)
}

// retryNotices tries every queued notice once, oldest name first.
func (s *Scanner) retryNotices(ctx context.Context, p *project.Project, opt Options, rep *Report) error {
	ents, err := os.ReadDir(PendingDir(p))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(PendingDir(p), name)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var q queued
		if err := json.Unmarshal(b, &q); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("notice %s cannot be read (%v): move it out of %s", path, err, PendingDir(p)))
			continue
		}
		if s.clock().Before(q.Next) {
			continue // not due yet
		}
		if err := s.deliver(ctx, p, opt, path, &q, rep); err != nil {
			return err
		}
	}
	return nil
}

// deliver makes one attempt at a queued notice: sent or denied, it leaves
// the queue; undeliverable, it stays for the next scan. Each outcome is on
// record. Only a failure to write the trail or the queue is an error.
func (s *Scanner) deliver(ctx context.Context, p *project.Project, opt Options, path string, q *queued, rep *Report) error {
	q.Attempts++
	var with []byte
	if len(q.WithRecords) > 0 {
		with = q.WithRecords
	}
	res, err := egress.Notice(ctx, p, egress.NoticeOptions{To: q.To, Job: q.Job, Source: q.Source, BatchID: q.BatchID, State: q.State,
		Classification: q.Classification, Name: q.Name, Report: q.Report, WithRecords: with, Operator: opt.Operator})
	obj := "source:" + q.Job + "/" + q.Source
	o := NoticeOutcome{Job: q.Job, Source: q.Source, BatchID: q.BatchID, URL: q.To}
	var det actions.Details
	switch {
	case err == nil:
		o.Status, o.Records = "sent", res.Records
		det = actions.NoticeSentDetails{Job: q.Job, Source: q.Source, BatchID: q.BatchID, URL: q.To, Destination: res.Destination,
			DecisionID: res.Decision.ID, DecisionSeq: res.DecisionSeq, File: q.Name, Hash: res.Hash, Records: res.Records, Attempt: q.Attempts}
	case errors.Is(err, gate.ErrDenied):
		o.Status, o.Error = "denied", err.Error()
		var seq int64
		if res != nil {
			seq = res.DecisionSeq
		}
		det = actions.NoticeFailedDetails{Job: q.Job, Source: q.Source, BatchID: q.BatchID, URL: q.To, Problem: "denied", Error: err.Error(),
			DecisionSeq: seq, Attempt: q.Attempts}
	default:
		o.Status, o.Error = "queued", err.Error()
		var seq int64
		if res != nil {
			seq = res.DecisionSeq
		}
		det = actions.NoticeFailedDetails{Job: q.Job, Source: q.Source, BatchID: q.BatchID, URL: q.To, Problem: "undeliverable", Error: err.Error(),
			DecisionSeq: seq, Attempt: q.Attempts, Queued: true}
	}
	if _, aerr := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: opt.Operator, Object: obj, Details: det}); aerr != nil {
		return aerr
	}
	rep.Notices = append(rep.Notices, o)
	s.logf(opt, "%s/%s: notice about batch %s to %s: %s%s", q.Job, q.Source, q.BatchID, q.To, o.Status, suffix(o.Error))
	if o.Status == "queued" {
		q.Next = s.clock().Add(egress.RetryPause(q.Attempts))
		return writeQueued(path, q)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return durable.SyncDir(filepath.Dir(path))
}

func suffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}
