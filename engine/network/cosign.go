package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/policies"
)

// ErrNoHubWitness: the bundle in force names no witness with network:
// true, so the hub's cosignatures are not fetched.
var ErrNoHubWitness = errors.New("the policy bundle in force names no witness that is the network's hub (data.egress.witnesses: {\"network\": true, \"vkey\": …}, the key `pawl network hub` prints)")

// HubWitness is the witness of the bundle that is the network's hub.
func HubWitness(e *policies.Engine) (policies.Witness, bool) {
	for _, w := range e.Witnesses() {
		if w.Network {
			return w, true
		}
	}
	return policies.Witness{}, false
}

// Cosigned is what fetching the hub's cosignature came to.
type Cosigned struct {
	Witness string `json:"witness"` // the hub's id in data.egress.witnesses
	// Size is the checkpoint asked for: the largest the hub stored (0:
	// nothing published yet).
	Size int64 `json:"size"`
	// Cosigned: the trail holds the hub's cosignature of Size (New: this
	// fetch put it there).
	Cosigned bool `json:"cosigned"`
	New      bool `json:"new,omitempty"`
	// Pending: the hub has not checked the checkpoint yet; ask again.
	Pending bool   `json:"pending,omitempty"`
	Problem string `json:"problem,omitempty"` // unreachable, unproven, invalid, refused
	Error   string `json:"error,omitempty"`
}

