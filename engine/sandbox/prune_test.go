package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pluginDir is the directory of module name's entry under key.
func pluginDir(t *testing.T, cacheDir string, key []byte, name string) string {
	t.Helper()
	return filepath.Dir(entryDir(t, cacheDir, key, name))
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// TestCacheIsBounded: past CacheMaxBytes, publishing a compilation
// deletes the entries used longest ago, of any key (a project that is
// gone leaves its entries behind), but not one a load holds, and a warm
// load counts as a use.
func TestCacheIsBounded(t *testing.T) {
	cfg := cacheConfig(t, testKey)
	other := cfg
	other.CacheKey = otherKey

	// Three entries: trap13 under both keys, trap14 under testKey.
	loadFresh(t, cfg, "trap13")
	loadFresh(t, other, "trap13")
	a := pluginDir(t, cfg.CacheDir, testKey, "trap13")
	b := pluginDir(t, cfg.CacheDir, otherKey, "trap13")
	entries, total := scanCache(cfg.CacheDir)
	if len(entries) != 2 || total <= 0 {
		t.Fatalf("scan: %v, %d bytes", entries, total)
	}
	one := entries[0].size
	for _, e := range entries {
		one = max(one, e.size)
	}
	// a used long ago, b less long ago; then a warm load of a makes it
	// the newest.
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(a, old, old)
	os.Chtimes(b, old.Add(time.Hour), old.Add(time.Hour))
	if _, rej := loadFresh(t, cfg, "trap13"); len(rej) != 0 {
		t.Fatalf("warm load rejected %v", rej)
	}
	if fi, _ := os.Stat(a); !fi.ModTime().After(old.Add(time.Hour)) {
		t.Fatalf("a warm load did not mark the entry used: mtime %v", fi.ModTime())
	}

	// Room for two: the third publication deletes b, the one used
	// longest ago, though it is another key's.
	bounded := cfg
	bounded.CacheMaxBytes = 2*one + one/2
	loadFresh(t, bounded, "trap14")
	c := pluginDir(t, cfg.CacheDir, testKey, "trap14")
	if exists(b) || !exists(a) || !exists(c) {
		t.Fatalf("after pruning: b (oldest) %v, a (used) %v, c (new) %v; want only b gone", exists(b), exists(a), exists(c))
	}
	if _, total := scanCache(cfg.CacheDir); total > bounded.CacheMaxBytes {
		t.Fatalf("the cache holds %d bytes, over its cap %d", total, bounded.CacheMaxBytes)
	}
	if ents, _ := filepath.Glob(filepath.Join(cfg.CacheDir, ".trash-*")); len(ents) != 0 {
		t.Errorf("pruning left %v", ents)
	}

	// An entry a load holds is not deleted, even when it is the oldest:
	// with room for nothing, a new publication deletes every other entry.
	lf, err := os.OpenFile(filepath.Join(a, lockName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(a, old, old)
	tiny := other
	tiny.CacheMaxBytes = 1
	loadFresh(t, tiny, "trap14")
	d := pluginDir(t, cfg.CacheDir, otherKey, "trap14")
	if !exists(a) || exists(c) || !exists(d) {
		t.Fatalf("with a held: a (locked) %v, c %v, d (new) %v; want c gone", exists(a), exists(c), exists(d))
	}
	lf.Close()

	// A load whose entry was pruned under it is a cold start, not an
	// error; a negative cap prunes nothing.
	unbounded := cfg
	unbounded.CacheMaxBytes = -1
	if _, rej := loadFresh(t, unbounded, "trap14"); len(rej) != 0 {
		t.Fatalf("reloading a pruned entry rejected %v", rej)
	}
	if !exists(a) || !exists(d) || !exists(c) {
		t.Fatalf("an unbounded cache pruned: a %v, c %v, d %v", exists(a), exists(c), exists(d))
	}
	for _, e := range []string{a, c, d} {
		if !strings.HasPrefix(filepath.Base(e), "sha256-") {
			t.Fatalf("%s is not a plugin's directory", e)
		}
	}
}

// TestPruneStopsAtTheCap: pruning deletes the entries used longest ago,
// one at a time, until those left hold no more than the cap, a cache
// exactly at its cap included, and says how many it deleted; the entry
// being loaded stays whatever its age.
func TestPruneStopsAtTheCap(t *testing.T) {
	mk := func(t *testing.T, dir, name string, size int, age time.Duration) string {
		p := filepath.Join(dir, "key-0123456789abcdef", "sha256-"+name)
		if err := os.MkdirAll(filepath.Join(p, "wazero-v1"), 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(p, "wazero-v1", strings.Repeat("a", 64)), make([]byte, size), 0o600)
		when := time.Now().Add(-age)
		os.Chtimes(p, when, when)
		return p
	}
	for _, c := range []struct {
		name    string
		cap     int64
		deleted int
		left    []string
	}{
		{"exactly at the cap", 600, 0, []string{"old", "mid", "new"}},
		{"one byte over", 599, 1, []string{"mid", "new"}},
		{"the oldest deleted leaves exactly the cap", 300, 1, []string{"mid", "new"}},
		{"two deleted, the loaded one kept", 100, 2, []string{"new"}},
		{"nothing fits: all but the loaded one", 1, 2, []string{"new"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := map[string]string{
				"old": mk(t, dir, "old", 300, 3*time.Hour),
				"mid": mk(t, dir, "mid", 200, 2*time.Hour),
				"new": mk(t, dir, "new", 100, 3*time.Hour+time.Minute), // the oldest, but being loaded
			}
			r := &Runtime{cfg: Config{CacheDir: dir, CacheMaxBytes: c.cap}}
			if got := r.prune(paths["new"]); got != c.deleted {
				t.Errorf("prune deleted %d entries, want %d", got, c.deleted)
			}
			var left []string
			for _, n := range []string{"old", "mid", "new"} {
				if exists(paths[n]) {
					left = append(left, n)
				}
			}
			if strings.Join(left, ",") != strings.Join(c.left, ",") {
				t.Errorf("left %v, want %v", left, c.left)
			}
		})
	}
}

// TestLockFileWaitsForTheHolder: an entry's lock held elsewhere is waited
// for, not taken: with the holder never letting go, the wait ends with the
// context, saying so; once it lets go, the lock is taken.
func TestLockFileWaitsForTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), lockName)
	holder, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := syscall.Flock(int(holder.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	waiter, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := lockFile(ctx, waiter); err == nil || !strings.Contains(err.Error(), "waiting for another load of the same plugin") {
		t.Fatalf("a lock held elsewhere: %v, want the wait to end with the context", err)
	}
	holder.Close()
	if err := lockFile(context.Background(), waiter); err != nil {
		t.Fatalf("a lock let go: %v", err)
	}
}
