package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Entry is one record of the audit trail.
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

// Actions recorded by pawl. Actions starting with "trail." are written by
// this package itself and are refused by Append.
const (
	ActionInit           = "project.init"
	ActionPinChanged     = "pin.changed"
	ActionBatchCommitted = "batch.committed"
	ActionBatchFailed    = "batch.failed"

	// ActionTrailCreated is entry 1 of every trail; its details name the
	// trail (see the package documentation).
	ActionTrailCreated = "trail.created"
	// ActionTrailMigrated records a schema upgrade, with details
	// {"from": <old version>, "to": <new version>}.
	ActionTrailMigrated = "trail.migrated"
)

// reservedActionPrefix marks actions only this package may write, because
// Verify gives them meaning (they carry the trail's identity and version).
const reservedActionPrefix = "trail."

// SystemOperator is the operator of entries pawl writes on its own behalf
// (trail creation and migration); the OS user of those entries still
// records who ran the program.
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
