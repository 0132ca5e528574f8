package gate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/config"
)

func TestWindowCheck(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	w := WindowOf(config.Defaults()) // 168h back, 1h ahead
	if w.Past != 168*time.Hour || w.Future != time.Hour {
		t.Fatalf("default window %+v", w)
	}
	given := func(tm time.Time, reason string) GivenTime {
		return GivenTime{Flag: "--as-of", Time: tm, Operator: "alice", Reason: reason, Record: "the batch record"}
	}
	// Inside, bounds included: nothing to record, no reason needed.
	for _, tm := range []time.Time{now, now.Add(-168 * time.Hour), now.Add(time.Hour), now.Add(-24 * time.Hour)} {
		if rec, err := w.Check(now, given(tm, "")); rec != nil || err != nil {
			t.Errorf("%s: %+v, %v", tm, rec, err)
		}
	}
	// Outside without a reason (or with only spaces): refused.
	for _, c := range []struct {
		tm     time.Time
		reason string
		want   string
	}{
		{now.Add(-168*time.Hour - time.Nanosecond), "", "--as-of 2026-11-24T11:59:59.999999999Z is more than 168h before now (time_window.past)"},
		{time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), " \t", "--as-of 2019-01-01T00:00:00Z is more than 168h before now"},
		{now.Add(time.Hour + time.Second), "", "--as-of 2026-12-01T13:00:01Z is more than 1h after now (time_window.future)"},
	} {
		rec, err := w.Check(now, given(c.tm, c.reason))
		var oe *OutsideWindowError
		if rec != nil || !errors.Is(err, ErrOutsideWindow) || !errors.As(err, &oe) {
			t.Fatalf("%s: %+v, %v", c.tm, rec, err)
		}
		for _, s := range []string{c.want, "nothing was done", `pass --reason "why this time"`, "the batch record will say it was outside the window"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q does not say %q", err, s)
			}
		}
		if strings.Contains(err.Error(), "2026-12-01T12:00:00") {
			t.Errorf("the message names the time of the check: %q", err)
		}
	}
	// Outside with a reason: allowed, and the window is for the record.
	rec, err := w.Check(now, given(time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), "loading the 2019 archive"))
	if err != nil || rec == nil || rec.Past != "168h" || rec.Future != "1h" {
		t.Fatalf("with a reason: %+v, %v", rec, err)
	}
	// A window of 0 each way: only now itself needs no reason.
	z := Window{}
	if rec, err := z.Check(now, given(now, "")); rec != nil || err != nil {
		t.Fatalf("now in an empty window: %+v %v", rec, err)
	}
	if _, err := z.Check(now, given(now.Add(-time.Second), "")); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("a second ago in an empty window: %v", err)
	}
	if z.Record().Past != "0s" {
		t.Fatalf("empty window recorded as %+v", z.Record())
	}
}
