// Package contract compares two versions of a job's contract — everything
// in its Plan that decides a verdict: the schema with the files its $refs
// reach, the Unicode profile, the validators with their versions and
// configurations, and the limits — and classifies each change as a
// tightening (the new contract refuses something the old one admitted and
// admits nothing new), a weakening (it admits something the old one
// refused) or unknown (no static rule decides; the empirical check, which
// replays past records, settles it). It is the arbiter's eye: a weakening
// is never pinned unseen.
package contract

import "fmt"

// Kind is how a change moves the set of records the contract admits.
type Kind int

const (
	Tightening Kind = iota + 1
	Weakening
	Unknown
)

func (k Kind) String() string {
	switch k {
	case Tightening:
		return "tightening"
	case Weakening:
		return "weakening"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MarshalText writes the kind's name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Change is one classified difference between two contracts.
type Change struct {
	Kind Kind `json:"kind"`
	// Part is the part of the contract: "schema", "profile", "validator"
	// or "limits".
	Part string `json:"part"`
	// At is where in the record the change applies, as a JSON Pointer
	// ("/device_id"; "/*" for every other property or item), or the name
	// of the validator or limit.
	At      string `json:"at"`
	Keyword string `json:"keyword,omitempty"`
	Reason  string `json:"reason"`
}

func (c Change) String() string {
	kw := ""
	if c.Keyword != "" {
		kw = " " + c.Keyword
	}
	return fmt.Sprintf("%-10s %s%s at %s: %s", c.Kind, c.Part, kw, c.At, c.Reason)
}

// Verdict is the classification of a whole set of changes: a weakening if
// any change weakens, else unknown if any is unknown, else a tightening if
// any tightens; zero when there are no changes.
func Verdict(changes []Change) Kind {
	var v Kind
	for _, c := range changes {
		switch {
		case c.Kind == Weakening:
			return Weakening
		case c.Kind == Unknown:
			v = Unknown
		case c.Kind == Tightening && v == 0:
			v = Tightening
		}
	}
	return v
}
