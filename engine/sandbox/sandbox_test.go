package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var asOf = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

func newRuntime(t testing.TB, cfg Config) *Runtime {
	t.Helper()
	rt, err := NewRuntime(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

func readWasm(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatalf("%v (build/plugins.sh builds it)", err)
	}
	return b
}

func load(t testing.TB, rt *Runtime, name string) *Plugin {
	t.Helper()
	b := readWasm(t, name)
	p, err := rt.Load(context.Background(), b, Pin(b))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func numbers(vals ...float64) *Batch {
	b := NewBatch([]Field{{Name: "value", Type: TypeNumber}}, len(vals))
	for i, v := range vals {
		b.SetNumber(0, i, v)
	}
	return b
}

func instance(t testing.TB, p *Plugin) *Instance {
	t.Helper()
	in, err := p.NewInstance(context.Background(), InstanceConfig{AsOf: asOf, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
	return in
}

// wantErr checks that err is a sandbox *Error of kind, naming the plugin
// and version and containing every snippet.
func wantErr(t *testing.T, err error, kind Kind, id string, snippets ...string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *sandbox.Error of kind %q, got %T: %v", kind, err, err)
	}
	if e.Kind != kind {
		t.Fatalf("want kind %q, got %q: %v", kind, e.Kind, err)
	}
	msg := err.Error()
	for _, s := range append([]string{id}, snippets...) {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not contain %q", msg, s)
		}
	}
	return e
}

func TestOKModule(t *testing.T) {
	rt := newRuntime(t, Config{})
	p := load(t, rt, "ok")
	if p.ID() != "hostile-ok@0.0.1" || p.Manifest().Mode != ModeStateless {
		t.Fatalf("manifest: %+v", p.Manifest())
	}
	in := instance(t, p)
	v, err := in.Validate(context.Background(), numbers(1, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 3 || !v[0].OK || !v[2].OK {
		t.Fatalf("verdicts: %+v", v)
	}
	// the instance keeps working
	if _, err := in.Validate(context.Background(), numbers(4)); err != nil {
		t.Fatal(err)
	}
}

func TestHashCheckedBeforeAnything(t *testing.T) {
	rt := newRuntime(t, Config{})
	b := readWasm(t, "ok")
	other := Pin([]byte("something else"))
	_, err := rt.Load(context.Background(), b, other)
	wantErr(t, err, KindLoad, other, "hash mismatch", "pinned "+other, "the file is "+Pin(b))
	_, err = rt.Load(context.Background(), b, "md5:abc")
	wantErr(t, err, KindLoad, "md5:abc", "want sha256:")
	// Garbage with a matching pin is refused as not WebAssembly.
	junk := []byte("#!/bin/sh\nrm -rf /\n")
	_, err = rt.Load(context.Background(), junk, Pin(junk))
	wantErr(t, err, KindLoad, Pin(junk), "not a WebAssembly")
}

func TestHostileModules(t *testing.T) {
	ctx := context.Background()
	// Only the infinite loop meets the short deadline; every other module
	// must be stopped by its own limit however loaded the machine is, so
	// it gets a deadline it never reaches.
	rt := newRuntime(t, Config{CallTimeout: 30 * time.Second, MemoryLimitPages: 256, MaxResultBytes: 1 << 20})
	short := newRuntime(t, Config{CallTimeout: 300 * time.Millisecond, MemoryLimitPages: 256, MaxResultBytes: 1 << 20})
	run := func(t *testing.T, name string) error {
		t.Helper()
		r := rt
		if name == "loop" {
			r = short
		}
		p := load(t, r, name)
		in := instance(t, p)
		_, err := in.Validate(ctx, numbers(1, 2))
		if err != nil {
			// the instance is gone; using it again is refused, not a crash
			_, err2 := in.Validate(ctx, numbers(1))
			wantErr(t, err2, KindClosed, p.ID())
		}
		return err
	}
	t.Run("infinite loop", func(t *testing.T) {
		start := time.Now()
		err := run(t, "loop")
		e := wantErr(t, err, KindTimeout, "hostile-loop@0.0.1", "timed out", "300ms")
		if e.Deterministic() {
			t.Error("a timeout must fail the batch, not be bisected")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("stopped after %v", d)
		}
	})
	t.Run("memory bomb", func(t *testing.T) {
		e := wantErr(t, run(t, "membomb"), KindMemory, "hostile-membomb@0.0.1", "exhausted its memory", "256 pages")
		if e.Deterministic() {
			t.Error("resource exhaustion must fail the batch")
		}
	})
	t.Run("deep recursion", func(t *testing.T) {
		wantErr(t, run(t, "recursion"), KindStack, "hostile-recursion@0.0.1", "stack overflow")
	})
	t.Run("trap", func(t *testing.T) {
		p := load(t, rt, "trap13")
		in := instance(t, p)
		_, err := in.Validate(ctx, numbers(1, 13, 2))
		e := wantErr(t, err, KindTrap, "hostile-trap13@0.0.1", "unreachable", "bisect")
		if !e.Deterministic() || !IsTrap(err) {
			t.Error("a trap must be deterministic")
		}
	})
	t.Run("oversized result", func(t *testing.T) {
		wantErr(t, run(t, "bigresult"), KindResultTooLarge, "hostile-bigresult@0.0.1", "2147483647 bytes", "cap is 1048576")
	})
	t.Run("malformed result", func(t *testing.T) {
		wantErr(t, run(t, "malformed"), KindMalformedResult, "hostile-malformed@0.0.1", "not the result magic")
	})
	t.Run("wrong ABI version", func(t *testing.T) {
		b := readWasm(t, "wrongabi")
		_, err := rt.Load(ctx, b, Pin(b))
		if e := wantErr(t, err, KindABI, "hostile-wrongabi@0.0.1", "ABI 2", "ABI 1"); e.Plugin != "hostile-wrongabi@0.0.1" {
			t.Errorf("the error names plugin %q, want hostile-wrongabi@0.0.1 (its manifest was read)", e.Plugin)
		}
		_, err = ReadManifest(b)
		if err == nil || !strings.Contains(err.Error(), "ABI 2") {
			t.Errorf("ReadManifest: %v", err)
		}
	})
	for name, imp := range map[string]string{
		"badimport": "imports env.host_time, which pawl does not provide",
		"network":   "imports wasi_snapshot_preview1.sock_accept, which pawl does not provide",
		"importmem": "imports the memory env.mem",
	} {
		t.Run("undeclared import "+name, func(t *testing.T) {
			b := readWasm(t, name)
			_, err := rt.Load(ctx, b, Pin(b))
			wantErr(t, err, KindLoad, "hostile-"+name+"@0.0.1", imp)
		})
	}
	t.Run("snoop: file, env, args, clock", func(t *testing.T) {
		p := load(t, rt, "snoop")
		in := instance(t, p)
		if _, err := in.Validate(ctx, numbers(1)); err != nil {
			t.Fatalf("the module saw something of the host: %v", err)
		}
		if out := in.Output(); out != "snooping\nsnooping\n" {
			t.Errorf("captured output %q", out)
		}
	})
	// After all that, the runtime still works.
	if _, err := instance(t, load(t, rt, "ok")).Validate(ctx, numbers(1)); err != nil {
		t.Fatalf("host damaged: %v", err)
	}
}

func TestGoProbeSeesNothing(t *testing.T) {
	rt := newRuntime(t, Config{})
	in := instance(t, load(t, rt, "probe"))
	v, err := in.Validate(context.Background(), numbers(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	msg := v[0].Reasons[0].Message
	for _, want := range []string{
		"env=0 args=0", "file=true", "dir=true",
		"now=" + asOf.Format(time.RFC3339Nano), "slept=true",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("probe saw %q; want %q in it", msg, want)
		}
	}
	if v[0].Reasons[0].Message == v[1].Reasons[0].Message {
		t.Error("random numbers repeat across records")
	}
}

func TestGoPanicIsATrap(t *testing.T) {
	rt := newRuntime(t, Config{})
	in := instance(t, load(t, rt, "probe"))
	_, err := in.Validate(context.Background(), numbers(1, 13))
	wantErr(t, err, KindTrap, "probe@0.0.1", "panicked: panic: probe: record 1 has the unlucky value 13")
}

func TestDeterminism(t *testing.T) {
	run := func() []Verdict {
		rt := newRuntime(t, Config{CacheDir: filepath.Join(t.TempDir(), "cache"), CacheKey: testKey})
		in := instance(t, load(t, rt, "probe"))
		v, err := in.Validate(context.Background(), numbers(1, 2, 3, 4))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs differ:\n%+v\n%+v", a, b)
	}
	// Another seed gives other random numbers.
	rt := newRuntime(t, Config{})
	in, err := load(t, rt, "probe").NewInstance(context.Background(), InstanceConfig{AsOf: asOf, Seed: 43})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(context.Background())
	c, err := in.Validate(context.Background(), numbers(1, 2, 3, 4))
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("the seed changes nothing")
	}
}

func TestBisect(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, Config{})
	for _, name := range []string{"trap13", "probe"} {
		t.Run(name, func(t *testing.T) {
			p := load(t, rt, name)
			fresh := func(ctx context.Context) (*Instance, error) {
				return p.NewInstance(ctx, InstanceConfig{AsOf: asOf, Seed: 42})
			}
			vals := make([]float64, 40)
			for i := range vals {
				vals[i] = float64(i + 100)
			}
			vals[3], vals[29] = 13, 13
			b := numbers(vals...)
			b.First = 1000
			res, err := Bisect(ctx, fresh, nil, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Trapped) != 2 || res.Trapped[3] == nil || res.Trapped[29] == nil {
				t.Fatalf("trapped: %v", res.Trapped)
			}
			if e := res.Trapped[29]; e.First != 1029 || e.Records != 1 || !strings.Contains(e.Error(), "records 1029..1029") {
				t.Errorf("culprit error: %v", e)
			}
			if len(res.Verdicts) != 40 || (name == "probe" && len(res.Verdicts[0].Reasons) != 1) {
				t.Errorf("verdicts: %d", len(res.Verdicts))
			}
			// Each culprit alone in a run of its own, and the batch
			// first: at least three fresh instances; a bisection never
			// needs more than 2n-1.
			if res.Runs < 3 || res.Runs > 2*len(vals)-1 {
				t.Errorf("%d runs for 2 traps in %d records", res.Runs, len(vals))
			}
			t.Logf("%s: %d runs for 2 traps in 40 records", name, res.Runs)
		})
	}
	// A plugin that traps on every record fails the batch after
	// SameTrapLimit of them, with its own message, instead of bisecting
	// all 600.
	p13 := load(t, rt, "trap13")
	all := make([]float64, 600)
	for i := range all {
		all[i] = 13
	}
	b := numbers(all...)
	b.First = 5000
	res, err := Bisect(ctx, func(ctx context.Context) (*Instance, error) {
		return p13.NewInstance(ctx, InstanceConfig{AsOf: asOf})
	}, nil, b)
	wantErr(t, err, KindTrapStorm, "hostile-trap13")
	if res != nil || !strings.Contains(err.Error(), "the same trap on 16 records in a row (the first at record 5000, the last at 5015)") || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("a plugin that traps on every record: %v", err)
	}
	if IsTrap(err) {
		t.Error("a trap storm must fail the batch, not be bisected further")
	}
	if e := (*Error)(nil); !errors.As(err, &e) || e.First != 5000 || e.Records != 16 {
		t.Errorf("the trap storm names records %+v, want the 16 from 5000", e)
	}
	// A timeout is not bisected.
	rt2 := newRuntime(t, Config{CallTimeout: 100 * time.Millisecond})
	p := load(t, rt2, "loop")
	_, err = Bisect(ctx, func(ctx context.Context) (*Instance, error) {
		return p.NewInstance(ctx, InstanceConfig{AsOf: asOf})
	}, nil, numbers(1, 2, 3))
	wantErr(t, err, KindTimeout, "hostile-loop@0.0.1")
}

func TestCacheDirMustBePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	rt := newRuntime(t, Config{CacheDir: dir, CacheKey: testKey})
	load(t, rt, "ok")
	sub := entryDir(t, dir, testKey, "ok")
	for _, d := range []string{dir, filepath.Dir(filepath.Dir(sub)), filepath.Dir(sub), sub} {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Fatalf("cache dir %s: %v, %v", d, fi, err)
		}
	}
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRuntime(context.Background(), Config{CacheDir: open, CacheKey: testKey}); err == nil || !strings.Contains(err.Error(), "must be private") {
		t.Fatalf("a world-writable cache dir was accepted: %v", err)
	}
	if _, err := NewRuntime(context.Background(), Config{CacheDir: dir, CacheKey: testKey, StageDir: open}); err == nil || !strings.Contains(err.Error(), "must be private") {
		t.Fatalf("a world-writable stage dir was accepted: %v", err)
	}
}

