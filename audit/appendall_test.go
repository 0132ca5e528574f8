package audit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// walFrames is how many frames the trail's write-ahead log holds (each
// commit writes the pages it changed as frames of their own), and empties
// the log, so that the next call counts what was written in between.
func walFrames(t *testing.T, tr *Trail) int {
	t.Helper()
	var busy, log, done int
	if err := tr.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		t.Fatal(err)
	}
	if err := tr.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &done, &done); err != nil || busy != 0 {
		t.Fatalf("checkpoint: busy %d, %v", busy, err)
	}
	return log
}

// TestAppendAll: a batch is chained entry by entry like separate appends
// (the trail verifies, each entry's prev_hash is the one before), shares one
// reading of the clock, is written as one commit (fewer log frames than the
// same entries appended one by one), and is all or nothing: an entry
// refused in the middle leaves none of the batch on record.
func TestAppendAll(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	clock := setClock(t, t0)
	batch := func() []Entry {
		var es []Entry
		for _, o := range []string{"plugin:range@1", "plugin:freshness@1", "plugin:registry@1", "plugin:zscore@1"} {
			es = append(es, Entry{Operator: "alice", Action: "policy.decision", Object: o, Details: []byte(`{"allow": true}`)})
		}
		return es
	}

	tr, _ := newTrail(t)
	head := mustAppend(t, tr, Entry{Operator: "alice", Action: "batch.committed", Object: "batch:a"})
	walFrames(t, tr)
	clock.set(t0.Add(time.Second))
	got, err := tr.AppendAll(ctx, batch())
	if err != nil {
		t.Fatal(err)
	}
	batchFrames := walFrames(t, tr)
	if len(got) != 4 {
		t.Fatalf("AppendAll returned %d entries, want 4", len(got))
	}
	prev := head
	for i, e := range got {
		if e.Seq != prev.Seq+1 || e.PrevHash != prev.Hash || e.Hash != ComputeHash(e) {
			t.Errorf("entry %d: seq %d prev %s hash %s, after seq %d hash %s", i, e.Seq, e.PrevHash, e.Hash, prev.Seq, prev.Hash)
		}
		if !e.Time.Equal(t0.Add(time.Second)) || string(e.Details) != `{"allow":true}` {
			t.Errorf("entry %d stored as time %s details %s", i, e.Time, e.Details)
		}
		if g, err := tr.Get(ctx, e.Seq); err != nil || g.Hash != e.Hash {
			t.Errorf("Get(%d) = %+v, %v; AppendAll returned hash %s", e.Seq, g, err, e.Hash)
		}
		prev = e
	}
	mustVerifyOK(t, tr)

	one, _ := newTrail(t)
	mustAppend(t, one, Entry{Operator: "alice", Action: "batch.committed", Object: "batch:a"})
	walFrames(t, one)
	for _, e := range batch() {
		mustAppend(t, one, e)
	}
	sep := walFrames(t, one)
	t.Logf("log frames: %d for the batch, %d for 4 appends", batchFrames, sep)
	if batchFrames <= 0 || batchFrames >= sep {
		t.Errorf("one batch of 4 wrote %d log frames, 4 appends %d: the batch is not one commit", batchFrames, sep)
	}

	// All or nothing.
	bad := batch()
	bad[2].Reason = "\xff"
	if _, err := tr.AppendAll(ctx, bad); err == nil || !strings.Contains(err.Error(), "reason is not valid UTF-8") || !strings.Contains(err.Error(), "plugin:registry@1") {
		t.Fatalf("AppendAll with an invalid entry: %v", err)
	}
	if h, err := tr.Head(ctx); err != nil || h.Seq != prev.Seq {
		t.Fatalf("after a refused batch the head is %d (%v), want %d: part of the batch was appended", h.Seq, err, prev.Seq)
	}

	// A mix of given and trail times, or given times out of order, is the
	// caller's mistake, refused before anything is written.
	mixed := batch()
	mixed[1].Time = t0.Add(time.Hour)
	if _, err := tr.AppendAll(ctx, mixed); err == nil || !strings.Contains(err.Error(), "all given or all left to the trail") {
		t.Errorf("a batch of given and trail times: %v", err)
	}
	backwards := batch()
	for i := range backwards {
		backwards[i].Time = t0.Add(time.Duration(10-i) * time.Minute)
	}
	if _, err := tr.AppendAll(ctx, backwards); err == nil || !strings.Contains(err.Error(), "before the time of the entry before it") {
		t.Errorf("a batch of times going backwards: %v", err)
	}
	if h, _ := tr.Head(ctx); h.Seq != prev.Seq {
		t.Fatalf("refused batches left the head at %d, want %d", h.Seq, prev.Seq)
	}

	// The clock behind: none of the batch, the refusal on record.
	clock.set(t0.Add(-time.Hour))
	_, err = tr.AppendAll(ctx, batch())
	var ce *ClockError
	if !errors.Is(err, ErrClockBehind) || !errors.As(err, &ce) || ce.AnomalySeq != prev.Seq+1 {
		t.Fatalf("a batch with the clock behind: %v", err)
	}
	a, err := tr.Get(ctx, ce.AnomalySeq)
	if err != nil || a.Action != ActionTrailClockAnomaly || !strings.Contains(a.Reason, "policy.decision plugin:range@1 refused") {
		t.Fatalf("the anomaly on record: %+v, %v", a, err)
	}
	if h, _ := tr.Head(ctx); h.Seq != ce.AnomalySeq {
		t.Errorf("head after the refusal is %d, want the anomaly %d alone", h.Seq, ce.AnomalySeq)
	}
	mustVerifyOK(t, tr)

	ro, err := OpenReadOnly(tr.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.AppendAll(ctx, batch()); !errors.Is(err, ErrReadOnly) {
		t.Errorf("AppendAll on a read-only trail: %v", err)
	}
}
