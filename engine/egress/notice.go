package egress

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// NoticePurpose is the purpose a notice is decided under: a destination
// that lists purposes takes notices only when it lists this one.
const NoticePurpose = "notice"

// NoticeOptions say which notice goes where: a report about one batch
// (committed, or failed) of a job, for one of its sources.
type NoticeOptions struct {
	To             string // the source's notify URL: a directory, ending in "/"
	Job, Source    string
	BatchID        string // the batch reported on (or the input's digest when no batch began)
	State          string // "committed" or "failed"
	Classification string // the job's
	Name           string // the file's name at the destination
	Report         []byte // the report without record bytes
	// WithRecords is the report with the quarantined records' bytes, when
	// the source asks for them (notify_records); it is sent only when the
	// policy allows record bytes for the destination.
	WithRecords []byte
	Operator    string
}

// NoticeResult is what a notice did.
type NoticeResult struct {
	Decision    *policies.Decision
	DecisionSeq int64
	Destination string       // the canonical URL
	Records     bool         // the report sent carries record bytes
	Hash        store.Digest // of the report sent
}

// Notice asks the egress policy (kind "notice") whether a notice may go to
// a destination and, only when it may, sends the report there through the
// same Destination an export uses (the file outbox checks its copy's hash;
// https PUTs it). The decision is on record either way; a denial is a
// *gate.DeniedError matching gate.ErrDenied, and nothing is written.
// Recording the notice's outcome is the caller's: it knows the attempt.
func Notice(ctx context.Context, p *project.Project, opt NoticeOptions) (*NoticeResult, error) {
	if opt.Operator == "" {
		opt.Operator = p.Cfg.Operator
	}
	if !strings.HasSuffix(opt.To, "/") {
		return nil, fmt.Errorf("notice destination %q must end in \"/\": it names the directory pawl writes %s into", opt.To, opt.Name)
	}
	pins, err := p.Pins(ctx)
	if err != nil {
		return nil, err
	}
	e, _, err := p.PinnedPolicy(ctx, pins)
	if err != nil {
		return nil, err
	}
	in := policies.EgressInput{
		Destination: policies.Destination{URL: opt.To},
		Kind:        policies.EgressNotice,
		Principal:   policies.Principal{ID: opt.Operator},
		Purpose:     NoticePurpose,
		Records:     opt.WithRecords != nil,
		Resource:    policies.Resource{BatchID: opt.BatchID, Classification: opt.Classification, State: opt.State, Signatures: []policies.ESignature{}},
		Time:        time.Now().UTC().Truncate(time.Second).Format(time.RFC3339Nano),
	}
	what := fmt.Sprintf("notice about batch %s to source %s at %s", opt.BatchID, opt.Source, opt.To)
	d, dent, err := gate.Decide(ctx, p.Trail, e, gate.Question{Kind: policies.KindEgress, Input: in, Operator: opt.Operator,
		Object: "source:" + opt.Job + "/" + opt.Source, BatchID: opt.BatchID, Job: opt.Job, What: what})
	res := &NoticeResult{Decision: &d, DecisionSeq: dent.Seq}
	if err != nil {
		return res, err
	}
	canonical, prefix, err := allowedDestination(d)
	if err != nil {
		return res, withWhat(err, what)
	}
	res.Destination = canonical
	var out struct {
		NoticeRecords bool `json:"notice_records"`
	}
	if err := json.Unmarshal(d.Result, &out); err != nil {
		return res, fmt.Errorf("decision %s: result unreadable: %w", d.ID, err)
	}
	data := opt.Report
	if opt.WithRecords != nil && out.NoticeRecords {
		data, res.Records = opt.WithRecords, true
	}
	dest, err := open(p, canonical, prefix)
	if err != nil {
		return res, withWhat(err, what)
	}
	f := heldFile(opt.Name, data)
	res.Hash = f.Hash
	// A destination that does not answer holds up the gate (which holds
	// the project lock) for notice.timeout at most.
	timeout := p.Cfg.NoticeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := dest.Send(sctx, opt.BatchID, []File{f}); err != nil {
		return res, withWhat(err, what)
	}
	return res, nil
}
