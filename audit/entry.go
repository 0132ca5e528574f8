package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Entry is one record of the audit trail.
//
// Its JSON form (MarshalJSON, UnmarshalJSON) is an object with the keys
// seq, time, operator, os_user, action, object, reason, details, prev_hash
// and hash, holding the fields exactly as the hash covers them, so that an
// exported entry can be checked with ComputeHash.
type Entry struct {
	Seq      int64           // 1-based position in the trail, assigned by Append
	Time     time.Time       // when it happened, UTC; Append sets it to now when zero
	Operator string          // who did it: the pawl operator id; required
	OSUser   string          // the OS account it ran under; Append fills it in when empty
	Action   string          // what was done, e.g. ActionBatchCommitted
	Object   string          // what it was done to, e.g. "batch:<id>", "project", "file:jobs/x.yaml"
	Reason   string          // why, in the operator's words
	Details  json.RawMessage // a JSON object, stored in canonical form
	PrevHash string          // Hash of the entry before, or GenesisPrevHash for entry 1
	Hash     string          // "sha256:<hex>" over the fields above; see the package documentation
}

// The actions this package writes itself; Append refuses every action
// starting with "trail.". Every other action pawl writes, and its details,
// is in package engine/actions.
const (
	// ActionTrailCreated is entry 1 of every trail; its details name the
	// trail (see the package documentation).
	ActionTrailCreated = "trail.created"
	// ActionTrailMigrated records a schema upgrade, with details
	// {"from": <old version>, "to": <new version>}.
	ActionTrailMigrated = "trail.migrated"
	// ActionTrailClockAnomaly records an append refused because its time
	// was before the newest entry's (see [ClockError]). It is dated at the
	// newest entry's time, so that the trail's times stay in order, and
	// its details carry the clock's reading.
	ActionTrailClockAnomaly = "trail.clock_anomaly"
)

// reservedActionPrefix marks actions only this package may write, because
// Verify gives them meaning (they carry the trail's identity and version).
const reservedActionPrefix = "trail."

// SystemOperator is the operator of entries pawl writes on its own behalf
// (trail creation, migration, clock anomalies); the OS user of those
// entries still records who ran the program.
const SystemOperator = "pawl"

// GenesisPrevHash is the PrevHash of entry 1.
const GenesisPrevHash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// timeLayout is fixed-width so that stored times sort as strings (List's
// Since filter relies on that) and so that one instant has one spelling.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime accepts only the canonical spelling: a time stored any other
// way would hash differently from the same instant written by Append.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not RFC 3339 UTC with nanoseconds (%s)", s, timeLayout)
	}
	if formatTime(t) != s {
		return time.Time{}, fmt.Errorf("time %q is not in canonical form (want %q)", s, formatTime(t))
	}
	return t, nil
}

// hashPreimage returns the bytes an entry's hash is computed over: the
// canonical JSON array
//
//	[seq,time,operator,os_user,action,object,reason,details,prev_hash]
//
// with seq a JSON integer, details the canonical object itself (not a
// string) and every other field a JSON string. Fields are passed as stored
// so that Verify hashes exactly what is on disk.
func hashPreimage(seq int64, tm, operator, osUser, action, object, reason string, details []byte, prevHash string) []byte {
	n := 64 + len(tm) + len(operator) + len(osUser) + len(action) + len(object) + len(reason) + len(details) + len(prevHash)
	b := make([]byte, 0, n+n/8)
	b = append(b, '[')
	b = strconv.AppendInt(b, seq, 10)
	for _, s := range []string{tm, operator, osUser, action, object, reason} {
		b = append(b, ',')
		b = appendString(b, s)
	}
	b = append(b, ',')
	b = append(b, details...)
	b = append(b, ',')
	b = appendString(b, prevHash)
	return append(b, ']')
}

