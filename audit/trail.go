package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Errors that callers may want to tell apart with errors.Is.
var (
	ErrEmpty       = errors.New("audit trail is empty")
	ErrNotFound    = errors.New("no such audit entry")
	ErrNotTrail    = errors.New("not a pawl audit trail")
	ErrNewerSchema = errors.New("audit trail schema is newer than this pawl")
	ErrReadOnly    = errors.New("audit trail is open read-only")
	ErrOldSchema   = errors.New("audit trail schema is older than this pawl writes")
)

// busyTimeoutMS is how long a connection waits for another process's write
// lock. Appends are one short transaction each, so waiting this long means
// something is wrong (a crashed writer holding a lock on a network share).
const busyTimeoutMS = 10000

// Trail is an open audit trail. It is safe for concurrent use.
type Trail struct {
	path     string
	readOnly bool
	// w is the only pool that writes. It has a single connection so that
	// goroutines of this process queue in Go, fairly, instead of spinning
	// in SQLite's busy handler; the busy timeout is then only for other
	// processes.
	w *sql.DB
	// r serves reads. It is separate because every transaction on w is
	// BEGIN IMMEDIATE (the driver ignores TxOptions.ReadOnly), and Verify's
	// long read transaction must not hold the write lock.
	r *sql.DB

	id      string
	version int
}

// sqliteURI turns a path into an SQLite URI filename. URI form is needed
// for mode=ro, and the escaping keeps '?', '#' and '%' in a path from being
// read as URI syntax.
func sqliteURI(abs string, params ...string) string {
	var b strings.Builder
	b.WriteString("file:")
	for i := 0; i < len(abs); i++ {
		switch c := abs[i]; c {
		case '?', '#', '%':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('?')
	b.WriteString(strings.Join(params, "&"))
	return b.String()
}

// Connection settings, checked against go-sqlite3 v1.14.53's DSN parser:
// _synchronous must be given explicitly, because the driver lowers it to
// NORMAL whenever _journal_mode=WAL is in the DSN, and NORMAL in WAL mode
// can lose the last commits on power failure. Journal mode is not in the
// DSN at all: it is persistent in the file, and Open sets it only after
// making sure the file is a pawl trail, so that pointing pawl at someone
// else's database does not convert it.
var commonParams = []string{
	"_busy_timeout=" + strconv.Itoa(busyTimeoutMS),
	"_foreign_keys=1",
	"_synchronous=FULL",
}

func writerDSN(abs string) string {
	return sqliteURI(abs, append([]string{"_txlock=immediate"}, commonParams...)...)
}

func readerDSN(abs string, readOnlyFile bool) string {
	p := append([]string{"_query_only=1"}, commonParams...)
	if readOnlyFile {
		p = append([]string{"mode=ro"}, p...)
	}
	return sqliteURI(abs, p...)
}

// Open opens the trail at path for appending, creating it if the file does
// not exist (or is empty) and upgrading an older schema. It refuses a file
// that is not a pawl trail, and a trail written by a newer pawl.
func Open(path string) (*Trail, error) { return open(path, false) }

// Migrate opens the trail at path for appending, upgrading an older schema
// to the one this pawl writes (each step a trail.migrated entry in the
// same transaction as the step). Open refuses an older schema; this is
// the explicit command.
func Migrate(path string) (*Trail, error) { return open(path, true) }

func open(path string, upgrade bool) (*Trail, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("audit: open %s: %w: not a regular file", abs, ErrNotTrail)
	}
	ctx := context.Background()
	w, err := sql.Open("sqlite3", writerDSN(abs))
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	t := &Trail{path: abs, w: w}
	if err := t.prepareWriter(ctx, upgrade); err != nil {
		w.Close()
		return nil, err
	}
	t.r, err = sql.Open("sqlite3", readerDSN(abs, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("audit: open %s: %w", abs, err)
	}
	if err := t.loadIdentity(ctx); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *Trail) prepareWriter(ctx context.Context, upgrade bool) error {
	st, err := inspect(ctx, t.w)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w: %w", t.path, ErrNotTrail, err)
	}
	if !st.isFresh() && !st.isTrail() {
		return notATrail(t.path, st)
	}
	if err := setWAL(ctx, t.w); err != nil {
		return fmt.Errorf("audit: open %s: set WAL mode: %w", t.path, err)
	}
	return migrate(ctx, t.w, t.path, upgrade)
}

// setWAL switches the file to WAL mode unless it already is. Switching
// needs an exclusive lock and SQLite reports SQLITE_BUSY at once instead of
// calling the busy handler, which happens when several processes open a new
// trail together; so the retry is done here, within the busy timeout.
func setWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeoutMS * time.Millisecond)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
		if err == nil && mode == "wal" {
			return nil
		}
		if err == nil {
			err = db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
			if err == nil && mode == "wal" {
				return nil
			}
			if err == nil {
				return fmt.Errorf("journal mode is still %q", mode)
			}
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// OpenReadOnly opens the trail at path for reading and verification only,
// such as a copy handed over for inspection. It never writes to the file
// (SQLite may create the -wal and -shm side files next to it, which is how
// it coordinates with a writer that has the trail open at the same time).
// It refuses a missing file, a file that is not a pawl trail, and a newer
// schema; an older schema is read as it is, never upgraded. It takes no
// lock of pawl's. A trail in a directory this process cannot write, with no
// write-ahead log beside it, or whose file nobody may write (a read-only
// copy or an unpacked archive, closed cleanly), is opened immutable:
// SQLite could not create the shared-memory file a WAL-mode reader needs
// (or, for root, would create it in a copy meant to stay as it is), and no
// pawl is writing it (a writer keeps the log while it has the trail open).
func OpenReadOnly(path string) (*Trail, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("audit: open %s: %w: not a regular file", abs, ErrNotTrail)
	}
	ctx := context.Background()
	dsn := readerDSN(abs, true)
	if _, err := os.Stat(abs + "-wal"); errors.Is(err, os.ErrNotExist) && (syscall.Access(filepath.Dir(abs), 2 /* W_OK */) != nil || fi.Mode().Perm()&0o222 == 0) {
		dsn += "&immutable=1"
	}
	r, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", abs, err)
	}
	t := &Trail{path: abs, r: r, readOnly: true}
	st, err := inspect(ctx, r)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("audit: open %s: %w: %w", abs, ErrNotTrail, err)
	}
	if !st.isTrail() {
		r.Close()
		return nil, notATrail(abs, st)
	}
	if err := t.loadIdentity(ctx); err != nil {
		r.Close()
		return nil, err
	}
	if t.version > latestVersion() {
		r.Close()
		return nil, fmt.Errorf("audit: open %s: %w: trail has schema version %d, this pawl supports up to %d; use a newer pawl", abs, ErrNewerSchema, t.version, latestVersion())
	}
	return t, nil
}

