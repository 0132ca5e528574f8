package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
)

// The compilation cache holds native code, and wazero checks an entry only
// with a CRC: copied under another module's name, an entry would run as
// that module. So wazero never reads or writes the cache directory itself.
//
// What wazero does with a directory D given to NewCompilationCacheWithDir
// (wazero v1.12.0, cache.go and internal/filecache): it creates
// D/wazero-<version>-<GOARCH>-<GOOS> and keeps one file per compiled
// module in it, named by 64 lowercase hex digits (the sha256 of the
// module's id, the engine's magic and the CPU features); it reads that one
// file with os.Open when the module is compiled, and writes it through a
// "<name>.*.tmp" file renamed into place. Host modules are not cached. So
// for one module (each plugin has a wazero cache of its own) everything
// wazero can read is the set of hex-named files in that version
// directory.
//
// pawl keeps, per cache key and plugin sha256, the entry
// <CacheDir>/key-<id>/sha256-<hex>/<version dir>/ holding those files and
// macFile, the HMAC-SHA256 under Config.CacheKey of the module's sha256,
// the version directory's name and each file's name and sha256. A load
// copies the entry's files into a fresh stage directory (Config.StageDir)
// while hashing the bytes it copies, and hands wazero the stage only when
// the MAC of exactly those bytes matches; otherwise the entry is deleted,
// the module compiled afresh, and the rejection reported. A fresh
// compilation is written by wazero into the stage, MACed from there and
// published into the cache as a whole directory (renamed into place), so
// an entry is either complete with its MAC or absent.

// macFile is the MAC of an entry, in its version directory.
const macFile = "pawl.mac"

// macFormat is the one line of macFile.
const macFormat = "hmac-sha256 %s\n"

// macDomain starts every MAC, so it cannot be mistaken for another use of
// the key.
const macDomain = "pawl compilation cache entry v1\x00"

// MinCacheKeyBytes is the shortest Config.CacheKey accepted.
const MinCacheKeyBytes = 32

// CacheRejection reports a compilation cache entry that failed its check:
// it was deleted and the module compiled afresh, never run from it.
type CacheRejection struct {
	Module  string // "sha256:<hex>" of the plugin
	Plugin  string // name@version
	Entry   string // the entry's directory
	Problem string // what was wrong with it
	// Recompiled: the module was compiled afresh (false only when that
	// failed too; the load's error says why).
	Recompiled bool
}

func (c CacheRejection) String() string {
	s := fmt.Sprintf("compilation cache entry %s of %s (%s) rejected: %s; deleted", c.Entry, c.Plugin, c.Module, c.Problem)
	if c.Recompiled {
		s += " and compiled afresh"
	}
	return s
}

// TakeCacheRejections returns the cache entries rejected since the last
// call, by module, and forgets them: each is reported once, for the caller
// to put on record.
func (r *Runtime) TakeCacheRejections() []CacheRejection {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.rejected
	r.rejected = nil
	sort.SliceStable(out, func(i, j int) bool { return out[i].Module < out[j].Module })
	return out
}

// namespace names the cache's subdirectory for one key: runtimes with
// different keys (two projects sharing a user's cache) never read, or
// delete, each other's entries.
func namespace(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("pawl compilation cache namespace v1"))
	return "key-" + hex.EncodeToString(m.Sum(nil)[:8])
}

// entryLocks serialise the check, compilation and publication of one
// entry within the process (a process holds one runtime per set of
// limits, and they may load the same plugin); lockName, a flock in the
// plugin's directory, between processes using the same key.
var entryLocks sync.Map // entry path -> *sync.Mutex

// lockName is the flock file of a plugin's directory.
const lockName = "lock"

// cacheLoad is one load of a module through the cache.
type cacheLoad struct {
	r      *Runtime
	sha    string
	id     string // name@version, for the report
	entry  string // "sha256-<hex>", relative to the runtime's cache root
	stage  string // this load's stage directory
	vdir   string // wazero's version directory
	staged map[string][32]byte
	// rejected: the entry there was refused and deleted, for this reason.
	rejected string
	unlock   func()
}