func TestConfigAndLookups(t *testing.T) {
	rt := newRuntime(t, Config{})
	p := load(t, rt, "ok")
	_, err := p.NewInstance(context.Background(), InstanceConfig{Lookup: map[string][]byte{"x": nil}})
	wantErr(t, err, KindConfig, "hostile-ok@0.0.1", "does not declare: x")
	_, err = p.NewInstance(context.Background(), InstanceConfig{Config: []byte("{")})
	wantErr(t, err, KindConfig, "hostile-ok@0.0.1", "not valid JSON")
}

func TestBatchShapeChecked(t *testing.T) {
	rt := newRuntime(t, Config{})
	in := instance(t, load(t, rt, "ok"))
	b := NewBatch([]Field{{Name: "value", Type: TypeString}}, 2)
	if _, err := in.Validate(context.Background(), b); err == nil {
		t.Fatal("a string column for a number field was accepted")
	}
}

// TestMemoryLimitIsAtMost32Bits: a limit of 65536 pages (the whole 4 GiB
// of a 32-bit memory) is taken; one page more is refused, saying why.
func TestMemoryLimitIsAtMost32Bits(t *testing.T) {
	rt, err := NewRuntime(context.Background(), Config{MemoryLimitPages: 65536})
	if err != nil {
		t.Fatalf("65536 pages: %v", err)
	}
	rt.Close(context.Background())
	if _, err := NewRuntime(context.Background(), Config{MemoryLimitPages: 65537}); err == nil || !strings.Contains(err.Error(), "MemoryLimitPages 65537 exceeds the 4 GiB of a 32-bit memory") {
		t.Fatalf("65537 pages: %v", err)
	}
}
