package network

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/review"
)

// Finding is one thing the hub found wrong with what a site published.
type Finding struct {
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
	Seq    uint64    `json:"seq,omitempty"` // the message's sequence in the stream (0: found by status)
	At     time.Time `json:"at"`
}

// SiteStatus is what the hub holds of one site.
type SiteStatus struct {
	Site     string `json:"site"`
	Size     int64  `json:"size"`     // the head: the largest checkpoint the hub holds
	Root     string `json:"root"`     // its root, base64
	Cosigned int64  `json:"cosigned"` // the largest size the hub cosigned
	// Cosignature is the hub's cosignature of the head (a signed-note
	// line, c2sp.org/tlog-cosignature), "" when it is not cosigned.
	Cosignature string `json:"cosignature,omitempty"`
	Messages    int64  `json:"messages"`
	Batches     int64  `json:"batches"` // batch signatures the hub holds
	// Key is the site's engine key the hub checks its newest messages
	// against (its key id), and Keys how many keys of the site's history
	// the hub holds: 1 until the site publishes a rotation.
	Key      string    `json:"key"`
	Keys     int       `json:"keys"`
	LastSeen time.Time `json:"last_seen"`   // when the hub stored the site's last message (zero: never)
	Lag      float64   `json:"lag_seconds"` // now - last seen
	Findings []Finding `json:"findings"`
}

