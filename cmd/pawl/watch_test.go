package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/inbox"
)

// TestWatchOnce: pawl watch --once gates a source's inbox and says what it
// did (and audit trace where a record came from); a source whose inbox is missing is a one-line error naming the job,
// the source and the fix, exit 1, and nothing is read; a second scan finds
// nothing new.
func TestWatchOnce(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice", "--single-person")
	spec := filepath.Join(dir, "jobs", "sensor-feed.yaml")
	b, _ := os.ReadFile(spec)
	os.WriteFile(spec, append(b, "sources:\n  - {name: lab, inbox: inbox/lab}\n"...), 0o644)
	mustPawl(t, "-C", dir, "pin", "--reason", "a source")

	for _, bad := range []string{"0s", "-1s"} {
		if code, _, errs := pawl(t, "", "-C", dir, "watch", "--interval", bad); code != exitUsage || !strings.Contains(errs, "give a positive duration") {
			t.Errorf("--interval %s: exit %d %s", bad, code, errs)
		}
	}
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
	// The trace of a record says where it came from.
	id := regexp.MustCompile(`x\.jsonl: batch ([0-9a-f]{32}) `).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("no batch id in:\n%s", out)
	}
	if tr := mustPawl(t, "-C", dir, "audit", "trace", id[1], "1"); !strings.Contains(tr, "from: source lab, file x.jsonl (picked up from its inbox)") {
		t.Errorf("audit trace:\n%s", tr)
	}
	if out := mustPawl(t, "-C", dir, "watch", "--once"); !strings.HasPrefix(out, "0 files:") {
		t.Errorf("second scan:\n%s", out)
	}
}

// TestGateLoopAcrossRestart: the loop the service runs gates files as they
// land in two sources' inboxes, without being asked; stopped and started
// again (a restart of the service), it gates what landed meanwhile, and no
// file is lost or run twice.
func TestGateLoopAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice", "--single-person")
	spec := filepath.Join(dir, "jobs", "sensor-feed.yaml")
	b, _ := os.ReadFile(spec)
	os.WriteFile(spec, append(b, "sources:\n  - {name: a, inbox: in/a}\n  - {name: b, inbox: in/b, complete: done-marker}\n"...), 0o644)
	mustPawl(t, "-C", dir, "pin", "--reason", "two sources")
	for _, s := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(dir, "in", s), 0o755)
	}
	cfg, err := config.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.WatchInterval = 20 * time.Millisecond
	line := func(v int) []byte {
		return []byte(strings.Replace(good, "21.5", strconv.Itoa(v), 1) + "\n")
	}
	landed := 0
	landBoth := func() {
		for _, s := range []string{"a", "b"} {
			landed++
			name := filepath.Join(dir, "in", s, fmt.Sprintf("f%d.jsonl", landed))
			os.WriteFile(name, line(landed), 0o644)
			if s == "b" {
				os.WriteFile(name+".done", nil, 0o644)
			}
		}
	}
	// serveFor runs the loop until every landed file is processed.
	serveFor := func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		var log bytes.Buffer
		go func() { done <- gateLoop(ctx, dir, cfg, inbox.NewScanner(), io.Discard, &log, nil) }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			a, _ := filepath.Glob(filepath.Join(dir, "in", "*", "processed", "*.jsonl"))
			if len(a) == landed {
				break
			}
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("%d of %d files processed; gate log:\n%s", len(a), landed, log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	landBoth()
	serveFor()
	landBoth() // while the service is down
	landBoth()
	serveFor()
	counts := map[string]int{}
	for _, e := range enginetest.TrailEntries(t, dir, actions.BatchCommitted, "") {
		br, err := actions.Decode[actions.BatchRecord](e)
		if err != nil {
			t.Fatal(err)
		}
		counts[br.Inbox.Source+"/"+br.Inbox.File]++
	}
	if len(counts) != landed {
		t.Errorf("%d files committed, %d landed: %v", len(counts), landed, counts)
	}
	for f, n := range counts {
		if n != 1 {
			t.Errorf("%s committed %d times", f, n)
		}
	}
}
