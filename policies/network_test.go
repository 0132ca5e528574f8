package policies

import (
	"context"
	"strings"
	"testing"
)

// TestNetworkDecisions: the shipped network module's Rego tests pass in a
// bundle; a checkpoint to the bundle's hub is allowed, records or another
// hub denied with the reason; the default bundle denies every publication
// ("no decision"); a malformed data.egress.network refuses the bundle.
func TestNetworkDecisions(t *testing.T) {
	ctx := context.Background()
	bundle := func(network string) string { return egressBundle(t, NetworkFS(), "network", network) }
	dir := bundle(`{"hub": "tls://hub.example:7422"}`)
	rep, err := Test(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Passed < 7 {
		t.Fatalf("the network module's tests: %d passed\n%s", rep.Passed, rep)
	}
	e, err := Open(ctx, dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := e.NetworkHub(); h != "tls://hub.example:7422" {
		t.Fatalf("hub: %q", h)
	}
	in := NetworkInput{Time: "2026-12-02T10:00:00Z", Principal: Principal{ID: "pawl-engine"}, Hub: "tls://hub.example:7422", Site: "lyon",
		Message: NetworkMessage{Kind: "checkpoint", Origin: "pawl.dev/audit/x", Size: 9, OldSize: 4}}
	if d, err := e.Decide(ctx, KindNetwork, in); err != nil || !d.Allow || d.ID == "" {
		t.Fatalf("checkpoint to the hub: %+v, %v", d, err)
	}
	in.Message.Kind = "records"
	if d, err := e.Decide(ctx, KindNetwork, in); err != nil || d.Allow || len(d.Deny) != 1 || !strings.HasPrefix(d.Deny[0], "network.kind:") {
		t.Fatalf("records to the hub: %+v, %v", d, err)
	}
	def, err := NewEngine(ctx, mustLoadFS(t, DefaultFS()))
	if err != nil {
		t.Fatal(err)
	}
	in.Message.Kind = "checkpoint"
	if d, err := def.Decide(ctx, KindNetwork, in); err != nil || d.Allow {
		t.Fatalf("the default bundle allowed a publication: %+v, %v", d, err)
	}
	if _, err := Open(ctx, bundle(`{"hub": "https://hub.example"}`), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "egress.network.hub must be") {
		t.Fatalf("an https hub: %v", err)
	}
}
