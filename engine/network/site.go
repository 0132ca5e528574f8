package network

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/policies"
)

// Options say how a site publishes.
type Options struct {
	Operator string
	Reason   string
	// Timeout bounds the connection and the hub's acknowledgement; 0: 10 s.
	Timeout time.Duration
	// Leaf is the site's running leaf node (network.leaf): messages go
	// to its outbox, acknowledged there, and the hub sources them.
	Leaf *Leaf
}

// Result is what one publication came to.
type Result struct {
	Hub       string `json:"hub"`
	Site      string `json:"site"`
	Size      int64  `json:"size"`
	OldSize   int64  `json:"old_size"`
	Seq       uint64 `json:"seq,omitempty"`
	Batches   int    `json:"batches,omitempty"` // batch signatures published this time
	Duplicate bool   `json:"duplicate,omitempty"`
	Problem   string `json:"problem,omitempty"` // denied, unreachable, refused
	Error     string `json:"error,omitempty"`
}

// Configured says whether the project is in a network (network.hub set).
func Configured(p *project.Project) bool { return p.Cfg.NetworkHub != "" }

// Published is the largest checkpoint size the trail says the hub stored
// (0: none).
func Published(ctx context.Context, t *audit.Trail) (int64, error) {
	es, err := t.Find(ctx, actions.NetworkPublished, "trail:"+t.ID())
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range es {
		d, err := actions.Decode[actions.NetworkPublishedDetails](e)
		if err != nil {
			return 0, err
		}
		if d.Kind == "checkpoint" && d.Size > n {
			n = d.Size
		}
	}
	return n, nil
}

