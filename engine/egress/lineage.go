package egress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/policies"
)

// LineagePurpose is the purpose OpenLineage events are decided under: a
// destination that lists purposes takes them only when it lists this one.
const LineagePurpose = "lineage"

// LineageAPI is where, below an https lineage service's base URL, each
// event is POSTed (the OpenLineage HTTP transport).
const LineageAPI = "api/v1/lineage"

// lineageCursor is how far the events file has been sent, and when to
// try again after a failure (openlineage.sent in the data directory).
type lineageCursor struct {
	Offset   int64     `json:"offset"`   // bytes of the events file done (sent or denied)
	Failures int       `json:"failures"` // failed attempts in a row
	Next     time.Time `json:"next"`     // no attempt before this
	Problem  string    `json:"problem,omitempty"`
}

// LineageResult is what one SendLineage did.
type LineageResult struct {
	Sent    int    // events delivered
	Denied  int    // events the policy kept back (skipped, on record)
	Pending int    // events still to send
	Waiting bool   // nothing was tried: the pause after a failure runs
	Problem string // why delivery stopped, when it did
}

// LineageOptions say how to send; the zero value is right outside tests.
type LineageOptions struct {
	Now    time.Time // default time.Now()
	Client *http.Client
}

// lineageGroup is the consecutive events of one batch.
type lineageGroup struct {
	batch, classification, state string
	lines                        [][]byte
	end                          int64 // offset after its last line
}

