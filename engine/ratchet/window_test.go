package ratchet_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

// windowProject is a project under the default time window (168h back,
// 1h ahead), not the tests' wide one.
func windowProject(t *testing.T) *project.Project {
	t.Helper()
	p := enginetest.NewProject(t)
	p.Cfg.TimeWindowPast, p.Cfg.TimeWindowFuture = 168*time.Hour, time.Hour
	return p
}

// TestAsOfOutsideWindow: an --as-of outside the window is refused without
// a reason, before anything is read or put on record; with one the batch
// commits and its record says the as-of was outside the window, with the
// window. The batch id does not depend on the as-of time.
func TestAsOfOutsideWindow(t *testing.T) {
	ctx := context.Background()
	p := windowProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", []byte(enginetest.GoodReading+"\n"+enginetest.HotReading+"\n"))
	head := func() int64 {
		e, err := p.Trail.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return e.Seq
	}
	before := head()
	for _, asOf := range []time.Time{time.Now().Add(-30 * 24 * time.Hour), time.Now().Add(3 * time.Hour)} {
		_, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: asOf})
		if !errors.Is(err, gate.ErrOutsideWindow) {
			t.Fatalf("as-of %s without a reason: %v", asOf, err)
		}
		_, err = ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: asOf, Reason: "   "})
		if !errors.Is(err, gate.ErrOutsideWindow) {
			t.Fatalf("as-of %s with a blank reason: %v", asOf, err)
		}
	}
	if head() != before {
		t.Fatalf("a refused run put %d entries on record", head()-before)
	}

	back := time.Date(2019, 3, 1, 0, 0, 0, 0, time.UTC)
	res, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: back, Reason: "loading the 2019 archive"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.AsOfOutsideWindow || res.AsOfWindow == nil || *res.AsOfWindow != (actions.TimeWindow{Past: "168h", Future: "1h"}) ||
		res.AsOf != "2019-03-01T00:00:00Z" || res.Reason != "loading the 2019 archive" {
		t.Fatalf("record: outside %v, window %+v, as-of %s, reason %q", res.AsOfOutsideWindow, res.AsOfWindow, res.AsOf, res.Reason)
	}
	e, err := p.Trail.Get(ctx, res.AuditSeq)
	if err != nil {
		t.Fatal(err)
	}
	br, err := actions.Decode[actions.BatchRecord](e)
	if err != nil || !br.AsOfOutsideWindow || br.AsOfWindow.Past != "168h" {
		t.Fatalf("the entry's record: %+v, %v", br, err)
	}

	// Inside the window, and the default as-of, put nothing of the kind
	// on record; the same input under another as-of is the same batch.
	q := windowProject(t)
	inside, err := ratchet.Run(ctx, q, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: time.Now().Add(-6 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if inside.AsOfOutsideWindow || inside.AsOfWindow != nil {
		t.Fatalf("an as-of inside the window was flagged: %+v", inside.AsOfWindow)
	}
	if inside.BatchID != res.BatchID {
		t.Fatalf("the as-of time changed the batch id: %s, %s", inside.BatchID, res.BatchID)
	}
	r := windowProject(t)
	r.Cfg.TimeWindowPast, r.Cfg.TimeWindowFuture = 0, 0
	def, err := ratchet.Run(ctx, r, ratchet.RunOptions{Job: "sensor-feed", Input: in})
	if err != nil || def.AsOfOutsideWindow {
		t.Fatalf("the default as-of under an empty window: %v, %+v", err, def)
	}
	if raw, err := q.Trail.Get(ctx, inside.AuditSeq); err != nil || strings.Contains(string(raw.Details), "window") {
		t.Fatalf("the record of an as-of inside the window: %v %s", err, raw.Details)
	}
}