// Publish publishes the trail's head to the hub: the decision (kind
// network) on record, then the signed checkpoint of the trail up to and
// including it, with the consistency proof from the size last published.
// The outcome is a network.published or network.publish_failed entry; a
// failed publication loses nothing, the next one carries the head.
func Publish(ctx context.Context, p *project.Project, o Options) (Result, error) {
	cfg := p.Cfg
	r := Result{Hub: cfg.NetworkHub, Site: cfg.NetworkSite}
	if cfg.NetworkHub == "" || cfg.NetworkSite == "" || cfg.NetworkCredentials == "" {
		return r, errors.New("the project is in no network: set network.hub, network.site and network.credentials (README, \"Many sites\")")
	}
	if o.Operator == "" {
		o.Operator = gate.EnginePrincipal
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	kind, batch := "checkpoint", ""
	fail := func(problem string, err error, decision string) (Result, error) {
		r.Problem, r.Error = problem, err.Error()
		_, aerr := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: o.Operator, Object: "trail:" + p.Trail.ID(), Reason: o.Reason,
			Details: actions.NetworkPublishFailedDetails{Hub: r.Hub, Site: r.Site, Kind: kind, Batch: batch, Size: r.Size, OldSize: r.OldSize, Problem: problem, Error: err.Error(), Decision: decision}})
		if aerr != nil {
			r.Error += "; and it could not be put on record: " + aerr.Error()
		}
		return r, nil
	}
	send := func(subject, id string, msg []byte) (*jetstream.PubAck, error) {
		return Send(ctx, cfg.NetworkHub, cfg.NetworkSite, p.Resolve(cfg.NetworkCredentials), resolveSet(p, cfg.NetworkCA), subject, id, msg, o.Timeout)
	}
	if cfg.NetworkLeaf {
		if o.Leaf == nil || o.Leaf.Site() != cfg.NetworkSite {
			return r, errors.New("network.leaf is set but the site's leaf node is not running: `pawl serve` runs it")
		}
		send = func(subject, id string, msg []byte) (*jetstream.PubAck, error) {
			return o.Leaf.Send(ctx, subject, id, msg, o.Timeout)
		}
	}
	e, _, err := p.PolicyInForce(ctx)
	if err != nil {
		return r, err
	}
	// ask puts the publication of m to the policy, on record; deliver
	// sends msg (named by its sha256) on det.Kind's subject and puts the
	// publication on record. When deliver says done, Publish is over (the
	// hub did not take the message, now a failure on record, or the
	// record could not be written): return r, err.
	ask := func(m policies.NetworkMessage, what string) (string, error) {
		m.Origin = p.Trail.Origin()
		in := policies.NetworkInput{Hub: cfg.NetworkHub, Site: cfg.NetworkSite, Time: time.Now().UTC().Format(time.RFC3339Nano), Principal: policies.Principal{ID: o.Operator}, Message: m}
		d, _, err := gate.Decide(ctx, p.Trail, e, gate.Question{Kind: policies.KindNetwork, Input: in, Operator: o.Operator, Object: "network:" + cfg.NetworkSite,
			Reason: o.Reason, What: fmt.Sprintf("publication of %s to the hub %s", what, cfg.NetworkHub)})
		return d.ID, err
	}
	deliver := func(det actions.NetworkPublishedDetails, msg []byte, retry string) (ack *jetstream.PubAck, done bool, err error) {
		sum := sha256.Sum256(msg)
		det.Hub, det.Site, det.Subject, det.MsgID = cfg.NetworkHub, cfg.NetworkSite, Subject(cfg.NetworkSite, det.Kind), hex.EncodeToString(sum[:])
		if ack, err = send(det.Subject, det.MsgID, msg); err != nil {
			_, err = fail(problemOf(err), fmt.Errorf("hub %s: %v (%s)", cfg.NetworkHub, err, retry), det.Decision)
			return nil, true, err
		}
		det.Stream, det.Seq, det.Duplicate = ack.Stream, ack.Sequence, ack.Duplicate
		_, err = actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: o.Operator, Object: "trail:" + p.Trail.ID(), Reason: o.Reason, Details: det})
		return ack, err != nil, err
	}
	// First the engine key history, when the key was rotated since the
	// history was last sent: the hub checks what the new key signed only
	// once it holds the rotation, and the site's messages reach it in the
	// order they are sent (one stream, or the leaf's outbox, checked one
	// message at a time). Nothing after it goes while it has not.
	hist, newest, err := unpublishedHistory(ctx, p)
	if err != nil {
		return r, err
	}
	if hist != nil {
		kind = "key"
		d, err := ask(policies.NetworkMessage{Kind: "key", Key: newest}, fmt.Sprintf("the engine key history (key %s in force)", newest))
		if err != nil {
			return fail("denied", err, d)
		}
		if _, done, err := deliver(actions.NetworkPublishedDetails{Kind: "key", Key: newest, Decision: d}, hist, "the next publication tries again"); done {
			return r, err
		}
	}
	// Then the signatures of the batches committed since, each once;
	// then the checkpoint, which covers their publication.
	todo, err := unpublishedBatches(ctx, p)
	if err != nil {
		return r, err
	}
	for _, id := range todo {
		kind, batch = "batch", id
		d, err := ask(policies.NetworkMessage{Kind: "batch", Batch: id}, fmt.Sprintf("batch %s's signature", id))
		if err != nil {
			return fail("denied", err, d)
		}
		msg, err := os.ReadFile(p.SignaturePath(id))
		if err != nil {
			return fail("refused", err, d)
		}
		if _, done, err := deliver(actions.NetworkPublishedDetails{Kind: "batch", Batch: id, Decision: d}, msg, "the next publication tries again"); done {
			return r, err
		}
		r.Batches++
	}
	kind, batch = "checkpoint", ""
	old, err := Published(ctx, p.Trail)
	if err != nil {
		return r, err
	}
	head, err := p.Trail.Head(ctx)
	if err != nil {
		return r, err
	}
	r.Size, r.OldSize = head.Seq+1, old
	d, err := ask(policies.NetworkMessage{Kind: "checkpoint", Size: head.Seq + 1, OldSize: old}, "the trail's checkpoint")
	if err != nil {
		return fail("denied", err, d)
	}
	head, err = p.Trail.Head(ctx)
	if err != nil {
		return fail("refused", err, d)
	}
	cp, c, err := p.Trail.SignCheckpoint(ctx, head.Seq, p.Key.Private)
	if err != nil {
		return fail("refused", err, d)
	}
	a := audit.AddCheckpoint{OldSize: old, Checkpoint: cp}
	if old > c.Size {
		// The trail says the hub holds more than the trail does: entries
		// were deleted. Send the head without a proof; the hub finds it.
		a.OldSize = 0
	} else if old > 0 {
		if a.Proof, err = p.Trail.ConsistencyProof(ctx, old, c.Size); err != nil {
			return fail("refused", err, d)
		}
	}
	r.Size, r.OldSize = c.Size, a.OldSize
	ack, _, err := deliver(actions.NetworkPublishedDetails{Kind: "checkpoint", Size: c.Size, OldSize: a.OldSize, Root: c.Root, Checkpoint: string(cp), Decision: d},
		a.Format(), "the next publication carries the head")
	if ack != nil {
		r.Seq, r.Duplicate = ack.Sequence, ack.Duplicate
	}
	return r, err
}

// unpublishedHistory is the trail's engine key history as the hub takes it
// (kind key) and its newest key's id, when the trail
// rotated its key and the hub did not store this history yet (nil: there
// is nothing to send).
func unpublishedHistory(ctx context.Context, p *project.Project) ([]byte, string, error) {
	if p.Keys == nil || len(p.Keys.Keys) < 2 {
		return nil, "", nil
	}
	msg, err := publicHistory(p.Keys)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(msg)
	id := hex.EncodeToString(sum[:])
	es, err := p.Trail.Find(ctx, actions.NetworkPublished, "trail:"+p.Trail.ID())
	if err != nil {
		return nil, "", err
	}
	for _, e := range es {
		d, err := actions.Decode[actions.NetworkPublishedDetails](e)
		if err != nil {
			return nil, "", err
		}
		if d.Kind == "key" && d.MsgID == id {
			return nil, "", nil
		}
	}
	cur, _ := p.Keys.Current()
	return msg, cur.KeyID, nil
}

