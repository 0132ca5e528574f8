package policies

import (
	"context"
	"strings"
	"testing"
)

// TestDistributeDecisions: the shipped distribute module's Rego tests pass
// in a bundle; a batch of an allowed classification to the queue the
// bundle names is allowed, another queue or classification denied with the
// reason; the default bundle denies every distribution ("no decision");
// a malformed data.egress.workers refuses the bundle.
func TestDistributeDecisions(t *testing.T) {
	ctx := context.Background()
	bundle := func(workers string) string { return egressBundle(t, DistributeFS(), "workers", workers) }
	dir := bundle(`{"site": {"url": "tls://nats.site:4222", "classifications": ["internal"]}}`)
	rep, err := Test(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Passed < 4 {
		t.Fatalf("the distribute module's tests: %d passed\n%s", rep.Passed, rep)
	}
	e, err := Open(ctx, dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := DistributeInput{Workers: "tls://nats.site:4222", Job: "sensor-feed", Time: "2026-12-02T10:00:00Z", Principal: Principal{ID: "alice"},
		Resource: Resource{BatchID: "b1", Classification: "internal", State: "pending"}}
	if d, err := e.Decide(ctx, KindDistribute, in); err != nil || !d.Allow || d.ID == "" {
		t.Fatalf("an internal batch to the site's queue: %+v, %v", d, err)
	}
	for _, c := range []struct{ url, class, reason string }{
		{"nats://elsewhere:4222", "internal", "distribute.not_allowed:"},
		{"tls://nats.site:4222", "phi", "distribute.classification:"},
	} {
		in := in
		in.Workers, in.Resource.Classification = c.url, c.class
		if d, err := e.Decide(ctx, KindDistribute, in); err != nil || d.Allow || len(d.Deny) != 1 || !strings.HasPrefix(d.Deny[0], c.reason) {
			t.Fatalf("%s %s: want a deny %q, got %+v, %v", c.url, c.class, c.reason, d, err)
		}
	}
	def, err := NewEngine(ctx, mustLoadFS(t, DefaultFS()))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := def.Decide(ctx, KindDistribute, in); err != nil || d.Allow || len(d.Deny) != 1 || !strings.Contains(d.Deny[0], "returned no decision") {
		t.Fatalf("the default bundle allowed a distribution: %+v, %v", d, err)
	}
	if _, err := Open(ctx, bundle(`{"site": {"url": "https://nats.site", "classifications": []}}`), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "egress.workers[\"site\"].url must be") {
		t.Fatalf("an https work queue: %v", err)
	}
}