func (t *Trail) loadIdentity(ctx context.Context) error {
	id, err := readMeta(ctx, t.r, "trail_id")
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", t.path, err)
	}
	v, err := readVersion(ctx, t.r)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", t.path, err)
	}
	t.id, t.version = id, v
	return nil
}

// Close closes the trail. When the last connection to a trail closes,
// SQLite checkpoints the write-ahead log into the main file, so a closed
// trail is a single self-contained file.
func (t *Trail) Close() error {
	var errs []error
	if t.r != nil {
		errs = append(errs, t.r.Close())
	}
	if t.w != nil {
		errs = append(errs, t.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("audit: close %s: %w", t.path, err)
	}
	return nil
}

// Path returns the absolute path of the trail's file.
func (t *Trail) Path() string { return t.path }

// ID returns the trail's random identity, fixed at creation and recorded
// in its first entry.
func (t *Trail) ID() string { return t.id }

// SchemaVersion returns the schema version of the open trail.
func (t *Trail) SchemaVersion() int { return t.version }

var osUser = sync.OnceValue(func() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "uid:" + strconv.Itoa(os.Getuid())
})

// Append adds e to the end of the trail and returns it as stored, with
// Seq, Time, OSUser, canonical Details, PrevHash and Hash filled in. Seq,
// PrevHash and Hash must be left zero; they belong to the trail. Each call
// is one IMMEDIATE transaction, durable (fsynced) when Append returns, and
// safe to make concurrently from goroutines and from other processes.
//
// Time should normally be left zero, so that the trail, not the caller,
// says when the entry was recorded; when zero it is taken after the write
// lock is held, so that times follow seq order on a steady clock.
//
// Entry times never go backwards. When the entry's time (the clock's, or
// the one the caller gave) is before the newest entry's, nothing of e is
// appended: Append returns a *ClockError (errors.Is ErrClockBehind) that
// names both times and says to check the host clock, and the refusal is on
// record as a trail.clock_anomaly entry, dated at the newest entry's time.
func (t *Trail) Append(ctx context.Context, e Entry) (Entry, error) {
	if t.readOnly {
		return Entry{}, fmt.Errorf("audit: append to %s: %w", t.path, ErrReadOnly)
	}
	if err := checkNew(&e); err != nil {
		return Entry{}, fmt.Errorf("audit: append %s %s: %w", e.Action, e.Object, err)
	}
	tx, err := t.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE via _txlock
	if err != nil {
		if isBusy(err) {
			return Entry{}, fmt.Errorf("audit: append %s %s: another process held the write lock on %s for over %d ms: %w", e.Action, e.Object, t.path, busyTimeoutMS, err)
		}
		return Entry{}, fmt.Errorf("audit: append %s %s: begin: %w", e.Action, e.Object, err)
	}
	defer tx.Rollback()
	stored, err := appendTx(ctx, tx, e)
	var ce *ClockError
	if errors.As(err, &ce) {
		// Refused, and the refusal goes on record in the same
		// transaction, in place of the entry.
		a, aerr := recordClockAnomaly(ctx, tx, t.id, e, ce)
		if aerr == nil {
			aerr = tx.Commit()
		}
		if aerr != nil {
			return Entry{}, fmt.Errorf("audit: append %s %s: %w (and the anomaly could not be put on record: %v)", e.Action, e.Object, err, aerr)
		}
		ce.AnomalySeq = a.Seq
		return Entry{}, fmt.Errorf("audit: append %s %s: %w", e.Action, e.Object, err)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("audit: append %s %s: %w", e.Action, e.Object, err)
	}
	if err := tx.Commit(); err != nil {
		return Entry{}, fmt.Errorf("audit: append %s %s: commit: %w", e.Action, e.Object, err)
	}
	return stored, nil
}

