package ratchet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/store"
)

// cacheEntry is the file wazero reads of module's compilation cache entry
// in cacheDir (the project's cache_dir), and the entry's MAC file.
func cacheEntry(t *testing.T, cacheDir string, module []byte) (file, mac string) {
	t.Helper()
	sha := strings.TrimPrefix(sandbox.Pin(module), "sha256:")
	vdirs, _ := filepath.Glob(filepath.Join(cacheDir, "wasm", "key-*", "sha256-"+sha, "wazero-*"))
	if len(vdirs) != 1 {
		t.Fatalf("want one cache entry of sha256:%s, have %v", sha, vdirs)
	}
	ents, err := os.ReadDir(vdirs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "pawl.mac" {
			mac = filepath.Join(vdirs[0], e.Name())
		} else {
			file = filepath.Join(vdirs[0], e.Name())
		}
	}
	if file == "" || mac == "" || len(ents) != 2 {
		t.Fatalf("cache entry %s holds %v", vdirs[0], ents)
	}
	return file, mac
}

func hostileModule(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sandbox", "testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestASwappedCacheEntryDoesNotRun is the attack on the compilation cache:
// an approved, pinned plugin's compiled code is replaced by another
// module's (trap14: the same code but for one constant, with its own valid
// MAC). It used to run as the approved plugin — record 13 verified, 14
// quarantined. Now the entry is rejected, the plugin compiled afresh, the
// verdicts are its own, and the rejection is on record.
func TestASwappedCacheEntryDoesNotRun(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	cfg := p.Cfg
	cfg.CacheDir = t.TempDir() // a cache of its own: this test changes it
	p.Cfg.CacheDir = cfg.CacheDir
	id := useHostile(t, p, "trap13")
	trap13, trap14 := hostileModule(t, "trap13"), hostileModule(t, "trap14")

	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", readings("1", "13", "14"))
	res := enginetest.Run(t, p, in, 1)
	if res.Verified != 2 || res.Quarantined != 1 || enginetest.Quarantine(t, p, res.BatchID)[0].Ordinal != 2 {
		t.Fatalf("before: verified %d, quarantined %d", res.Verified, res.Quarantined)
	}
	// The attacker's code is in the cache too, MACed as trap14's.
	rt, err := p.Sandbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Load(ctx, trap14, sandbox.Pin(trap14)); err != nil {
		t.Fatal(err)
	}

	// The attack: trap14's compiled code and MAC over trap13's.
	f13, m13 := cacheEntry(t, cfg.CacheDir, trap13)
	f14, m14 := cacheEntry(t, cfg.CacheDir, trap14)
	for from, to := range map[string]string{f14: f13, m14: m13} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A new process runs the job.
	p = reopen(t, p, cfg)
	in2 := enginetest.WriteInput(t, t.TempDir(), "in2.jsonl", readings("13", "14", "2"))
	res = enginetest.Run(t, p, in2, 1)
	q := enginetest.Quarantine(t, p, res.BatchID)
	if res.Verified != 2 || res.Quarantined != 1 || q[0].Ordinal != 1 || !strings.Contains(q[0].Reasons[0].Message, id) {
		t.Fatalf("the swapped entry ran: verified %d, quarantined %d %+v", res.Verified, res.Quarantined, q)
	}
	rej := enginetest.Details[actions.PluginCacheRejectedDetails](t, p.Trail, "plugin:"+id)
	if len(rej) != 1 {
		t.Fatalf("%d plugin.cache_rejected entries, want 1", len(rej))
	}
	r := rej[0]
	if r.Plugin != id || r.Hash != store.HashBytes(trap13) || !r.Recompiled || !strings.Contains(r.Problem, "does not match") || r.Entry != filepath.Dir(f13) {
		t.Errorf("the rejection on record: %+v", r)
	}
	// It comes before the batch's policy decisions about the plugin: on
	// record before the plugin ran.
	es := enginetest.Entries(t, p.Trail, actions.PluginCacheRejected, "")
	dec := enginetest.Entries(t, p.Trail, actions.PolicyDecision, "plugin:"+id)
	if last := dec[len(dec)-1]; es[0].Seq > last.Seq {
		t.Errorf("the rejection (entry %d) is on record after the plugin was admitted (entry %d)", es[0].Seq, last.Seq)
	}

	// The entry written afresh is good: the next run rejects nothing.
	p = reopen(t, p, cfg)
	enginetest.Run(t, p, enginetest.WriteInput(t, t.TempDir(), "in3.jsonl", readings("13", "3")), 1)
	if n := len(enginetest.Entries(t, p.Trail, actions.PluginCacheRejected, "")); n != 1 {
		t.Fatalf("%d plugin.cache_rejected entries after a clean run", n)
	}
}

// TestAProjectWithoutACacheKeyGetsOne: a project made before the key
// existed gets one on its first run, private to the owner.
func TestAProjectWithoutACacheKeyGetsOne(t *testing.T) {
	p := enginetest.NewProject(t)
	key := filepath.Join(p.KeysDir(), "cache.key")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	p = reopen(t, p, p.Cfg)
	if _, err := p.Sandbox(context.Background()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache key: %v %v", fi, err)
	}
	// Refused when others may read it.
	os.Chmod(key, 0o644)
	p = reopen(t, p, p.Cfg)
	_, err = p.Sandbox(context.Background())
	if err == nil || !strings.Contains(err.Error(), "others may read it") {
		t.Fatalf("a readable cache key: %v", err)
	}
}
