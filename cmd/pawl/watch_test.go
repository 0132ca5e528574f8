package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWatchOnce: pawl watch --once gates a source's inbox and says what it
// did; a source whose inbox is missing is a one-line error naming the job,
// the source and the fix, exit 1, and nothing is read; a second scan finds
// nothing new.
func TestWatchOnce(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice", "--single-person")
	spec := filepath.Join(dir, "jobs", "sensor-feed.yaml")
	b, _ := os.ReadFile(spec)
	os.WriteFile(spec, append(b, "sources:\n  - {name: lab, inbox: inbox/lab}\n"...), 0o644)
	mustPawl(t, "-C", dir, "pin", "--reason", "a source")

	code, _, errs := pawl(t, "", "-C", dir, "watch", "--once")
	if code != exitError || !strings.Contains(errs, "jobs/sensor-feed.yaml: source lab: inbox "+filepath.Join(dir, "inbox", "lab")) ||
		!strings.Contains(errs, "create the directory") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("missing inbox: exit %d\n%s", code, errs)
	}
	os.MkdirAll(filepath.Join(dir, "inbox", "lab"), 0o755)
	os.WriteFile(filepath.Join(dir, "inbox", "lab", "x.jsonl"), []byte(good+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "inbox", "lab", "y.jsonl.part"), []byte(good+"\n"), 0o644)
	out := mustPawl(t, "-C", dir, "watch", "--once")
	if !strings.Contains(out, "sensor-feed/lab: x.jsonl: batch ") || !strings.Contains(out, "1 files: 1 committed, 0 already committed, 0 failed, 0 left for the next scan; 0 notices") {
		t.Fatalf("watch --once:\n%s", out)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "inbox", "lab", "processed", "*-x.jsonl")); len(m) != 1 {
		t.Errorf("processed: %q", m)
	}
	if out := mustPawl(t, "-C", dir, "watch", "--once"); !strings.HasPrefix(out, "0 files:") {
		t.Errorf("second scan:\n%s", out)
	}
}
