package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// bigWhitelistBundle is the default bundle with n destinations.
func bigWhitelistBundle(b testing.TB, n int) string {
	dir := copyDefault(b)
	dests := make(map[string]any, n)
	for i := 0; i < n; i++ {
		dests[fmt.Sprintf("dest-%05d", i)] = map[string]any{
			"url":               fmt.Sprintf("https://host%05d.example/inbox/", i),
			"classifications":   []string{"public", "internal"},
			"requires_approval": i%2 == 0,
		}
	}
	data := map[string]any{
		"egress":         map[string]any{"destinations": dests},
		"plugins":        map[string]any{"approved": map[string]any{}},
		"classification": map[string]any{"levels": []string{"public"}, "fields": map[string]any{}},
	}
	raw, err := json.Marshal(data)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.json"), raw, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkEgressDecision10k is one egress decision (input preparation, URL
// canonicalization, evaluation, result handling, decision id) against a
// 10,000-destination whitelist. Target: ≤ 100 µs/op. The bundle is loaded
// and the query prepared once, outside the loop.
func BenchmarkEgressDecision10k(b *testing.B) { benchEgress(b, 10000) }

// BenchmarkEgressDecision10 is the same with 10 destinations: the cost must
// not depend on the size of the whitelist.
func BenchmarkEgressDecision10(b *testing.B) { benchEgress(b, 10) }

func benchEgress(b *testing.B, n int) {
	e := testEngine(b, bigWhitelistBundle(b, n))
	ctx := context.Background()
	in := egressInput(fmt.Sprintf("https://host%05d.example/inbox/batch/b1.jsonl", n*7/9))
	if d, err := e.Decide(ctx, KindEgress, in); err != nil || !d.Allow {
		b.Fatalf("%+v %v", d, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d, err := e.Decide(ctx, KindEgress, in); err != nil || !d.Allow {
			b.Fatal(d.Deny, err)
		}
	}
}

// BenchmarkEgressDenial10k is the same for a URL that matches nothing.
func BenchmarkEgressDenial10k(b *testing.B) {
	e := testEngine(b, bigWhitelistBundle(b, 10000))
	ctx := context.Background()
	in := egressInput("https://evil.example/inbox/batch/b1.jsonl")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d, err := e.Decide(ctx, KindEgress, in); err != nil || d.Allow {
			b.Fatal(d.Deny, err)
		}
	}
}

// BenchmarkLoad10k is what opening the engine costs (once per process).
func BenchmarkLoad10k(b *testing.B) {
	dir := bigWhitelistBundle(b, 10000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		testEngine(b, dir)
	}
}