// AppendAll adds es to the end of the trail in order, in one IMMEDIATE
// transaction: each is its own hash-chained entry, as if appended one by
// one with Append (Seq, OSUser, canonical Details, PrevHash and Hash filled
// in), but they share one commit and its one fsync, so a crash leaves all
// of them on record or none. It returns them as stored.
//
// Their times are either all left zero — then the clock is read once, after
// the write lock is held, and every entry of the batch has that time — or
// all given, in order; a mix is refused. Nothing is appended when any
// entry is refused. A time before the newest entry's is refused and put on
// record as Append's refusal is (a *ClockError and a trail.clock_anomaly
// entry for the first entry): since the times in a batch never go
// backwards, only the first can be behind.
func (t *Trail) AppendAll(ctx context.Context, es []Entry) ([]Entry, error) {
	if t.readOnly {
		return nil, fmt.Errorf("audit: append to %s: %w", t.path, ErrReadOnly)
	}
	if len(es) == 0 {
		return nil, nil
	}
	given := !es[0].Time.IsZero()
	for i := range es {
		if err := checkNew(&es[i]); err != nil {
			return nil, fmt.Errorf("audit: append %s %s: %w", es[i].Action, es[i].Object, err)
		}
		if es[i].Time.IsZero() == given {
			return nil, fmt.Errorf("audit: append %s %s: in one batch the times are all given or all left to the trail, not some of each", es[i].Action, es[i].Object)
		}
		if i > 0 && given && es[i].Time.Before(es[i-1].Time) {
			return nil, fmt.Errorf("audit: append %s %s: its time %s is before the time of the entry before it in the batch (%s)", es[i].Action, es[i].Object, formatTime(es[i].Time), formatTime(es[i-1].Time))
		}
	}
	first := es[0]
	tx, err := t.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE via _txlock
	if err != nil {
		if isBusy(err) {
			return nil, fmt.Errorf("audit: append %s %s and %d more: another process held the write lock on %s for over %d ms: %w", first.Action, first.Object, len(es)-1, t.path, busyTimeoutMS, err)
		}
		return nil, fmt.Errorf("audit: append %s %s and %d more: begin: %w", first.Action, first.Object, len(es)-1, err)
	}
	defer tx.Rollback()
	stored := make([]Entry, 0, len(es))
	for i, e := range es {
		if i > 0 && !given {
			e.Time = stored[0].Time // the one reading of the clock
		}
		s, err := appendTx(ctx, tx, e)
		var ce *ClockError
		if errors.As(err, &ce) && i == 0 {
			// Refused, and the refusal goes on record in the same
			// transaction, in place of the batch.
			a, aerr := recordClockAnomaly(ctx, tx, t.id, e, ce)
			if aerr == nil {
				aerr = tx.Commit()
			}
			if aerr != nil {
				return nil, fmt.Errorf("audit: append %s %s: %w (and the anomaly could not be put on record: %v)", e.Action, e.Object, err, aerr)
			}
			ce.AnomalySeq = a.Seq
			return nil, fmt.Errorf("audit: append %s %s: %w", e.Action, e.Object, err)
		}
		if err != nil {
			return nil, fmt.Errorf("audit: append %s %s: %w", e.Action, e.Object, err)
		}
		stored = append(stored, s)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("audit: append %s %s and %d more: commit: %w", first.Action, first.Object, len(es)-1, err)
	}
	return stored, nil
}

