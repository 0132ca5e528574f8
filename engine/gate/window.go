package gate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/policies"
)

// ErrOutsideWindow is matched (errors.Is) by the refusal of a time given on
// the command line outside the configured window without a reason. The CLI
// exits with status 2 on it: nothing was done, and the command line says
// how to go on.
var ErrOutsideWindow = errors.New("time outside the allowed window")

// Window is how far a time given on the command line — a run's --as-of,
// an export's --time — may lie from now without a reason: the
// configuration's time_window.past and time_window.future.
type Window struct {
	Past, Future time.Duration
}

// WindowOf is the window cfg sets.
func WindowOf(cfg config.Config) Window {
	return Window{Past: cfg.TimeWindowPast, Future: cfg.TimeWindowFuture}
}

// Record is the window as the batch and export records keep it.
func (w Window) Record() *actions.TimeWindow {
	return &actions.TimeWindow{Past: config.FormatDuration(w.Past), Future: config.FormatDuration(w.Future)}
}

// GivenTime is a time given on a command line, to be checked against the
// window.
type GivenTime struct {
	Flag     string    // how it was given: "--as-of", "--time"
	Time     time.Time // the time given
	Operator string    // who gave it
	Reason   string    // why, when it is outside the window
	Record   string    // what will say it was outside: "the batch record", "the export records"
}

// OutsideWindowError refuses a time outside the window given without a
// reason. Its message names the time, the window and the keys that set
// it, and what to do; it does not name the time of the check, so the same
// command line gets the same message.
type OutsideWindowError struct {
	GivenTime
	Window Window
	After  bool // after the window, not before it
}

func (e *OutsideWindowError) Error() string {
	side := fmt.Sprintf("more than %s before now (time_window.past)", config.FormatDuration(e.Window.Past))
	if e.After {
		side = fmt.Sprintf("more than %s after now (time_window.future)", config.FormatDuration(e.Window.Future))
	}
	return fmt.Sprintf("%s %s is %s, outside the window that needs no reason: nothing was done; check the time, "+
		"or pass --reason \"why this time\" to use it, and %s will say it was outside the window",
		e.Flag, e.Time.UTC().Format(time.RFC3339Nano), side, e.Record)
}

// Is makes errors.Is(err, ErrOutsideWindow) true.
func (e *OutsideWindowError) Is(target error) bool { return target == ErrOutsideWindow }

// Check checks a time given on the command line against w around now. A
// time inside the window (bounds included) returns nil, nil: nothing is
// put on record about it. A time outside it is refused with an
// *OutsideWindowError unless a reason is given; with one Check returns the
// window, for the record to say the time was outside it. Admit adds the
// role check.
func (w Window) Check(now time.Time, g GivenTime) (*actions.TimeWindow, error) {
	before, after := g.Time.Before(now.Add(-w.Past)), g.Time.After(now.Add(w.Future))
	if !before && !after {
		return nil, nil
	}
	if strings.TrimSpace(g.Reason) == "" {
		return nil, &OutsideWindowError{GivenTime: g, Window: w, After: after}
	}
	return w.Record(), nil
}

// Admit is Check, and for a time outside the window given with a reason,
// the authz question time.outside_window (which role may back-date or
// post-date a run or an export is the bundle's to say; the default
// bundle's is admin): a decision on record, and a denial refuses the time
// with a *DeniedError.
func (w Window) Admit(ctx context.Context, p *project.Project, now time.Time, g GivenTime, object string) (*actions.TimeWindow, error) {
	tw, err := w.Check(now, g)
	if tw == nil || err != nil {
		return tw, err
	}
	if err := Authorize(ctx, p, AuthzRequest{Action: ActionTimeOutsideWindow, Object: object, Operator: g.Operator, Reason: g.Reason,
		Facts: policies.AuthzFacts{Flag: g.Flag, GivenTime: g.Time.UTC().Format(time.RFC3339Nano)}}); err != nil {
		return nil, err
	}
	return tw, nil
}
