package network_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/network"
	"github.com/pawl-dev/pawl/engine/serve/tlstest"
	"golang.org/x/mod/sumdb/note"
)

// TestLeafSites runs a hub accepting leaf nodes and two sites in leaf
// mode, each a real project with its own leaf node (JetStream domain =
// its id): publications made while the hub is down are stored in the
// site's outbox and reach the hub, through its stream sourcing from the
// site's domain, when the hub is back, each once; the hub's checks find
// a split view and a truncation among sourced messages; a leaf holding a
// site's credentials cannot get a message into another site's subjects
// nor touch what the hub holds of it.
func TestLeafSites(t *testing.T) {
	pki := tlstest.New(t)
	lyon, basel := newSite(t, "lyon"), newSite(t, "basel")
	cfg := network.HubConfig{Listen: freePort(t), LeafListen: freePort(t), Dir: t.TempDir(), Name: "hub.test", QuietAfter: time.Hour,
		Sites: map[string]network.SiteConfig{"lyon": {NKey: lyon.nkey, VKey: lyon.vkey, Leaf: true}, "basel": {NKey: basel.nkey, VKey: basel.vkey, Leaf: true}}}
	cfg.TLS.Cert, cfg.TLS.Key = pki.ServerCert, pki.ServerKey
	// The leaves first, as after an outage: they link up as soon as the
	// hub listens, before its streams ask them for their outbox.
	leafURL := "tls://" + cfg.LeafListen
	leaves := map[string]*network.Leaf{}
	for _, s := range []*site{lyon, basel} {
		s.join(t, leafURL, pki.CA, nil)
		s.p.Cfg.NetworkLeaf = true
		l, err := network.StartLeaf(t.Context(), network.LeafConfig{Site: s.id, Hub: leafURL, Creds: s.creds, CA: pki.CA, Dir: filepath.Join(s.p.Data, "network"), Reconnect: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		leaves[s.id] = l
	}
	h, err := network.StartHub(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { h.Close() }()
	if h.LeafURL() != leafURL {
		t.Fatalf("the hub's leaf URL %s, want %s", h.LeafURL(), leafURL)
	}
	t.Run("set-up mistakes say what to fix", func(t *testing.T) {
		if _, err := network.Publish(t.Context(), lyon.p, network.Options{Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "leaf node is not running") {
			t.Fatalf("leaf mode without the leaf node: %v", err)
		}
		if _, err := network.StartLeaf(t.Context(), network.LeafConfig{Site: "lyon", Hub: "nats://" + cfg.LeafListen, Creds: lyon.creds, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "over TLS only") {
			t.Fatalf("a leaf to a plain URL: %v", err)
		}
		if _, err := network.StartLeaf(t.Context(), network.LeafConfig{Site: "lyon", Hub: leafURL, Creds: lyon.creds, CA: pki.CA, Dir: filepath.Join(lyon.p.Data, "network")}); err == nil || !strings.Contains(err.Error(), "another leaf node of site lyon uses this store") {
			t.Fatalf("a second leaf node on lyon's store: %v", err)
		}
		y := filepath.Join(t.TempDir(), "hub.yaml")
		os.WriteFile(y, fmt.Appendf(nil, "listen: %s\ndir: hub\ntls: {cert: %s, key: %s}\nsites:\n  lyon: {nkey: %s, vkey: %q, leaf: true}\n", cfg.Listen, pki.ServerCert, pki.ServerKey, lyon.nkey, lyon.vkey), 0o600)
		if _, err := network.ReadHubConfig(y); err == nil || !strings.Contains(err.Error(), "leaf_listen: sites with leaf: true") {
			t.Fatalf("a leaf site without leaf_listen: %v", err)
		}
	})
	publish := func(t *testing.T, s *site) network.Result {
		t.Helper()
		r, err := network.Publish(t.Context(), s.p, network.Options{Reason: "after a commit", Timeout: 5 * time.Second, Leaf: leaves[s.id]})
		if err != nil {
			t.Fatal(err)
		}
		if r.Problem != "" {
			t.Fatalf("%s's publication to its outbox: %+v", s.id, r)
		}
		return r
	}
	// hubHolds waits until the hub's checker has handled lyon's size.
	hubHolds := func(t *testing.T, s *site, size int64) network.SiteStatus {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := status(t, h, cfg)[s.id]
			if got.Size >= size {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hub holds %+v of %s, not size %d (leaf connected: %v; checker: %v)", got, s.id, size, leaves[s.id].Connected(), h.Err())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	t.Run("checkpoints flow through the leaf nodes", func(t *testing.T) {
		var rs []network.Result
		for _, s := range []*site{lyon, basel} {
			s.commit(t)
			rs = append(rs, publish(t, s))
		}
		for i, s := range []*site{lyon, basel} {
			got := hubHolds(t, s, rs[i].Size)
			if got.Size != rs[i].Size || got.Cosigned != rs[i].Size || len(got.Findings) != 0 || got.Messages != 2 || got.Batches != 1 {
				t.Fatalf("%s: the hub holds %+v (want %d cosigned, a batch and a checkpoint, no finding)", s.id, got, rs[i].Size)
			}
		}
		pub := enginetest.Details[actions.NetworkPublishedDetails](t, lyon.p.Trail, "trail:"+lyon.p.Trail.ID())
		if len(pub) != 2 || pub[1].Stream != network.Outbox || pub[1].Kind != "checkpoint" {
			t.Fatalf("lyon's network.published entries: %+v (want the batch and the checkpoint, acknowledged by %s)", pub, network.Outbox)
		}
	})

	t.Run("the hub down: the outbox holds, the hub catches up when it is back", func(t *testing.T) {
		before := status(t, h, cfg)["lyon"]
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		// lyon rotates its engine key between the two commits: its key
		// history goes through the outbox too, after the checkpoint signed
		// by the old key and before what the new key signed.
		var last network.Result
		for i := range 2 {
			if i == 1 {
				if _, err := lyon.p.RotateKey(t.Context(), "tester", "rotated while the link is down"); err != nil {
					t.Fatal(err)
				}
			}
			lyon.commit(t)
			last = publish(t, lyon) // acknowledged by the outbox, the link down
		}
		if leaves["lyon"].Connected() {
			t.Fatal("lyon's leaf says it is connected to a hub that is down")
		}
		if n, err := leaves["lyon"].Pending(t.Context()); err != nil || n < 5 {
			t.Fatalf("lyon's outbox holds %d messages (%v), want at least 5: two batch signatures, two checkpoints, the key history", n, err)
		}
		if fs := enginetest.Details[actions.NetworkPublishFailedDetails](t, lyon.p.Trail, "trail:"+lyon.p.Trail.ID()); len(fs) != 0 {
			t.Fatalf("network.publish_failed entries with the outbox up: %+v", fs)
		}
		if h, err = network.StartHub(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
		got := hubHolds(t, lyon, last.Size)
		// Five more messages (two batches, two checkpoints, the key
		// history), each once: nothing lost, nothing twice, the chain
		// proven link by link across the rotation.
		if got.Size != last.Size || got.Cosigned != last.Size || len(got.Findings) != 0 || got.Messages != before.Messages+5 || got.Batches != before.Batches+2 ||
			got.Key != lyon.p.Key.ID() || got.Keys != 2 {
			t.Fatalf("after the catch-up the hub holds %+v (want %d cosigned, five more messages, two more batches, key %s, no finding)", got, last.Size, lyon.p.Key.ID())
		}
		if n := hubCheckpoints(t, cfg, "lyon"); n != 3 {
			t.Fatalf("hub.db holds %d checkpoints of lyon, want 3 (one per publication)", n)
		}
		// Stored on the hub, the messages leave the outbox (at the
		// consumer's next flow-control round, within a heartbeat).
		for deadline := time.Now().Add(8 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			n, err := leaves["lyon"].Pending(t.Context())
			if err == nil && n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lyon's outbox still holds %d messages (%v) the hub has", n, err)
			}
		}
	})

	t.Run("a split view and a truncation among sourced messages", func(t *testing.T) {
		st := status(t, h, cfg)
		signer, _ := audit.NoteSigner(basel.p.Trail.Origin(), basel.p.Key.Private)
		other, _ := note.Sign(&note.Note{Text: string(audit.Checkpoint{Origin: basel.p.Trail.Origin(), Size: st["basel"].Size, Root: bytes.Repeat([]byte{7}, 32)}.Format())}, signer)
		if _, err := leaves["basel"].Send(t.Context(), network.Subject("basel", "checkpoint"), "split", audit.AddCheckpoint{Checkpoint: other}.Format(), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		enginetest.AttackTrail(t, filepath.Join(lyon.p.Data, "audit.db"), fmt.Sprintf("DELETE FROM entries WHERE seq > %d", st["lyon"].Size-8))
		publish(t, lyon)
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := status(t, h, cfg)
			if kinds(got["basel"].Findings) == "split_view" && kinds(got["lyon"].Findings) == "truncation" {
				if got["lyon"].Size != st["lyon"].Size {
					t.Fatalf("the hub's head of lyon moved back: %+v", got["lyon"])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("findings: basel %+v, lyon %+v (want split_view, truncation)", got["basel"].Findings, got["lyon"].Findings)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("lyon's machine in other hands", func(t *testing.T) {
		// Someone holding lyon's box and seed runs the leaf's store with
		// a server of their own: the outbox takes basel's subjects too,
		// and they publish straight into the hub's account of lyon.
		before := status(t, h, cfg)
		seed, err := os.ReadFile(lyon.creds)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(leafURL)
		ca, err := os.ReadFile(pki.CA)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(ca)
		leaves["lyon"].Close()
		ns, err := server.NewServer(&server.Options{ServerName: "rogue", DontListen: true, NoSigs: true, NoLog: true, JetStream: true, JetStreamDomain: "lyon",
			StoreDir: filepath.Join(lyon.p.Data, "network", "jetstream"), LeafNode: server.LeafNodeOpts{ReconnectInterval: 100 * time.Millisecond,
				Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{u}, Nkey: strings.TrimSpace(string(seed)), TLS: true,
					TLSConfig: &tls.Config{RootCAs: roots, ServerName: u.Hostname(), MinVersion: tls.VersionTLS13}}}}})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		defer ns.Shutdown()
		nc, err := nats.Connect("", nats.InProcessServer(ns))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if _, err := js.UpdateStream(t.Context(), jetstream.StreamConfig{Name: network.Outbox, Subjects: []string{"pawl.site.>"}, Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for ns.NumLeafNodes() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the rogue leaf did not connect")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := js.Publish(t.Context(), network.Subject("basel", "checkpoint"), []byte("from lyon's box\n")); err != nil {
			t.Fatal(err)
		}
		for _, subj := range []string{network.Subject("basel", "checkpoint"), "$JS." + network.HubDomain + ".API.STREAM.DELETE." + network.SiteStream("lyon"),
			"$JS.API.STREAM.DELETE." + network.SiteStream("lyon"), "$JS.API.STREAM.PURGE." + network.SiteStream("lyon")} {
			if err := nc.Publish(subj, []byte("{}")); err != nil {
				t.Fatal(err)
			}
		}
		// A message of lyon's own, sent after the others: once the hub
		// has it, the others had their chance.
		if _, err := js.Publish(t.Context(), network.Subject("lyon", "marker"), []byte("marker\n")); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(15 * time.Second)
		for {
			got := status(t, h, cfg)
			if got["lyon"].Messages > before["lyon"].Messages {
				if got["basel"].Messages != before["basel"].Messages || kinds(got["basel"].Findings) != kinds(before["basel"].Findings) {
					t.Fatalf("lyon's box got a message into basel's subjects: %+v", got["basel"])
				}
				fs := got["lyon"].Findings
				if got["lyon"].Messages != before["lyon"].Messages+1 || kinds(fs) != "truncation,forged,forged,garbage" ||
					!strings.Contains(fs[1].Detail, `lyon's leaf node forwarded a message on "pawl.site.basel.checkpoint", not one of its own subjects`) {
					t.Fatalf("lyon after the rogue's messages: %+v (want the marker and the two forged messages on record)", got["lyon"])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hub did not get the rogue's marker in lyon's stream (stream deleted?): %+v", got["lyon"])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// hubCheckpoints counts the checkpoints hub.db holds of site.
func hubCheckpoints(t *testing.T, cfg network.HubConfig, site string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(cfg.Dir, "hub.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM checkpoints WHERE site = ?", site).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
