package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is the result of Verify. Its JSON keys are snake_case and all
// always present (problem is "" when OK).
type Report struct {
	Entries  int64  `json:"entries"`   // rows in the entries table
	Head     string `json:"head"`      // stored hash of the last row ("" if none)
	TrailID  string `json:"trail_id"`  // trail id recorded in entry 1
	OK       bool   `json:"ok"`        // no problem found
	FirstBad int64  `json:"first_bad"` // seq of the first bad entry; 0 if the problem is not in an entry (meta, schema) or OK
	Problem  string `json:"problem"`   // what is wrong with it, with the evidence
}

// Verify checks the whole trail from the file: it recomputes every hash,
// follows the chain of prev_hash links, checks that seq runs from 1 with no
// gaps, that details and times are in canonical form, that no entry is
// dated before the one before it (and that a clock anomaly entry says what
// this package writes), that the meta table agrees with what entry 1 (and
// any migration entries) recorded, and that the database holds no tables
// outside the hash chain and still has its append-only triggers. It reads inside one transaction, so it sees one
// consistent state even while another process appends, and it streams the
// entries, so memory does not grow with the trail.
//
// Verify returns an error only when it could not read the trail; a trail
// that was read and found wrong gives a Report with OK false, naming the
// first problem. What it cannot detect without a signed checkpoint (a later
// feature) is the removal of the newest entries, or entries appended by
// someone who recomputed the hashes.
func (t *Trail) Verify(ctx context.Context) (*Report, error) {
	tx, err := t.r.BeginTx(ctx, nil) // deferred: r has no _txlock
	if err != nil {
		return nil, fmt.Errorf("audit: verify %s: %w", t.path, err)
	}
	defer tx.Rollback()
	v := &verifier{rep: &Report{OK: true}}
	if err := v.entries(ctx, tx); err != nil {
		return nil, fmt.Errorf("audit: verify %s: %w", t.path, err)
	}
	if err := v.meta(ctx, tx); err != nil {
		return nil, fmt.Errorf("audit: verify %s: %w", t.path, err)
	}
	if err := v.schema(ctx, tx); err != nil {
		return nil, fmt.Errorf("audit: verify %s: %w", t.path, err)
	}
	return v.rep, nil
}

type verifier struct {
	rep *Report

	genesis     *genesisDetails
	lastVersion int // schema version the chain vouches for

	// prevTime is the time of the row before, when it was readable: times
	// never go backwards. prevSeq is that row's seq.
	prevTime time.Time
	prevSeq  int64
}

// fail records the first problem only: later ones are usually
// consequences of it, and the first is where an investigation starts.
func (v *verifier) fail(seq int64, format string, args ...any) {
	if !v.rep.OK {
		return
	}
	v.rep.OK = false
	v.rep.FirstBad = seq
	v.rep.Problem = fmt.Sprintf(format, args...)
}

func (v *verifier) entries(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT "+entryColumns+" FROM entries ORDER BY seq")
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		last     int64 // seq of the previous row, 0 before the first
		lastHash = GenesisPrevHash
	)
	for rows.Next() {
		var (
			seq                                                     int64
			tm, operator, osUser, action, object, reason, prev, hsh sql.NullString
			details                                                 sql.NullString
		)
		if err := rows.Scan(&seq, &tm, &operator, &osUser, &action, &object, &reason, &details, &prev, &hsh); err != nil {
			v.fail(last+1, "entry after %d: unreadable row: %v", last, err)
			return rows.Close()
		}
		v.rep.Entries++
		v.rep.Head = hsh.String
		v.checkEntry(seq, last, lastHash, tm, operator, osUser, action, object, reason, details, prev, hsh)
		last, lastHash = seq, hsh.String
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if v.rep.Entries == 0 {
		v.fail(1, "entry 1: missing (the trail has no entries, not even the genesis entry)")
	}
	return nil
}