// Status reads what the hub holds of every site of its configuration, and
// of any other that published (the hub's state, read-only: it runs beside
// a running hub). A site silent for longer than quiet_after has a quiet
// finding.
func Status(ctx context.Context, c HubConfig, now time.Time) ([]SiteStatus, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	path := filepath.Join(c.Dir, "hub.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	by := map[string]*SiteStatus{}
	for id, sc := range c.Sites {
		by[id] = &SiteStatus{Site: id, Findings: []Finding{}}
		k, err := parseTrailKey(sc.VKey)
		if err != nil {
			return nil, err
		}
		h, err := siteHistory(ctx, db, id, k)
		if err != nil {
			return nil, fmt.Errorf("%s: %v (has the hub run?)", path, err)
		}
		cur, _ := h.Current()
		by[id].Key, by[id].Keys = cur.KeyID, len(h.Keys)
	}
	site := func(id string) *SiteStatus {
		if by[id] == nil {
			by[id] = &SiteStatus{Site: id, Findings: []Finding{}}
		}
		return by[id]
	}
	rows, err := db.QueryContext(ctx, "SELECT site, last_seen, messages FROM sites")
	if err != nil {
		return nil, fmt.Errorf("%s: %v (has the hub run?)", path, err)
	}
	for rows.Next() {
		var id, seen string
		var n int64
		if err := rows.Scan(&id, &seen, &n); err != nil {
			rows.Close()
			return nil, err
		}
		s := site(id)
		s.Messages = n
		s.LastSeen, _ = time.Parse(time.RFC3339Nano, seen)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT c.site, c.size, c.root, c.cosignature, (SELECT MAX(size) FROM checkpoints k WHERE k.site = c.site AND k.cosignature IS NOT NULL)
		FROM checkpoints c WHERE c.size = (SELECT MAX(size) FROM checkpoints k WHERE k.site = c.site)`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var size int64
		var root []byte
		var cos sql.NullInt64
		var line []byte
		if err := rows.Scan(&id, &size, &root, &line, &cos); err != nil {
			rows.Close()
			return nil, err
		}
		s := site(id)
		s.Size, s.Root, s.Cosigned, s.Cosignature = size, base64.StdEncoding.EncodeToString(root), cos.Int64, string(line)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, "SELECT site, COUNT(*) FROM batches GROUP BY site")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		site(id).Batches = n
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, "SELECT site, kind, detail, seq, at FROM findings WHERE resolved = 0 ORDER BY seq, kind")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var f Finding
		var id, at string
		if err := rows.Scan(&id, &f.Kind, &f.Detail, &f.Seq, &at); err != nil {
			rows.Close()
			return nil, err
		}
		f.At, _ = time.Parse(time.RFC3339Nano, at)
		s := site(id)
		s.Findings = append(s.Findings, f)
	}
	rows.Close()
	out := make([]SiteStatus, 0, len(by))
	for _, s := range by {
		if !s.LastSeen.IsZero() {
			s.Lag = now.Sub(s.LastSeen).Seconds()
		}
		if _, known := c.Sites[s.Site]; known && (s.LastSeen.IsZero() || now.Sub(s.LastSeen) > c.QuietAfter) {
			d := "the site has never published"
			if !s.LastSeen.IsZero() {
				d = fmt.Sprintf("nothing from the site for %s, more than quiet_after (%s)", now.Sub(s.LastSeen).Round(time.Second), c.QuietAfter)
			}
			s.Findings = append(s.Findings, Finding{Kind: Quiet, Detail: d, At: now})
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Site < out[j].Site })
	return out, nil
}

// SiteView is what a site knows of its place in the network: what its
// trail says it published and what the hub cosigned, and, where its leaf
// node runs, the link and what the outbox still holds.
type SiteView struct {
	Site string `json:"site"`
	Hub  string `json:"hub"`
	Leaf bool   `json:"leaf"` // network.leaf: publications go to the leaf node's outbox
	// Link is the leaf node's link to the hub: "up", "down", or ""
	// where the leaf node does not run in this process (it runs in pawl
	// serve).
	Link string `json:"link,omitempty"`
	// Pending is how many messages the outbox holds that the hub's
	// stream has not stored (nil: unknown, the leaf node is not here).
	Pending *uint64 `json:"pending,omitempty"`
	// Published is the largest checkpoint the hub (or, for a leaf, the
	// outbox) stored, and when.
	Published   int64     `json:"published"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	// HubWitness is the hub's id among the bundle's witnesses ("" when
	// the bundle does not count it), and HubCosigned the largest size
	// whose cosignature by it the trail holds.
	HubWitness  string `json:"hub_witness,omitempty"`
	HubCosigned int64  `json:"hub_cosigned"`
	Head        int64  `json:"head"` // the trail's entries
	// Failures are the newest publication and cosignature fetch that
	// failed since the last that succeeded, each "problem: error (audit
	// entry N)".
	Failures []string `json:"failures"`
}

// ViewSite reads the site's view from its trail; leaf is the site's
// running leaf node (nil where it does not run in this process).
func ViewSite(ctx context.Context, p *project.Project, leaf *Leaf) (SiteView, error) {
	cfg := p.Cfg
	v := SiteView{Site: cfg.NetworkSite, Hub: cfg.NetworkHub, Leaf: cfg.NetworkLeaf, Failures: []string{}}
	if !Configured(p) {
		return v, errors.New("the project is in no network: set network.hub, network.site and network.credentials (README, \"Many sites\")")
	}
	if cfg.NetworkLeaf && leaf != nil && leaf.Site() == cfg.NetworkSite {
		v.Link = "down"
		if leaf.Connected() {
			v.Link = "up"
		}
		n, err := leaf.Pending(ctx)
		if err != nil {
			return v, fmt.Errorf("the leaf node's outbox: %v", err)
		}
		v.Pending = &n
	}
	head, err := p.Trail.Head(ctx)
	if err != nil {
		return v, err
	}
	v.Head = head.Seq
	t := p.Trail
	es, err := t.Find(ctx, actions.NetworkPublished, "trail:"+t.ID())
	if err != nil {
		return v, err
	}
	var lastPub int64
	for _, e := range es {
		d, err := actions.Decode[actions.NetworkPublishedDetails](e)
		if err != nil {
			return v, err
		}
		lastPub = e.Seq
		if d.Kind == "checkpoint" && d.Size > v.Published {
			v.Published, v.PublishedAt = d.Size, e.Time
		}
	}
	var lastCos int64
	var k audit.WitnessKey
	if e, _, err := p.PolicyInForce(ctx); err == nil {
		if w, ok := HubWitness(e); ok {
			v.HubWitness = w.ID
			if k, err = audit.ParseWitnessKey(w.VKey); err == nil {
				cs, err := t.Find(ctx, actions.WitnessCosigned, "trail:"+t.ID())
				if err != nil {
					return v, err
				}
				for _, e := range cs {
					d, err := actions.Decode[actions.WitnessCosignedDetails](e)
					if err != nil {
						return v, err
					}
					if d.Witness == w.ID && d.Name == k.Name && d.KeyHash == fmt.Sprintf("%08x", k.Hash) {
						lastCos = e.Seq
						v.HubCosigned = max(v.HubCosigned, d.Size)
					}
				}
			}
		}
	}
	last := func(action string, after int64, what string, problem func(audit.Entry) (string, string, error)) error {
		fs, err := t.Find(ctx, action, "trail:"+t.ID())
		if err != nil || len(fs) == 0 || fs[len(fs)-1].Seq < after {
			return err
		}
		e := fs[len(fs)-1]
		pr, msg, err := problem(e)
		if err != nil {
			return err
		}
		v.Failures = append(v.Failures, fmt.Sprintf("%s: %s: %s (audit entry %d, %s)", what, pr, msg, e.Seq, e.Time.UTC().Format(time.RFC3339)))
		return nil
	}
	if err := last(actions.NetworkPublishFailed, lastPub, "publication", func(e audit.Entry) (string, string, error) {
		d, err := actions.Decode[actions.NetworkPublishFailedDetails](e)
		return d.Problem, d.Error, err
	}); err != nil {
		return v, err
	}
	if err := last(actions.NetworkCosignatureFailed, lastCos, "the hub's cosignature", func(e audit.Entry) (string, string, error) {
		d, err := actions.Decode[actions.NetworkCosignatureFailedDetails](e)
		return d.Problem, d.Error, err
	}); err != nil {
		return v, err
	}
	return v, nil
}

// HubReport is what VerifyHub found.
type HubReport struct {
	// Entries is the size of the hub's trail, Root its tree root
	// (base64): kept elsewhere, they show later that the trail was not
	// cut or rewritten since.
	Entries  int64    `json:"entries"`
	Root     string   `json:"root"`
	Problems []string `json:"problems"`
	// Witnessing is what the witnesses of the hub's trail
	// (HubConfig.Witnesses) cosigned, checked against their keys and the
	// trail's roots; nil when it holds no cosignature.
	Witnessing *review.Witnessing `json:"witnessing,omitempty"`
}

// checkLatestCosigned checks each witness's latest cosigned checkpoint of
// the hub's trail, kept beside it (dir/witness/<id>.checkpoint, as a
// site's review.CheckWitnesses does): signed by the hub's key, and still
// extended by the trail t of entries entries — newest entries deleted
// from the trail together with their cosignatures show here.
func checkLatestCosigned(ctx context.Context, dir string, t *audit.Trail, entries int64) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "witness", "*.checkpoint"))
	if len(files) == 0 {
		return nil
	}
	seed, err := os.ReadFile(filepath.Join(dir, "hub.key"))
	if err == nil && len(seed) != ed25519.SeedSize {
		err = fmt.Errorf("%d bytes, not a hub key", len(seed))
	}
	if err != nil {
		return []string{fmt.Sprintf("the hub's key %s cannot be read to check its witnesses' latest checkpoints: %v", filepath.Join(dir, "hub.key"), err)}
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	sort.Strings(files)
	var ps []string
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".checkpoint")
		b, err := os.ReadFile(f)
		if err != nil {
			ps = append(ps, err.Error())
			continue
		}
		cp, err := audit.OpenCheckpoint(b, pub)
		switch {
		case err != nil:
			ps = append(ps, fmt.Sprintf("%s, the latest checkpoint of the hub's trail witness %s cosigned: %v", f, id, err))
		case cp.Origin != t.Origin():
			ps = append(ps, fmt.Sprintf("%s: a checkpoint of %s, not of the hub's trail %s", f, cp.Origin, t.Origin()))
		case cp.Size > entries:
			ps = append(ps, fmt.Sprintf("%s: witness %s cosigned the hub's trail at %d entries; it holds %d: entries %d..%d were deleted", f, id, cp.Size, entries, entries+1, cp.Size))
		default:
			root, err := t.TreeRoot(ctx, cp.Size)
			if err != nil {
				ps = append(ps, fmt.Sprintf("%s: the hub's trail at %d entries, which witness %s cosigned: %v", f, cp.Size, id, err))
			} else if !bytes.Equal(root, cp.Root) {
				ps = append(ps, fmt.Sprintf("%s: witness %s cosigned the hub's first %d entries with another root: the trail was rewritten after it was witnessed", f, id, cp.Size))
			}
		}
	}
	return ps
}

