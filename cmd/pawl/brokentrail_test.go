package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// brokenTrailProject makes a project with a committed batch, an enrolled
// signer (alice) and a whitelisted outbox, on which audit checkpoint,
// audit export, sign and export each run once while the trail is intact.
// It returns the project, the batch and the outbox.
func brokenTrailProject(t *testing.T) (dir, id, outbox string) {
	t.Helper()
	dir = t.TempDir()
	mustPawl(t, "init", dir, "--operator", "admin", "--role", "approver=policy_admin")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	grant(t, dir, "runner", "operator")
	var res map[string]any
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z", "--reason", "nightly load", "--operator", "runner")), &res)
	id, _ = res["batch_id"].(string)
	if id == "" {
		t.Fatalf("run: %v", res)
	}
	mustPawl(t, "-C", dir, "operator", "add", "alice", "--name", "Alice Example", "--passphrase-fd", passFD(t, brokenPass), "--reason", "QA")
	grant(t, dir, "alice", "approver")
	outbox = t.TempDir()
	whitelist(t, dir, "outbox", "file://"+outbox+"/", "internal")
	grant(t, dir, "bob", "operator")
	// Preconditions: each command works on the intact trail.
	mustPawl(t, "-C", dir, "audit", "checkpoint", "--out", filepath.Join(t.TempDir(), "cp"))
	mustPawl(t, "-C", dir, "audit", "export", "--format", "jsonl", filepath.Join(t.TempDir(), "pkg"))
	mustPawl(t, "-C", dir, "sign", id, "--meaning", "approved", "--operator", "alice", "--reason", "release", "--passphrase-fd", passFD(t, brokenPass))
	mustPawl(t, "-C", dir, "export", id, "--to", "file://"+outbox+"/first/", "--purpose", "test", "--operator", "bob")
	return dir, id, outbox
}

const brokenPass = "a long enough pass phrase"

// editEntry plays the insider of issue 12: with write access to audit.db
// they drop the update guard, rewrite the reason of the batch's
// batch.committed entry and put the guard back. It returns the entry's seq.
func editEntry(t *testing.T, dir, id string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(dir, ".pawl", "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var seq int64
	if err := db.QueryRow("SELECT seq FROM entries WHERE action = 'batch.committed' AND object = ?", "batch:"+id).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	var trigger string
	if err := db.QueryRow("SELECT sql FROM sqlite_schema WHERE name = 'entries_no_update'").Scan(&trigger); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"DROP TRIGGER entries_no_update", fmt.Sprintf("UPDATE entries SET reason = 'forged: approved by QA' WHERE seq = %d", seq), trigger} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return seq
}

// trailSize counts the entries of the project's trail, straight from the file.
func trailSize(t *testing.T, dir string) (n int64) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, ".pawl", "audit.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow("SELECT count(*) FROM entries").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNothingVouchesForABrokenTrail — the attack of issue 12: on a trail
// whose entry had been edited, audit export packaged the forged reason
// under "The signed checkpoint below vouches for it", exit 0, and audit
// checkpoint and sign ran too. Now each of audit checkpoint, audit export,
// sign and export refuses with one line naming the first bad entry and
// what to do, exit 1, writes nothing anywhere and appends nothing to the
// trail; audit log still reads it, with a warning naming the entry.
func TestNothingVouchesForABrokenTrail(t *testing.T) {
	dir, id, outbox := brokenTrailProject(t)
	seq := editEntry(t, dir, id)
	before := trailSize(t, dir)
	cp := filepath.Join(t.TempDir(), "cp")
	pkg := filepath.Join(t.TempDir(), "pkg")
	for _, cmd := range [][]string{
		{"audit", "checkpoint", "--out", cp},
		{"audit", "checkpoint"},
		{"audit", "export", "--format", "html", pkg},
		{"sign", id, "--meaning", "approved", "--operator", "alice", "--reason", "release", "--passphrase-fd", passFD(t, brokenPass)},
		{"export", id, "--to", "file://" + outbox + "/second/", "--purpose", "test", "--operator", "bob"},
	} {
		name := strings.Join(cmd[:2], " ")
		code, out, errs := pawl(t, "", append([]string{"-C", dir}, cmd...)...)
		if code != exitNotVerified {
			t.Errorf("%s: exit %d, want %d (does not verify)\n%s%s", name, code, exitNotVerified, out, errs)
		}
		if out != "" {
			t.Errorf("%s: printed on standard output:\n%s", name, out)
		}
		want := fmt.Sprintf("the audit trail does not verify at entry %d: hash mismatch", seq)
		if !strings.Contains(errs, want) || !strings.Contains(errs, "`pawl audit verify`") || !strings.Contains(errs, "restore") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%s: want one line with %q and what to do, got:\n%s", name, want, errs)
		}
		if n := trailSize(t, dir); n != before {
			t.Errorf("%s: appended %d entries to the broken trail", name, n-before)
		}
	}
	if _, err := os.Stat(cp); err == nil {
		t.Error("audit checkpoint --out wrote a checkpoint of a broken trail")
	}
	if _, err := os.Stat(pkg); err == nil {
		t.Error("audit export made the package directory of a broken trail")
	}
	if got := tree(t, outbox); strings.Contains(fmt.Sprint(got), "second") {
		t.Errorf("export sent the batch of a broken trail: %v", got)
	}

	// An inspector still reads it: the forged entry is shown, with a
	// warning naming it.
	code, out, errs := pawl(t, "", "-C", dir, "audit", "log")
	if code != 0 || !strings.Contains(out, "forged: approved by QA") {
		t.Fatalf("audit log on a broken trail: exit %d\n%s%s", code, out, errs)
	}
	if want := fmt.Sprintf("WARNING: the audit trail does not verify at entry %d: hash mismatch", seq); !strings.Contains(errs, want) || !strings.Contains(errs, "`pawl audit verify`") {
		t.Fatalf("audit log: want a warning %q on standard error, got:\n%s", want, errs)
	}
	if _, _, errs := pawl(t, "", "-C", dir, "audit", "log", "--output", "json"); !strings.Contains(errs, "WARNING") {
		t.Fatalf("audit log --output json: no warning on standard error:\n%s", errs)
	}
}

// TestAuditLogOnAnIntactTrailWarnsOfNothing: the warning is not noise.
func TestAuditLogOnAnIntactTrailWarnsOfNothing(t *testing.T) {
	dir, _ := exportProject(t)
	if code, _, errs := pawl(t, "", "-C", dir, "audit", "log"); code != 0 || errs != "" {
		t.Fatalf("audit log on an intact trail: exit %d\n%s", code, errs)
	}
}
