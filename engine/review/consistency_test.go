package review_test

import (
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/seal"
)

// TestConsistencyAcrossARotation: a checkpoint taken before a rotation
// (signed with the old key) and a consistency proof made after it (its
// checkpoint signed with the new key) verify offline against the key
// history, each checkpoint under the key in force at its size; not against
// the new key alone, nor when the proof is made to start elsewhere. A proof
// to a size before the rotation cannot be signed any more.
func TestConsistencyAcrossARotation(t *testing.T) {
	p := enginetest.NewProject(t)
	old, c1, err := review.Checkpoint(ctx, p, "tester", "before the rotation")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.RotateKey(ctx, "tester", "yearly rotation"); err != nil {
		t.Fatal(err)
	}
	p = reopen(t, p)
	if _, _, err := review.Checkpoint(ctx, p, "tester", "after"); err != nil {
		t.Fatal(err)
	}
	a, c2, err := review.ProveConsistency(ctx, p, c1.Size, 0)
	if err != nil {
		t.Fatal(err)
	}
	o, n, err := p.Keys.VerifyConsistency(a.Format(), old)
	if err != nil || o.Size != c1.Size || n.Size != c2.Size {
		t.Fatalf("across the rotation: %+v %+v %v", o, n, err)
	}
	cur, _ := p.Keys.Current()
	newOnly := &seal.KeyHistory{Trail: p.Keys.Trail, Keys: []seal.KeyEpoch{cur}}
	if _, _, err := newOnly.VerifyConsistency(a.Format(), old); err == nil || !strings.Contains(err.Error(), "the old checkpoint") {
		t.Fatalf("the new key alone verifies the old checkpoint: %v", err)
	}
	b, _, err := review.ProveConsistency(ctx, p, c1.Size-1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Keys.VerifyConsistency(b.Format(), old); err == nil || !strings.Contains(err.Error(), "prove again with --consistency") {
		t.Fatalf("a proof from another size: %v", err)
	}
	if _, _, err := review.ProveConsistency(ctx, p, 1, c1.Size); err == nil || !strings.Contains(err.Error(), "no longer holds") {
		t.Fatalf("a proof to a size before the rotation: %v", err)
	}
}
