package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/policies"
)

// Options say how to push.
type Options struct {
	Operator string
	Reason   string
	// Client sends the requests; nil: a client with a 10 s timeout.
	Client *http.Client
	// ToDir, when set, writes each witness's request to ToDir/<id>.request
	// instead of sending it (an air gap); FromDir reads back
	// FromDir/<id>.request and the witness's answer FromDir/<id>.response.
	ToDir, FromDir string
}

// Result is what one push came to.
type Result struct {
	Witness  string `json:"witness"`
	Size     int64  `json:"size"`
	OldSize  int64  `json:"old_size"`
	Cosigned bool   `json:"cosigned"`
	Written  string `json:"written,omitempty"` // the request file, with ToDir
	Problem  string `json:"problem,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Log is a trail whose checkpoints go to witnesses: a project's (Push), or
// the network hub's own (PushLog).
type Log struct {
	Trail *audit.Trail
	// Key signs the trail's checkpoints.
	Key ed25519.PrivateKey
	// Dir keeps the latest checkpoint each witness cosigned
	// (<id>.checkpoint, with its cosignature lines).
	Dir string
	// Decide asks whether the push may leave, and puts the decision on
	// record (its id is returned); nil: the log's own configuration names
	// its witnesses (the hub's), and nothing is asked.
	Decide func(ctx context.Context, w policies.Witness, in policies.WitnessInput) (decision string, err error)
	// Hint says what to give a witness that holds no key verifying the
	// trail's checkpoints (it answered 403).
	Hint func() string
}

// projectLog is the project's trail as a Log: the engine key signs, the
// bundle in force e decides each push (a witness decision, on record).
func projectLog(p *project.Project, e *policies.Engine, o Options) *Log {
	return &Log{Trail: p.Trail, Key: p.Key.Private, Dir: LatestDir(p), Hint: func() string { return keyHint(p) },
		Decide: func(ctx context.Context, w policies.Witness, in policies.WitnessInput) (string, error) {
			d, _, err := gate.Decide(ctx, p.Trail, e, gate.Question{Kind: policies.KindWitness, Input: in, Operator: o.Operator, Object: "witness:" + w.ID,
				Reason: o.Reason, What: fmt.Sprintf("push of the trail's checkpoint to witness %s (%s)", w.ID, w.URL)})
			return d.ID, err
		}}
}

// LatestDir is where the latest checkpoint each witness cosigned is kept
// (<id>.checkpoint: the signed checkpoint with the witness's cosignature
// lines), outside the trail: `pawl audit verify` checks that the trail
// still extends each.
func LatestDir(p *project.Project) string { return p.WitnessDir() }

// Push pushes the trail's head to every witness of the bundle in force (or
// writes or reads the air-gap files). It returns one result per witness;
// the error is for what stopped it before any witness was tried.
func Push(ctx context.Context, p *project.Project, o Options) ([]Result, error) {
	e, _, err := p.PolicyInForce(ctx)
	if err != nil {
		return nil, err
	}
	all := e.Witnesses()
	ws := Pushed(all)
	switch {
	case len(all) == 0:
		return nil, errors.New("the policy bundle in force names no witness (data.egress.witnesses): add one and its policy (docs/policy-guide.md, \"How to add a witness\"), then `pawl pin`")
	case len(ws) == 0:
		return nil, errors.New("the policy bundle in force names no witness to push to: its one witness is the network's hub (network: true), which gets the checkpoints by publication and whose cosignatures `pawl serve` fetches; to push, add another witness (docs/policy-guide.md, \"How to add a witness\")")
	}
	if o.Operator == "" {
		o.Operator = gate.EnginePrincipal
	}
	l := projectLog(p, e, o)
	var out []Result
	for _, w := range ws {
		var r Result
		if o.FromDir != "" {
			r = fromFile(ctx, p, l, w, o)
		} else {
			r = push(ctx, l, w, o)
		}
		out = append(out, r)
	}
	return out, nil
}

// PushLog pushes l's head to each of the witnesses ws (over HTTPS: the
// air gap is a project's) and returns one result per witness; each
// cosignature and each failure is on l's trail.
func PushLog(ctx context.Context, l *Log, ws []policies.Witness, o Options) []Result {
	o.ToDir, o.FromDir = "", ""
	out := make([]Result, 0, len(ws))
	for _, w := range ws {
		out = append(out, push(ctx, l, w, o))
	}
	return out
}

// Pushed are the witnesses checkpoints are pushed to: all but the
// network's hub, which gets them by the site's publications and whose
// cosignatures the site fetches (engine/network).
func Pushed(ws []policies.Witness) []policies.Witness {
	var out []policies.Witness
	for _, w := range ws {
		if !w.Network {
			out = append(out, w)
		}
	}
	return out
}

// request builds the add-checkpoint body for w: the head's checkpoint and
// the proof from old.
func request(ctx context.Context, l *Log, old int64) (audit.AddCheckpoint, audit.Checkpoint, error) {
	head, err := l.Trail.Head(ctx)
	if err != nil {
		return audit.AddCheckpoint{}, audit.Checkpoint{}, err
	}
	cp, c, err := l.Trail.SignCheckpoint(ctx, head.Seq, l.Key)
	if err != nil {
		return audit.AddCheckpoint{}, c, err
	}
	a := audit.AddCheckpoint{OldSize: old, Checkpoint: cp}
	if old > head.Seq {
		// What the trail says was cosigned is beyond its head: it lost
		// entries. Send it anyway: the witness answers with its size.
		a.OldSize = 0
	} else if old > 0 {
		if a.Proof, err = l.Trail.ConsistencyProof(ctx, old, head.Seq); err != nil {
			return a, c, err
		}
	}
	return a, c, nil
}

func push(ctx context.Context, l *Log, w policies.Witness, o Options) Result {
	r := Result{Witness: w.ID}
	fail := func(status int, problem string, err error, decision string) Result {
		r.Problem, r.Error = problem, err.Error()
		_, aerr := actions.Append(context.WithoutCancel(ctx), l.Trail, actions.Record{Operator: o.Operator, Object: "trail:" + l.Trail.ID(), Reason: o.Reason,
			Details: actions.WitnessPushFailedDetails{Witness: w.ID, URL: w.URL, Size: r.Size, OldSize: r.OldSize, Status: status, Problem: problem, Error: err.Error(), Decision: decision}})
		if aerr != nil {
			r.Error += "; and it could not be put on record: " + aerr.Error()
		}
		return r
	}
	k, err := audit.ParseWitnessKey(w.VKey)
	if err != nil {
		return fail(0, "refused", fmt.Errorf("data.egress.witnesses[%q].vkey: %v", w.ID, err), "")
	}
	old, err := actions.CosignedSize(ctx, l.Trail, w.ID, k)
	if err != nil {
		return fail(0, "refused", err, "")
	}
	via := "https"
	if o.ToDir != "" {
		via = "file"
	}
	// The decision is asked for the size the head has now; the checkpoint
	// is of the trail up to and including the decision's own entry, which
	// is what leaves.
	head, err := l.Trail.Head(ctx)
	if err != nil {
		return fail(0, "refused", err, "")
	}
	var decision string // the policy decision that let it leave ("" for the hub's)
	r.Size, r.OldSize = head.Seq+1, old
	if l.Decide != nil {
		in := policies.WitnessInput{Time: time.Now().UTC().Format(time.RFC3339Nano), Principal: policies.Principal{ID: o.Operator}, Via: via,
			Witness:    policies.WitnessTarget{ID: w.ID, URL: w.URL, VKey: w.VKey},
			Checkpoint: policies.WitnessCheckpoint{Origin: l.Trail.Origin(), Size: head.Seq + 1, OldSize: old}}
		decision, err = l.Decide(ctx, w, in)
		if err != nil {
			return fail(0, "denied", err, decision)
		}
	}
	a, c, err := request(ctx, l, old)
	if err != nil {
		return fail(0, "refused", err, decision)
	}
	r.Size, r.OldSize = c.Size, a.OldSize
	if o.ToDir != "" {
		f := filepath.Join(o.ToDir, w.ID+".request")
		if err := durable.WriteFile(f, a.Format(), 0o644); err != nil {
			return fail(0, "unreachable", err, decision)
		}
		r.Written = f
		return r
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	for attempt := 0; ; attempt++ {
		status, body, err := post(ctx, client, w.URL, a.Format())
		if err != nil {
			return fail(0, "unreachable", fmt.Errorf("witness %s at %s: %v (the next push tries again)", w.ID, w.URL, err), decision)
		}
		switch status {
		case http.StatusOK:
			if err := record(ctx, l, w, k, a, c, body, decision, "https", o); err != nil {
				return fail(status, "garbage", fmt.Errorf("witness %s answered 200 without a valid cosignature: %v", w.ID, err), decision)
			}
			r.Cosigned = true
			return r
		case http.StatusConflict:
			n, perr := parseSize(body)
			switch {
			case perr != nil:
				return fail(status, "garbage", fmt.Errorf("witness %s answered 409 without its size: %v", w.ID, perr), decision)
			case n > c.Size:
				return fail(status, "truncated", fmt.Errorf("witness %s has cosigned a checkpoint of %d entries, the trail holds %d: entries %d..%d were deleted", w.ID, n, c.Size, c.Size+1, n), decision)
			case n == a.OldSize && a.OldSize == c.Size, attempt > 0 && n == a.OldSize:
				return fail(status, "fork", fmt.Errorf("witness %s holds another tree of %d entries than the trail's: the trail was forked or rewritten", w.ID, n), decision)
			case attempt > 0:
				return fail(status, "conflict", fmt.Errorf("witness %s answered 409 twice (it holds %d entries)", w.ID, n), decision)
			}
			// Retry once from the size the witness holds.
			a.OldSize, a.Proof = n, nil
			if n > 0 {
				if a.Proof, err = l.Trail.ConsistencyProof(ctx, n, c.Size); err != nil {
					return fail(status, "refused", err, decision)
				}
			}
			r.OldSize = n
		case http.StatusForbidden:
			// C2SP tlog-witness: 403 when no signature of the checkpoint
			// verifies with a key the witness holds for the origin.
			return fail(status, "refused", fmt.Errorf("witness %s refused the checkpoint (403: %s): it holds no key of %s that verifies it: %s", w.ID, snippet(body), l.Trail.Origin(), l.hint()), decision)
		case http.StatusUnprocessableEntity:
			return fail(status, "fork", fmt.Errorf("witness %s refused the consistency proof from %d to %d entries (422): the trail does not extend the checkpoint it cosigned (forked or rewritten): %s", w.ID, a.OldSize, c.Size, snippet(body)), decision)
		default:
			return fail(status, "refused", fmt.Errorf("witness %s answered %d: %s", w.ID, status, snippet(body)), decision)
		}
	}
}

// hint is l.Hint's answer, or a general one.
func (l *Log) hint() string {
	if l.Hint == nil {
		return "give it the trail's key"
	}
	return l.Hint()
}

// keyHint says which key signs the trail's checkpoints now, and what to
// give a witness that does not hold it.
func keyHint(p *project.Project) string {
	keys := p.Keys.Keys
	if len(keys) == 0 {
		return "give it the key `pawl audit key` prints"
	}
	cur := keys[len(keys)-1]
	v, err := audit.VerifierKey(p.Trail.Origin(), cur.Public())
	if err != nil {
		return "give it the key `pawl audit key` prints"
	}
	why := "the key it was given is not the trail's"
	if len(keys) > 1 {
		why = fmt.Sprintf("the engine key was rotated at entry %d (`pawl key rotate`) and the witness still holds only the old one", cur.From)
	}
	return fmt.Sprintf("%s; give it the key `pawl audit key` prints, %s (litewitness: witnessctl add-key -origin %s -key %s), and push again", why, v, p.Trail.Origin(), v)
}

func post(ctx context.Context, client *http.Client, base string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, audit.MaxCosignatureResponse+1))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

func parseSize(b []byte) (int64, error) {
	s, ok := strings.CutSuffix(string(b), "\n")
	n, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, fmt.Errorf("%s is not a tree size", snippet(b))
	}
	return n, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strconv.Quote(s)
}

// record verifies the witness's answer over the checkpoint and puts each
// cosignature on record, then keeps the cosigned checkpoint as the
// witness's latest.
func record(ctx context.Context, l *Log, w policies.Witness, k audit.WitnessKey, a audit.AddCheckpoint, c audit.Checkpoint, resp []byte, decision, via string, o Options) error {
	body, err := audit.CheckpointBody(a.Checkpoint)
	if err != nil {
		return err
	}
	cs, err := audit.ParseCosignatures(resp, k, body)
	if err != nil {
		return err
	}
	latest := bytes.Clone(a.Checkpoint)
	for _, cs := range cs {
		if _, err := actions.Append(context.WithoutCancel(ctx), l.Trail, actions.Record{Operator: o.Operator, Object: "trail:" + l.Trail.ID(), Reason: o.Reason,
			Details: actions.WitnessCosignedDetails{Witness: w.ID, Name: k.Name, KeyHash: fmt.Sprintf("%08x", k.Hash), Origin: c.Origin, Size: c.Size, Root: c.Root,
				Time: cs.Time, Signature: cs.Signature, OldSize: a.OldSize, Decision: decision, Via: via}}); err != nil {
			return err
		}
		latest = append(latest, cs.Line()...)
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(l.Dir, w.ID+".checkpoint"), latest, 0o644)
}

// fromFile reads back an air-gap push: the request pawl wrote and the
// witness's answer beside it.
func fromFile(ctx context.Context, p *project.Project, l *Log, w policies.Witness, o Options) Result {
	r := Result{Witness: w.ID}
	fail := func(problem string, err error) Result {
		r.Problem, r.Error = problem, err.Error()
		_, aerr := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: o.Operator, Object: "trail:" + p.Trail.ID(), Reason: o.Reason,
			Details: actions.WitnessPushFailedDetails{Witness: w.ID, URL: w.URL, Size: r.Size, OldSize: r.OldSize, Problem: problem, Error: err.Error()}})
		if aerr != nil {
			r.Error += "; and it could not be put on record: " + aerr.Error()
		}
		return r
	}
	reqPath := filepath.Join(o.FromDir, w.ID+".request")
	reqBytes, err := os.ReadFile(reqPath)
	if errors.Is(err, os.ErrNotExist) {
		r.Problem, r.Error = "", ""
		return r // nothing was carried to this witness
	}
	if err != nil {
		return fail("garbage", err)
	}
	a, err := audit.ParseAddCheckpoint(reqBytes)
	if err != nil {
		return fail("garbage", fmt.Errorf("%s: %v", reqPath, err))
	}
	c, err := p.Keys.VerifyCheckpoint(ctx, p.Trail, a.Checkpoint)
	if err != nil {
		return fail("garbage", fmt.Errorf("%s: its checkpoint: %v", reqPath, err))
	}
	r.Size, r.OldSize = c.Size, a.OldSize
	k, err := audit.ParseWitnessKey(w.VKey)
	if err != nil {
		return fail("refused", fmt.Errorf("data.egress.witnesses[%q].vkey: %v", w.ID, err))
	}
	respPath := filepath.Join(o.FromDir, w.ID+".response")
	resp, err := os.ReadFile(respPath)
	if err != nil {
		return fail("unreachable", fmt.Errorf("%s: %v (carry the request to the witness and its answer back)", respPath, err))
	}
	if err := record(ctx, l, w, k, a, c, resp, "", "file", o); err != nil {
		return fail("garbage", fmt.Errorf("%s: %v", respPath, err))
	}
	r.Cosigned = true
	return r
}
