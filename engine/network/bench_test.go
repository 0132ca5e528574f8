package network_test

import (
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
