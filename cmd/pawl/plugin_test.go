package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
)

// TestPluginAddRefusedIsOnRecord: `pawl plugin add` of a file that is no
// pawl plugin exits 1, says nothing was kept, and the refusal is in the
// trail.
func TestPluginAddRefusedIsOnRecord(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir)
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	os.WriteFile(bad, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	code, _, errs := pawl(t, "", "-C", dir, "plugin", "add", bad, "--reason", "trying a build")
	if code != 1 || !strings.Contains(errs, "bad.wasm") || !strings.Contains(errs, "nothing kept or pinned") {
		t.Fatalf("plugin add of a module without a manifest: exit %d %s", code, errs)
	}
	log := mustPawl(t, "-C", dir, "audit", "log", "--action", "plugin.add_refused")
	if !strings.Contains(log, "trying a build") || !strings.Contains(log, "plugin:sha256:") {
		t.Fatalf("refusal not on record:\n%s", log)
	}
}

// TestPluginVerifyReportsARejectedCacheEntry: with another module's
// compiled code and MAC copied over a plugin's compilation cache entry,
// `pawl plugin verify --bogus x` says so, exits 1, and the rejection is on record;
// the entry compiled afresh verifies the next time.
func TestPluginVerifyReportsARejectedCacheEntry(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--single-person")
	// A cache of its own, which this test changes.
	cache := t.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, "pawl.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("cache_dir: " + cache + "\n")
	f.Close()
	testdata := filepath.Join("..", "..", "engine", "sandbox", "testdata")
	for _, m := range []string{"trap13", "trap14"} {
		mustPawl(t, "-C", dir, "plugin", "add", filepath.Join(testdata, m+".wasm"))
	}
	// Only those two pinned: the first-party plugins would each compile
	// for seconds into the new cache.
	lock := filepath.Join(dir, "pawl.lock")
	b, _ := os.ReadFile(lock)
	var keep []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(l, "plugin:") || strings.HasPrefix(l, "plugin:hostile-") {
			keep = append(keep, l)
		}
	}
	os.WriteFile(lock, []byte(strings.Join(keep, "")), 0o644)
	// The job runs none of them now: a weakening of its contract, pinned
	// with --weaken (one person: the project is single-person).
	job := filepath.Join(dir, "jobs", "sensor-feed.yaml")
	spec := string(mustRead(t, job))
	os.WriteFile(job, []byte(spec[:strings.Index(spec, "validators:")]), 0o644)
	mustPawl(t, "-C", dir, "pin", "--weaken", "--reason", "only the two test plugins")
	out := mustPawl(t, "-C", dir, "plugin", "verify")
	if strings.Count(out, "OK (hash, manifest") != 2 || strings.Contains(out, "CACHE") {
		t.Fatalf("verify:\n%s", out)
	}

	entry := func(m string) string {
		w, _ := os.ReadFile(filepath.Join(testdata, m+".wasm"))
		vdirs, _ := filepath.Glob(filepath.Join(cache, "wasm", "key-*", strings.Replace(sandbox.Pin(w), ":", "-", 1), "wazero-*"))
		if len(vdirs) != 1 {
			t.Fatalf("%s: cache entries %v", m, vdirs)
		}
		return vdirs[0]
	}
	e13, e14 := entry("trap13"), entry("trap14")
	files := func(vdir string) (code, mac string) {
		ents, _ := os.ReadDir(vdir)
		for _, e := range ents {
			if e.Name() == "pawl.mac" {
				mac = filepath.Join(vdir, e.Name())
			} else {
				code = filepath.Join(vdir, e.Name())
			}
		}
		return code, mac
	}
	c13, m13 := files(e13)
	c14, m14 := files(e14)
	for from, to := range map[string]string{c14: c13, m14: m13} {
		b, _ := os.ReadFile(from)
		os.WriteFile(to, b, 0o600)
	}

	code, out, errs := pawl(t, "", "-C", dir, "plugin", "verify")
	if code != 1 || !strings.Contains(errs, "compilation cache entries of 1 of 2 pinned plugins were rejected") {
		t.Fatalf("verify after the swap: exit %d\n%s%s", code, out, errs)
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "hostile-trap13@0.0.1") {
			if i+1 >= len(lines) || !strings.Contains(lines[i+1], "CACHE REJECTED") || !strings.Contains(lines[i+1], "does not match") ||
				!strings.Contains(lines[i+1], "plugin.cache_rejected") || !strings.Contains(l, "OK (hash, manifest") {
				t.Errorf("trap13's lines:\n%s", strings.Join(lines[i:], "\n"))
			}
		}
	}
	if strings.Count(out, "CACHE REJECTED") != 1 {
		t.Errorf("verify:\n%s", out)
	}
	log := mustPawl(t, "-C", dir, "audit", "log", "--action", "plugin.cache_rejected")
	if !strings.Contains(log, "plugin:hostile-trap13@0.0.1") || strings.Contains(log, "trap14") {
		t.Fatalf("on record:\n%s", log)
	}
	// Compiled afresh: verify passes again.
	mustPawl(t, "-C", dir, "plugin", "verify")
}
