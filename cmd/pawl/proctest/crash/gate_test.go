package crash

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/cmd/pawl/proctest"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
)

// TestGateKilledBetweenCommitAndMove: `pawl watch --once` killed after a
// file's commit point and before its move out of the inbox (crash point
// inbox.before-move) leaves the file in the inbox with its batch
// committed; the next scan finds the batch committed by its
// content-derived id and moves the file: committed once, nothing lost.
func TestGateKilledBetweenCommitAndMove(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pawl with -tags failpoints")
	}
	bin := buildFailpointPawl(t)
	dir := filepath.Join(t.TempDir(), "gate")
	proctest.MustPawl(t, "init", dir, "--operator", "alice", "--single-person")
	enginetest.UseTestCacheKey(t, filepath.Join(dir, project.DefaultDataDir))
	spec := filepath.Join(dir, "jobs", "sensor-feed.yaml")
	b, _ := os.ReadFile(spec)
	os.WriteFile(spec, append(b, "sources:\n  - {name: lab, inbox: inbox/lab}\n"...), 0o644)
	proctest.MustPawl(t, "-C", dir, "pin", "--reason", "a source")
	inbox := filepath.Join(dir, "inbox", "lab")
	os.MkdirAll(inbox, 0o755)
	in, _ := os.ReadFile(proctest.WriteGen(t, t.TempDir(), 3))
	os.WriteFile(filepath.Join(inbox, "f.jsonl"), in, 0o644)

	crashable(t, bin, "inbox.before-move", "-C", dir, "watch", "--once")
	if _, err := os.Stat(filepath.Join(inbox, "f.jsonl")); err != nil {
		t.Fatalf("killed before the move, the file left its inbox: %v", err)
	}
	if n := len(enginetest.TrailEntries(t, dir, actions.BatchCommitted, "")); n != 1 {
		t.Fatalf("killed after the commit point: %d batches committed", n)
	}
	out := proctest.MustPawl(t, "-C", dir, "watch", "--once")
	if !strings.Contains(out, "f.jsonl: batch ") || !strings.Contains(out, "already_committed") {
		t.Errorf("the scan after the kill:\n%s", out)
	}
	if n := len(enginetest.TrailEntries(t, dir, actions.BatchCommitted, "")); n != 1 {
		t.Errorf("%d batches committed after the restart, want 1", n)
	}
	if m, _ := filepath.Glob(filepath.Join(inbox, "processed", "*-f.jsonl")); len(m) != 1 {
		t.Errorf("processed: %q", m)
	}
}
