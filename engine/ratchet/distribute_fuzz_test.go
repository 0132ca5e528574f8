package ratchet

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/records"
)

// FuzzChunkOutcome feeds the committer bytes as a worker's result of a
// chunk of two records. Property: it never panics; what it accepts
// completes the chunk (two lineage leaves, each record one output line);
// the same bytes again are a harmless duplicate, and other bytes for the
// chunk once it is taken are refused.
func FuzzChunkOutcome(f *testing.F) {
	leaf := bytes.Repeat([]byte{7}, 32)
	f.Add(mustJSON(f, wireOutcome{Batch: "b", Plan: "p", Seq: 0, First: 0, Items: []wireItem{{Verified: []byte("{}\n"), Leaf: leaf}, {Quarantine: []byte("{\"ordinal\":2}\n"), Leaf: leaf}},
		Stats: wireStats{In: map[string]int64{"frame": 2}, Rules: []wireRule{{Stage: "schema", Rule: "schema.required", Records: 1}}}}))
	f.Add(mustJSON(f, wireOutcome{Batch: "b", Plan: "p", Seq: 0, Error: "plugin timed out"}))
	f.Add([]byte("garbage"))
	f.Add(mustJSON(f, wireOutcome{Batch: "b", Plan: "p", Seq: 0, First: 0, Items: []wireItem{{HasValue: true, Value: []byte(`{"a":1}`)}, {Stage: "schema", Reasons: []finding.Finding{{Stage: "schema", Rule: "schema.required"}}}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		// An outcome is finalized or (a job with ordered plugins) not:
		// the committer reads it as its job says.
		r := &distRun{batch: "b", digest: "p", ordered: len(data)%2 == 1}
		c := &chunk{seq: 0, first: 0, items: []item{{rec: &records.Record{Ordinal: 1}}, {rec: &records.Record{Ordinal: 2}}}}
		pending, taken := map[int]*chunk{0: c}, map[int][32]byte{}
		got, err := r.accept(ChunkResult{Worker: "w", Data: data}, pending, taken)
		if err != nil {
			if got != nil || len(taken) != 0 {
				t.Fatalf("refused (%v) yet took the chunk", err)
			}
			return
		}
		if got != c || len(pending) != 0 {
			t.Fatalf("accepted, but the chunk is not taken: %+v", got)
		}
		for i, it := range got.items {
			if r.ordered {
				if it.v == nil && (it.stage == "" || it.stage == finding.StageValidate) {
					t.Fatalf("record %d goes to the ordered plugins without a value", i+1)
				}
				continue
			}
			if got.tree.Size() != 2 {
				t.Fatalf("accepted, but the chunk's tree has %d leaves", got.tree.Size())
			}
			if (it.verified == nil) == (it.quar == nil) {
				t.Fatalf("record %d has %d verified and %d quarantine bytes", i+1, len(it.verified), len(it.quar))
			}
		}
		if again, err := r.accept(ChunkResult{Worker: "w2", Data: data}, pending, taken); again != nil || err != nil {
			t.Fatalf("the same result again: %v, %v; want it ignored", again, err)
		}
		if _, err := r.accept(ChunkResult{Worker: "w3", Data: append(bytes.Clone(data), ' ')}, pending, taken); err == nil {
			t.Fatal("a different result for a chunk already taken was accepted")
		}
	})
}

func mustJSON(f *testing.F, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