func hashEntry(seq int64, tm, operator, osUser, action, object, reason string, details []byte, prevHash string) string {
	sum := sha256.Sum256(hashPreimage(seq, tm, operator, osUser, action, object, reason, details, prevHash))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ComputeHash recomputes e's hash from its fields, so that a caller holding
// an exported entry can check it without the database. Details must already
// be canonical, as they are in every entry this package returns.
func ComputeHash(e Entry) string {
	return hashEntry(e.Seq, formatTime(e.Time), e.Operator, e.OSUser, e.Action, e.Object, e.Reason, e.Details, e.PrevHash)
}

func validHashString(s string) bool {
	if len(s) != len(GenesisPrevHash) || !strings.HasPrefix(s, "sha256:") {
		return false
	}
	for _, c := range s[len("sha256:"):] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// entryKeys are the keys of an Entry's JSON form, in the order MarshalJSON
// writes them: the hash preimage's order, then the hash.
var entryKeys = [...]string{"seq", "time", "operator", "os_user", "action", "object", "reason", "details", "prev_hash", "hash"}

// MarshalJSON writes e as a JSON object with the keys seq, time, operator,
// os_user, action, object, reason, details, prev_hash and hash, in that
// order. time is always in the trail's fixed-width form
// ("2006-01-02T15:04:05.000000000Z", the spelling the hash covers, not
// time.Time's JSON form, which drops trailing zeros of the fraction),
// details is the canonical object itself (not a string holding it), and
// strings are escaped as in the hash encoding. UnmarshalJSON reads it back
// to an Entry whose ComputeHash is its Hash.
//
// It refuses what could not be read back to the same entry: a string that
// is not valid UTF-8, a time outside years 0001-9999, details that are not
// a JSON object. Details are written in canonical form (as every entry
// this package returns already has them; empty details are {}).
func (e Entry) MarshalJSON() ([]byte, error) {
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("audit: entry %d: time %s is outside years 0001-9999", e.Seq, e.Time)
	}
	strs := [...]string{e.Operator, e.OSUser, e.Action, e.Object, e.Reason, e.PrevHash, e.Hash}
	for i, s := range strs {
		if !utf8.ValidString(s) {
			// JSON cannot carry the bytes: a replacement character would
			// be a different text under the same hash.
			return nil, fmt.Errorf("audit: entry %d: %s is not valid UTF-8", e.Seq, [...]string{"operator", "os_user", "action", "object", "reason", "prev_hash", "hash"}[i])
		}
	}
	details, err := canonicalDetails(e.Details)
	if err != nil {
		return nil, fmt.Errorf("audit: entry %d: details: %w", e.Seq, err)
	}
	n := 160 + len(details)
	for _, s := range strs {
		n += len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	member := func(key, val string) {
		b = append(b, ',')
		b = appendString(b, key)
		b = append(b, ':')
		b = appendString(b, val)
	}
	member("time", formatTime(e.Time))
	member("operator", e.Operator)
	member("os_user", e.OSUser)
	member("action", e.Action)
	member("object", e.Object)
	member("reason", e.Reason)
	b = append(b, `,"details":`...)
	b = append(b, details...)
	member("prev_hash", e.PrevHash)
	member("hash", e.Hash)
	return append(b, '}'), nil
}

// UnmarshalJSON reads the JSON form MarshalJSON writes, strictly: every key
// must be present, once, and not null; unknown keys are refused; seq must
// be an integer; time must be in the trail's exact fixed-width form (the
// hash covers its spelling, so another spelling of the same instant is not
// the same entry); details must be a JSON object, which is stored in
// canonical form (whitespace, key order and escapes of an indented or
// re-encoded export do not change it). The input must be valid UTF-8.
//
// The hash is read, not checked: compare it with ComputeHash.
func (e *Entry) UnmarshalJSON(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("audit: entry: JSON is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("audit: entry: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("audit: entry: want a JSON object, got %.20q", bytes.TrimSpace(data))
	}
	var (
		out  Entry
		seen [len(entryKeys)]bool
	)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return fmt.Errorf("audit: entry: %w", err)
		}
		key, _ := kt.(string) // a key is always a string in valid JSON
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("audit: entry: %s: %w", key, err)
		}
		k := -1
		for i, name := range entryKeys {
			if name == key {
				k = i
			}
		}
		switch {
		case k < 0:
			return fmt.Errorf("audit: entry: unknown key %q (want %s)", key, strings.Join(entryKeys[:], ", "))
		case seen[k]:
			return fmt.Errorf("audit: entry: duplicate key %q", key)
		case string(raw) == "null":
			return fmt.Errorf("audit: entry: %s is null", key)
		}
		seen[k] = true
		if err := out.setJSON(key, raw); err != nil {
			return fmt.Errorf("audit: entry: %s: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fmt.Errorf("audit: entry: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("audit: entry: trailing data after the object")
	}
	var missing []string
	for i, ok := range seen {
		if !ok {
			missing = append(missing, entryKeys[i])
		}
	}
	if missing != nil {
		return fmt.Errorf("audit: entry: missing %s", strings.Join(missing, ", "))
	}
	*e = out
	return nil
}

// setJSON sets the field of e that key names from its JSON value raw.
func (e *Entry) setJSON(key string, raw json.RawMessage) error {
	var s *string
	switch key {
	case "seq":
		// Unmarshal into an int64 refuses strings, fractions and exponents.
		return json.Unmarshal(raw, &e.Seq)
	case "time":
		var tm string
		if err := json.Unmarshal(raw, &tm); err != nil {
			return err
		}
		t, err := parseTime(tm)
		if err != nil {
			return err
		}
		e.Time = t
		return nil
	case "details":
		d, err := canonicalDetails(raw) // refuses anything but one object
		if err != nil {
			return err
		}
		e.Details = d
		return nil
	case "operator":
		s = &e.Operator
	case "os_user":
		s = &e.OSUser
	case "action":
		s = &e.Action
	case "object":
		s = &e.Object
	case "reason":
		s = &e.Reason
	case "prev_hash":
		s = &e.PrevHash
	case "hash":
		s = &e.Hash
	}
	return json.Unmarshal(raw, s) // refuses anything but a string
}
