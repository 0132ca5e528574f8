package version

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestBinaryHashCache: the hash is the file's, found in the cache only
// while the file is the one hashed; a changed file (rewritten with its
// times put back, or touched), a forged entry or another key's entry is
// hashed again.
func TestBinaryHashCache(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the executable's hash is cached on Linux only (identity_other.go)")
	}
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = 0
	dir := t.TempDir()
	exe := filepath.Join(dir, "pawl")
	old := time.Now().Add(-time.Hour)
	ctime := func() int64 {
		fi, err := os.Stat(exe)
		if err != nil {
			return 0
		}
		id, _ := identity(fi)
		return id.ctime
	}
	write := func(content string) {
		t.Helper()
		before := ctime()
		if err := os.WriteFile(exe, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		// The mtime of the file before; the ctime moves on, once the
		// kernel's coarse clock has (racyWindow waits for that in a run).
		for {
			if err := os.Chtimes(exe, old, old); err != nil {
				t.Fatal(err)
			}
			if ctime() != before {
				break
			}
		}
	}
	key := []byte(strings.Repeat("k", 32))
	c := &HashCache{Dir: filepath.Join(dir, "cache"), Key: key}
	check := func(step, content string, wantCached bool) {
		t.Helper()
		sum, cached, err := hashFile(exe, c)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if sum != sumOf([]byte(content)) {
			t.Fatalf("%s: hash %s, the file's is %s", step, sum, sumOf([]byte(content)))
		}
		if cached != wantCached {
			t.Fatalf("%s: from the cache %v, want %v", step, cached, wantCached)
		}
	}
	write("pawl build one")
	check("first", "pawl build one", false)
	check("again", "pawl build one", true)

	write("pawl build two") // same size, same mtime: only the ctime differs
	check("rewritten in place", "pawl build two", false)
	check("rewritten, again", "pawl build two", true)

	now := time.Now().Add(-time.Minute)
	if err := os.Chtimes(exe, now, now); err != nil {
		t.Fatal(err)
	}
	check("touched", "pawl build two", false)
	check("touched, again", "pawl build two", true)

	// A forged entry: another sum with the MAC left as it was.
	ents, _ := filepath.Glob(filepath.Join(c.dir(), "exe-*"))
	if len(ents) != 1 {
		t.Fatalf("entries %v, want one", ents)
	}
	b, _ := os.ReadFile(ents[0])
	forged := strings.Replace(string(b), sumOf([]byte("pawl build two")), sumOf([]byte("something else")), 1)
	if forged == string(b) {
		t.Fatal("the entry does not hold the sum")
	}
	os.WriteFile(ents[0], []byte(forged), 0o600)
	check("forged entry", "pawl build two", false)

	// The entry another key wrote, put where this key's entry goes.
	other := &HashCache{Dir: c.Dir, Key: []byte(strings.Repeat("o", 32))}
	fi, _ := os.Stat(exe)
	id, _ := identity(fi)
	os.WriteFile(c.entry(id), []byte(other.line(id, sumOf([]byte("something else")))), 0o600)
	check("another key's entry", "pawl build two", false)
	check("after another key's entry", "pawl build two", true)
}

// TestBinaryHashCacheRecentFile: a file changed just before it is hashed
// is not cached (its times may not change at its next write).
func TestBinaryHashCacheRecentFile(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "pawl")
	os.WriteFile(exe, []byte("fresh"), 0o755)
	c := &HashCache{Dir: filepath.Join(dir, "cache"), Key: []byte(strings.Repeat("k", 32))}
	for i := range 2 {
		sum, cached, err := hashFile(exe, c)
		if err != nil || sum != sumOf([]byte("fresh")) || cached {
			t.Fatalf("hash %d: %s cached %v err %v; want the file's, not cached", i, sum, cached, err)
		}
	}
}

// TestBinarySHA256IsTheExecutables: the running executable's hash.
func TestBinarySHA256IsTheExecutables(t *testing.T) {
	path, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	HashBinary(&HashCache{Dir: t.TempDir(), Key: []byte(strings.Repeat("k", 32))})
	sum, err := BinarySHA256()
	if err != nil || sum != sumOf(b) {
		t.Fatalf("BinarySHA256 = %s, %v; the file's is %s", sum, err, sumOf(b))
	}
}

// TestBuildID: the test binary's build ID has Go's form (four
// slash-separated hashes); a file that is not ELF has none.
func TestBuildID(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF only")
	}
	id := BuildID()
	if parts := strings.Split(id, "/"); len(parts) != 4 || slices.Contains(parts, "") {
		t.Fatalf("BuildID() = %q, not Go's actionID/.../contentID", id)
	}
	text := filepath.Join(t.TempDir(), "script")
	os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755)
	if got := elfBuildID(text); got != "" {
		t.Fatalf("a shell script's build ID: %q", got)
	}
}
