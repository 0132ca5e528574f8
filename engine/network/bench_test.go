package network_test

import (
	"net"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/network"
	"github.com/pawl-dev/pawl/engine/serve/tlstest"
)

// BenchmarkPublish is the cost of one checkpoint push to the hub, end to
// end: the policy decision on record, the signed checkpoint and its
// consistency proof, a TLS connection with the site's nkey, the
// JetStream acknowledgement, the network.published entry, and the hub's
// check and cosignature in hub.db (waited for).
func BenchmarkPublish(b *testing.B) {
	pki := tlstest.New(b)
	s := newSiteTB(b, "lyon")
	cfg := network.HubConfig{Dir: b.TempDir(), Name: "hub.test", Sites: map[string]network.SiteConfig{"lyon": {NKey: s.nkey, VKey: s.vkey}}}
	cfg.TLS.Cert, cfg.TLS.Key = pki.ServerCert, pki.ServerKey
	h, err := network.StartHub(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	s.joinTB(b, h.URL(), pki.CA, nil)
	for b.Loop() {
		r, err := network.Publish(b.Context(), s.p, network.Options{Reason: "bench", Timeout: 5 * time.Second})
		if err != nil || r.Problem != "" {
			b.Fatalf("%+v, %v", r, err)
		}
		for !h.Idle(b.Context()) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	ss, err := network.Status(b.Context(), cfg, time.Now())
	if err != nil || len(ss) != 1 || len(ss[0].Findings) != 0 || ss[0].Cosigned != ss[0].Size {
		b.Fatalf("after the benchmark: %+v, %v", ss, err)
	}
}

// BenchmarkLeafPublish is the same through the site's leaf node: the
// publication stored in the outbox and acknowledged there, then forwarded
// by the hub's sourcing over the leaf link (TLS, kept open) and checked
// and cosigned in hub.db (waited for).
func BenchmarkLeafPublish(b *testing.B) {
	pki := tlstest.New(b)
	s := newSiteTB(b, "lyon")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	leafListen := ln.Addr().String()
	ln.Close()
	cfg := network.HubConfig{Dir: b.TempDir(), Name: "hub.test", LeafListen: leafListen, Sites: map[string]network.SiteConfig{"lyon": {NKey: s.nkey, VKey: s.vkey, Leaf: true}}}
	cfg.TLS.Cert, cfg.TLS.Key = pki.ServerCert, pki.ServerKey
	url := "tls://" + leafListen
	l, err := network.StartLeaf(b.Context(), network.LeafConfig{Site: "lyon", Hub: url, Creds: s.creds, CA: pki.CA, Dir: b.TempDir(), Reconnect: 20 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	h, err := network.StartHub(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	s.joinTB(b, url, pki.CA, nil)
	s.p.Cfg.NetworkLeaf = true
	for b.Loop() {
		r, err := network.Publish(b.Context(), s.p, network.Options{Reason: "bench", Timeout: 5 * time.Second, Leaf: l})
		if err != nil || r.Problem != "" {
			b.Fatalf("%+v, %v", r, err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Microsecond) {
			ss, err := network.Status(b.Context(), cfg, time.Now())
			if err == nil && len(ss) == 1 && ss[0].Cosigned == r.Size {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the hub did not cosign size %d: %+v, %v", r.Size, ss, err)
			}
		}
	}
	ss, err := network.Status(b.Context(), cfg, time.Now())
	if err != nil || len(ss) != 1 || len(ss[0].Findings) != 0 || ss[0].Cosigned != ss[0].Size {
		b.Fatalf("after the benchmark: %+v, %v", ss, err)
	}
}
