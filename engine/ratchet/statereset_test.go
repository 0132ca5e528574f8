package ratchet_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/store"
)

// TestStateReset: the three-batch scenario with the job's state reset
// between batches 2 and 3. The reset is on record with the state it
// replaces; batch 3 starts from the empty state and its outlier is no
// longer caught (a reset weakens the check); audit verify passes across
// the reset, and fails on a forged reset that replaces a state the job
// was not in. A reset without a reason, and of an empty state, is refused.
func TestStateReset(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	dev := "AB-123456"
	job := "sensor-feed"

	if _, _, err := ratchet.ResetState(ctx, p, job, "alice", "fresh start"); !errors.Is(err, ratchet.ErrNothingToReset) {
		t.Fatalf("a reset before any batch: %v, want nothing to reset", err)
	}
	enginetest.Batch(t, p, steady(dev, 15, 0)...)
	r2 := enginetest.Batch(t, p, steady(dev, 15, 100)...)

	if _, _, err := ratchet.ResetState(ctx, p, job, "alice", "  "); err == nil || !strings.Contains(err.Error(), "a reason is required") {
		t.Fatalf("a reset without a reason: %v", err)
	}
	if cur, by, _ := ratchet.JobState(ctx, p, job); cur != r2.State.Out || by != r2.BatchID {
		t.Fatalf("a refused reset moved the state to %s (%s)", cur, by)
	}

	e, was, err := ratchet.ResetState(ctx, p, job, "alice", "sensor AB-123456 recalibrated")
	if err != nil {
		t.Fatal(err)
	}
	d, err := actions.Decode[actions.StateResetDetails](e)
	if err != nil {
		t.Fatal(err)
	}
	empty := store.Digest(plugstate.EmptyDigest)
	if e.Object != "job:"+job || e.Operator != "alice" || e.Reason != "sensor AB-123456 recalibrated" ||
		d.Job != job || d.Replaced != r2.State.Out || d.Batch != r2.BatchID || d.Keys != r2.State.Keys || d.After != empty || was.Batch != r2.BatchID {
		t.Fatalf("the reset on record: %+v %+v", e, d)
	}
	cur, err := ratchet.JobStateNow(ctx, p, job)
	if err != nil || cur.State != empty || cur.Reset != e.Seq || cur.Batch != "" || cur.Keys != 0 {
		t.Fatalf("the job's state after the reset: %+v %v", cur, err)
	}
	if _, _, err := ratchet.ResetState(ctx, p, job, "alice", "again"); !errors.Is(err, ratchet.ErrNothingToReset) {
		t.Fatalf("a second reset: %v, want nothing to reset", err)
	}

	// Batch 3 starts from the empty state: the outlier is in warm-up.
	r3 := enginetest.Batch(t, p, reading(dev, 21.5, 200), reading(dev, 60, 201))
	if r3.State == nil || r3.State.In != empty {
		t.Fatalf("batch 3 after the reset starts from %+v, want the empty state", r3.State)
	}
	if got := rules(t, p, r3.BatchID); len(got) != 0 {
		t.Fatalf("batch 3 after the reset quarantined %v: the reset should have forgotten the history", got)
	}
	if cur, by, _ := ratchet.JobState(ctx, p, job); cur != r3.State.Out || by != r3.BatchID {
		t.Fatalf("the job's state after batch 3: %s (%s)", cur, by)
	}

	rep, err := review.Verify(ctx, p)
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("audit verify across a reset: %v %q", err, rep.Problems)
	}

	// A forged reset: one that claims to replace a state the job was not in
	// (to hide what it held), appended straight to the trail.
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: "mallory", Object: "job:" + job, Reason: "x",
		Details: actions.StateResetDetails{Job: job, Replaced: r2.State.Out, Batch: r2.BatchID, After: empty}}); err != nil {
		t.Fatal(err)
	}
	rep, err = review.Verify(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "replaces state "+string(r2.State.Out)+", but the job's state was "+string(r3.State.Out)) {
		t.Fatalf("audit verify on a forged reset: %q", rep.Problems)
	}
}

// TestStateResetMakesABatchStale: a batch judged against the job's state
// that a reset replaced before the batch's commit point is refused, and
// nothing of it is committed.
func TestStateResetMakesABatchStale(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	first := enginetest.Batch(t, p, steady("AB-123456", 4, 0)...)
	outer := enginetest.WriteInput(t, t.TempDir(), "outer.jsonl", []byte(strings.Join(steady("AB-123456", 4, 600), "\n")+"\n"))
	started := false
	*ratchet.TestHook = func(s string) error {
		if s != "run.before-audit" || started {
			return nil
		}
		started = true
		_, _, err := ratchet.ResetState(ctx, p, "sensor-feed", "alice", "recalibrated")
		return err
	}
	defer func() { *ratchet.TestHook = nil }()
	_, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: outer, AsOf: enginetest.AsOf})
	if !errors.Is(err, ratchet.ErrStaleState) || !strings.Contains(err.Error(), "was judged against the job's state "+string(first.State.Out)+", but the state reset of audit entry") {
		t.Fatalf("want the stale batch refused, got %v", err)
	}
	if cur, by, _ := ratchet.JobState(ctx, p, "sensor-feed"); cur != store.Digest(plugstate.EmptyDigest) || by != "" {
		t.Fatalf("the job's state is %s (%s), want the empty state of the reset", cur, by)
	}
}
