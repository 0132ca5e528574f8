package sandbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	testKey  = bytes.Repeat([]byte{7}, 32)
	otherKey = bytes.Repeat([]byte{9}, 32)
)

// cacheConfig is a cache and a stage of the test's own under key.
func cacheConfig(t *testing.T, key []byte) Config {
	dir := t.TempDir()
	return Config{CacheDir: filepath.Join(dir, "cache"), CacheKey: key, StageDir: filepath.Join(dir, "stage")}
}

// entryDir is the version directory of module name's entry under key.
func entryDir(t *testing.T, cacheDir string, key []byte, name string) string {
	t.Helper()
	sha := strings.TrimPrefix(Pin(readWasm(t, name)), "sha256:")
	vdirs, _ := filepath.Glob(filepath.Join(cacheDir, namespace(key), "sha256-"+sha, "wazero-*"))
	if len(vdirs) != 1 {
		t.Fatalf("%s: want one wazero-<version> entry, have %v", name, vdirs)
	}
	return vdirs[0]
}

// entryFile is the one file wazero reads of an entry (named by hex digits).
func entryFile(t *testing.T, vdir string) string {
	t.Helper()
	ents, err := os.ReadDir(vdir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range ents {
		if e.Name() != macFile {
			files = append(files, e.Name())
		}
	}
	if len(files) != 1 || !isEntryFile(files[0]) {
		t.Fatalf("%s holds %v: want the MAC and one wazero file", vdir, files)
	}
	return filepath.Join(vdir, files[0])
}

func copyFileT(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// trapsOn checks which code runs as the plugin: trap13's traps on 13 and
// passes 14, trap14's the other way round.
func trapsOn(t *testing.T, p *Plugin) float64 {
	t.Helper()
	var traps []float64
	for _, v := range []float64{13, 14} {
		in, err := p.NewInstance(context.Background(), InstanceConfig{AsOf: asOf})
		if err != nil {
			t.Fatal(err)
		}
		_, err = in.Validate(context.Background(), numbers(v))
		in.Close(context.Background())
		if IsTrap(err) {
			traps = append(traps, v)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if len(traps) != 1 {
		t.Fatalf("%s traps on %v", p.ID(), traps)
	}
	return traps[0]
}

// loadFresh loads a module in a runtime of its own (as a new process
// would) and returns it with the rejections the load reported.
func loadFresh(t *testing.T, cfg Config, name string) (*Plugin, []CacheRejection) {
	t.Helper()
	rt := newRuntime(t, cfg)
	p := load(t, rt, name)
	return p, rt.TakeCacheRejections()
}

func TestCacheEntryIsMACedAndWarm(t *testing.T) {
	cfg := cacheConfig(t, testKey)
	p, rej := loadFresh(t, cfg, "trap13")
	if len(rej) != 0 {
		t.Fatalf("a cold start rejected %v", rej)
	}
	vdir := entryDir(t, cfg.CacheDir, testKey, "trap13")
	file := entryFile(t, vdir)
	mac, err := os.ReadFile(filepath.Join(vdir, macFile))
	if err != nil || !strings.HasPrefix(string(mac), "hmac-sha256 ") {
		t.Fatalf("MAC %q, %v", mac, err)
	}
	before, _ := os.Stat(file)
	if ents, _ := os.ReadDir(filepath.Dir(vdir)); len(ents) != 2 || ents[0].Name() != lockName || ents[1].Name() != filepath.Base(vdir) {
		t.Errorf("the plugin's cache dir holds %v, want the lock and the entry (a temporary left?)", ents)
	}
	if ents, _ := os.ReadDir(cfg.StageDir); len(ents) != 0 {
		t.Errorf("the stage is not cleaned: %v", ents)
	}
	if trapsOn(t, p) != 13 {
		t.Fatal("trap13 does not trap on 13")
	}

	// Warm: no rejection, the entry is not written again.
	p, rej = loadFresh(t, cfg, "trap13")
	if len(rej) != 0 {
		t.Fatalf("a warm start rejected %v", rej)
	}
	if after, _ := os.Stat(file); !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("a warm start rewrote the entry")
	}
	if trapsOn(t, p) != 13 {
		t.Fatal("trap13 does not trap on 13")
	}
	if ents, _ := os.ReadDir(cfg.StageDir); len(ents) != 0 {
		t.Errorf("the stage is not cleaned: %v", ents)
	}
}

func TestCacheNeedsAKey(t *testing.T) {
	for _, key := range [][]byte{nil, make([]byte, 16)} {
		_, err := NewRuntime(context.Background(), Config{CacheDir: t.TempDir(), CacheKey: key})
		if err == nil || !strings.Contains(err.Error(), "CacheKey") {
			t.Errorf("a cache with a key of %d bytes: %v", len(key), err)
		}
	}
}

// TestCacheRejectsWhatItDidNotWrite: every way an entry can differ from
// what pawl wrote for the module under the key is refused, the entry
// deleted, the module compiled afresh and the rejection reported once;
// the plugin then runs its own code, and the new entry is good.
func TestCacheRejectsWhatItDidNotWrite(t *testing.T) {
	cfg := cacheConfig(t, testKey)
	loadFresh(t, cfg, "trap13")
	loadFresh(t, cfg, "trap14")
	other := cfg
	other.CacheKey = otherKey
	loadFresh(t, other, "trap13")

	for _, tc := range []struct {
		name, problem string
		tamper        func(t *testing.T, e13, e14 string)
	}{
		{"another module's code under this module's name, with its MAC", "does not match", func(t *testing.T, e13, e14 string) {
			copyFileT(t, entryFile(t, e14), entryFile(t, e13))
			copyFileT(t, filepath.Join(e14, macFile), filepath.Join(e13, macFile))
		}},
		{"another module's whole entry", "does not match", func(t *testing.T, e13, e14 string) {
			os.RemoveAll(e13)
			os.Mkdir(e13, 0o700)
			f := entryFile(t, e14)
			copyFileT(t, f, filepath.Join(e13, filepath.Base(f)))
			copyFileT(t, filepath.Join(e14, macFile), filepath.Join(e13, macFile))
		}},
		{"one byte changed", "does not match", func(t *testing.T, e13, e14 string) {
			f := entryFile(t, e13)
			b, _ := os.ReadFile(f)
			b[len(b)/2] ^= 1
			os.WriteFile(f, b, 0o600)
		}},
		{"no MAC", "no MAC", func(t *testing.T, e13, e14 string) {
			os.Remove(filepath.Join(e13, macFile))
		}},
		{"the entry of another key", "does not match", func(t *testing.T, e13, e14 string) {
			o13 := entryDir(t, other.CacheDir, otherKey, "trap13")
			copyFileT(t, entryFile(t, o13), entryFile(t, e13))
			copyFileT(t, filepath.Join(o13, macFile), filepath.Join(e13, macFile))
		}},
		{"a MAC file over 1 KiB", "over 1 KiB", func(t *testing.T, e13, e14 string) {
			os.WriteFile(filepath.Join(e13, macFile), bytes.Repeat([]byte("0"), 2048), 0o600)
		}},
		{"a file pawl does not write", "does not write there", func(t *testing.T, e13, e14 string) {
			os.WriteFile(filepath.Join(e13, "extra"), []byte("x"), 0o600)
		}},
		{"a symlink for the file", "does not write there", func(t *testing.T, e13, e14 string) {
			f := entryFile(t, e13)
			os.Remove(f)
			os.Symlink(entryFile(t, e14), f)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e13 := entryDir(t, cfg.CacheDir, testKey, "trap13")
			e14 := entryDir(t, cfg.CacheDir, testKey, "trap14")
			tc.tamper(t, e13, e14)
			rt := newRuntime(t, cfg)
			p := load(t, rt, "trap13")
			rej := rt.TakeCacheRejections()
			if len(rej) != 1 {
				t.Fatalf("rejections %v", rej)
			}
			r := rej[0]
			if r.Module != p.Pin() || r.Plugin != "hostile-trap13@0.0.1" || !r.Recompiled || r.Entry != e13 || !strings.Contains(r.Problem, tc.problem) {
				t.Errorf("rejection %+v, want one of %s for %s", r, tc.problem, e13)
			}
			if !strings.Contains(r.String(), "compiled afresh") {
				t.Errorf("%s", r)
			}
			if more := rt.TakeCacheRejections(); len(more) != 0 {
				t.Errorf("reported twice: %v", more)
			}
			if trapsOn(t, p) != 13 {
				t.Fatal("the rejected entry ran")
			}
			// The entry was written afresh and is good.
			p, rej = loadFresh(t, cfg, "trap13")
			if len(rej) != 0 || trapsOn(t, p) != 13 {
				t.Fatalf("after the recompilation: %v", rej)
			}
			entryFile(t, entryDir(t, cfg.CacheDir, testKey, "trap13"))
		})
	}
}

// TestCacheRejectionsInModuleOrder: two entries rejected by one runtime,
// loaded in either order, are reported once each, by module.
func TestCacheRejectionsInModuleOrder(t *testing.T) {
	cfg := cacheConfig(t, testKey)
	loadFresh(t, cfg, "trap13")
	loadFresh(t, cfg, "trap14")
	for _, order := range [][]string{{"trap13", "trap14"}, {"trap14", "trap13"}} {
		for _, name := range order {
			f := entryFile(t, entryDir(t, cfg.CacheDir, testKey, name))
			b, _ := os.ReadFile(f)
			b[len(b)/2] ^= 1
			os.WriteFile(f, b, 0o600)
		}
		rt := newRuntime(t, cfg)
		for _, name := range order {
			load(t, rt, name)
		}
		rej := rt.TakeCacheRejections()
		if len(rej) != 2 || rej[0].Module >= rej[1].Module {
			t.Fatalf("loaded %v: rejections %+v, want two, by module", order, rej)
		}
	}
}

// TestWazeroReadsTheStage holds the layout facts cache.go relies on: what
// wazero runs is the file of the stage named as the entry's file (so the
// MAC covers what wazero reads), and swapping another module's code in
// there, as the attack did in the cache, makes the plugin run that code.
func TestWazeroReadsTheStage(t *testing.T) {
	cfg := cacheConfig(t, testKey)
	loadFresh(t, cfg, "trap13")
	loadFresh(t, cfg, "trap14")
	e13 := entryDir(t, cfg.CacheDir, testKey, "trap13")
	e14 := entryDir(t, cfg.CacheDir, testKey, "trap14")
	swapped := false
	testHookChecked = func(stage, entry string) {
		if entry != e13 {
			return
		}
		copyFileT(t, entryFile(t, e14), filepath.Join(stage, filepath.Base(entryFile(t, e13))))
		swapped = true
	}
	defer func() { testHookChecked = nil }()
	p, rej := loadFresh(t, cfg, "trap13")
	if !swapped || len(rej) != 0 {
		t.Fatalf("swapped %v, rejections %v", swapped, rej)
	}
	if got := trapsOn(t, p); got != 14 {
		t.Fatalf("with trap14's code in the stage, trap13 traps on %v: wazero does not read what cache.go stages", got)
	}
}

// TestCacheChangedAfterTheCheck: what wazero reads is the copy the check
// hashed, so changing the cache between the check and the compilation
// changes nothing; the next load finds the change.
func TestCacheChangedAfterTheCheck(t *testing.T) {
	cfg := cacheConfig(t, testKey)
	loadFresh(t, cfg, "trap13")
	loadFresh(t, cfg, "trap14")
	e13 := entryDir(t, cfg.CacheDir, testKey, "trap13")
	e14 := entryDir(t, cfg.CacheDir, testKey, "trap14")
	testHookChecked = func(stage, entry string) {
		if entry == e13 {
			copyFileT(t, entryFile(t, e14), entryFile(t, e13))
		}
	}
	p, rej := loadFresh(t, cfg, "trap13")
	testHookChecked = nil
	if len(rej) != 0 || trapsOn(t, p) != 13 {
		t.Fatalf("rejections %v", rej)
	}
	p, rej = loadFresh(t, cfg, "trap13")
	if len(rej) != 1 || trapsOn(t, p) != 13 {
		t.Fatalf("the changed entry: rejections %v", rej)
	}
}

// TestCacheConcurrentLoads: runtimes of one process loading the same
// plugin at once, cold, leave one good entry and reject nothing.
func TestCacheConcurrentLoads(t *testing.T) {
	cfg := cacheConfig(t, testKey)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []CacheRejection
	for range 4 {
		rt := newRuntime(t, cfg)
		wg.Go(func() {
			b := readWasm(t, "trap13")
			if _, err := rt.Load(context.Background(), b, Pin(b)); err != nil {
				t.Error(err)
			}
			mu.Lock()
			all = append(all, rt.TakeCacheRejections()...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(all) != 0 {
		t.Fatalf("rejections %v", all)
	}
	if _, rej := loadFresh(t, cfg, "trap13"); len(rej) != 0 {
		t.Fatalf("rejections %v", rej)
	}
}
