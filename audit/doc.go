// Package audit is pawl's audit trail: an append-only, hash-chained record
// of every action, kept in one SQLite file (audit.db) that a regulator can
// verify on its own, entry by entry, with nothing but this package or the
// rules written below.
//
// # What it guarantees
//
// Every entry is appended in its own IMMEDIATE transaction with WAL
// journaling and synchronous=FULL, so an entry is on disk when Append
// returns, and appends from goroutines and from separate processes are
// serialised into one chain with no gaps. Each entry carries the hash of
// the entry before it and a hash over its own fields, so editing, deleting,
// inserting or reordering entries anywhere before the newest one is
// detected by [Trail.Verify], which names the first bad entry and what is
// wrong with it.
//
// Entry times never go backwards: every entry is dated at or after the one
// before it. Append refuses an entry whose time — the trail's clock, or a
// time the caller gave — is before the newest entry's, and puts the refusal
// on record as a "trail.clock_anomaly" entry dated at the newest entry's
// time (so the record itself stays in order) with details {"clock",
// "given" (when the caller gave the time), "head_seq", "head_time",
// "refused_action", "refused_object", "refused_operator"}. Verify fails on
// an entry dated before its predecessor, and on a clock anomaly entry that
// does not say what this package writes.
//
// Every row of every table is covered by the hashes. Entries are hashed
// directly. The meta table (schema_version, trail_id, created_at) is
// covered through the chain: entry 1, the genesis entry, has action
// "trail.created" and details {"created_at":...,"schema_version":...,
// "trail_id":...}; each later schema upgrade appends a "trail.migrated"
// entry with {"from":N,"to":M}; Verify checks that meta says exactly what
// the chain says. Verify also reports any table outside the schema, whose
// rows the chain would not cover, and any missing append-only trigger.
//
// # What it does not guarantee
//
// The append-only triggers stop mistakes, not an attacker: anyone who can
// write the file can drop them. (Besides BEFORE UPDATE and BEFORE DELETE
// there is a BEFORE INSERT guard, because INSERT OR REPLACE deletes the row
// it replaces without firing delete triggers.) The hashes give
// tamper evidence, not tamper prevention, and they are not secret: someone
// who deletes the newest entries, or appends entries with correctly
// recomputed hashes, leaves a chain that verifies. Detecting that needs the
// head recorded somewhere the attacker cannot rewrite: a signed checkpoint
// ([Trail.SignCheckpoint], [Trail.VerifyCheckpoint]) — a C2SP
// tlog-checkpoint over the RFC 6962 tree whose leaves are the entry hashes,
// signed as a note — kept outside the enclave.
//
// # What it refuses
//
// Open refuses a file that is not a pawl trail (checked by the SQLite
// application_id "pawl" before anything is written, so pointing pawl at
// another database does not change it) and a trail of a newer schema
// version than this build knows. Append refuses an entry without an
// operator or action, details that are not a single JSON object (or that
// have duplicate keys or invalid UTF-8), strings that are not valid UTF-8,
// actions starting with "trail." (those are written by this package and
// carry meaning for Verify), a caller-set Seq, PrevHash or Hash, and a time
// before the newest entry's (a [ClockError], on record as above).
//
// # Hash encoding
//
// An entry's hash is "sha256:" followed by the lowercase hex SHA-256 of the
// canonical JSON array
//
//	[seq,time,operator,os_user,action,object,reason,details,prev_hash]
//
// where seq is a JSON integer, details is the canonical details object
// itself (not a string holding it), and the other fields are JSON strings
// exactly as stored. time is UTC in the fixed-width form
// "2006-01-02T15:04:05.000000000Z" (always nine fractional digits), so one
// instant has one spelling and stored times sort as strings. prev_hash of
// entry 1 is "sha256:" followed by 64 zeros. [ComputeHash] implements this.
//
// Canonical JSON, used for details and for the array above, is pawl's one
// canonical encoding, package audit/canonjson (normative text in its
// package documentation and in docs/audit-format.md, with shared test
// vectors in testdata/canonical-json): no whitespace; object members sorted
// by the UTF-8 bytes of their keys (code point order, not RFC 8785's UTF-16
// order); duplicate keys, lone surrogates and invalid UTF-8 refused; numbers
// exactly as written; strings with only \" \\ \b \f \n \r \t and \u00xx
// escaped, everything else (U+2028, U+2029, '<', '>', '&') raw.
//
// # The file
//
// Tables: entries (seq INTEGER PRIMARY KEY plus the fields above, STRICT)
// and meta (key, value). The journal mode is WAL, so while a trail is open
// there are -wal and -shm files beside it; closing the last connection folds
// them back into the one file. [OpenReadOnly] never writes the file itself,
// though SQLite may create the -wal and -shm side files to coordinate with a
// live writer; for the same reason it cannot open a WAL trail on read-only
// media (copy the file to writable storage first). All access goes through
// [Open] or [OpenReadOnly], which check the file and run schema migrations;
// a later schema version (Merkle lineage per batch, signed checkpoints) is
// added as a new migration, with its own "trail.migrated" entry, without
// changing this API.
package audit