// VerifyHub checks the hub's own record (read-only, beside a running
// hub): its trail (trail.db) verifies as a hash chain, and the findings,
// their resolutions, the cosignatures and the sites' key rotations in
// hub.db are exactly those on the trail — a finding deleted or resolved
// in hub.db, or a cosignature or a site's key added or changed there, is
// a problem. Each cosignature of the hub's trail by one of its witnesses
// must verify under the witness key the configuration names, over a root
// the trail still has.
func VerifyHub(ctx context.Context, c HubConfig) (*HubReport, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	r := &HubReport{Problems: []string{}}
	tp := filepath.Join(c.Dir, "trail.db")
	t, err := audit.OpenReadOnly(tp)
	if err != nil {
		return nil, fmt.Errorf("the hub's trail %s: %v (has the hub run?)", tp, err)
	}
	defer t.Close()
	ar, err := t.Verify(ctx)
	if err != nil {
		return nil, err
	}
	r.Entries = ar.Entries
	if !ar.OK {
		r.Problems = append(r.Problems, fmt.Sprintf("the hub's trail %s does not verify: %s", tp, ar.Problem))
	}
	if r.Entries > 0 && ar.OK {
		root, err := t.TreeRoot(ctx, r.Entries)
		if err != nil {
			return nil, err
		}
		r.Root = base64.StdEncoding.EncodeToString(root)
	}
	if ar.OK {
		var vkeys []string
		for _, w := range c.Witnesses {
			vkeys = append(vkeys, w.VKey)
		}
		w, err := review.CheckCosignatures(ctx, t, review.KeysByID(vkeys), "the hub's configuration does not name (witnesses)")
		if err != nil {
			return nil, err
		}
		if w.Cosignatures > 0 {
			r.Witnessing = w
			for _, p := range w.Problems {
				r.Problems = append(r.Problems, "the hub's trail: "+p)
			}
		}
	}
	// Also when the trail does not verify: a deletion is said as such.
	r.Problems = append(r.Problems, checkLatestCosigned(ctx, c.Dir, t, r.Entries)...)
	path := filepath.Join(c.Dir, "hub.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// What the trail says, as sets of keys; then hub.db against them.
	onTrail := map[string]bool{}
	for _, a := range []string{actions.HubFinding, actions.HubFindingResolved, actions.HubCosigned, actions.HubSiteKeyRotated} {
		es, err := t.Find(ctx, a, "")
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			var key string
			switch a {
			case actions.HubFinding:
				d, err := actions.Decode[actions.HubFindingDetails](e)
				if err != nil {
					return nil, err
				}
				key = fmt.Sprintf("finding %s %d %s %q", d.Site, d.Seq, d.Kind, d.Detail)
			case actions.HubFindingResolved:
				d, err := actions.Decode[actions.HubFindingResolvedDetails](e)
				if err != nil {
					return nil, err
				}
				key = fmt.Sprintf("resolution %s %d %s", d.Site, d.Seq, d.Kind)
			case actions.HubCosigned:
				d, err := actions.Decode[actions.HubCosignedDetails](e)
				if err != nil {
					return nil, err
				}
				key = fmt.Sprintf("cosignature %s %d %s %q", d.Site, d.Size, b64(d.Root), d.Cosignature)
			case actions.HubSiteKeyRotated:
				d, err := actions.Decode[actions.HubSiteKeyRotatedDetails](e)
				if err != nil {
					return nil, err
				}
				key = fmt.Sprintf("key rotation %s %d %q %q %s %s", d.Site, d.From, d.OldKey, d.NewKey, d.OldSignature, d.NewSignature)
			}
			onTrail[key] = true
		}
	}
	inDB := map[string]bool{}
	rows, err := db.QueryContext(ctx, "SELECT site, seq, kind, detail, resolved FROM findings")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	for rows.Next() {
		var site, kind, detail string
		var seq uint64
		var resolved bool
		if err := rows.Scan(&site, &seq, &kind, &detail, &resolved); err != nil {
			rows.Close()
			return nil, err
		}
		inDB[fmt.Sprintf("finding %s %d %s %q", site, seq, kind, detail)] = true
		if resolved {
			inDB[fmt.Sprintf("resolution %s %d %s", site, seq, kind)] = true
		}
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, "SELECT site, from_seq, old_key, key, old_signature, new_signature FROM site_keys WHERE old_signature != ''")
	if err != nil && !strings.Contains(err.Error(), "no such table") {
		return nil, err
	}
	for err == nil && rows.Next() {
		var site, oldKey, newKey, oldSig, newSig string
		var from int64
		if err := rows.Scan(&site, &from, &oldKey, &newKey, &oldSig, &newSig); err != nil {
			rows.Close()
			return nil, err
		}
		inDB[fmt.Sprintf("key rotation %s %d %q %q %s %s", site, from, oldKey, newKey, oldSig, newSig)] = true
	}
	if err == nil {
		rows.Close()
	}
	rows, err = db.QueryContext(ctx, "SELECT site, size, root, cosignature FROM checkpoints WHERE cosignature IS NOT NULL")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var site string
		var size int64
		var root, line []byte
		if err := rows.Scan(&site, &size, &root, &line); err != nil {
			rows.Close()
			return nil, err
		}
		inDB[fmt.Sprintf("cosignature %s %d %s %q", site, size, b64(root), line)] = true
	}
	rows.Close()
	var missing, extra []string
	for k := range onTrail {
		if !inDB[k] {
			missing = append(missing, k)
		}
	}
	for k := range inDB {
		if !onTrail[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, k := range missing {
		r.Problems = append(r.Problems, fmt.Sprintf("hub.db: the hub's trail holds the %s, hub.db does not: it was deleted or changed in hub.db", k))
	}
	for _, k := range extra {
		r.Problems = append(r.Problems, fmt.Sprintf("hub.db: holds the %s, which is not on the hub's trail: it was added or changed in hub.db (or the hub stopped before putting it on its trail: it does at its next start)", k))
	}
	return r, nil
}
