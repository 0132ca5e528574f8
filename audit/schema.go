package audit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// applicationID is written to the SQLite header (PRAGMA application_id) so
// that a pawl trail can be told from any other SQLite file before a single
// table is read: the ASCII bytes "pawl".
const applicationID = 0x7061776c

// migration brings a trail from version-1 to version. It runs inside the
// IMMEDIATE transaction that Open holds, so a trail is never seen half
// migrated, and two processes opening an old trail at once migrate it once.
type migration struct {
	version int
	up      func(ctx context.Context, tx *sql.Tx) error
}

// migrations lists every schema version in order. Append new versions at
// the end; never edit a released one, since trails in the field were built
// by it. A migration that changes meta must drop and re-create the meta
// triggers inside its own transaction.
var migrations = []migration{
	{version: 1, up: createV1},
}

// latestVersion is the schema version this build writes and the newest it
// can read.
func latestVersion() int { return migrations[len(migrations)-1].version }

// tablesV1 are the tables of schema version 1; Verify flags any other
// table, because its rows would not be covered by the hash chain.
var tablesV1 = []string{"entries", "meta"}

// triggersV1 are the append-only guards Verify expects to find.
var triggersV1 = []string{"entries_no_update", "entries_no_delete", "entries_append_at_head", "meta_no_update", "meta_no_delete", "meta_no_replace"}

const schemaV1 = `
CREATE TABLE meta (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE entries (
	seq       INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
	time      TEXT    NOT NULL,
	operator  TEXT    NOT NULL CHECK (operator <> ''),
	os_user   TEXT    NOT NULL,
	action    TEXT    NOT NULL CHECK (action <> ''),
	object    TEXT    NOT NULL,
	reason    TEXT    NOT NULL,
	details   TEXT    NOT NULL,
	prev_hash TEXT    NOT NULL,
	hash      TEXT    NOT NULL UNIQUE
) STRICT;

CREATE INDEX entries_action_object ON entries (action, object);
CREATE INDEX entries_object ON entries (object);

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
-- INSERT OR REPLACE deletes the row it conflicts with without firing
-- BEFORE DELETE triggers (unless recursive_triggers is on), so inserts are
-- guarded too: an entry may only extend the head, and a meta key may only
-- be written once.
CREATE TRIGGER entries_append_at_head BEFORE INSERT ON entries
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM entries)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM entries ORDER BY seq DESC LIMIT 1), '` + GenesisPrevHash + `')
  OR EXISTS (SELECT 1 FROM entries WHERE hash = NEW.hash)
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: a new entry must extend the head'); END;
CREATE TRIGGER meta_no_replace BEFORE INSERT ON meta
WHEN EXISTS (SELECT 1 FROM meta WHERE key = NEW.key)
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
`

// genesisDetails is what entry 1 says about the trail; Verify checks the
// meta table against it, which is how meta's rows come under the hashes.
type genesisDetails struct {
	CreatedAt     string `json:"created_at"`
	SchemaVersion int    `json:"schema_version"`
	TrailID       string `json:"trail_id"`
}

func createV1(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "PRAGMA application_id = "+strconv.Itoa(applicationID)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, schemaV1); err != nil {
		return err
	}
	var idb [16]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return err
	}
	created := now().UTC()
	g := genesisDetails{CreatedAt: formatTime(created), SchemaVersion: 1, TrailID: hex.EncodeToString(idb[:])}
	for k, v := range map[string]string{
		"schema_version": "1",
		"trail_id":       g.TrailID,
		"created_at":     g.CreatedAt,
	} {
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?)", k, v); err != nil {
			return err
		}
	}
	details, err := json.Marshal(g)
	if err != nil {
		return err
	}
	_, err = appendTx(ctx, tx, Entry{
		Time:     created,
		Operator: SystemOperator,
		Action:   ActionTrailCreated,
		Object:   "trail:" + g.TrailID,
		Reason:   "audit trail created",
		Details:  details,
	})
	return err
}

// fileState is what Open learns about a file before touching it.
type fileState struct {
	appID  int64
	tables int64
}

