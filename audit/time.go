package audit

import (
	"fmt"
	"time"
)

// FormatTime spells t as the trail stores an entry's time: UTC, fixed
// width, nine fractional digits ("2006-01-02T15:04:05.000000000Z"). It is
// the spelling Entry's JSON and the hash use; time.Time's own JSON form
// drops trailing zeros of the fraction, so the same instant would be
// spelled two ways.
func FormatTime(t time.Time) string { return formatTime(t) }

// EntryTime is an entry's time carried by another JSON document (a trace
// event, an e-signature, an operator's enrolment): it marshals to the
// trail's fixed-width spelling (FormatTime), so that a time read from the
// trail is printed exactly as the trail has it. It reads back any RFC 3339
// time. The time.Time's methods are promoted.
type EntryTime struct{ time.Time }

// MarshalJSON writes the time in the trail's fixed-width spelling.
func (t EntryTime) MarshalJSON() ([]byte, error) {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("audit: time %s is outside years 0001-9999", t.Time)
	}
	return []byte(`"` + formatTime(t.Time) + `"`), nil
}