// problemOf names a failed send: refused by the hub's server, or
// unreachable.
func problemOf(err error) string {
	var re *RefusedError
	if errors.As(err, &re) {
		return "refused"
	}
	return "unreachable"
}

// unpublishedBatches are the committed batches, in the trail's order,
// whose signature the trail does not say the hub stored.
func unpublishedBatches(ctx context.Context, p *project.Project) ([]string, error) {
	es, err := p.Trail.Find(ctx, actions.NetworkPublished, "trail:"+p.Trail.ID())
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for _, e := range es {
		d, err := actions.Decode[actions.NetworkPublishedDetails](e)
		if err != nil {
			return nil, err
		}
		if d.Kind == "batch" {
			done[d.Batch] = true
		}
	}
	bs, err := p.Trail.Find(ctx, actions.BatchCommitted, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range bs {
		br, err := actions.Decode[actions.BatchRecord](e)
		if err != nil {
			return nil, err
		}
		if !done[br.BatchID] {
			done[br.BatchID] = true
			out = append(out, br.BatchID)
		}
	}
	return out, nil
}

func resolveSet(p *project.Project, path string) string {
	if path == "" {
		return ""
	}
	return p.Resolve(path)
}

// RefusedError is the hub's server refusing the site: its credentials,
// its permissions, TLS.
type RefusedError struct{ err error }

func (e *RefusedError) Error() string { return e.err.Error() }
func (e *RefusedError) Unwrap() error { return e.err }

// Conn connects to the hub as site, whose nkey seed is in creds, trusting
// the CAs in ca (none: the system's). Its replies come to the site's own
// inbox prefix (InboxPrefix), the only subjects it may subscribe to.
// Errors the server sends asynchronously (a permission refused) are given
// to onErr.
func Conn(url, site, creds, ca string, timeout time.Duration, onErr func(error)) (*nats.Conn, error) {
	fi, err := os.Stat(creds)
	if err != nil {
		return nil, &RefusedError{fmt.Errorf("network.credentials: %v", err)}
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, &RefusedError{fmt.Errorf("network.credentials %s is open to group or others (mode %04o): chmod 600 it", creds, fi.Mode().Perm())}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return nil, &RefusedError{fmt.Errorf("network.credentials %s is owned by uid %d, not by this account (uid %d): chown it to the service's account", creds, st.Uid, os.Getuid())}
	}
	seed, err := os.ReadFile(creds)
	if err != nil {
		return nil, &RefusedError{err}
	}
	kp, err := nkeys.ParseDecoratedNKey(seed)
	if err != nil {
		return nil, &RefusedError{fmt.Errorf("network.credentials %s: not an nkey seed: %v", creds, err)}
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return nil, &RefusedError{fmt.Errorf("network.credentials %s: not a user nkey seed (SU…)", creds)}
	}
	opts := []nats.Option{nats.Nkey(pub, kp.Sign), nats.Timeout(timeout), nats.NoReconnect(), nats.Name("pawl-site " + site), nats.CustomInboxPrefix(InboxPrefix(site))}
	if ca != "" {
		pool, err := caPool(ca)
		if err != nil {
			return nil, &RefusedError{fmt.Errorf("network.ca: %v", err)}
		}
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}))
	}
	if onErr != nil {
		opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { onErr(err) }))
	}
	nc, err := nats.Connect(url, opts...)
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrTLS) {
		return nil, &RefusedError{fmt.Errorf("hub %s: %v", url, err)}
	}
	return nc, err
}

// Send publishes one message to the hub as the site whose nkey seed is in
// creds and waits for the hub's acknowledgement. A refusal by the hub's
// server (credentials, permissions, TLS) is a *RefusedError and returns
// as soon as the server says it.
func Send(ctx context.Context, url, site, creds, ca, subject, id string, msg []byte, timeout time.Duration) (*jetstream.PubAck, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	nc, err := Conn(url, site, creds, ca, timeout, func(err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			cancel(&RefusedError{fmt.Errorf("the hub refused the publication to %s: %v", subject, err)})
		}
	})
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	tctx, tcancel := context.WithTimeout(ctx, timeout)
	defer tcancel()
	ack, err := js.Publish(tctx, subject, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(Stream))
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return nil, cause
		}
		return nil, err
	}
	return ack, nil
}
