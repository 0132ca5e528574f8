package audit

import (
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/build/tooltest"
)

// These tests play the attacker: they open audit.db with database/sql, as
// anyone with write access to the file could, drop the append-only
// triggers, change the data, and then hand the file to a verifier that
// opens it read-only.

// tamperedTrail builds a closed trail of 1 genesis + n entries and returns
// its path and the entries as written.
func tamperedTrail(t *testing.T, n int) (string, []Entry) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "audit.db")
	tr, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	g, err := tr.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	es := append([]Entry{g}, fillTrail(t, tr, n)...)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	return p, es
}

// attack runs SQL against the file with the guards removed. If restore is
// set, the triggers are put back afterwards, as a careful attacker would.
func attack(t *testing.T, p string, restore bool, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var saved []string
	rows, err := db.Query("SELECT sql FROM sqlite_schema WHERE type = 'trigger'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		saved = append(saved, s)
	}
	rows.Close()
	for _, name := range triggersV1 {
		if _, err := db.Exec("DROP TRIGGER " + name); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if restore {
		for _, s := range saved {
			if _, err := db.Exec(s); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func verifyFile(t *testing.T, p string) *Report {
	t.Helper()
	tr, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rep, err := tr.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func wantBad(t *testing.T, rep *Report, seq int64, fragments ...string) {
	t.Helper()
	if rep.OK {
		t.Fatalf("Verify passed a tampered trail (%d entries, head %s)", rep.Entries, rep.Head)
	}
	if rep.FirstBad != seq {
		t.Errorf("FirstBad = %d, want %d (problem: %s)", rep.FirstBad, seq, rep.Problem)
	}
	for _, f := range fragments {
		if !strings.Contains(rep.Problem, f) {
			t.Errorf("problem %q does not contain %q", rep.Problem, f)
		}
	}
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestUntouchedTrailVerifies(t *testing.T) {
	p, es := tamperedTrail(t, 20)
	rep := verifyFile(t, p)
	if !rep.OK || rep.Entries != 21 || rep.Head != es[20].Hash || rep.FirstBad != 0 || rep.Problem != "" {
		t.Fatalf("report %+v", rep)
	}
	// Dropping and restoring the triggers without touching data is not
	// tampering with records.
	attack(t, p, true)
	if rep := verifyFile(t, p); !rep.OK {
		t.Fatalf("report %+v", rep)
	}
}

func TestTamperEditField(t *testing.T) {
	p, es := tamperedTrail(t, 20)
	attack(t, p, true, "UPDATE entries SET reason = 'routine, nothing failed' WHERE seq = 17")
	wantBad(t, verifyFile(t, p), 17, "entry 17: hash mismatch", "stored "+es[16].Hash, "computed sha256:", "edited")
}

func TestTamperEditEveryColumn(t *testing.T) {
	for _, col := range []string{"time", "operator", "os_user", "action", "object", "reason", "details"} {
		t.Run(col, func(t *testing.T) {
			p, _ := tamperedTrail(t, 5)
			val := "'x'"
			switch col {
			case "details":
				val = `'{"records":999,"quarantined":0}'`
			case "time":
				val = "'2001-01-01T00:00:00.000000000Z'"
			}
			attack(t, p, false, fmt.Sprintf("UPDATE entries SET %s = %s WHERE seq = 4", col, val))
			wantBad(t, verifyFile(t, p), 4, "entry 4: hash mismatch")
		})
	}
}

// TestTamperLongValues: whatever length a forged value has, Verify reports
// the entry; it does not fail on its own account.
func TestTamperLongValues(t *testing.T) {
	long := strings.Repeat("x", 5000)
	for _, col := range []string{"time", "operator", "os_user", "action", "object", "reason", "details", "prev_hash", "hash"} {
		t.Run(col, func(t *testing.T) {
			p, _ := tamperedTrail(t, 5)
			val := sqlQuote(long)
			if col == "details" {
				val = sqlQuote(`{"text":"` + long + `"}`)
			}
			attack(t, p, false, fmt.Sprintf("UPDATE entries SET %s = %s WHERE seq = 4", col, val))
			wantBad(t, verifyFile(t, p), 4, "entry 4: hash mismatch")
		})
	}
}

// forgeAppend appends e after the last of es as an attacker who knows the
// encoding would: seq, prev_hash and hash all correct.
func forgeAppend(t *testing.T, p string, es []Entry, e Entry) Entry {
	t.Helper()
	head := es[len(es)-1]
	e.Seq, e.PrevHash = head.Seq+1, head.Hash
	if e.Time.IsZero() {
		e.Time = head.Time
	}
	e.Hash = ComputeHash(e)
	attack(t, p, true, fmt.Sprintf("INSERT INTO entries VALUES (%d, %s, %s, %s, %s, %s, %s, %s, %s, %s)", e.Seq,
		sqlQuote(formatTime(e.Time)), sqlQuote(e.Operator), sqlQuote(e.OSUser), sqlQuote(e.Action), sqlQuote(e.Object),
		sqlQuote(e.Reason), sqlQuote(string(e.Details)), sqlQuote(e.PrevHash), sqlQuote(e.Hash)))
	return e
}

// TestTamperSecondGenesis: a well-formed trail.created entry appended later,
// as if the trail had been created again from there, is reported.
func TestTamperSecondGenesis(t *testing.T) {
	p, es := tamperedTrail(t, 3)
	g := es[0]
	// Dated at the head, so that only its being a second genesis is wrong.
	g.Seq, g.PrevHash, g.Hash, g.Time = 0, "", "", time.Time{}
	f := forgeAppend(t, p, es, g)
	wantBad(t, verifyFile(t, p), f.Seq, fmt.Sprintf("entry %d: a second %s entry", f.Seq, ActionTrailCreated))
}

// TestTamperMigrationToTheSameVersion: a migration entry must raise the
// schema version; one from 1 to 1 is reported.
func TestTamperMigrationToTheSameVersion(t *testing.T) {
	p, es := tamperedTrail(t, 3)
	f := forgeAppend(t, p, es, Entry{Operator: SystemOperator, OSUser: "root", Action: ActionTrailMigrated, Object: es[0].Object,
		Reason: "schema upgraded from version 1 to 1", Details: []byte(`{"from":1,"to":1}`)})
	wantBad(t, verifyFile(t, p), f.Seq, fmt.Sprintf(`entry %d: migration details {"from":1,"to":1} do not follow schema version 1`, f.Seq))
}

// TestTamperDeleteEverything: a trail emptied of all its entries, the
// genesis entry included, does not verify.
func TestTamperDeleteEverything(t *testing.T) {
	p, _ := tamperedTrail(t, 3)
	attack(t, p, true, "DELETE FROM entries")
	rep := verifyFile(t, p)
	wantBad(t, rep, 1, "entry 1: missing (the trail has no entries, not even the genesis entry)")
	if rep.Entries != 0 || rep.Head != "" {
		t.Errorf("report of an empty trail: %+v", rep)
	}
}

func TestTamperEditAndRehash(t *testing.T) {
	// The attacker knows the encoding and recomputes the edited entry's
	// hash; the next entry's link gives it away.
	p, es := tamperedTrail(t, 10)
	e := es[5]
	e.Reason = "forged reason"
	attack(t, p, true, fmt.Sprintf("UPDATE entries SET reason = %s, hash = %s WHERE seq = %d", sqlQuote(e.Reason), sqlQuote(ComputeHash(e)), e.Seq))
	wantBad(t, verifyFile(t, p), e.Seq+1, fmt.Sprintf("entry %d: prev_hash does not match entry %d", e.Seq+1, e.Seq))
}

func TestTamperDeleteMiddle(t *testing.T) {
	p, _ := tamperedTrail(t, 20)
	attack(t, p, true, "DELETE FROM entries WHERE seq = 18")
	wantBad(t, verifyFile(t, p), 18, "entry 18: missing (seq jumps from 17 to 19)")
}

func TestTamperDeleteGenesis(t *testing.T) {
	p, _ := tamperedTrail(t, 3)
	attack(t, p, true, "DELETE FROM entries WHERE seq = 1")
	wantBad(t, verifyFile(t, p), 1, "entry 1: missing (the trail starts at seq 2)")
}

func TestTamperDeleteAndRenumber(t *testing.T) {
	// Close the gap by renumbering: the seq is inside every hash.
	p, _ := tamperedTrail(t, 10)
	attack(t, p, true,
		"DELETE FROM entries WHERE seq = 5",
		"UPDATE entries SET seq = seq + 1000 WHERE seq > 5",
		"UPDATE entries SET seq = seq - 1001 WHERE seq > 1000")
	wantBad(t, verifyFile(t, p), 5, "entry 5: hash mismatch")
}

func TestTamperInsertForgedRow(t *testing.T) {
	t.Run("at the end, made-up hash", func(t *testing.T) {
		p, es := tamperedTrail(t, 5)
		head := es[len(es)-1]
		attack(t, p, true, fmt.Sprintf(
			`INSERT INTO entries VALUES (%d, '2030-01-01T00:00:00.000000000Z', 'mallory', 'root', 'batch.committed', 'batch:forged', '', '{}', %s, 'sha256:%064d')`,
			head.Seq+1, sqlQuote(head.Hash), 1))
		wantBad(t, verifyFile(t, p), head.Seq+1, fmt.Sprintf("entry %d: hash mismatch", head.Seq+1))
	})
	t.Run("in the middle, correct hash", func(t *testing.T) {
		// Insert a well-formed forged entry at 4 and shift the rest up.
		p, es := tamperedTrail(t, 8)
		forged := Entry{Seq: 4, Time: es[3].Time, Operator: "mallory", OSUser: "root", Action: "batch.committed", Object: "batch:forged", Details: []byte("{}"), PrevHash: es[2].Hash}
		forged.Hash = ComputeHash(forged)
		attack(t, p, true,
			"UPDATE entries SET seq = seq + 1000 WHERE seq >= 4",
			"UPDATE entries SET seq = seq - 999 WHERE seq > 1000",
			fmt.Sprintf("INSERT INTO entries VALUES (4, %s, 'mallory', 'root', 'batch.committed', 'batch:forged', '', '{}', %s, %s)",
				sqlQuote(formatTime(forged.Time)), sqlQuote(forged.PrevHash), sqlQuote(forged.Hash)))
		// Entry 4 is self-consistent; the old entry 4, now at 5, is not.
		wantBad(t, verifyFile(t, p), 5, "entry 5: hash mismatch")
	})
}

func TestTamperSwapRows(t *testing.T) {
	// Swap the content of entries 3 and 4, keeping the seq column in
	// order, as if to reorder what happened.
	p, _ := tamperedTrail(t, 6)
	cols := "time, operator, os_user, action, object, reason, details, prev_hash, hash"
	attack(t, p, true,
		"CREATE TEMP TABLE t3 AS SELECT "+cols+" FROM entries WHERE seq = 3",
		"CREATE TEMP TABLE t4 AS SELECT "+cols+" FROM entries WHERE seq = 4",
		"DELETE FROM entries WHERE seq IN (3, 4)",
		"INSERT INTO entries SELECT 3, * FROM t4",
		"INSERT INTO entries SELECT 4, * FROM t3")
	wantBad(t, verifyFile(t, p), 3, "entry 3: hash mismatch")
}

func TestTamperNonCanonicalButRehashed(t *testing.T) {
	// The newest entry rewritten with non-canonical details and a hash
	// recomputed over them: the chain holds, the canonical check does not.
	p, es := tamperedTrail(t, 4)
	e := es[len(es)-1]
	e.Details = []byte(`{"records": 30, "quarantined": 0}`)
	attack(t, p, true, fmt.Sprintf("UPDATE entries SET details = %s, hash = %s WHERE seq = %d", sqlQuote(string(e.Details)), sqlQuote(ComputeHash(e)), e.Seq))
	wantBad(t, verifyFile(t, p), e.Seq, "details are not in canonical form")
}

func TestTamperTimeSpelling(t *testing.T) {
	p, es := tamperedTrail(t, 2)
	e := es[len(es)-1]
	tm := e.Time.Format("2006-01-02T15:04:05.999999999Z07:00") // same instant, other spelling
	if tm == formatTime(e.Time) {
		tm = strings.TrimSuffix(tm, "Z") + "+00:00"
	}
	h := hashEntry(e.Seq, tm, e.Operator, e.OSUser, e.Action, e.Object, e.Reason, e.Details, e.PrevHash)
	attack(t, p, true, fmt.Sprintf("UPDATE entries SET time = %s, hash = %s WHERE seq = %d", sqlQuote(tm), sqlQuote(h), e.Seq))
	wantBad(t, verifyFile(t, p), e.Seq, fmt.Sprintf("entry %d: time %q is not", e.Seq, tm))
}

func TestTamperMeta(t *testing.T) {
	cases := []struct {
		stmt string
		want string
	}{
		{"UPDATE meta SET value = 'ffffffffffffffffffffffffffffffff' WHERE key = 'trail_id'", "meta: trail_id is \"ffff"},
		{"UPDATE meta SET value = '2020-01-01T00:00:00.000000000Z' WHERE key = 'created_at'", "meta: created_at"},
		{"DELETE FROM meta WHERE key = 'created_at'", "meta: created_at is missing"},
		{"INSERT INTO meta VALUES ('signed_by', 'nobody')", `meta: unexpected key "signed_by"`},
	}
	for _, c := range cases {
		p, _ := tamperedTrail(t, 2)
		attack(t, p, true, c.stmt)
		wantBad(t, verifyFile(t, p), 0, c.want)
	}
	// schema_version is read by OpenReadOnly itself, so editing it either
	// makes the trail unreadable ("newer schema") or is caught by Verify.
	p, _ := tamperedTrail(t, 2)
	attack(t, p, true, "UPDATE meta SET value = '0' WHERE key = 'schema_version'")
	if tr, err := OpenReadOnly(p); err == nil {
		tr.Close()
		t.Fatal("a trail with schema_version 0 was opened")
	}
}

func TestTamperExtraTableAndMissingTriggers(t *testing.T) {
	p, _ := tamperedTrail(t, 2)
	attack(t, p, true, "CREATE TABLE notes (x TEXT)", "INSERT INTO notes VALUES ('unhashed')")
	wantBad(t, verifyFile(t, p), 0, `unexpected table "notes"`)

	p, _ = tamperedTrail(t, 2)
	attack(t, p, false) // triggers dropped, data untouched
	wantBad(t, verifyFile(t, p), 0, "trigger entries_no_update is missing")
}

// TestTruncatedTipNeedsCheckpoint documents the limit of a bare hash
// chain: removing the newest entries, or appending well-formed ones,
// leaves a chain that verifies. Only a head recorded elsewhere (the signed
// checkpoint of a later version, or Report.Head written down) reveals it.
func TestTruncatedTipNeedsCheckpoint(t *testing.T) {
	p, es := tamperedTrail(t, 6)
	recordedHead := verifyFile(t, p).Head
	attack(t, p, true, fmt.Sprintf("DELETE FROM entries WHERE seq > %d", es[4].Seq))
	rep := verifyFile(t, p)
	if !rep.OK {
		t.Fatalf("a truncated chain is still a valid chain, got %s", rep.Problem)
	}
	if rep.Head == recordedHead || rep.Head != es[4].Hash {
		t.Fatalf("head %s: a recorded head %s must expose the truncation", rep.Head, recordedHead)
	}
}

// rechain gives es[from:] new hashes and links after an edit, as an
// attacker who knows the encoding would, and returns the statements that
// write them.
func rechain(es []Entry, from int) []string {
	var stmts []string
	for i := from; i < len(es); i++ {
		es[i].PrevHash = es[i-1].Hash
		es[i].Hash = ComputeHash(es[i])
		stmts = append(stmts, fmt.Sprintf("UPDATE entries SET time = %s, prev_hash = %s, hash = %s WHERE seq = %d",
			sqlQuote(formatTime(es[i].Time)), sqlQuote(es[i].PrevHash), sqlQuote(es[i].Hash), es[i].Seq))
	}
	return stmts
}

// TestTamperTimeBackwards: an entry redated before the one before it, with
// every hash after it recomputed, keeps a chain that holds; the order of
// the times gives it away, to Verify and to the stand-alone script.
func TestTamperTimeBackwards(t *testing.T) {
	p, es := tamperedTrail(t, 6)
	k := 4 // es[4] is entry 5
	es[k].Time = es[k-1].Time.Add(-time.Second)
	attack(t, p, true, rechain(es, k)...)
	want := fmt.Sprintf("entry 5 is dated %s, before entry 4 at %s", formatTime(es[k].Time), formatTime(es[k-1].Time))
	wantBad(t, verifyFile(t, p), 5, want)

	py := tooltest.Need(t, "python3")
	out, err := exec.Command(py, filepath.Join("..", "build", "verify-trail.py"), p).CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("verify-trail.py: want %q, got %v\n%s", want, err, out)
	}
	// The same trail before the edit passes the script.
	p2, _ := tamperedTrail(t, 6)
	if out, err := exec.Command(py, filepath.Join("..", "build", "verify-trail.py"), p2).CombinedOutput(); err != nil || !strings.Contains(string(out), "OK: 7 entries") {
		t.Fatalf("verify-trail.py on an untouched trail: %v\n%s", err, out)
	}
}

// TestTamperForgedClockAnomaly: a trail.clock_anomaly entry inserted with
// correct hashes must still say what the audit package writes.
func TestTamperForgedClockAnomaly(t *testing.T) {
	for name, c := range map[string]struct {
		operator, details string
		want              string
	}{
		"operator":    {"mallory", `{"clock":"2001-01-01T00:00:00.000000000Z","head_seq":3,"head_time":"%s","refused_action":"a","refused_object":"b","refused_operator":"c"}`, `by operator "mallory"`},
		"head_seq":    {SystemOperator, `{"clock":"2001-01-01T00:00:00.000000000Z","head_seq":2,"head_time":"%s","refused_action":"a","refused_object":"b","refused_operator":"c"}`, "names entry 2 as the newest, not entry 3"},
		"not behind":  {SystemOperator, `{"clock":"2999-01-01T00:00:00.000000000Z","head_seq":3,"head_time":"%s","refused_action":"a","refused_object":"b","refused_operator":"c"}`, "is not before entry 3"},
		"unknown key": {SystemOperator, `{"clock":"2001-01-01T00:00:00.000000000Z","head_seq":3,"head_time":"%s","note":"x","refused_action":"a","refused_object":"b","refused_operator":"c"}`, "are not what pawl writes"},
	} {
		t.Run(name, func(t *testing.T) {
			p, es := tamperedTrail(t, 2) // entries 1-3
			head := es[2]
			f := Entry{Seq: 4, Time: head.Time, Operator: c.operator, OSUser: "root", Action: ActionTrailClockAnomaly, Object: "trail:x",
				Details: fmt.Appendf(nil, c.details, formatTime(head.Time)), PrevHash: head.Hash}
			f.Hash = ComputeHash(f)
			attack(t, p, true, fmt.Sprintf("INSERT INTO entries VALUES (4, %s, %s, 'root', %s, 'trail:x', '', %s, %s, %s)",
				sqlQuote(formatTime(f.Time)), sqlQuote(f.Operator), sqlQuote(f.Action), sqlQuote(string(f.Details)), sqlQuote(f.PrevHash), sqlQuote(f.Hash)))
			wantBad(t, verifyFile(t, p), 4, c.want)
		})
	}
}
