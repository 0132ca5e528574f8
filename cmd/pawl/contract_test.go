package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestContractDiffAndLog: a tightening pinned, a weakening in the working
// tree, each side of a comparison (pins in force, an entry's pins, a batch,
// the tree) rebuilt from the store, and the log of versions.
func TestContractDiffAndLog(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	var run map[string]any
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "--input", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")), &run)
	batch, _ := run["batch_id"].(string)
	if batch == "" {
		t.Fatalf("no batch id: %v", run)
	}
	if out := mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed"); !strings.Contains(out, "no change") || !strings.Contains(out, "verdict: unchanged") {
		t.Errorf("an untouched project:\n%s", out)
	}

	schemaFile := filepath.Join(dir, "schemas", "sensor-reading.json")
	edit := func(old, new string) {
		t.Helper()
		b := mustRead(t, schemaFile)
		if !strings.Contains(string(b), old) {
			t.Fatalf("the schema has no %q:\n%s", old, b)
		}
		os.WriteFile(schemaFile, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
	}
	// A tightening: kelvin is no longer a unit.
	edit(`"enum": ["celsius", "fahrenheit", "kelvin"]`, `"enum": ["celsius", "fahrenheit"]`)
	out := mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed")
	for _, want := range []string{"the pins in force → the working tree", "tightening schema enum at /unit", `no longer allows "kelvin"`, "verdict: tightening"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff of a tightening lacks %q:\n%s", want, out)
		}
	}
	mustPawl(t, "-C", dir, "pin", "--reason", "kelvin readings come from another feed")

	// A weakening in the working tree: other properties allowed.
	edit(`"additionalProperties": false`, `"additionalProperties": true`)
	var diff struct {
		From, To, Verdict string
		Changes           []struct{ Kind, Part, At, Keyword, Reason string }
	}
	if err := json.Unmarshal([]byte(mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed", "--output", "json")), &diff); err != nil {
		t.Fatal(err)
	}
	if diff.Verdict != "weakening" || len(diff.Changes) != 1 || diff.Changes[0].At != "/*" || diff.Changes[0].Keyword != "additionalProperties" || diff.Changes[0].Kind != "weakening" {
		t.Errorf("diff of a weakening: %+v", diff)
	}

	// The batch was judged by the contract before both: from it to the
	// tree is the tightening and the weakening; to the pins in force, the
	// tightening alone.
	out = mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed", "--from", batch, "--to", "pinned")
	if !strings.Contains(out, "batch "+batch+" → the pins in force") || !strings.Contains(out, "enum at /unit") || strings.Contains(out, "additionalProperties") {
		t.Errorf("batch → pinned:\n%s", out)
	}
	out = mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed", "--from", batch, "--to", "tree")
	if !strings.Contains(out, "enum at /unit") || !strings.Contains(out, "additionalProperties at /*") || !strings.Contains(out, "verdict: weakening (1 weakening, 1 tightening") {
		t.Errorf("batch → tree:\n%s", out)
	}

	// The log: the first version, then the tightening with who and why.
	out = mustPawl(t, "-C", dir, "contract", "log", "sensor-feed")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "first") || !strings.Contains(out, "tightening: kelvin readings come from another feed") || !strings.Contains(out, "enum at /unit") {
		t.Errorf("contract log:\n%s", out)
	}
	// An entry of the log is a side of a diff.
	var log struct {
		Versions []struct {
			Entry   int64
			Verdict string
		}
	}
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "contract", "log", "sensor-feed", "--output", "json")), &log)
	if len(log.Versions) != 2 || log.Versions[1].Verdict != "tightening" {
		t.Fatalf("contract log json: %+v", log)
	}
	first := log.Versions[0].Entry
	out = mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed", "--from", strconv.FormatInt(first, 10), "--to", "pinned")
	if !strings.Contains(out, "the pins of audit entry "+strconv.FormatInt(first, 10)) || !strings.Contains(out, "verdict: tightening") {
		t.Errorf("entry → pinned:\n%s", out)
	}

	// Sides that do not exist say what they are.
	for _, tc := range []struct{ args, want string }{
		{"--from 1", "audit entry 1 wrote no pins"},
		{"--from 0123456789abcdef0123456789abcdef", "a committed batch id"},
		{"--to nonsense", "--to nonsense"},
	} {
		code, _, errs := pawl(t, "", append([]string{"-C", dir, "contract", "diff", "sensor-feed"}, strings.Fields(tc.args)...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, %s", tc.args, code, errs)
		}
	}
	// A schema that does not compile is a clear error, not a diff.
	os.WriteFile(schemaFile, []byte(`{"type": 12}`), 0o644)
	if code, _, errs := pawl(t, "", "-C", dir, "contract", "diff", "sensor-feed"); code == 0 || !strings.Contains(errs, "sensor-reading.json") {
		t.Errorf("a broken schema: exit %d, %s", code, errs)
	}
}