func checkNew(e *Entry) error {
	if e.Operator == "" {
		return errors.New("operator required")
	}
	if e.Action == "" {
		return errors.New("action required")
	}
	if strings.HasPrefix(e.Action, reservedActionPrefix) {
		return fmt.Errorf("action %q is reserved: actions starting with %q are written by the audit package itself", e.Action, reservedActionPrefix)
	}
	if e.Seq != 0 || e.PrevHash != "" || e.Hash != "" {
		return errors.New("Seq, PrevHash and Hash are assigned by Append and must be zero")
	}
	return nil
}

// appendTx chains e onto the head inside tx. It is shared by Append and by
// the package's own entries (genesis, migrations).
func appendTx(ctx context.Context, tx *sql.Tx, e Entry) (Entry, error) {
	for name, s := range map[string]string{"operator": e.Operator, "os user": e.OSUser, "action": e.Action, "object": e.Object, "reason": e.Reason} {
		if !utf8.ValidString(s) {
			// Refused rather than repaired: two different byte strings
			// must never be recorded as the same text.
			return Entry{}, fmt.Errorf("%s is not valid UTF-8", name)
		}
	}
	details, err := canonicalDetails(e.Details)
	if err != nil {
		return Entry{}, fmt.Errorf("details: %w", err)
	}
	e.Details = details
	if e.OSUser == "" {
		e.OSUser = osUser()
	}
	var given time.Time
	if e.Time.IsZero() {
		e.Time = now()
	} else {
		given = e.Time
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return Entry{}, fmt.Errorf("time %s is outside years 0001-9999", e.Time)
	}
	tm := formatTime(e.Time)
	e.Time, _ = time.Parse(timeLayout, tm) // what a later Get returns

	var headSeq int64
	var headHash, headTime string
	err = tx.QueryRowContext(ctx, "SELECT seq, hash, time FROM entries ORDER BY seq DESC LIMIT 1").Scan(&headSeq, &headHash, &headTime)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		e.Seq, e.PrevHash = 1, GenesisPrevHash
	case err != nil:
		return Entry{}, fmt.Errorf("read head: %w", err)
	default:
		e.Seq, e.PrevHash = headSeq+1, headHash
		ht, err := parseTime(headTime)
		if err != nil {
			return Entry{}, fmt.Errorf("read head: entry %d: %v: run `pawl audit verify`", headSeq, err)
		}
		if e.Time.Before(ht) {
			ce := &ClockError{Clock: e.Time, HeadSeq: headSeq, HeadTime: ht}
			if !given.IsZero() {
				ce.Given, ce.Clock = e.Time, now().UTC()
			}
			return Entry{}, ce
		}
	}
	e.Hash = hashEntry(e.Seq, tm, e.Operator, e.OSUser, e.Action, e.Object, e.Reason, e.Details, e.PrevHash)
	_, err = tx.ExecContext(ctx,
		`INSERT INTO entries (seq, time, operator, os_user, action, object, reason, details, prev_hash, hash)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, tm, e.Operator, e.OSUser, e.Action, e.Object, e.Reason, string(e.Details), e.PrevHash, e.Hash)
	if err != nil {
		return Entry{}, fmt.Errorf("insert entry %d: %w", e.Seq, err)
	}
	return e, nil
}

const entryColumns = "seq, time, operator, os_user, action, object, reason, details, prev_hash, hash"

type scanner interface{ Scan(dest ...any) error }

func scanEntry(s scanner) (Entry, error) {
	var e Entry
	var tm, details string
	if err := s.Scan(&e.Seq, &tm, &e.Operator, &e.OSUser, &e.Action, &e.Object, &e.Reason, &details, &e.PrevHash, &e.Hash); err != nil {
		return Entry{}, err
	}
	t, err := time.Parse(timeLayout, tm)
	if err != nil {
		return Entry{}, fmt.Errorf("entry %d: time %q: %w", e.Seq, tm, err)
	}
	e.Time = t
	e.Details = []byte(details)
	return e, nil
}

// Head returns the last entry, or an error matching ErrEmpty if there is
// none (which only a damaged file can have: Open writes entry 1).
func (t *Trail) Head(ctx context.Context) (Entry, error) {
	e, err := scanEntry(t.r.QueryRowContext(ctx, "SELECT "+entryColumns+" FROM entries ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, fmt.Errorf("audit: head of %s: %w", t.path, ErrEmpty)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("audit: head of %s: %w", t.path, err)
	}
	return e, nil
}

// Get returns entry seq, or an error matching ErrNotFound.
func (t *Trail) Get(ctx context.Context, seq int64) (Entry, error) {
	e, err := scanEntry(t.r.QueryRowContext(ctx, "SELECT "+entryColumns+" FROM entries WHERE seq = ?", seq))
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, fmt.Errorf("audit: entry %d of %s: %w", seq, t.path, ErrNotFound)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("audit: entry %d of %s: %w", seq, t.path, err)
	}
	return e, nil
}

// Filter selects entries for List. Zero fields match everything.
type Filter struct {
	Action       string    // exact action
	Object       string    // exact object
	ObjectPrefix string    // object starts with this (case-sensitive)
	Operator     string    // exact operator
	Since        time.Time // recorded at or after this instant
	AfterSeq     int64     // seq greater than this
	Limit        int       // at most this many, the earliest first; 0 means no limit
}

// Find returns the entries with the given action and object, in seq order;
// an empty argument matches any value.
func (t *Trail) Find(ctx context.Context, action, object string) ([]Entry, error) {
	return t.List(ctx, Filter{Action: action, Object: object})
}

// List returns the entries that match f, in seq order.
func (t *Trail) List(ctx context.Context, f Filter) ([]Entry, error) {
	var where []string
	var args []any
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if f.Object != "" {
		where, args = append(where, "object = ?"), append(args, f.Object)
	}
	if f.ObjectPrefix != "" {
		// Not LIKE: it is case-insensitive for ASCII and treats % and _
		// in object names as wildcards.
		where, args = append(where, "substr(object, 1, ?) = ?"), append(args, utf8.RuneCountInString(f.ObjectPrefix), f.ObjectPrefix)
	}
	if f.Operator != "" {
		where, args = append(where, "operator = ?"), append(args, f.Operator)
	}
	if !f.Since.IsZero() {
		// Stored times are fixed-width UTC, so string order is time order.
		where, args = append(where, "time >= ?"), append(args, formatTime(f.Since))
	}
	if f.AfterSeq > 0 {
		where, args = append(where, "seq > ?"), append(args, f.AfterSeq)
	}
	if f.Limit < 0 {
		return nil, fmt.Errorf("audit: list %s: negative limit %d", t.path, f.Limit)
	}
	q := "SELECT " + entryColumns + " FROM entries"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := t.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: list %s: %w", t.path, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: list %s: %w", t.path, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: list %s: %w", t.path, err)
	}
	return out, nil
}

// isBusy reports whether err is SQLite giving up on a lock.
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}
