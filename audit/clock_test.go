package audit

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock stands in for the trail's clock (now) in this package's tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

// setClock makes the trail's clock read at until the test ends (or set
// changes it).
func setClock(t testing.TB, at time.Time) *testClock {
	t.Helper()
	c := &testClock{t: at}
	old := now
	now = c.now
	t.Cleanup(func() { now = old })
	return c
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = at
}

// TestClockBehindIsRefusedAndOnRecord: with the clock set back, an append
// is refused with both times in the error, nothing of it is written, and
// the refusal is on record, dated at the newest entry's time with the
// clock's reading in its details; the trail verifies, and appends resume
// when the clock is right again.
func TestClockBehindIsRefusedAndOnRecord(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := setClock(t, t0)
	tr, _ := newTrail(t)
	clock.set(t0.Add(time.Second))
	head := mustAppend(t, tr, Entry{Operator: "alice", Action: "batch.committed", Object: "batch:a"})

	back := t0.Add(-3 * time.Hour) // the clock set back
	clock.set(back)
	_, err := tr.Append(ctx, Entry{Operator: "alice", Action: "batch.committed", Object: "batch:b", Reason: "nightly"})
	var ce *ClockError
	if !errors.Is(err, ErrClockBehind) || !errors.As(err, &ce) {
		t.Fatalf("append with the clock behind: %v", err)
	}
	for _, s := range []string{"audit: append batch.committed batch:b", "the clock reads " + formatTime(back),
		"before entry 2 at " + formatTime(head.Time), "nothing was appended", "check the host clock", "on record as entry 3 (trail.clock_anomaly)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not say %q:\n%v", s, err)
		}
	}
	if ce.HeadSeq != 2 || !ce.HeadTime.Equal(head.Time) || !ce.Clock.Equal(back) || !ce.Given.IsZero() || ce.AnomalySeq != 3 {
		t.Errorf("ClockError %+v", ce)
	}
	if es, _ := tr.Find(ctx, "", "batch:b"); len(es) != 0 {
		t.Fatalf("the refused entry was written: %+v", es)
	}
	a, err := tr.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Seq != 3 || a.Action != ActionTrailClockAnomaly || a.Operator != SystemOperator || a.Object != "trail:"+tr.ID() || !a.Time.Equal(head.Time) {
		t.Fatalf("anomaly entry %+v", a)
	}
	want := `{"clock":"` + formatTime(back) + `","head_seq":2,"head_time":"` + formatTime(head.Time) +
		`","refused_action":"batch.committed","refused_object":"batch:b","refused_operator":"alice"}`
	if string(a.Details) != want {
		t.Errorf("anomaly details\n%s\nwant\n%s", a.Details, want)
	}
	if !strings.Contains(a.Reason, "batch.committed batch:b refused: the clock read "+formatTime(back)) {
		t.Errorf("anomaly reason %q", a.Reason)
	}
	mustVerifyOK(t, tr)

	// Still behind: refused again, and on record again.
	if _, err := tr.Append(ctx, Entry{Operator: "alice", Action: "batch.committed", Object: "batch:b"}); !errors.Is(err, ErrClockBehind) {
		t.Fatalf("second append with the clock behind: %v", err)
	}
	// The clock put right: appends resume.
	clock.set(t0.Add(2 * time.Second))
	if e := mustAppend(t, tr, Entry{Operator: "alice", Action: "batch.committed", Object: "batch:b"}); e.Seq != 5 {
		t.Fatalf("appended as entry %d", e.Seq)
	}
	rep := mustVerifyOK(t, tr)
	if rep.Entries != 5 {
		t.Fatalf("%d entries", rep.Entries)
	}
}

// TestGivenTimeBehindIsRefused: a time the caller gives (as e-signatures
// do) is held to the same rule, and the anomaly records it beside the
// clock's reading. A time equal to the newest entry's is accepted: times
// never go backwards, and may stand still.
func TestGivenTimeBehindIsRefused(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	setClock(t, t0)
	tr, _ := newTrail(t)
	same := mustAppend(t, tr, Entry{Operator: "alice", Action: "esign.signed", Object: "batch:a", Time: t0})
	if !same.Time.Equal(t0) {
		t.Fatalf("time %v", same.Time)
	}
	mustAppend(t, tr, Entry{Operator: "alice", Action: "project.init", Object: "project"}) // the clock, unchanged

	given := t0.Add(-time.Nanosecond)
	_, err := tr.Append(ctx, Entry{Operator: "bob", Action: "esign.signed", Object: "batch:a", Time: given})
	var ce *ClockError
	if !errors.As(err, &ce) || !ce.Given.Equal(given) || !ce.Clock.Equal(t0) || ce.HeadSeq != 3 || ce.AnomalySeq != 4 {
		t.Fatalf("append with a time behind: %v (%+v)", err, ce)
	}
	if s := "the time given for the entry, " + formatTime(given) + ", is before entry 3 at " + formatTime(t0); !strings.Contains(err.Error(), s) {
		t.Errorf("the error does not say %q:\n%v", s, err)
	}
	a, _ := tr.Head(ctx)
	want := `{"clock":"` + formatTime(t0) + `","given":"` + formatTime(given) + `","head_seq":3,"head_time":"` + formatTime(t0) +
		`","refused_action":"esign.signed","refused_object":"batch:a","refused_operator":"bob"}`
	if a.Action != ActionTrailClockAnomaly || string(a.Details) != want {
		t.Fatalf("anomaly %s %s\nwant %s", a.Action, a.Details, want)
	}
	mustVerifyOK(t, tr)
}

// TestClockAnomalyIsReserved: only this package writes the anomaly.
func TestClockAnomalyIsReserved(t *testing.T) {
	tr, _ := newTrail(t)
	if _, err := tr.Append(ctx, Entry{Operator: "pawl", Action: ActionTrailClockAnomaly, Object: "trail:" + tr.ID()}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("a caller wrote %s: %v", ActionTrailClockAnomaly, err)
	}
}