// FetchCosignature asks the hub for its cosignature of the largest
// checkpoint the site published and keeps it in the trail exactly as a
// witness's (a witness.cosigned entry, via network, verified against the
// key the bundle names for the hub and the trail's own root at that size;
// the checkpoint with the cosignature as the witness's latest in the data
// directory), so that `pawl audit verify --witnesses K` counts the hub.
// An answer that is not that cosignature is a network.cosignature_failed
// entry; a checkpoint the hub has not checked yet is Pending, not on
// record.
func FetchCosignature(ctx context.Context, p *project.Project, o Options) (Cosigned, error) {
	cfg := p.Cfg
	var r Cosigned
	if cfg.NetworkHub == "" || cfg.NetworkSite == "" || cfg.NetworkCredentials == "" {
		return r, errors.New("the project is in no network: set network.hub, network.site and network.credentials (README, \"Many sites\")")
	}
	if o.Operator == "" {
		o.Operator = gate.EnginePrincipal
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	e, _, err := p.PolicyInForce(ctx)
	if err != nil {
		return r, err
	}
	w, ok := HubWitness(e)
	if !ok {
		return r, ErrNoHubWitness
	}
	r.Witness = w.ID
	fail := func(problem string, err error) (Cosigned, error) {
		r.Problem, r.Error = problem, err.Error()
		_, aerr := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: o.Operator, Object: "trail:" + p.Trail.ID(), Reason: o.Reason,
			Details: actions.NetworkCosignatureFailedDetails{Hub: cfg.NetworkHub, Site: cfg.NetworkSite, Witness: w.ID, Size: r.Size, Problem: problem, Error: err.Error()}})
		if aerr != nil {
			r.Error += "; and it could not be put on record: " + aerr.Error()
		}
		return r, nil
	}
	k, err := audit.ParseWitnessKey(w.VKey)
	if err != nil {
		return fail("refused", fmt.Errorf("data.egress.witnesses[%q].vkey: %v", w.ID, err))
	}
	pub, err := publishedCheckpoint(ctx, p.Trail)
	if err != nil || pub.Size == 0 {
		return r, err
	}
	r.Size = pub.Size
	have, err := actions.CosignedSize(ctx, p.Trail, w.ID, k)
	if err != nil {
		return r, err
	}
	if have >= pub.Size {
		r.Cosigned = true
		return r, nil
	}
	root, err := p.Trail.TreeRoot(ctx, pub.Size)
	if err != nil {
		return r, fmt.Errorf("the checkpoint of %d entries the site published: %v", pub.Size, err)
	}
	if !bytes.Equal(root, pub.Root) {
		return r, fmt.Errorf("the trail's first %d entries no longer have the root the site published: the trail was rewritten (pawl audit verify)", pub.Size)
	}
	c := audit.Checkpoint{Origin: p.Trail.Origin(), Size: pub.Size, Root: root}
	// The checkpoint as it was published, signed by the key in force at
	// its size: kept with the hub's cosignature, it verifies whatever key
	// is in force now (the one that signed it may be rotated out and
	// destroyed since).
	cp := []byte(pub.Checkpoint)
	if len(cp) == 0 {
		// Published by an earlier pawl, which did not keep it: signed
		// again, the same bytes while the key in force then is the
		// engine key still.
		if ep, ok := p.Keys.At(pub.Size); ok && !bytes.Equal(ep.Public(), p.Key.Public) {
			return r, fmt.Errorf("the checkpoint of %d entries was published signed by key %s, rotated out since, by a pawl that did not keep it: the hub's cosignature of the next publication is fetched instead", pub.Size, ep.KeyID)
		}
		if cp, _, err = p.Trail.SignCheckpoint(ctx, pub.Size, p.Key.Private); err != nil {
			return r, err
		}
	}
	req := []byte(strconv.FormatInt(pub.Size, 10))
	var m *nats.Msg
	if cfg.NetworkLeaf {
		if o.Leaf == nil || o.Leaf.Site() != cfg.NetworkSite {
			return r, errors.New("network.leaf is set but the site's leaf node is not running: `pawl serve` runs it")
		}
		m, err = o.Leaf.Request(ctx, CosignatureSubject(cfg.NetworkSite), req, o.Timeout)
	} else {
		var nc *nats.Conn
		nc, err = Conn(cfg.NetworkHub, cfg.NetworkSite, p.Resolve(cfg.NetworkCredentials), resolveSet(p, cfg.NetworkCA), o.Timeout, nil)
		if err == nil {
			tctx, cancel := context.WithTimeout(ctx, o.Timeout)
			m, err = nc.RequestWithContext(tctx, CosignatureSubject(cfg.NetworkSite), req)
			cancel()
			nc.Close()
		}
	}
	if err != nil {
		return fail(problemOf(err), fmt.Errorf("hub %s: %v (the next fetch asks again)", cfg.NetworkHub, err))
	}
	switch st := m.Header.Get(StatusHeader); st {
	case StatusCosigned:
	case StatusPending:
		r.Pending = true
		return r, nil
	case StatusUnproven:
		return fail("unproven", fmt.Errorf("hub %s: %s", cfg.NetworkHub, snippet(m.Data)))
	case StatusRefused:
		return fail("refused", fmt.Errorf("hub %s refused the request: %s", cfg.NetworkHub, snippet(m.Data)))
	default:
		return fail("invalid", fmt.Errorf("hub %s answered with status %.40q, not one of cosigned, pending, unproven, refused", cfg.NetworkHub, st))
	}
	cs, err := audit.ParseCosignatures(m.Data, k, c.Format())
	if err != nil {
		return fail("invalid", fmt.Errorf("hub %s's answer is not its cosignature of the trail's checkpoint of %d entries (root %s): %v", cfg.NetworkHub, pub.Size, b64(root), err))
	}
	for _, co := range cs {
		if _, err := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: o.Operator, Object: "trail:" + p.Trail.ID(), Reason: o.Reason,
			Details: actions.WitnessCosignedDetails{Witness: w.ID, Name: k.Name, KeyHash: fmt.Sprintf("%08x", k.Hash), Origin: c.Origin, Size: c.Size, Root: c.Root,
				Time: co.Time, Signature: co.Signature, OldSize: pub.OldSize, Decision: pub.Decision, Via: "network"}}); err != nil {
			return r, err
		}
		cp = append(cp, co.Line()...)
	}
	// The hub's latest, beside the other witnesses': `pawl audit verify`
	// checks that the trail still extends it.
	if err := os.MkdirAll(p.WitnessDir(), 0o755); err != nil {
		return r, err
	}
	if err := durable.WriteFile(filepath.Join(p.WitnessDir(), w.ID+".checkpoint"), cp, 0o644); err != nil {
		return r, err
	}
	r.Cosigned, r.New = true, true
	return r, nil
}

// publishedCheckpoint is the network.published entry of the largest
// checkpoint the hub stored (zero: none).
func publishedCheckpoint(ctx context.Context, t *audit.Trail) (actions.NetworkPublishedDetails, error) {
	var best actions.NetworkPublishedDetails
	es, err := t.Find(ctx, actions.NetworkPublished, "trail:"+t.ID())
	if err != nil {
		return best, err
	}
	for _, e := range es {
		d, err := actions.Decode[actions.NetworkPublishedDetails](e)
		if err != nil {
			return best, err
		}
		if d.Kind == "checkpoint" && d.Size > best.Size {
			best = d
		}
	}
	return best, nil
}

func snippet(b []byte) string {
	s := string(bytes.TrimSpace(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strconv.Quote(s)
}
