package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The compilation cache is bounded: Config.CacheMaxBytes caps the bytes
// of every entry under CacheDir, of every key (a user's projects share
// the directory, each under its own key, and a project that is gone
// leaves its entries behind). A load that finds its entry verified
// touches it (the entry directory's mtime is when it was last used); a
// load that publishes a fresh compilation then prunes: while the entries
// hold more than the cap, the one used longest ago is deleted, unless a
// load holds its lock. Deleting an entry costs a compilation, never a
// wrong result: an entry is used only when its MAC matches, and one that
// is gone is a cold start.

// DefaultCacheMaxBytes is Config.CacheMaxBytes when it is 0: 1 GiB, about
// 3,000 compiled C plugins of the size of the first-party ones, or 19 Go
// plugins (a Go runtime compiles to ~54 MB).
const DefaultCacheMaxBytes = 1 << 30

// cacheEntry is one plugin's directory under some key, for pruning.
type cacheEntry struct {
	path  string // CacheDir/key-<id>/sha256-<hex>
	size  int64  // its files' bytes
	mtime time.Time
}

// touch records that the entry was used now: pruning deletes the entry
// used longest ago first. A failure only makes it look older.
func (cl *cacheLoad) touch() {
	now := time.Now()
	_ = cl.r.cacheRoot.Chtimes(cl.entry, now, now)
}

// prune deletes the entries used longest ago, of any key, until those
// left hold at most the cap; keep (this load's entry) stays. It works on
// names only and follows no symlink (CacheDir is private to its user,
// checked at NewRuntime). It reports how many entries it deleted.
func (r *Runtime) prune(keep string) int {
	max := r.cfg.CacheMaxBytes
	if max < 0 || r.cfg.CacheDir == "" {
		return 0
	}
	entries, total := scanCache(r.cfg.CacheDir)
	if total <= max {
		return 0
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].mtime.Before(entries[j].mtime) })
	deleted := 0
	for _, e := range entries {
		if total <= max {
			break
		}
		if e.path == keep {
			continue
		}
		if removeEntry(r.cfg.CacheDir, e.path) {
			total -= e.size
			deleted++
		}
	}
	return deleted
}

// scanCache lists dir's entries (key-*/sha256-*) with their sizes.
func scanCache(dir string) ([]cacheEntry, int64) {
	var entries []cacheEntry
	var total int64
	keys, _ := os.ReadDir(dir)
	for _, k := range keys {
		if !k.IsDir() || !strings.HasPrefix(k.Name(), "key-") {
			continue
		}
		plugins, _ := os.ReadDir(filepath.Join(dir, k.Name()))
		for _, p := range plugins {
			if !p.IsDir() || !strings.HasPrefix(p.Name(), "sha256-") {
				continue
			}
			e := cacheEntry{path: filepath.Join(dir, k.Name(), p.Name())}
			fi, err := p.Info()
			if err != nil {
				continue
			}
			e.mtime = fi.ModTime()
			filepath.WalkDir(e.path, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if fi, err := d.Info(); err == nil {
						e.size += fi.Size()
					}
				}
				return nil
			})
			entries = append(entries, e)
			total += e.size
		}
	}
	return entries, total
}

// removeEntry deletes one entry unless a load holds its lock: it takes
// the lock without waiting, moves the entry out of its place (so a load
// that comes next finds none: a cold start) and deletes it.
func removeEntry(dir, path string) bool {
	if lf, err := os.OpenFile(filepath.Join(path, lockName), os.O_RDWR, 0); err == nil {
		defer lf.Close() // releases the lock
		if !tryLockFile(lf) {
			return false
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	trash := filepath.Join(dir, ".trash-"+hex.EncodeToString(rnd[:]))
	if err := os.Rename(path, trash); err != nil {
		return false
	}
	os.RemoveAll(trash)
	return true
}