// SendLineage sends the OpenLineage events appended to openlineage.file
// since the last call to openlineage.url, when one is configured: each
// batch's events as an egress decision of kind "lineage" on record (the
// batch's classification against the whitelist), then POSTed one by one
// (https) or written as one file (a file:// outbox). Denied events are
// skipped; a delivery that fails stops, keeps its events pending and
// pauses (5 s, doubling to an hour) before the next try. It never touches
// a batch: the caller reports a problem as a warning.
func SendLineage(ctx context.Context, p *project.Project, o LineageOptions) (*LineageResult, error) {
	res := &LineageResult{}
	base := p.Cfg.OpenLineageURL
	if base == "" || !p.Cfg.OpenLineageEnabled {
		return res, nil
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	events := p.OpenLineageFile()
	cursorPath := filepath.Join(p.Data, "openlineage.sent")
	var cur lineageCursor
	if b, err := os.ReadFile(cursorPath); err == nil {
		if err := json.Unmarshal(b, &cur); err != nil {
			return res, fmt.Errorf("%s: %w: remove it to send every event again", cursorPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	groups, err := pendingLineage(events, cur.Offset)
	if err != nil {
		return res, err
	}
	for _, g := range groups {
		res.Pending += len(g.lines)
	}
	if len(groups) == 0 {
		return res, nil
	}
	if o.Now.Before(cur.Next) {
		res.Waiting, res.Problem = true, cur.Problem
		return res, nil
	}
	save := func() error {
		b, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		return durable.WriteFile(cursorPath, append(b, '\n'), 0o600)
	}
	for _, g := range groups {
		err := sendLineageGroup(ctx, p, base, g, cur.Offset, o)
		switch {
		case errors.Is(err, gate.ErrDenied):
			res.Denied += len(g.lines)
		case err != nil:
			cur.Failures++
			cur.Next = o.Now.Add(RetryPause(cur.Failures))
			cur.Problem = err.Error()
			res.Problem = cur.Problem
			return res, errors.Join(err, save())
		default:
			res.Sent += len(g.lines)
		}
		res.Pending -= len(g.lines)
		cur.Offset, cur.Failures, cur.Next, cur.Problem = g.end, 0, time.Time{}, ""
		if err := save(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// RetryPause is the pause before trying a delivery again after n
// failures in a row (a notice, the OpenLineage events): 5 s, doubling, at
// most an hour, so a destination that is down costs one attempt, and its
// entries, per pause rather than per scan.
func RetryPause(n int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// pendingLineage reads the events after offset, grouped by batch (the
// consecutive events one attempt wrote), complete lines only.
func pendingLineage(path string, offset int64) ([]lineageGroup, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return nil, err
	}
	var groups []lineageGroup
	pos := offset
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break // a line being written, or none
		}
		line := b[:i]
		b = b[i+1:]
		pos += int64(i + 1)
		var ev struct {
			Run struct {
				Facets struct {
					Batch struct {
						BatchID        string `json:"batchId"`
						Classification string `json:"classification"`
						Status         string `json:"status"`
					} `json:"pawl_batch"`
				} `json:"facets"`
			} `json:"run"`
		}
		if err := json.Unmarshal(line, &ev); err != nil || ev.Run.Facets.Batch.BatchID == "" {
			return nil, fmt.Errorf("%s at byte %d: not an OpenLineage event pawl wrote (%v): it is a file pawl appends to; restore it, or remove openlineage.sent to start over", path, pos-int64(i+1), err)
		}
		bf := ev.Run.Facets.Batch
		state := bf.Status
		if state == "" {
			state = "running"
		}
		if n := len(groups); n > 0 && groups[n-1].batch == bf.BatchID {
			g := &groups[n-1]
			g.lines, g.end = append(g.lines, line), pos
			if bf.Status != "" {
				g.state = bf.Status
			}
			continue
		}
		groups = append(groups, lineageGroup{batch: bf.BatchID, classification: bf.Classification, state: state, lines: [][]byte{line}, end: pos})
	}
	return groups, nil
}

// sendLineageGroup asks the policy about one batch's events and sends them.
func sendLineageGroup(ctx context.Context, p *project.Project, base string, g lineageGroup, offset int64, o LineageOptions) error {
	pins, err := p.Pins(ctx)
	if err != nil {
		return err
	}
	e, _, err := p.PinnedPolicy(ctx, pins)
	if err != nil {
		return err
	}
	operator := p.Cfg.Operator
	in := policies.EgressInput{
		Destination: policies.Destination{URL: base},
		Kind:        policies.EgressLineage,
		Principal:   policies.Principal{ID: operator},
		Purpose:     LineagePurpose,
		Resource:    policies.Resource{BatchID: g.batch, Classification: g.classification, State: g.state, Signatures: []policies.ESignature{}},
		Time:        o.Now.UTC().Truncate(time.Second).Format(time.RFC3339Nano),
	}
	what := fmt.Sprintf("%d OpenLineage events of batch %s to %s", len(g.lines), g.batch, base)
	d, _, err := gate.Decide(ctx, p.Trail, e, gate.Question{Kind: policies.KindEgress, Input: in, Operator: operator,
		Object: "batch:" + g.batch, BatchID: g.batch, What: what})
	if err != nil {
		return err
	}
	canonical, prefix, err := allowedDestination(d)
	if err != nil {
		return withWhat(err, what)
	}
	sctx, cancel := context.WithTimeout(ctx, exportTimeout(p))
	defer cancel()
	if !strings.HasPrefix(canonical, "https://") {
		dest, err := open(p, canonical, prefix)
		if err != nil {
			return withWhat(err, what)
		}
		data := append(bytes.Join(g.lines, []byte("\n")), '\n')
		name := fmt.Sprintf("%s-%d.openlineage.jsonl", g.batch, offset)
		_, err = dest.Send(sctx, g.batch, []File{heldFile(name, data)})
		return withWhat(err, what)
	}
	client := o.Client
	if client == nil {
		h, err := newHTTPS(p, canonical)
		if err != nil {
			return err
		}
		client = h.client
	}
	for _, line := range g.lines {
		req, err := http.NewRequestWithContext(sctx, http.MethodPost, canonical+LineageAPI, bytes.NewReader(line))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s: the lineage service answered %s: %s", what, resp.Status, strings.TrimSpace(string(body)))
		}
	}
	return nil
}