func (s fileState) isFresh() bool { return s.appID == 0 && s.tables == 0 }
func (s fileState) isTrail() bool { return s.appID == applicationID }

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func inspect(ctx context.Context, q queryer) (fileState, error) {
	// One statement, so both are read in one snapshot: read apart, another
	// process could commit the trail's creation between them, and a file
	// with no application_id yet but eleven schema objects is not a trail.
	var s fileState
	err := q.QueryRowContext(ctx, "SELECT (SELECT application_id FROM pragma_application_id), (SELECT count(*) FROM sqlite_schema)").Scan(&s.appID, &s.tables)
	return s, err
}

func readMeta(ctx context.Context, q queryer, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("meta has no %q row", key)
	}
	return v, err
}

func readVersion(ctx context.Context, q queryer) (int, error) {
	v, err := readMeta(ctx, q, "schema_version")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("meta schema_version %q is not a positive integer", v)
	}
	return n, nil
}

// migrate creates or upgrades the trail inside one IMMEDIATE transaction.
// The file's state is re-read under the lock because another process may
// have created or migrated it since Open looked.
//
// Creating a fresh trail is part of opening it; upgrading an existing one
// is not: without upgrade, an older schema is refused with ErrOldSchema and
// the command that upgrades it (`pawl audit migrate`, Migrate).
func migrate(ctx context.Context, db *sql.DB, path string, upgrade bool) error {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE via _txlock
	if err != nil {
		return fmt.Errorf("audit: open %s: lock for migration: %w", path, err)
	}
	defer tx.Rollback()
	st, err := inspect(ctx, tx)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", path, err)
	}
	from := 0
	switch {
	case st.isFresh():
	case st.isTrail():
		if from, err = readVersion(ctx, tx); err != nil {
			return fmt.Errorf("audit: open %s: %w", path, err)
		}
	default:
		return notATrail(path, st)
	}
	if from > latestVersion() {
		return fmt.Errorf("audit: open %s: %w: trail has schema version %d, this pawl supports up to %d; use a newer pawl", path, ErrNewerSchema, from, latestVersion())
	}
	if from == latestVersion() {
		return nil
	}
	if from > 0 && !upgrade {
		return fmt.Errorf("audit: open %s: %w: the trail has schema version %d, this pawl writes %d; run `pawl audit migrate` to upgrade it (the upgrade is recorded in the trail)", path, ErrOldSchema, from, latestVersion())
	}
	for _, m := range migrations {
		if m.version <= from {
			continue
		}
		if err := m.up(ctx, tx); err != nil {
			return fmt.Errorf("audit: open %s: migrate to schema version %d: %w", path, m.version, err)
		}
		if m.version > 1 {
			if err := recordMigration(ctx, tx, m.version-1, m.version); err != nil {
				return fmt.Errorf("audit: open %s: migrate to schema version %d: %w", path, m.version, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit: open %s: commit migration: %w", path, err)
	}
	return nil
}

// recordMigration updates meta's schema_version and chains a
// trail.migrated entry that vouches for the new value.
func recordMigration(ctx context.Context, tx *sql.Tx, from, to int) error {
	id, err := readMeta(ctx, tx, "trail_id")
	if err != nil {
		return err
	}
	stmts := []string{
		"DROP TRIGGER meta_no_update",
		"UPDATE meta SET value = '" + strconv.Itoa(to) + "' WHERE key = 'schema_version'",
		"CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END",
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	_, err = appendTx(ctx, tx, Entry{
		Operator: SystemOperator,
		Action:   ActionTrailMigrated,
		Object:   "trail:" + id,
		Reason:   fmt.Sprintf("schema upgraded from version %d to %d", from, to),
		Details:  fmt.Appendf(nil, `{"from":%d,"to":%d}`, from, to),
	})
	return err
}

func notATrail(path string, st fileState) error {
	if st.appID != 0 {
		return fmt.Errorf("audit: open %s: %w: SQLite application_id is %#x, not pawl's %#x", path, ErrNotTrail, st.appID, applicationID)
	}
	return fmt.Errorf("audit: open %s: %w: an SQLite database with %d schema objects and no pawl application_id", path, ErrNotTrail, st.tables)
}