// beginCacheLoad locks the plugin's entry, makes a stage for wazero,
// checks the entry and copies it into the stage when its MAC matches (or
// deletes it). The returned cache reads and writes the stage only.
func (r *Runtime) beginCacheLoad(ctx context.Context, sha, id string) (*cacheLoad, wazero.CompilationCache, error) {
	cl := &cacheLoad{r: r, sha: sha, id: id, entry: "sha256-" + sha}
	mu, _ := entryLocks.LoadOrStore(filepath.Join(r.cacheRoot.Name(), cl.entry), &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	cl.unlock = mu.(*sync.Mutex).Unlock
	ok := false
	defer func() {
		if !ok {
			cl.end(false)
		}
	}()
	if err := privateDirIn(r.cacheRoot, cl.entry); err != nil {
		return nil, nil, err
	}
	lf, err := r.cacheRoot.OpenFile(filepath.Join(cl.entry, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: compilation cache: %w", err)
	}
	if err := lockFile(ctx, lf); err != nil {
		lf.Close()
		return nil, nil, fmt.Errorf("sandbox: compilation cache %s: %w", filepath.Join(r.cacheRoot.Name(), cl.entry), err)
	}
	unlock := cl.unlock
	cl.unlock = func() { lf.Close(); unlock() } // closing releases the flock
	if cl.stage, err = os.MkdirTemp(r.cfg.StageDir, "pawl-wasm-stage-*"); err != nil {
		return nil, nil, fmt.Errorf("sandbox: compilation cache stage: %w", err)
	}
	cache, err := wazero.NewCompilationCacheWithDir(cl.stage)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: compilation cache %s: %w", cl.stage, err)
	}
	if cl.vdir, err = versionDir(cl.stage); err != nil {
		cache.Close(context.Background())
		return nil, nil, err
	}
	if problem := cl.check(); problem != "" {
		// Nothing of it reaches wazero: empty the stage, delete the entry.
		cl.rejected = problem
		cl.staged = nil
		if err := emptyDir(filepath.Join(cl.stage, cl.vdir)); err != nil {
			cache.Close(context.Background())
			return nil, nil, fmt.Errorf("sandbox: compilation cache stage: %w", err)
		}
		if err := r.cacheRoot.RemoveAll(filepath.Join(cl.entry, cl.vdir)); err != nil {
			cache.Close(context.Background())
			return nil, nil, fmt.Errorf("sandbox: deleting the rejected compilation cache entry %s: %w", cl.entryPath(), err)
		}
	}
	if testHookChecked != nil {
		testHookChecked(filepath.Join(cl.stage, cl.vdir), cl.entryPath())
	}
	ok = true
	return cl, cache, nil
}

// testHookChecked, when a test sets it, is called once the entry is
// checked, before wazero reads the stage: the tests change the cache or
// the stage there.
var testHookChecked func(stage, entry string)

func (cl *cacheLoad) entryPath() string {
	return filepath.Join(cl.r.cacheRoot.Name(), cl.entry, cl.vdir)
}

// versionDir is the one directory wazero made in a new cache directory.
func versionDir(stage string) (string, error) {
	ents, err := os.ReadDir(stage)
	if err != nil {
		return "", fmt.Errorf("sandbox: compilation cache stage: %w", err)
	}
	if len(ents) != 1 || !ents[0].IsDir() || !strings.HasPrefix(ents[0].Name(), "wazero-") {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return "", fmt.Errorf("sandbox: wazero's compilation cache holds %v, not the one wazero-<version> directory pawl verifies: its layout changed, see cache.go", names)
	}
	return ents[0].Name(), nil
}

// isEntryFile tells wazero's file names: 64 lowercase hex digits.
func isEntryFile(name string) bool {
	if len(name) != 64 {
		return false
	}
	for _, c := range name {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// check looks at the entry: absent is a cold start (""); otherwise its
// files are copied into the stage, hashing what is copied, and its MAC
// checked over those hashes. It returns what is wrong, or "".
func (cl *cacheLoad) check() string {
	dir := filepath.Join(cl.entry, cl.vdir)
	fi, err := cl.r.cacheRoot.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		return fmt.Sprintf("the entry cannot be read: %v", err)
	}
	if !fi.IsDir() {
		return fmt.Sprintf("the entry is a %v, not a directory", fi.Mode().Type())
	}
	d, err := cl.r.cacheRoot.Open(dir)
	if err != nil {
		return fmt.Sprintf("the entry cannot be read: %v", err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Sprintf("the entry cannot be read: %v", err)
	}
	var names []string
	hasMAC := false
	for _, e := range ents {
		switch {
		case e.Name() == macFile && e.Type().IsRegular():
			hasMAC = true
		case isEntryFile(e.Name()) && e.Type().IsRegular():
			names = append(names, e.Name())
		default:
			return fmt.Sprintf("the entry holds %s (%v), which pawl does not write there", e.Name(), e.Type())
		}
	}
	if !hasMAC {
		return "the entry has no MAC (pawl did not write it, or not under this key)"
	}
	want, err := readSmall(cl.r.cacheRoot, filepath.Join(dir, macFile))
	if err != nil {
		return fmt.Sprintf("the entry's MAC cannot be read: %v", err)
	}
	sort.Strings(names)
	cl.staged = map[string][32]byte{}
	for _, n := range names {
		sum, err := copyHashing(cl.r.cacheRoot, filepath.Join(dir, n), filepath.Join(cl.stage, cl.vdir, n))
		if err != nil {
			return fmt.Sprintf("the entry's file %s cannot be read: %v", n, err)
		}
		cl.staged[n] = sum
	}
	if !hmac.Equal(want, []byte(fmt.Sprintf(macFormat, hex.EncodeToString(cl.mac(cl.staged))))) {
		return "the MAC does not match the entry's files (they were changed, or are another module's)"
	}
	return ""
}

// mac is the entry's HMAC-SHA256: the module's sha256, wazero's version
// directory and, in name order, every file's name and sha256, each
// length-prefixed.
func (cl *cacheLoad) mac(files map[string][32]byte) []byte {
	m := hmac.New(sha256.New, cl.r.cfg.CacheKey)
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		m.Write(n[:])
		m.Write(b)
	}
	m.Write([]byte(macDomain))
	field([]byte("sha256:" + cl.sha))
	field([]byte(cl.vdir))
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var count [8]byte
	binary.BigEndian.PutUint64(count[:], uint64(len(names)))
	m.Write(count[:])
	for _, n := range names {
		sum := files[n]
		field([]byte(n))
		field(sum[:])
	}
	return m.Sum(nil)
}

// copyHashing copies the file src (in root) to a new file dst and returns
// the sha256 of exactly the bytes it wrote.
func copyHashing(root *os.Root, src, dst string) ([32]byte, error) {
	in, err := root.Open(src)
	if err != nil {
		return [32]byte{}, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return [32]byte{}, err
	}
	return copyFile(out, in)
}

// copyFile copies the regular file in to out, closes out, and returns the
// sha256 of the bytes written.
func copyFile(out, in *os.File) (sum [32]byte, err error) {
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	fi, err := in.Stat()
	if err != nil {
		return sum, err
	}
	if !fi.Mode().IsRegular() {
		return sum, fmt.Errorf("%s is not a regular file", in.Name())
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// readSmall reads a file of at most 1 KiB from root.
func readSmall(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<10+1))
	if err == nil && len(b) > 1<<10 {
		err = fmt.Errorf("over 1 KiB")
	}
	return b, err
}

// emptyDir removes everything in dir.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// end finishes the load after wazero compiled (compiled) or failed: a
// compilation the entry did not already hold is MACed and published, the
// stage removed, a rejection reported, the entry unlocked.
func (cl *cacheLoad) end(compiled bool) error {
	defer cl.unlock()
	var err error
	if compiled && cl.vdir != "" {
		var fresh bool
		if fresh, err = cl.publish(); err == nil && fresh {
			cl.r.prune(filepath.Join(cl.r.cacheRoot.Name(), cl.entry))
		} else if err == nil && len(cl.staged) > 0 {
			cl.touch() // a verified entry used: pruned last
		}
	}
	if cl.stage != "" {
		if rerr := os.RemoveAll(cl.stage); err == nil && rerr != nil {
			err = fmt.Errorf("sandbox: removing the compilation cache stage: %w", rerr)
		}
	}
	if cl.rejected != "" {
		cl.r.mu.Lock()
		cl.r.rejected = append(cl.r.rejected, CacheRejection{Module: "sha256:" + cl.sha, Plugin: cl.id,
			Entry: cl.entryPath(), Problem: cl.rejected, Recompiled: compiled})
		cl.r.mu.Unlock()
	}
	return err
}

// publish puts what wazero left in the stage into the cache with its MAC,
// unless it is exactly the verified entry that was staged (then fresh is
// false). The entry is written beside its place and renamed into it, so
// it is never seen without its MAC.
func (cl *cacheLoad) publish() (fresh bool, err error) {
	sdir := filepath.Join(cl.stage, cl.vdir)
	ents, err := os.ReadDir(sdir)
	if err != nil {
		return false, fmt.Errorf("sandbox: compilation cache stage: %w", err)
	}
	var names []string
	for _, e := range ents {
		if isEntryFile(e.Name()) && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return false, nil
	}
	if len(names) == len(cl.staged) {
		same := true
		for _, n := range names {
			if _, ok := cl.staged[n]; !ok {
				same = false
			}
		}
		if same {
			return false, nil // wazero read the verified entry and wrote nothing
		}
	}
	root := cl.r.cacheRoot
	// The entry's directory may have been pruned by another process
	// since this load began (prune.go): made again, it is a cold start's.
	if err := privateDirIn(root, cl.entry); err != nil {
		return false, err
	}
	// Leftovers of a publication cut short (only this process, holding the
	// entry's lock, publishes under this key).
	if d, err := root.Open(cl.entry); err == nil {
		old, _ := d.ReadDir(-1)
		d.Close()
		for _, e := range old {
			if strings.HasPrefix(e.Name(), ".tmp-") {
				root.RemoveAll(filepath.Join(cl.entry, e.Name()))
			}
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(cl.entry, ".tmp-"+hex.EncodeToString(rnd[:]))
	if err := root.Mkdir(tmp, 0o700); err != nil {
		return false, fmt.Errorf("sandbox: compilation cache: %w", err)
	}
	defer root.RemoveAll(tmp) // gone after the rename; removes a failed attempt
	files := map[string][32]byte{}
	for _, n := range names {
		in, err := os.Open(filepath.Join(sdir, n))
		if err != nil {
			return false, fmt.Errorf("sandbox: compilation cache stage: %w", err)
		}
		out, err := root.OpenFile(filepath.Join(tmp, n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			in.Close()
			return false, fmt.Errorf("sandbox: compilation cache: %w", err)
		}
		sum, err := copyFile(out, in)
		in.Close()
		if err != nil {
			return false, fmt.Errorf("sandbox: compilation cache: %w", err)
		}
		files[n] = sum
	}
	line := fmt.Sprintf(macFormat, hex.EncodeToString(cl.mac(files)))
	if err := root.WriteFile(filepath.Join(tmp, macFile), []byte(line), 0o600); err != nil {
		return false, fmt.Errorf("sandbox: compilation cache: %w", err)
	}
	// An entry there (the verified one, which wazero added to) is moved
	// aside whole first: a crash leaves the old entry, the new one or
	// none, never a part of one.
	dst := filepath.Join(cl.entry, cl.vdir)
	old := tmp + "-old"
	if err := root.Rename(dst, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("sandbox: compilation cache: %w", err)
	}
	defer root.RemoveAll(old)
	if err := root.Rename(tmp, dst); err != nil {
		if _, serr := root.Lstat(dst); serr == nil {
			return false, nil // published meanwhile by a process that ignored the lock: theirs stands, checked at the next load
		}
		return false, fmt.Errorf("sandbox: compilation cache: %w", err)
	}
	return true, nil
}

// privateDirIn is privateDir for a directory inside root.
func privateDirIn(root *os.Root, name string) error {
	if err := root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sandbox: cache dir: %w", err)
	}
	fi, err := root.Lstat(name)
	if err != nil {
		return fmt.Errorf("sandbox: cache dir: %w", err)
	}
	return checkPrivate(filepath.Join(root.Name(), name), fi)
}