func (v *verifier) checkEntry(seq, last int64, lastHash string, tm, operator, osUser, action, object, reason, details, prev, hsh sql.NullString) {
	want := last + 1
	switch {
	case seq < want:
		// Only possible for the first row, as seq is the primary key.
		v.fail(seq, "entry %d: invalid seq (the trail starts at 1)", seq)
	case seq > want && last == 0:
		v.fail(want, "entry 1: missing (the trail starts at seq %d)", seq)
	case seq > want:
		v.fail(want, "entry %d: missing (seq jumps from %d to %d)", want, last, seq)
	}
	for _, c := range []struct {
		name string
		v    sql.NullString
	}{{"time", tm}, {"operator", operator}, {"os_user", osUser}, {"action", action}, {"object", object}, {"reason", reason}, {"details", details}, {"prev_hash", prev}, {"hash", hsh}} {
		if !c.v.Valid {
			v.fail(seq, "entry %d: %s is NULL", seq, c.name)
			return
		}
	}
	// The hash is checked first: if it fails the entry itself is not what
	// was written, which explains any other finding about it.
	computed := hashEntry(seq, tm.String, operator.String, osUser.String, action.String, object.String, reason.String, []byte(details.String), prev.String)
	if computed != hsh.String {
		v.fail(seq, "entry %d: hash mismatch: stored %s, computed %s (the entry was edited or moved)", seq, hsh.String, computed)
	}
	if prev.String != lastHash {
		if last == 0 {
			v.fail(seq, "entry %d: prev_hash is %s, but the first entry must have %s", seq, prev.String, GenesisPrevHash)
		} else {
			v.fail(seq, "entry %d: prev_hash does not match entry %d: prev_hash %s, entry %d has hash %s", seq, last, prev.String, last, lastHash)
		}
	}
	if !validHashString(hsh.String) {
		v.fail(seq, "entry %d: hash %q is not \"sha256:\" and 64 lowercase hex digits", seq, hsh.String)
	}
	entryTime, err := parseTime(tm.String)
	if err != nil {
		v.fail(seq, "entry %d: %v", seq, err)
	}
	if err == nil && !v.prevTime.IsZero() && entryTime.Before(v.prevTime) {
		v.fail(seq, "entry %d is dated %s, before entry %d at %s (entry times never go backwards: the entries were edited or reordered, or written past pawl's check)",
			seq, tm.String, v.prevSeq, formatTime(v.prevTime))
	}
	prevTime := v.prevTime
	v.prevTime, v.prevSeq = entryTime, seq // zero when unreadable: the next entry is not compared
	canon, err := canonicalDetails([]byte(details.String))
	switch {
	case err != nil:
		v.fail(seq, "entry %d: details are not a valid JSON object: %v", seq, err)
	case !bytes.Equal(canon, []byte(details.String)):
		v.fail(seq, "entry %d: details are not in canonical form", seq)
	}
	if operator.String == "" || action.String == "" {
		v.fail(seq, "entry %d: operator and action are required", seq)
	}
	v.checkSystemEntry(seq, action.String, operator.String, []byte(details.String), entryTime, prevTime)
}

// checkSystemEntry follows the entries that carry the trail's identity, so
// that meta can be checked against what the chain says.
func (v *verifier) checkSystemEntry(seq int64, action, operator string, details []byte, tm, prevTime time.Time) {
	switch {
	case seq == 1:
		if action != ActionTrailCreated {
			v.fail(1, "entry 1: action is %q, want %q (the genesis entry was replaced)", action, ActionTrailCreated)
			return
		}
		var g genesisDetails
		dec := json.NewDecoder(bytes.NewReader(details))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&g); err != nil || g.TrailID == "" || g.SchemaVersion < 1 || g.CreatedAt == "" {
			v.fail(1, "entry 1: genesis details %s do not name the trail (want trail_id, schema_version, created_at)", details)
			return
		}
		v.genesis = &g
		v.lastVersion = g.SchemaVersion
		v.rep.TrailID = g.TrailID
	case action == ActionTrailCreated:
		v.fail(seq, "entry %d: a second %s entry (only entry 1 may create the trail)", seq, ActionTrailCreated)
	case action == ActionTrailMigrated:
		var m struct{ From, To int }
		if err := json.Unmarshal(details, &m); err != nil || m.From != v.lastVersion || m.To <= m.From {
			v.fail(seq, "entry %d: migration details %s do not follow schema version %d", seq, details, v.lastVersion)
			return
		}
		if operator != SystemOperator {
			v.fail(seq, "entry %d: %s entry by operator %q, want %q", seq, ActionTrailMigrated, operator, SystemOperator)
			return
		}
		v.lastVersion = m.To
	case action == ActionTrailClockAnomaly:
		v.checkClockAnomaly(seq, operator, details, tm, prevTime)
	}
}

