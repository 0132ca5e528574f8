package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/build/tooltest"
)

// TestCheckpointDetectsDeletedEntries: a checkpoint kept outside the
// project proves that entries written before it are still there.
func TestCheckpointDetectsDeletedEntries(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--reason", "first load")
	cp := filepath.Join(t.TempDir(), "head.checkpoint")
	out := mustPawl(t, "-C", dir, "audit", "checkpoint", "--out", cp)
	if !strings.Contains(out, "wrote "+cp) {
		t.Fatalf("checkpoint: %s", out)
	}
	if out := mustPawl(t, "-C", dir, "audit", "verify", "--checkpoint", cp); !strings.Contains(out, "the trail extends") {
		t.Fatalf("verify --checkpoint: %s", out)
	}
	log := mustPawl(t, "-C", dir, "audit", "log")
	for _, want := range []string{"project.init", "pin.changed", "batch.committed", "first load", "audit.checkpoint"} {
		if !strings.Contains(log, want) {
			t.Errorf("audit log lacks %q:\n%s", want, log)
		}
	}
	if only := mustPawl(t, "-C", dir, "audit", "log", "--action", "batch.committed"); strings.Count(only, "\n") != 1 {
		t.Errorf("--action filter:\n%s", only)
	}

	// The attacker removes the newest entries (the batch and the checkpoint
	// record) and the batch folder, leaving a chain that verifies alone.
	db, err := sql.Open("sqlite3", filepath.Join(dir, ".pawl", "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	var trigger string
	if err := db.QueryRow("SELECT sql FROM sqlite_schema WHERE name = 'entries_no_delete'").Scan(&trigger); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"DROP TRIGGER entries_no_delete", "DELETE FROM entries WHERE seq >= 4", trigger} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()
	os.RemoveAll(filepath.Join(dir, ".pawl", "batches"))
	os.Mkdir(filepath.Join(dir, ".pawl", "batches"), 0o700)
	if out := mustPawl(t, "-C", dir, "audit", "verify"); !strings.Contains(out, "everything verifies") {
		t.Fatalf("precondition: without the checkpoint the truncation goes unseen: %s", out)
	}
	code, out, errs := pawl(t, "", "-C", dir, "audit", "verify", "--checkpoint", cp)
	if code == 0 || !strings.Contains(out, "were deleted") {
		t.Fatalf("deletion not detected: exit %d\n%s%s", code, out, errs)
	}
}

// TestTrailVerifiesWithAShortScript: docs/audit-format.md promises that the
// trail can be checked with nothing but SQLite and a short script; this runs
// that script on a real trail, untouched and tampered.
func TestTrailVerifiesWithAShortScript(t *testing.T) {
	py := tooltest.Need(t, "python3")
	dir := t.TempDir()
	mustPawl(t, "init", dir)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"+`{"device_id":"x\u202e"}`+"\n"), 0o644)
	mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--reason", `quotes " and \ and é`)
	cp := filepath.Join(t.TempDir(), "cp")
	mustPawl(t, "-C", dir, "audit", "checkpoint", "--out", cp)
	lines := strings.Split(string(mustRead(t, cp)), "\n")
	db := filepath.Join(dir, ".pawl", "audit.db")
	script := filepath.Join("..", "..", "build", "verify-trail.py")
	out, err := exec.Command(py, script, db, lines[1], lines[2]).CombinedOutput()
	size, _ := strconv.Atoi(lines[1])
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("OK: %d entries", size+1)) || !strings.Contains(string(out), "extends the checkpoint") {
		t.Fatalf("the script does not verify an untouched trail: %v\n%s", err, out)
	}
	sqlDB, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"DROP TRIGGER entries_no_update", "UPDATE entries SET reason = 'edited' WHERE seq = 4"} {
		if _, err := sqlDB.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	sqlDB.Close()
	out, err = exec.Command(py, script, db).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "entry 4: hash mismatch") {
		t.Fatalf("the script does not catch an edited entry: %v\n%s", err, out)
	}
}

func TestProveAndVerifyProofOffline(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"+good+"\n"+`{"value":"hot"}`+"\n"), 0o644)
	out := mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json")
	id := out[strings.Index(out, `"batch_id": "`)+13:][:32]
	proof := filepath.Join(t.TempDir(), "proof.json")
	mustPawl(t, "-C", dir, "audit", "prove", id, "3", "--out", proof)
	sig := filepath.Join(dir, ".pawl", "batches", id, "signature.json")
	// Offline: no project, just the proof, the signature and the key
	// history kept from the project. Without a trusted key the signature
	// is not taken on its own word.
	elsewhere := t.TempDir()
	hist := filepath.Join(t.TempDir(), "keys.json")
	os.WriteFile(hist, []byte(mustPawl(t, "-C", dir, "key", "history", "--output", "json")), 0o644)
	if code, stdout, stderr := pawl(t, "", "-C", elsewhere, "audit", "verify-proof", proof, "--signature", sig); code != 1 || strings.Contains(stdout, "OK") || !strings.Contains(stderr, "no trusted engine key") {
		t.Fatalf("verify-proof --signature with no trusted key: exit %d\n%s%s", code, stdout, stderr)
	}
	ok := mustPawl(t, "-C", elsewhere, "audit", "verify-proof", proof, "--signature", sig, "--key", hist)
	if !strings.Contains(ok, "record 3 is leaf 2 of 3") {
		t.Fatalf("verify-proof: %s", ok)
	}
	b := mustRead(t, proof)
	edited := strings.Replace(string(b), `"leaf_index": 2`, `"leaf_index": 1`, 1)
	os.WriteFile(proof, []byte(edited), 0o644)
	if code, _, _ := pawl(t, "", "audit", "verify-proof", proof); code == 0 {
		t.Fatal("an edited proof verified")
	}
	// The proof of record 2 with its ordinal edited to 3: the Merkle path
	// still leads to the root (it depends on the leaf index only), but it
	// is not a proof of record 3.
	mustPawl(t, "-C", dir, "audit", "prove", id, "2", "--out", proof)
	b = mustRead(t, proof)
	edited = strings.Replace(string(b), `"ordinal": 2`, `"ordinal": 3`, 1)
	if edited == string(b) {
		t.Fatalf("no ordinal 2 in the proof:\n%s", b)
	}
	os.WriteFile(proof, []byte(edited), 0o644)
	for _, extra := range [][]string{nil, {"--signature", sig, "--key", hist}} {
		code, stdout, stderr := pawl(t, "", append([]string{"-C", elsewhere, "audit", "verify-proof", proof}, extra...)...)
		if code == 0 || strings.Contains(stdout, "OK") || !strings.Contains(stderr, "leaf index 1 does not belong to ordinal 3") {
			t.Fatalf("a proof of record 2 presented as record 3 %v: exit %d\n%s%s", extra, code, stdout, stderr)
		}
	}
}

func TestReplayCommand(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"+`{"value":"hot"}`+"\n"), 0o644)
	out := mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
	id := out[strings.Index(out, `"batch_id": "`)+13:][:32]
	rep := mustPawl(t, "-C", dir, "audit", "replay", id[:8], "--reason", "inspection")
	// Seven artifacts and the state the batch produced (the example job's
	// zscore keeps state).
	if strings.Count(rep, "match\n") != 8 || !strings.Contains(rep, "state_out          match") || strings.Contains(rep, "MISMATCH") {
		t.Fatalf("replay:\n%s", rep)
	}
	// Swap the schema blob in the store: the replay must fail and say so.
	pins := string(mustRead(t, filepath.Join(dir, "pawl.lock")))
	i := strings.Index(pins, "schemas/sensor-reading.json sha256:") + len("schemas/sensor-reading.json sha256:")
	hex := pins[i : i+64]
	blob := filepath.Join(dir, ".pawl", "store", "sha256", hex[:2], hex)
	os.Chmod(blob, 0o644)
	os.WriteFile(blob, []byte(`{"type":"object"}`), 0o644)
	code, out, _ := pawl(t, "", "-C", dir, "audit", "replay", id)
	if code == 0 || !strings.Contains(out, "FAILED") || !strings.Contains(out, hex) {
		t.Fatalf("replay with a swapped schema: exit %d\n%s", code, out)
	}
}
