package network_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/network"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/serve/tlstest"
	"github.com/pawl-dev/pawl/engine/witness"
	"github.com/pawl-dev/pawl/policies"
	"golang.org/x/mod/sumdb/note"
)

// site is one site of the test network: a real pawl project, its nkey
// seed file and its trail's verifier key.
type site struct {
	id    string
	p     *project.Project
	creds string
	nkey  string
	vkey  string
}

func newSite(t *testing.T, id string) *site { return newSiteTB(t, id) }

func newSiteTB(t testing.TB, id string) *site {
	t.Helper()
	p := enginetest.NewProject(t)
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	creds := filepath.Join(p.Data, "network.nk")
	if err := os.WriteFile(creds, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	vkey, err := audit.VerifierKey(p.Trail.Origin(), p.Key.Public)
	if err != nil {
		t.Fatal(err)
	}
	return &site{id: id, p: p, creds: creds, nkey: pub, vkey: vkey}
}

// join puts the network module and the hub into the site's bundle, pins
// it, and sets the site's network settings.
func (s *site) join(t *testing.T, hub, ca string, witnesses map[string]any) {
	s.joinTB(t, hub, ca, witnesses)
}

func (s *site) joinTB(t testing.TB, hub, ca string, witnesses map[string]any) {
	t.Helper()
	dir := filepath.Join(s.p.Root, "policies")
	if err := os.CopyFS(dir, policies.NetworkFS()); err != nil {
		t.Fatal(err)
	}
	if witnesses != nil {
		if err := os.CopyFS(dir, policies.WitnessFS()); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "data.json")
	var data map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	data["egress"].(map[string]any)["network"] = map[string]any{"hub": hub}
	if witnesses != nil {
		data["egress"].(map[string]any)["witnesses"] = witnesses
	}
	b, _ = json.MarshalIndent(data, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	enginetest.Pin(t, s.p, "tester", "join the network")
	s.p.Cfg.NetworkHub, s.p.Cfg.NetworkSite, s.p.Cfg.NetworkCredentials, s.p.Cfg.NetworkCA = hub, s.id, s.creds, ca
}

var seq int

// commit commits a batch of one record.
func (s *site) commit(t *testing.T) {
	t.Helper()
	seq++
	enginetest.Batch(t, s.p, fmt.Sprintf(`{"device_id":"d%d","timestamp":"2026-01-01T00:00:00Z","value":%d,"unit":"C"}`, seq, seq))
}

func (s *site) publish(t *testing.T) network.Result {
	t.Helper()
	r, err := network.Publish(t.Context(), s.p, network.Options{Reason: "after a commit", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (s *site) fetch(t *testing.T) network.Cosigned {
	t.Helper()
	c, err := network.FetchCosignature(t.Context(), s.p, network.Options{Reason: "after a publication", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// send publishes raw bytes as site s to subject, with msg id id.
func (s *site) send(t *testing.T, url, ca, subject, id string, msg []byte) (*jetstream.PubAck, error) {
	t.Helper()
	return network.Send(t.Context(), url, s.id, s.creds, ca, subject, id, msg, 2*time.Second)
}

// status waits until the hub's checker has handled every message of the
// stream, then reads the status.
func status(t *testing.T, h *network.Hub, cfg network.HubConfig) map[string]network.SiteStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !h.Idle(t.Context()) {
		if time.Now().After(deadline) {
			t.Fatalf("the hub's checker did not catch up (its last error: %v)", h.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
	ss, err := network.Status(t.Context(), cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]network.SiteStatus{}
	for _, s := range ss {
		m[s.Site] = s
	}
	return m
}

func kinds(fs []network.Finding) string {
	var ks []string
	for _, f := range fs {
		ks = append(ks, f.Kind)
	}
	return strings.Join(ks, ",")
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestTwoSites runs a hub (embedded NATS JetStream with TLS) and two
// sites, each a real pawl project: checkpoints flow after commits and are
// cosigned by the hub; duplicates and reordering change nothing; a site
// catches up after the hub was down; a truncated trail and a split view
// are found; garbage, forged messages and publications to another site's
// subject are refused with a reason.
func TestTwoSites(t *testing.T) {
	pki := tlstest.New(t)
	lyon, basel := newSite(t, "lyon"), newSite(t, "basel")
	cfg := network.HubConfig{Listen: freePort(t), Dir: t.TempDir(), Name: "hub.test", QuietAfter: time.Hour,
		Sites: map[string]network.SiteConfig{"lyon": {NKey: lyon.nkey, VKey: lyon.vkey}, "basel": {NKey: basel.nkey, VKey: basel.vkey}}}
	cfg.TLS.Cert, cfg.TLS.Key = pki.ServerCert, pki.ServerKey
	h, err := network.StartHub(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { h.Close() }()
	url := h.URL()
	if !strings.HasPrefix(url, "tls://") {
		t.Fatalf("hub URL %s: want tls://", url)
	}
	hubKey, err := audit.ParseWitnessKey(h.VKey())
	if err != nil {
		t.Fatal(err)
	}
	// lyon also pushes its checkpoints to torchwood's litewitness, as
	// pawl serve does after each commit before it publishes to the hub.
	// Without litewitness on the machine (build/setup-tools.sh) that
	// part alone is skipped, and fails under PAWL_CI=1.
	var witnesses map[string]any
	witnessed := false
	t.Run("litewitness is installed", func(t *testing.T) {
		tooltest.Need(t, "litewitness")
		tooltest.Need(t, "witnessctl")
		witnessed = true
	})
	if witnessed {
		lw := enginetest.StartLitewitness(t, "example.com/w1", lyon.p.Trail.Origin(), lyon.vkey)
		witnesses = map[string]any{"w1": map[string]any{"url": lw.URL, "vkey": lw.VKey}}
	}
	// Both count the hub as a witness: its cosignatures come back over
	// the network link into their trails.
	if witnesses == nil {
		witnesses = map[string]any{}
	}
	witnesses["hub"] = map[string]any{"network": true, "vkey": h.VKey()}
	lyon.join(t, url, pki.CA, witnesses)
	basel.join(t, url, pki.CA, map[string]any{"hub": map[string]any{"network": true, "vkey": h.VKey()}})

	t.Run("checkpoints flow and are cosigned", func(t *testing.T) {
		for _, s := range []*site{lyon, basel} {
			for range 2 {
				s.commit(t)
				if s == lyon && witnessed {
					rs, err := witness.Push(t.Context(), s.p, witness.Options{Reason: "after a commit"})
					if err != nil || len(rs) != 1 || !rs[0].Cosigned {
						t.Fatalf("push to litewitness: %+v, %v", rs, err)
					}
				}
				if r := s.publish(t); r.Problem != "" || r.Seq == 0 {
					t.Fatalf("%s: %+v", s.id, r)
				}
			}
		}
		st := status(t, h, cfg)
		for _, s := range []*site{lyon, basel} {
			pub, err := network.Published(t.Context(), s.p.Trail)
			if err != nil {
				t.Fatal(err)
			}
			got := st[s.id]
			if got.Size != pub || got.Cosigned != pub || got.Messages != 4 || got.Batches != 2 || len(got.Findings) != 0 {
				t.Fatalf("%s: published %d, the hub holds %+v", s.id, pub, got)
			}
			// The hub's cosignature verifies over the site's checkpoint.
			cp, _, err := s.p.Trail.SignCheckpoint(t.Context(), pub, s.p.Key.Private)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := audit.CheckpointBody(cp)
			if _, err := audit.ParseCosignatures([]byte(got.Cosignature), hubKey, body); err != nil {
				t.Fatalf("%s: the hub's cosignature %q: %v", s.id, got.Cosignature, err)
			}
			if ws := enginetest.Details[actions.WitnessCosignedDetails](t, s.p.Trail, "trail:"+s.p.Trail.ID()); s == lyon && witnessed && (len(ws) != 2 || ws[1].Size >= pub || ws[1].OldSize != ws[0].Size) {
				t.Fatalf("lyon's cosignatures by litewitness: %+v (published %d)", ws, pub)
			}
			// The site fetches the hub's cosignature into its trail, once;
			// audit verify counts the hub as a witness.
			required := 1
			if s == lyon && witnessed {
				required = 2
			}
			if w, err := review.CheckWitnesses(t.Context(), s.p); err != nil || w.Require(required) == nil {
				t.Fatalf("%s: %d witnesses required before the hub's cosignature is fetched: %v", s.id, required, err)
			}
			for i := range 2 {
				c := s.fetch(t)
				if !c.Cosigned || c.New != (i == 0) || c.Size != pub || c.Witness != "hub" || c.Problem != "" {
					t.Fatalf("%s: fetch %d of the hub's cosignature: %+v (published %d)", s.id, i, c, pub)
				}
			}
			var hc []actions.WitnessCosignedDetails
			for _, d := range enginetest.Details[actions.WitnessCosignedDetails](t, s.p.Trail, "trail:"+s.p.Trail.ID()) {
				if d.Witness == "hub" {
					hc = append(hc, d)
				}
			}
			if len(hc) != 1 || hc[0].Via != "network" || hc[0].Size != pub || hc[0].Name != hubKey.Name || hc[0].Decision == "" {
				t.Fatalf("%s: the hub's cosignatures in the trail: %+v", s.id, hc)
			}
			rep, err := review.Verify(t.Context(), s.p)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 0 || rep.Witnessing == nil || rep.Witnessing.Require(required) != nil {
				t.Fatalf("%s: audit verify with %d witnesses required: %q, %+v", s.id, required, rep.Problems, rep.Witnessing)
			}
			var es, bs []actions.NetworkPublishedDetails
			for _, d := range enginetest.Details[actions.NetworkPublishedDetails](t, s.p.Trail, "trail:"+s.p.Trail.ID()) {
				if d.Kind == "batch" {
					bs = append(bs, d)
				} else {
					es = append(es, d)
				}
			}
			if len(es) != 2 || es[1].OldSize != es[0].Size || es[0].OldSize != 0 || es[1].Decision == "" {
				t.Fatalf("%s: network.published entries of checkpoints %+v", s.id, es)
			}
			if len(bs) != 2 || bs[0].Batch == bs[1].Batch || bs[0].Batch == "" || bs[1].Decision == "" {
				t.Fatalf("%s: network.published entries of batch signatures %+v", s.id, bs)
			}
		}
	})

	// basel rotates its engine key between a publication and the fetch of
	// its cosignature, and between a commit and its publication: the
	// cosignature is kept with the checkpoint as published (signed by the
	// old key); the batch signed by the old key and everything after it
	// signed by the new one reach the hub after the key history, which the
	// hub takes because the key it holds signed the rotation; it goes on
	// checking and cosigning (later subtests, after a restart of the hub
	// too, sign basel's messages with the new key).
	t.Run("a site rotates its engine key and keeps publishing", func(t *testing.T) {
		before := status(t, h, cfg)["basel"]
		old := basel.p.Key.ID()
		if before.Key != old || before.Keys != 1 {
			t.Fatalf("basel before the rotation: %+v (want key %s)", before, old)
		}
		// No problem, and (once the newest batch is cosigned) the hub counts
		// as a witness.
		verify := func(what string, covered bool) {
			t.Helper()
			rep, err := review.Verify(t.Context(), basel.p)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 0 || rep.Witnessing == nil || (rep.Witnessing.Require(1) != nil) == covered {
				t.Fatalf("basel's audit verify %s: %q, %+v", what, rep.Problems, rep.Witnessing)
			}
		}
		basel.commit(t)
		r0 := basel.publish(t)
		basel.commit(t)
		if _, err := basel.p.RotateKey(t.Context(), "tester", "yearly rotation"); err != nil {
			t.Fatal(err)
		}
		status(t, h, cfg)
		if c := basel.fetch(t); !c.Cosigned || !c.New || c.Size != r0.Size {
			t.Fatalf("basel's fetch of what it published before the rotation: %+v (published %+v)", c, r0)
		}
		verify("with the hub's cosignature of a checkpoint signed by the old key", false)
		basel.commit(t)
		r := basel.publish(t)
		got := status(t, h, cfg)["basel"]
		if r0.Problem != "" || r.Problem != "" || r.Batches != 2 || got.Size != r.Size || got.Cosigned != r.Size || len(got.Findings) != 0 || got.Key != basel.p.Key.ID() || got.Key == old ||
			got.Keys != 2 || got.Batches != before.Batches+3 || got.Messages != before.Messages+6 {
			t.Fatalf("basel's publication after the rotation: %+v; the hub holds %+v (want key %s, %d cosigned, no finding)", r, got, basel.p.Key.ID(), r.Size)
		}
		// The history went once, first; the next publication does not
		// send it again.
		basel.commit(t)
		r = basel.publish(t)
		var ks []actions.NetworkPublishedDetails
		var order []string
		for _, d := range enginetest.Details[actions.NetworkPublishedDetails](t, basel.p.Trail, "trail:"+basel.p.Trail.ID()) {
			if d.Kind == "key" {
				ks = append(ks, d)
			}
			order = append(order, d.Kind)
		}
		if len(ks) != 1 || ks[0].Key != basel.p.Key.ID() || ks[0].Decision == "" || ks[0].Subject != network.Subject("basel", "key") ||
			!strings.HasSuffix(strings.Join(order, ","), ",batch,checkpoint,key,batch,batch,checkpoint,batch,checkpoint") {
			t.Fatalf("basel's publications of its key history: %+v, in the order %v", ks, order)
		}
		got = status(t, h, cfg)["basel"]
		if r.Problem != "" || got.Cosigned != r.Size || len(got.Findings) != 0 || got.Messages != before.Messages+8 {
			t.Fatalf("basel's next publication: %+v; the hub holds %+v", r, got)
		}
		// The hub's cosignature comes back, kept with the checkpoint as
		// published, and audit verify counts the hub across the rotation.
		if c := basel.fetch(t); !c.Cosigned || !c.New || c.Size != r.Size {
			t.Fatalf("basel's fetch after the rotation: %+v", c)
		}
		verify("after the rotation", true)
		// The rotation is on the hub's own trail.
		hr, err := network.VerifyHub(t.Context(), cfg)
		if err != nil || len(hr.Problems) != 0 {
			t.Fatalf("the hub's record after the rotation: %+v, %v", hr, err)
		}
		ht, err := audit.OpenReadOnly(filepath.Join(cfg.Dir, "trail.db"))
		if err != nil {
			t.Fatal(err)
		}
		rots := enginetest.Details[actions.HubSiteKeyRotatedDetails](t, ht, "site:basel")
		ht.Close()
		cur, _ := basel.p.Keys.Current()
		if len(rots) != 1 || rots[0].NewKey != cur.Key || rots[0].From != cur.From || !strings.Contains(rots[0].OldKey, old) {
			t.Fatalf("the hub's trail's rotations of basel's key: %+v (want from %d)", rots, cur.From)
		}
	})

	t.Run("duplicates and reordering change nothing", func(t *testing.T) {
		before := status(t, h, cfg)["basel"]
		// Two checkpoints of basel's trail, each proven from the one
		// before, delivered in the wrong order, the second twice.
		tr := basel.p.Trail
		basel.commit(t)
		head1, _ := tr.Head(t.Context())
		basel.commit(t)
		head2, _ := tr.Head(t.Context())
		msg := func(old, size int64) []byte {
			cp, _, err := tr.SignCheckpoint(t.Context(), size, basel.p.Key.Private)
			if err != nil {
				t.Fatal(err)
			}
			pr, err := tr.ConsistencyProof(t.Context(), old, size)
			if err != nil {
				t.Fatal(err)
			}
			return audit.AddCheckpoint{OldSize: old, Proof: pr, Checkpoint: cp}.Format()
		}
		m1, m2 := msg(before.Size, head1.Seq), msg(head1.Seq, head2.Seq)
		subj := network.Subject("basel", "checkpoint")
		if _, err := basel.send(t, url, pki.CA, subj, "m2", m2); err != nil {
			t.Fatal(err)
		}
		if ack, err := basel.send(t, url, pki.CA, subj, "m2", m2); err != nil || !ack.Duplicate {
			t.Fatalf("the same message id again: %+v, %v (want a duplicate)", ack, err)
		}
		if _, err := basel.send(t, url, pki.CA, subj, "m2-again", m2); err != nil { // past the store's de-duplication
			t.Fatal(err)
		}
		if _, err := basel.send(t, url, pki.CA, subj, "m1", m1); err != nil {
			t.Fatal(err)
		}
		got := status(t, h, cfg)["basel"]
		if got.Size != head2.Seq || got.Cosigned != head2.Seq || len(got.Findings) != 0 || got.Messages != before.Messages+3 {
			t.Fatalf("after reordered and duplicated messages the hub holds %+v (want head and cosigned %d, no finding)", got, head2.Seq)
		}
	})

	t.Run("the hub down, then up: the site catches up", func(t *testing.T) {
		before := status(t, h, cfg)["lyon"]
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		lyon.commit(t)
		r := lyon.publish(t)
		if r.Problem != "unreachable" {
			t.Fatalf("publication to a hub that is down: %+v", r)
		}
		if fs := enginetest.Details[actions.NetworkPublishFailedDetails](t, lyon.p.Trail, "trail:"+lyon.p.Trail.ID()); len(fs) != 1 || fs[0].Problem != "unreachable" || fs[0].Kind != "batch" {
			t.Fatalf("network.publish_failed entries: %+v", fs)
		}
		lyon.commit(t)
		if h, err = network.StartHub(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
		r = lyon.publish(t)
		if r.Problem != "" || r.OldSize != before.Size || r.Batches != 2 {
			t.Fatalf("publication once the hub is back: %+v (want a proof from %d and both batches)", r, before.Size)
		}
		got := status(t, h, cfg)["lyon"]
		if got.Size != r.Size || got.Cosigned != r.Size || len(got.Findings) != 0 || got.Messages != before.Messages+3 || got.Batches != before.Batches+2 {
			t.Fatalf("after the catch-up the hub holds %+v (want %d cosigned, three more messages, two more batches, no finding)", got, r.Size)
		}
	})

	t.Run("garbage, forged and misaddressed messages", func(t *testing.T) {
		subj := network.Subject("basel", "checkpoint")
		if _, err := basel.send(t, url, pki.CA, subj, "g", []byte("hello hub\n")); err != nil {
			t.Fatal(err)
		}
		// A checkpoint of basel's origin signed by another key.
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		signer, _ := audit.NoteSigner(basel.p.Trail.Origin(), other)
		root := make([]byte, 32)
		forged, _ := note.Sign(&note.Note{Text: string(audit.Checkpoint{Origin: basel.p.Trail.Origin(), Size: 3, Root: root}.Format())}, signer)
		if _, err := basel.send(t, url, pki.CA, subj, "f", audit.AddCheckpoint{Checkpoint: forged}.Format()); err != nil {
			t.Fatal(err)
		}
		// lyon's batch signature on basel's subject: not signed by
		// basel's key.
		es := enginetest.Entries(t, lyon.p.Trail, actions.BatchCommitted, "")
		sig, err := os.ReadFile(lyon.p.SignaturePath(strings.TrimPrefix(es[0].Object, "batch:")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := basel.send(t, url, pki.CA, network.Subject("basel", "batch"), "b", sig); err != nil {
			t.Fatal(err)
		}
		// Key histories that would give basel's trail a key of a forger's:
		// a rotation from basel's key signed by the forger's new key only
		// (the old key's signature is not basel's key's), and a history
		// that skips basel's key; then basel's own history, with the
		// entry its new key signs from moved (the entry is not signed).
		real := *basel.p.Keys
		if len(real.Keys) != 2 {
			t.Fatalf("basel's key history: %+v", real)
		}
		cur, _ := real.Current()
		_, a, _ := ed25519.GenerateKey(rand.Reader)
		_, b, _ := ed25519.GenerateKey(rand.Reader)
		forger := &seal.Key{Private: b, Public: b.Public().(ed25519.PublicKey)}
		posing := &seal.Key{Private: a, Public: cur.Public()} // signs as if it were basel's key
		d, err := seal.SignRotation(basel.p.Trail.ID(), posing, forger, seal.AtRestPlain)
		if err != nil {
			t.Fatal(err)
		}
		head, _ := basel.p.Trail.Head(t.Context())
		js := func(h seal.KeyHistory) []byte {
			b, _ := json.Marshal(h)
			return b
		}
		next := seal.KeyHistory{Trail: real.Trail, Keys: append(real.Keys[:2:2], seal.KeyEpoch{Key: d.NewKey, From: head.Seq + 1, OldSignature: d.OldSignature, NewSignature: d.NewSignature})}
		alone := seal.KeyHistory{Trail: real.Trail, Keys: []seal.KeyEpoch{{Key: d.NewKey, From: 1}}}
		moved := seal.KeyHistory{Trail: real.Trail, Keys: []seal.KeyEpoch{real.Keys[0], real.Keys[1]}}
		moved.Keys[1].From++
		for i, m := range [][]byte{js(next), js(alone), js(moved)} {
			if _, err := basel.send(t, url, pki.CA, network.Subject("basel", "key"), fmt.Sprint("k", i), m); err != nil {
				t.Fatal(err)
			}
		}
		// lyon's credentials cannot publish as basel, nor records.
		stored := status(t, h, cfg)
		for _, to := range []string{subj, "pawl.site.lyon.records"} {
			_, err := lyon.send(t, url, pki.CA, to, "x-"+to, []byte("old 0\n\n"))
			var re *network.RefusedError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), "permissions violation") {
				t.Fatalf("lyon published to %s: %v (want a refusal by the server)", to, err)
			}
		}
		got := status(t, h, cfg)
		if got["lyon"].Messages != stored["lyon"].Messages || got["basel"].Messages != stored["basel"].Messages {
			t.Fatalf("a refused publication reached the hub: lyon %d then %d messages, basel %d then %d", stored["lyon"].Messages, got["lyon"].Messages, stored["basel"].Messages, got["basel"].Messages)
		}
		fs := got["basel"].Findings
		if kinds(fs) != "garbage,forged,forged,forged,forged,key_conflict" || !strings.Contains(fs[0].Detail, "not a consistency proof") || !strings.Contains(fs[1].Detail, "not signed by the key given") || !strings.Contains(fs[1].Detail, "signed by none of the keys the hub holds for basel (key "+basel.p.Key.ID()+" now)") ||
			!strings.Contains(fs[2].Detail, "not in the trusted key history") || !strings.Contains(fs[3].Detail, "the old key's signature over the rotation does not verify") ||
			!strings.Contains(fs[4].Detail, "does not pass through key "+basel.p.Key.ID()) || !strings.Contains(fs[5].Detail, "the hub holds it from entry") {
			t.Fatalf("basel's findings: %+v", fs)
		}
		// None of them changed the key the hub holds for basel.
		if b := got["basel"]; b.Key != basel.p.Key.ID() || b.Keys != 2 {
			t.Fatalf("basel's key at the hub after forged key histories: %+v (want %s)", b, basel.p.Key.ID())
		}
		// Without the CA that issued the hub's certificate, no connection.
		// Nor can it listen to what the hub's checker receives, or to
		// another site's acknowledgements.
		refused := make(chan error, 4)
		nc, err := network.Conn(url, "lyon", lyon.creds, pki.CA, time.Second, func(err error) { refused <- err })
		if err != nil {
			t.Fatal(err)
		}
		for _, subj := range []string{"_INBOX.>", network.InboxPrefix("basel") + ".>", "pawl.site.>"} {
			if _, err := nc.SubscribeSync(subj); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-refused:
				if !strings.Contains(err.Error(), "permissions violation") || !strings.Contains(err.Error(), subj) {
					t.Fatalf("subscription to %s: %v", subj, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("lyon subscribed to %s", subj)
			}
		}
		nc.Close()
		if _, err := network.Conn(url, "lyon", lyon.creds, pki.OtherCA, time.Second, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a connection trusting another CA: %v", err)
		}
		// The same through Publish: refused, on record.
		lyon.p.Cfg.NetworkCA = pki.OtherCA
		r := lyon.publish(t)
		lyon.p.Cfg.NetworkCA = pki.CA
		if r.Problem != "refused" || !strings.Contains(r.Error, "certificate signed by unknown authority") {
			t.Fatalf("publication trusting another CA: %+v", r)
		}
	})

	t.Run("a split view, an unproven checkpoint, a fork and a truncated trail are found", func(t *testing.T) {
		st := status(t, h, cfg)
		// basel's key signs another root at the size the hub holds.
		signer, _ := audit.NoteSigner(basel.p.Trail.Origin(), basel.p.Key.Private)
		root := bytes.Repeat([]byte{7}, 32)
		other, _ := note.Sign(&note.Note{Text: string(audit.Checkpoint{Origin: basel.p.Trail.Origin(), Size: st["basel"].Size, Root: root}.Format())}, signer)
		if _, err := basel.send(t, url, pki.CA, network.Subject("basel", "checkpoint"), "split", audit.AddCheckpoint{Checkpoint: other}.Format()); err != nil {
			t.Fatal(err)
		}
		// A larger checkpoint of basel's whose proof starts at a size the
		// hub never held: kept, not cosigned, unproven.
		basel.commit(t)
		bh, _ := basel.p.Trail.Head(t.Context())
		bcp, _, err := basel.p.Trail.SignCheckpoint(t.Context(), bh.Seq, basel.p.Key.Private)
		if err != nil {
			t.Fatal(err)
		}
		bpr, err := basel.p.Trail.ConsistencyProof(t.Context(), 3, bh.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := basel.send(t, url, pki.CA, network.Subject("basel", "checkpoint"), "gap", audit.AddCheckpoint{OldSize: 3, Proof: bpr, Checkpoint: bcp}.Format()); err != nil {
			t.Fatal(err)
		}
		// Then one proven from that head by a proof that does not
		// verify: a fork.
		basel.commit(t)
		bh2, _ := basel.p.Trail.Head(t.Context())
		fcp, _, err := basel.p.Trail.SignCheckpoint(t.Context(), bh2.Seq, basel.p.Key.Private)
		if err != nil {
			t.Fatal(err)
		}
		fpr, err := basel.p.Trail.ConsistencyProof(t.Context(), bh.Seq, bh2.Seq)
		if err != nil {
			t.Fatal(err)
		}
		fpr[0] = bytes.Repeat([]byte{9}, 32)
		if _, err := basel.send(t, url, pki.CA, network.Subject("basel", "checkpoint"), "fork", audit.AddCheckpoint{OldSize: bh.Seq, Proof: fpr, Checkpoint: fcp}.Format()); err != nil {
			t.Fatal(err)
		}
		// lyon holds the hub's cosignature of its head.
		if c := lyon.fetch(t); !c.Cosigned || c.Size != st["lyon"].Size {
			t.Fatalf("lyon's fetch of the hub's cosignature of its head %d: %+v", st["lyon"].Size, c)
		}
		// lyon's newest entries deleted by someone holding the file.
		cut := st["lyon"].Size - 8
		for _, w := range enginetest.Details[actions.WitnessCosignedDetails](t, lyon.p.Trail, "trail:"+lyon.p.Trail.ID()) {
			if w.Witness == "w1" {
				cut = min(cut, w.Size-2)
			}
		}
		enginetest.AttackTrail(t, filepath.Join(lyon.p.Data, "audit.db"), fmt.Sprintf("DELETE FROM entries WHERE seq > %d", cut))
		// audit verify finds it too: the hub (and litewitness) cosigned
		// more.
		rep, err := review.Verify(t.Context(), lyon.p)
		if err != nil {
			t.Fatal(err)
		}
		if p := strings.Join(rep.Problems, "\n"); !strings.Contains(p, "hub.checkpoint, the latest checkpoint witness hub cosigned") || !strings.Contains(p, "were deleted") {
			t.Fatalf("audit verify of the truncated trail: %q", rep.Problems)
		}
		if r := lyon.publish(t); r.Problem != "" {
			t.Fatalf("publication of the truncated trail: %+v", r)
		}
		got := status(t, h, cfg)
		if fs := got["basel"].Findings; kinds(fs) != "garbage,forged,forged,forged,forged,key_conflict,split_view,unproven,fork" || !strings.Contains(fs[6].Detail, "two heads of basel's trail") ||
			!strings.Contains(fs[7].Detail, "whose proof starts at 3, where the hub holds no checkpoint") || !strings.Contains(fs[8].Detail, "does not extend the checkpoint") {
			t.Fatalf("basel's findings: %+v", fs)
		}
		if b := got["basel"]; b.Size != bh.Seq || b.Cosigned != st["basel"].Cosigned || b.Cosignature != "" {
			t.Fatalf("basel after an unproven checkpoint: %+v (want head %d, cosigned still %d)", b, bh.Seq, st["basel"].Cosigned)
		}
		if fs := got["lyon"].Findings; kinds(fs) != "truncation" || !strings.Contains(fs[0].Detail, "were deleted") {
			t.Fatalf("lyon's findings: %+v", fs)
		}
		if got["lyon"].Size != st["lyon"].Size {
			t.Fatalf("the hub's head of lyon moved back: %+v", got["lyon"])
		}
		// basel publishes its real head, proven from what it published
		// before, not from the unproven head the hub now holds: the hub
		// does not cosign it, and basel's fetch says why, on record.
		basel.commit(t)
		r := basel.publish(t)
		if g := status(t, h, cfg)["basel"]; r.Problem != "" || g.Size != r.Size || g.Cosigned == r.Size {
			t.Fatalf("basel's publication after the unproven head: %+v; the hub holds %+v", r, g)
		}
		if c := basel.fetch(t); c.Cosigned || c.Problem != "unproven" || !strings.Contains(c.Error, "has not cosigned it") {
			t.Fatalf("basel's fetch of an uncosigned checkpoint: %+v", c)
		}
		if fs := enginetest.Details[actions.NetworkCosignatureFailedDetails](t, basel.p.Trail, "trail:"+basel.p.Trail.ID()); len(fs) != 1 || fs[0].Problem != "unproven" || fs[0].Size != r.Size || fs[0].Witness != "hub" {
			t.Fatalf("basel's network.cosignature_failed entries: %+v", fs)
		}
	})

	t.Run("the hub's own record is tamper-evident", func(t *testing.T) {
		st := status(t, h, cfg)
		rep, err := network.VerifyHub(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Every finding and cosignature so far is on the hub's trail.
		if len(rep.Problems) != 0 || rep.Entries < int64(len(st["basel"].Findings))+4 || rep.Root == "" {
			t.Fatalf("the hub's record: %+v", rep)
		}
		hubDB := filepath.Join(cfg.Dir, "hub.db")
		// Someone with the hub's files hides basel's split view and
		// marks its fork resolved.
		enginetest.AttackTrail(t, hubDB, "DELETE FROM findings WHERE kind = 'split_view'", "UPDATE findings SET resolved = 1 WHERE kind = 'fork'")
		rep, err = network.VerifyHub(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if p := strings.Join(rep.Problems, "\n"); len(rep.Problems) != 2 || !strings.Contains(p, "the finding basel") || !strings.Contains(p, "split_view") ||
			!strings.Contains(p, "deleted or changed in hub.db") || !strings.Contains(p, "holds the resolution basel") {
			t.Fatalf("hub.db edited: %q", rep.Problems)
		}
		// And the trail itself edited to match: its chain breaks.
		enginetest.AttackTrail(t, filepath.Join(cfg.Dir, "trail.db"), "DELETE FROM entries WHERE action = 'hub.finding' AND details LIKE '%split_view%'")
		if rep, err = network.VerifyHub(t.Context(), cfg); err != nil || !strings.Contains(strings.Join(rep.Problems, "\n"), "the hub's trail "+filepath.Join(cfg.Dir, "trail.db")+" does not verify") {
			t.Fatalf("the hub's trail edited: %+v, %v", rep, err)
		}
	})

	t.Run("a quiet site", func(t *testing.T) {
		ss, err := network.Status(t.Context(), cfg, time.Now().Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			if fs := s.Findings; len(fs) == 0 || fs[len(fs)-1].Kind != network.Quiet {
				t.Fatalf("%s two hours later: %+v", s.Site, fs)
			}
		}
	})
}

// TestHubConfig: the hub's configuration is read with its paths relative
// to the file, and each mistake is refused naming the key and what to do.
// TestHubTrailWitnessed: the hub pushes its own trail to the witnesses
// its configuration names (torchwood's litewitness here) once it holds
// entries and whenever it grows; each cosignature is on the hub's trail,
// VerifyHub checks them against the configured key, and one by a key the
// configuration does not name is a problem.
func TestHubTrailWitnessed(t *testing.T) {
	pki := tlstest.New(t)
	lyon := newSite(t, "lyon")
	cfg := network.HubConfig{Listen: freePort(t), Dir: t.TempDir(), Name: "hub.test", QuietAfter: time.Hour, WitnessEvery: 50 * time.Millisecond,
		Sites: map[string]network.SiteConfig{"lyon": {NKey: lyon.nkey, VKey: lyon.vkey}}}
	cfg.TLS.Cert, cfg.TLS.Key = pki.ServerCert, pki.ServerKey
	// The hub's trail and key exist once it has started: started once to
	// learn its trail key, which the witness is given.
	h, err := network.StartHub(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	key, err := h.TrailKey()
	h.Close()
	if err != nil {
		t.Fatal(err)
	}
	origin, _, _ := strings.Cut(key, "+")
	lw := enginetest.StartLitewitness(t, "example.com/hubw", origin, key)
	cfg.Witnesses = map[string]network.TrailWitness{"hubw": {URL: lw.URL, VKey: lw.VKey}}
	if h, err = network.StartHub(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			h.Close()
		}
	}()

	lyon.join(t, h.URL(), pki.CA, nil)
	lyon.commit(t)
	if r := lyon.publish(t); r.Problem != "" {
		t.Fatalf("publish: %+v", r)
	}
	status(t, h, cfg)
	trail, err := audit.OpenReadOnly(filepath.Join(cfg.Dir, "trail.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	cos, err := trail.Find(t.Context(), actions.HubCosigned, "")
	if err != nil || len(cos) == 0 {
		t.Fatalf("the hub's cosignature of lyon's checkpoint is not on its trail: %v", err)
	}
	// The loop pushes the grown trail: a cosignature covering the hub's
	// cosignature of lyon's checkpoint.
	var rep *network.HubReport
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if rep, err = network.VerifyHub(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
		if w := rep.Witnessing; w != nil && len(w.Covered) == 1 {
			var covered int64
			for _, n := range w.Covered {
				covered = n
			}
			if covered >= cos[0].Seq {
				break
			}
		}
		if time.Now().After(deadline) {
			es, _ := trail.Find(t.Context(), actions.WitnessPushFailed, "")
			t.Fatalf("no cosignature of the hub's trail through entry %d: %+v; failed pushes: %d", cos[0].Seq, rep.Witnessing, len(es))
		}
	}
	if len(rep.Problems) != 0 {
		t.Fatalf("VerifyHub: %v", rep.Problems)
	}
	// Pushed by hand: cosigned again, proven consistent with the last.
	rs := h.PushWitnesses(t.Context())
	if len(rs) != 1 || !rs[0].Cosigned || rs[0].OldSize == 0 {
		t.Fatalf("PushWitnesses: %+v", rs)
	}
	// A configuration that names another key for the witness.
	other := cfg
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sum := sha256.Sum256(append([]byte("example.com/hubw\n\x04"), pub...))
	wrong := audit.WitnessKey{Name: "example.com/hubw", Hash: binary.BigEndian.Uint32(sum[:4]), Pub: pub}.String()
	other.Witnesses = map[string]network.TrailWitness{"hubw": {URL: lw.URL, VKey: wrong}}
	if rep, err := network.VerifyHub(t.Context(), other); err != nil || len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0], "the hub's configuration does not name (witnesses)") {
		t.Fatalf("VerifyHub with another witness key: %+v, %v", rep, err)
	}
	// The hub's newest entries deleted, their cosignatures with them: the
	// latest checkpoint the witness cosigned, kept beside the trail, shows
	// it.
	h.Close()
	closed = true
	trail.Close()
	enginetest.AttackTrail(t, filepath.Join(cfg.Dir, "trail.db"), fmt.Sprintf("DELETE FROM entries WHERE seq >= %d", rs[0].Size))
	rep, err = network.VerifyHub(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// (The loop may have pushed once more before Close: the latest
	// cosigned size is at least the one pushed by hand.)
	want := fmt.Sprintf("it holds %d: entries %d..", rs[0].Size-1, rs[0].Size)
	if !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, want) }) {
		t.Fatalf("VerifyHub after the newest entries were deleted: %v (want %q)", rep.Problems, want)
	}
}

func TestHubConfig(t *testing.T) {
	dir := t.TempDir()
	kp, _ := nkeys.CreateUser()
	nkey, _ := kp.PublicKey()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	vkey, err := audit.VerifierKey("pawl.dev/audit/x", priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	write := func(text string) string {
		p := filepath.Join(dir, "hub.yaml")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := network.ReadHubConfig(write(fmt.Sprintf("dir: state\nlisten: 127.0.0.1:7422\ntls: {cert: c.pem, key: k.pem}\nsites:\n  lyon: {nkey: %s, vkey: %q}\n", nkey, vkey)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir != filepath.Join(dir, "state") || c.TLS.Cert != filepath.Join(dir, "c.pem") || c.QuietAfter != time.Hour || c.Name != "pawl-hub" {
		t.Fatalf("read: %+v", c)
	}
	for text, want := range map[string]string{
		"dir: d\ntls: {cert: c, key: k}\n":    "listen: the host:port sites connect to is missing",
		"dir: d\nlisten: 127.0.0.1:7422\n":    "tls: cert and key are missing: sites connect over TLS only",
		"sites: {}\n":                         "dir: the hub's data directory is missing",
		"dir: d\nport: 1\n":                   "field port not found",
		"dir: d\ntls: {cert: c.pem}\n":        "tls: give both cert and key",
		"dir: d\nquiet_after: -1s\n":          "quiet_after: -1s must be more than 0",
		"dir: d\nsites: {a.b: {}}\n":          `sites: "a.b": a site id is letters, digits, '-' and '_'`,
		"dir: d\nsites: {lyon: {nkey: SU}}\n": `sites.lyon.nkey: "SU" is not a public user nkey`,
		fmt.Sprintf("dir: d\nsites: {lyon: {nkey: %s, vkey: x+1+AA}}\n", nkey): `sites.lyon.vkey: "x+1+AA" is not a trail's verifier key`,
		"dir: d\nwitness_every: -1s\n":                                         "witness_every: -1s must be more than 0",
		"dir: d\nwitnesses: {a.b: {url: https://w.example}}\n":                 `witnesses: "a.b": a witness id is letters, digits, '-' and '_'`,
		"dir: d\nwitnesses: {w1: {url: ftp://w.example}}\n":                    `witnesses.w1.url: "ftp://w.example" is not an http(s) URL`,
		"dir: d\nwitnesses: {w1: {url: https://w.example, vkey: x}}\n":         `witnesses.w1.vkey:`,
	} {
		if _, err := network.ReadHubConfig(write(text)); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "hub.yaml") {
			t.Errorf("%q: %v (want %q)", text, err, want)
		}
	}
}