// checkClockAnomaly checks that a trail.clock_anomaly entry says what the
// audit package writes: by pawl itself, about the entry just before it,
// dated at that entry's time, with a refused time before it.
func (v *verifier) checkClockAnomaly(seq int64, operator string, details []byte, tm, prevTime time.Time) {
	if operator != SystemOperator {
		v.fail(seq, "entry %d: %s entry by operator %q, want %q", seq, ActionTrailClockAnomaly, operator, SystemOperator)
		return
	}
	var d clockAnomalyDetails
	dec := json.NewDecoder(bytes.NewReader(details))
	dec.DisallowUnknownFields()
	err := dec.Decode(&d)
	var clock, given, head time.Time
	if err == nil {
		clock, err = parseTime(d.Clock)
	}
	if err == nil && d.Given != "" {
		given, err = parseTime(d.Given)
	}
	if err == nil {
		head, err = parseTime(d.HeadTime)
	}
	if err != nil || d.RefusedAction == "" {
		v.fail(seq, "entry %d: %s details %s are not what pawl writes (want clock, head_seq, head_time, refused_action, refused_object, refused_operator)", seq, ActionTrailClockAnomaly, details)
		return
	}
	refused := clock
	if !given.IsZero() {
		refused = given
	}
	switch {
	case d.HeadSeq != seq-1:
		v.fail(seq, "entry %d: %s names entry %d as the newest, not entry %d", seq, ActionTrailClockAnomaly, d.HeadSeq, seq-1)
	case !head.Equal(tm) || !head.Equal(prevTime):
		v.fail(seq, "entry %d: %s is dated %s with head_time %s; both must be the time of entry %d", seq, ActionTrailClockAnomaly, formatTime(tm), d.HeadTime, seq-1)
	case !refused.Before(head):
		v.fail(seq, "entry %d: %s records a refused time %s that is not before entry %d at %s", seq, ActionTrailClockAnomaly, formatTime(refused), seq-1, d.HeadTime)
	}
}

// meta checks every meta row against the chain: meta is not hashed itself,
// so this comparison is what puts it under the hashes.
func (v *verifier) meta(ctx context.Context, tx *sql.Tx) error {
	if v.genesis == nil {
		return nil // already reported
	}
	want := map[string]string{
		"trail_id":       v.genesis.TrailID,
		"created_at":     v.genesis.CreatedAt,
		"schema_version": strconv.Itoa(v.lastVersion),
	}
	rows, err := tx.QueryContext(ctx, "SELECT key, value FROM meta ORDER BY key")
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var k, val sql.NullString
		if err := rows.Scan(&k, &val); err != nil {
			v.fail(0, "meta: unreadable row: %v", err)
			return rows.Close()
		}
		w, known := want[k.String]
		switch {
		case !known:
			v.fail(0, "meta: unexpected key %q (not covered by the hash chain)", k.String)
		case val.String != w:
			v.fail(0, "meta: %s is %q but the hash chain records %q (the meta table was edited)", k.String, val.String, w)
		}
		seen[k.String] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !seen[k] {
			v.fail(0, "meta: %s is missing (the chain records %q)", k, want[k])
		}
	}
	return nil
}

// schema checks that every table is one whose rows the chain covers, and
// that the append-only triggers are still in place. Removing a trigger
// does not change a record, but it is how tampering starts, so it is
// reported.
func (v *verifier) schema(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'trigger', 'view') ORDER BY type, name")
	if err != nil {
		return err
	}
	defer rows.Close()
	triggers := map[string]bool{}
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			return err
		}
		switch typ {
		case "table":
			if !slices.Contains(tablesV1, name) && !strings.HasPrefix(name, "sqlite_") {
				v.fail(0, "schema: unexpected table %q (its rows are not covered by the hash chain)", name)
			}
		case "view":
			v.fail(0, "schema: unexpected view %q", name)
		case "trigger":
			triggers[name] = true
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range triggersV1 {
		if !triggers[name] {
			v.fail(0, "schema: trigger %s is missing (the append-only guard was removed)", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(triggers)) {
		if !slices.Contains(triggersV1, name) {
			v.fail(0, "schema: unexpected trigger %q", name)
		}
	}
	return nil
}
