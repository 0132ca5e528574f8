package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayWithChangedConfiguration is the case as a new user met it:
// commit a batch of 98-byte lines with the defaults, then replay it with
// max_record_bytes: 50 in pawl.yaml. The replay runs under the limits on
// record and matches; a run under the new limit is refused until `pawl pin`
// records it, and the limit cannot come from the environment at all.
func TestReplayWithChangedConfiguration(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice")
	line := `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.500000000,"unit":"celsius"}`
	if len(line) != 98 {
		t.Fatalf("the reading is %d bytes, not 98", len(line))
	}
	var b strings.Builder
	for range 20 {
		b.WriteString(line + "\n")
	}
	in := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var res struct {
		BatchID  string `json:"batch_id"`
		Verified int64  `json:"records_verified"`
	}
	out := mustPawl(t, "-C", dir, "run", "sensor-feed", "--input", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.BatchID == "" || res.Verified != 20 {
		t.Fatalf("run: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "pawl.yaml")
	y, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(y), "max_record_bytes: 67108864", "max_record_bytes: 50", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := pawl(t, "", "-C", dir, "audit", "replay", res.BatchID)
	if code != 0 || strings.Contains(out, "MISMATCH") {
		t.Fatalf("replay with max_record_bytes: 50: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "counts") || !strings.Contains(out, "match") {
		t.Fatalf("the replay report does not show the comparison:\n%s", out)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "run", "sensor-feed", "--input", in); code == 0 || !strings.Contains(errs, "pawl.yaml#limits does not match its pin") || !strings.Contains(errs, "max_record_bytes 50") {
		t.Fatalf("a run under a limit not pinned: exit %d\n%s", code, errs)
	}
	t.Setenv("PAWL_MAX_RECORD_BYTES", "50")
	if code, _, errs := pawl(t, "", "-C", dir, "audit", "replay", res.BatchID); code == 0 || !strings.Contains(errs, "environment PAWL_MAX_RECORD_BYTES: max_record_bytes is pinned") {
		t.Fatalf("PAWL_MAX_RECORD_BYTES=50: exit %d\n%s", code, errs)
	}
}
