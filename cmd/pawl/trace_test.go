package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/enginetest"
)

// TestTraceOfAnAlteredRecordFails: when a record's stored input bytes no
// longer hash to its lineage leaf (the input blob rewritten in place, same
// length), `pawl audit trace` says so and exits 4 (not verified), with
// --output json as in text: a script that reads the exit code learns it
// either way.
func TestTraceOfAnAlteredRecordFails(t *testing.T) {
	dir, input, res := goodAndHotBatch(t)
	mustPawl(t, "-C", dir, "audit", "trace", res.BatchID, "2")

	// The input blob, rewritten in place.
	sum := sha256.Sum256([]byte(input))
	hexSum := hex.EncodeToString(sum[:])
	var blob string
	filepath.WalkDir(filepath.Join(dir, ".pawl", "store"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, hexSum[2:]) {
			blob = p
		}
		return nil
	})
	if blob == "" {
		t.Fatal("the input blob is not in the store")
	}
	os.Chmod(blob, 0o600)
	if err := os.WriteFile(blob, []byte(strings.Replace(input, `"hot"`, `"HOT"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errs := pawl(t, "", "-C", dir, "audit", "trace", res.BatchID, "2")
	if code != exitNotVerified || !strings.Contains(errs, "is not proved in its batch's lineage root") || !strings.Contains(out, "record 2 of batch") {
		t.Fatalf("trace of an altered record: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = pawl(t, "", "-C", dir, "audit", "trace", res.BatchID, "2", "--output", "json")
	var tj struct {
		Lineage struct {
			Proved  bool   `json:"proved"`
			Problem string `json:"problem"`
		} `json:"lineage"`
	}
	if err := json.Unmarshal([]byte(out), &tj); err != nil || code != exitNotVerified || tj.Lineage.Proved || !strings.Contains(tj.Lineage.Problem, "was altered") {
		t.Fatalf("trace --output json of an altered record: exit %d, %v\n%s%s", code, err, out, errs)
	}
}

// TestQuarantineShowProvesWhatItShows: `pawl quarantine show` proves the
// record it shows in its batch's lineage root, as trace does: OK on an
// intact project; with the record's bytes rewritten in the input blob, or a
// reason rewritten in the stored quarantine line, it still shows what is
// there, says NOT PROVED, and exits 4, in text and in JSON.
func TestQuarantineShowProvesWhatItShows(t *testing.T) {
	dir, input, res := goodAndHotBatch(t)
	if out := mustPawl(t, "-C", dir, "quarantine", "show", res.BatchID, "2"); !strings.Contains(out, "on record: its bytes and quarantine line hash to its lineage leaf, proved in the root of audit entry") {
		t.Fatalf("show of an intact record:\n%s", out)
	}
	rewrite := func(path, old, new string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), old) {
			t.Fatalf("%s holds no %q (%v)", path, old, err)
		}
		os.Chmod(path, 0o600)
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what, shown string) {
		t.Helper()
		code, out, errs := pawl(t, "", "-C", dir, "quarantine", "show", res.BatchID, "2")
		if code != exitNotVerified || !strings.Contains(out, shown) || !strings.Contains(out, "on record: NOT PROVED: ") || !strings.Contains(errs, "is not proved in its batch's lineage root") {
			t.Fatalf("show with %s: exit %d\n%s%s", what, code, out, errs)
		}
		code, out, errs = pawl(t, "", "-C", dir, "quarantine", "show", res.BatchID, "2", "--output", "json")
		var sj struct {
			Raw     string `json:"raw"`
			Proved  bool   `json:"proved"`
			Problem string `json:"problem"`
		}
		if err := json.Unmarshal([]byte(out), &sj); err != nil || code != exitNotVerified || sj.Proved || sj.Problem == "" {
			t.Fatalf("show --output json with %s: exit %d, %v\n%s%s", what, code, err, out, errs)
		}
	}

	// A reason rewritten in the batch's quarantine line.
	q := filepath.Join(dir, ".pawl", "batches", res.BatchID, "quarantine.jsonl")
	rewrite(q, "is not a number", "is not a numbeR")
	check("a reason rewritten", "is not a numbeR")
	rewrite(q, "is not a numbeR", "is not a number")
	mustPawl(t, "-C", dir, "quarantine", "show", res.BatchID, "2")

	// The batch folder's copy replaced by another file (the store's copy,
	// which the lineage proves, untouched): what show would display is
	// not what is proved, and it says so. First a reason, then the span
	// the bytes are read from (record 1's, in format 2).
	replace := func(old, new string) {
		t.Helper()
		b, err := os.ReadFile(q)
		if err != nil || !strings.Contains(string(b), old) {
			t.Fatalf("%s holds no %q (%v)", q, old, err)
		}
		os.Chmod(filepath.Dir(q), 0o700)
		if err := os.Remove(q); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(q, []byte(strings.Replace(string(b), old, new, 1)), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	intact, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	replace("is not a number", "is FINE, ignore it")
	check("the folder's copy replaced, a reason rewritten", "is FINE, ignore it")
	os.Remove(q)
	os.WriteFile(q, intact, 0o444)
	mustPawl(t, "-C", dir, "quarantine", "show", res.BatchID, "2")
	replace(`"offset":`+strconv.Itoa(len(enginetest.GoodReading)+1)+`,`, `"offset":0,`)
	check("the folder's copy replaced, its span moved", "bytes 0..")
	os.Remove(q)
	os.WriteFile(q, intact, 0o444)

	// The record's bytes rewritten in the input blob.
	sum := sha256.Sum256([]byte(input))
	blob := filepath.Join(dir, ".pawl", "store", "sha256", hex.EncodeToString(sum[:1]), hex.EncodeToString(sum[:]))
	rewrite(blob, `"hot"`, `"HOT"`)
	check("the bytes rewritten", `\"HOT\"`)
}

// goodAndHotBatch is a project with one batch of two records, the second
// quarantined (a value of "hot"): its directory, the batch's input and
// the run's result.
func goodAndHotBatch(t *testing.T) (dir, input string, res struct {
	BatchID string `json:"batch_id"`
}) {
	t.Helper()
	dir = t.TempDir()
	mustPawl(t, "init", dir, "--single-person")
	input = enginetest.GoodReading + "\n" + enginetest.HotReading + "\n"
	in := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(in, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")), &res); err != nil || res.BatchID == "" {
		t.Fatalf("run: %v %+v", err, res)
	}
	return dir, input, res
}
