package sandbox

import (
	"context"
	"os"
	"testing"
)

// TestKeepCompiled: with KeepCompiled (pawl serve), a module loaded once
// is loaded for the process: a later Runtime's Load of the same bytes reads
// no cache entry (the entry removed, it is not written again), runs the
// same code after the first Runtime has closed, still checks the bytes
// against the pin, and a Runtime under another memory limit compiles its
// own.
func TestKeepCompiled(t *testing.T) {
	KeepCompiled(true)
	t.Cleanup(func() { KeepCompiled(false) })
	ctx := context.Background()
	cfg := cacheConfig(t, testKey)
	first, err := NewRuntime(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if trapsOn(t, load(t, first, "trap13")) != 13 {
		t.Fatal("trap13 does not trap on 13")
	}
	first.Close(ctx)
	vdir := entryDir(t, cfg.CacheDir, testKey, "trap13")
	if err := os.RemoveAll(vdir); err != nil {
		t.Fatal(err)
	}

	second := newRuntime(t, cfg)
	p := load(t, second, "trap13")
	if trapsOn(t, p) != 13 || p.Pin() != Pin(readWasm(t, "trap13")) || p.ID() == "" {
		t.Fatal("the kept module is not trap13's")
	}
	if _, err := os.Stat(vdir); !os.IsNotExist(err) {
		t.Fatalf("a second Runtime read or wrote the cache for a module the process had kept: %v", err)
	}
	if rej := second.TakeCacheRejections(); len(rej) != 0 {
		t.Fatalf("rejections: %v", rej)
	}
	other := readWasm(t, "trap14")
	if _, err := second.Load(ctx, readWasm(t, "trap13"), Pin(other)); err == nil {
		t.Fatal("a kept module loaded under another module's pin")
	}

	small := cfg
	small.MemoryLimitPages = 256
	third := newRuntime(t, small)
	if trapsOn(t, load(t, third, "trap13")) != 13 {
		t.Fatal("trap13 does not trap on 13")
	}
	if _, err := os.Stat(vdir); err != nil {
		t.Fatalf("a Runtime under another memory limit did not compile its own: %v", err)
	}
}
