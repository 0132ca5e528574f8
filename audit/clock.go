package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// now is the trail's clock: the time of every entry appended without one,
// and of the genesis entry. Only this package's tests set it (to play a
// clock that was set back); no configuration or environment reaches it.
var now = time.Now

// ErrClockBehind is matched (errors.Is) by the error of an append refused
// because the entry's time was before the newest entry's; the error is a
// *ClockError.
var ErrClockBehind = errors.New("entry time before the newest entry's")

// ClockError is an append refused because it would have dated an entry
// before the newest one: entry times never go backwards. It happens when the
// host clock was set back (by hand, or by a time service correcting a clock
// that ran ahead), or when a caller passes a time (Entry.Time) taken before
// someone else appended. Nothing of the refused entry is written; the
// refusal itself is on record as a trail.clock_anomaly entry, dated at the
// newest entry's time, whose details hold the clock's reading.
type ClockError struct {
	Clock      time.Time // the trail's clock when the append was refused
	Given      time.Time // the time the caller gave the entry; zero when the clock's reading was the entry's time
	HeadSeq    int64     // the newest entry
	HeadTime   time.Time // and its time
	AnomalySeq int64     // the trail.clock_anomaly entry that records the refusal; 0 if it could not be written
}

func (e *ClockError) Error() string {
	var msg string
	if e.Given.IsZero() {
		msg = fmt.Sprintf("the clock reads %s, before entry %d at %s", formatTime(e.Clock), e.HeadSeq, formatTime(e.HeadTime))
	} else {
		msg = fmt.Sprintf("the time given for the entry, %s, is before entry %d at %s (the clock reads %s)",
			formatTime(e.Given), e.HeadSeq, formatTime(e.HeadTime), formatTime(e.Clock))
	}
	msg += ": entry times never go backwards, so nothing was appended: check the host clock and its time service, then try again"
	if e.AnomalySeq > 0 {
		msg += fmt.Sprintf("; the anomaly is on record as entry %d (%s)", e.AnomalySeq, ActionTrailClockAnomaly)
	}
	return msg
}

// Is makes errors.Is(err, ErrClockBehind) true.
func (e *ClockError) Is(target error) bool { return target == ErrClockBehind }

// clockAnomalyDetails are the details of a trail.clock_anomaly entry.
type clockAnomalyDetails struct {
	Clock           string `json:"clock"`           // the trail's clock when the append was refused
	Given           string `json:"given,omitempty"` // the time the caller gave the refused entry, if it gave one
	HeadSeq         int64  `json:"head_seq"`        // the newest entry then (the one before the anomaly)
	HeadTime        string `json:"head_time"`       // its time, which is the anomaly's time too
	RefusedAction   string `json:"refused_action"`
	RefusedObject   string `json:"refused_object"`
	RefusedOperator string `json:"refused_operator"`
}

// recordClockAnomaly appends, inside tx, the trail.clock_anomaly entry for
// the refused entry e. It is dated at the newest entry's time, so the
// trail's own record keeps its times in order.
func recordClockAnomaly(ctx context.Context, tx *sql.Tx, trailID string, e Entry, ce *ClockError) (Entry, error) {
	d := clockAnomalyDetails{Clock: formatTime(ce.Clock), HeadSeq: ce.HeadSeq, HeadTime: formatTime(ce.HeadTime),
		RefusedAction: e.Action, RefusedObject: e.Object, RefusedOperator: e.Operator}
	if !ce.Given.IsZero() {
		d.Given = formatTime(ce.Given)
	}
	details, err := json.Marshal(d)
	if err != nil {
		return Entry{}, err
	}
	reading := "the clock read " + d.Clock
	if d.Given != "" {
		reading = "the time given was " + d.Given
	}
	return appendTx(ctx, tx, Entry{
		Time:     ce.HeadTime,
		Operator: SystemOperator,
		Action:   ActionTrailClockAnomaly,
		Object:   "trail:" + trailID,
		Reason:   fmt.Sprintf("%s %s refused: %s, before entry %d at %s; check the host clock", e.Action, e.Object, reading, ce.HeadSeq, d.HeadTime),
		Details:  details,
	})
}
