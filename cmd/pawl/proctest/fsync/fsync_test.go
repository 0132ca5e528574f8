package fsync

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/cmd/pawl/proctest"
)

// fsyncs runs a pawl command under strace and returns the paths it
// fsynced, in order (relative to base).
func fsyncs(t *testing.T, base string, args ...string) []string {
	t.Helper()
	strace := tooltest.Need(t, "strace")
	log := filepath.Join(t.TempDir(), "strace")
	cmd := exec.Command(strace, append([]string{"-f", "-y", "-qq", "-e", "signal=none", "-e", "trace=fsync,fdatasync", "-o", log, proctest.BuildPawl(t)}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace pawl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`(?:fsync|fdatasync)\(\d+<([^>]*)>`)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			rel, err := filepath.Rel(base, m[1])
			if err != nil {
				rel = m[1]
			}
			out = append(out, rel)
		}
	}
	return out
}

// TestWhatIsFsynced watches a real run and a real export with strace: every
// output is fsynced, then its folder, before the audit entry (the commit
// point) reaches the disk; the rename is made durable in both parents after
// it; the checkpoint and the signature are each fsynced before their folder.
// The input's copy in the store and its directory are fsynced before the
// commit point too. An export fsyncs each file before it is renamed into
// place, then the folder. A skipped fsync or a directory fsync that does nothing fails.
func TestWhatIsFsynced(t *testing.T) {
	dir := t.TempDir()
	proctest.MustPawl(t, "init", dir, "--operator", "alice", "--role", "approver=policy_admin")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(proctest.Good+"\n"+strings.Replace(proctest.Good, "21.5", `"hot"`, 1)+"\n"), 0o644)
	seq := fsyncs(t, dir, "-C", dir, "run", "sensor-feed", "-i", in, "--as-of", "2026-11-25T00:00:00Z")

	at := func(pattern string, after int) int {
		t.Helper()
		re := regexp.MustCompile("^" + pattern + "$")
		for i := after + 1; i < len(seq); i++ {
			if re.MatchString(seq[i]) {
				return i
			}
		}
		t.Fatalf("no fsync of %s after fsync #%d; the run fsynced, in order:\n%s", pattern, after, strings.Join(seq, "\n"))
		return -1
	}
	const id = `[0-9a-f]{32}`
	last := -1
	for _, out := range []string{"verified.jsonl", "quarantine.jsonl", "actions.jsonl", "lineage", "lineage.tiles"} {
		if i := at(`\.pawl/pending/`+id+`/`+regexp.QuoteMeta(out), -1); i > last {
			last = i
		}
	}
	pending := at(`\.pawl/pending/`+id, last)
	wal := at(`\.pawl/audit\.db-wal`, pending)
	// The input, copied into the store while the pipeline read it: the
	// copy, then the directory that names it, before the commit point.
	content, _ := os.ReadFile(in)
	sum := sha256.Sum256(content)
	if shard := at(`\.pawl/store/sha256/`+hex.EncodeToString(sum[:1]), at(`\.pawl/store/tmp/put-\d+`, -1)); shard > wal {
		t.Fatalf("the input's blob was made durable (fsync #%d) after the commit point (#%d):\n%s", shard, wal, strings.Join(seq, "\n"))
	}
	batches := at(`\.pawl/batches`, wal)
	at(`\.pawl/pending`, batches)
	cp := at(`\.pawl/batches/`+id+`/\.checkpoint\.tmp-\d+`, wal)
	cpDir := at(`\.pawl/batches/`+id, cp)
	sig := at(`\.pawl/batches/`+id+`/\.signature\.json\.tmp-\d+`, cpDir)
	at(`\.pawl/batches/`+id, sig)

	// An export: each file fsynced under its temporary name, then the folder.
	outbox := t.TempDir()
	proctest.Whitelist(t, dir, "outbox", "file://"+outbox+"/", "internal")
	batch := proctest.CommittedBatch(t, dir)
	seq = fsyncs(t, outbox, "-C", dir, "export", batch, "--to", "file://"+outbox+"/b/")
	last = -1
	for _, n := range []string{"verified.jsonl", "checkpoint", "signature.json"} {
		if i := at(`b/\.`+regexp.QuoteMeta(n)+`\.[0-9a-f]{12}\.partial`, -1); i > last {
			last = i
		}
	}
	at(`b`, last)
}
