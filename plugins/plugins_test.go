// Package plugins_test checks the first-party plugins as a set: that the
// committed modules rebuild byte for byte with the pinned toolchain, the
// WAT validator, and the benchmarks of the whole sandbox (warm start, the
// sandbox tax, memory).
package plugins_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/freshness"
	"github.com/pawl-dev/pawl/plugins/internal/cgen"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
	"github.com/pawl-dev/pawl/plugins/pdk"
	rangecheck "github.com/pawl-dev/pawl/plugins/range"
	"github.com/pawl-dev/pawl/plugins/registry"
	"golang.org/x/mod/modfile"
)

// goVersion is plugins/GOVERSION: the toolchain the committed modules
// were built with.
func goVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("GOVERSION")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestToolchainPinned: go.mod's toolchain line names the toolchain of
// plugins/GOVERSION, so that the go command (GOTOOLCHAIN=auto) builds
// with the one the committed modules are the build of.
func TestToolchainPinned(t *testing.T) {
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := goVersion(t)
	if f.Toolchain == nil {
		t.Fatalf("go.mod has no toolchain line: add `toolchain %s` (plugins/GOVERSION)", want)
	}
	if f.Toolchain.Name != want {
		t.Fatalf("go.mod says toolchain %s, plugins/GOVERSION says %s: they must agree (build/plugins.sh explains)", f.Toolchain.Name, want)
	}
}

// TestReproducible rebuilds every module with build/plugins.sh into a
// temporary directory and compares it with the committed file. It needs
// the toolchain of plugins/GOVERSION and fails on any other, except under
// -short, which skips it.
func TestReproducible(t *testing.T) {
	want := goVersion(t)
	if have := runtime.Version(); have != want {
		msg := fmt.Sprintf("the committed modules are the build of %s (plugins/GOVERSION, go.mod's toolchain line) and this is %s: "+
			"they are only byte-identical with %s. Get it with `GOTOOLCHAIN=%s go test ./plugins/` (the go command fetches that toolchain) "+
			"or install Go %s", want, have, want, want, strings.TrimPrefix(want, "go"))
		if testing.Short() {
			t.Skip("-short: " + msg)
		}
		t.Fatal(msg + "; `go test -short` skips this test")
	}
	if testing.Short() {
		t.Skip("rebuilds every module (build/plugins.sh); not in -short")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "../build/plugins.sh", out)
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOOS=", "GOARCH=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build/plugins.sh: %v\n%s", err, b)
	}
	files := map[string]string{
		"range": "range/range.wasm", "freshness": "freshness/freshness.wasm",
		"registry": "registry/registry.wasm", "zscore": "zscore/zscore.wasm",
		"probe": "../engine/sandbox/testdata/probe.wasm", "notblank": "notblank/notblank.wasm",
		"stateprobe": "../engine/sandbox/testdata/stateprobe.wasm", "stateundeclared": "../engine/sandbox/testdata/stateundeclared.wasm",
		"stateprobe2": "../engine/sandbox/testdata/stateprobe2.wasm", "statemigrate": "../engine/sandbox/testdata/statemigrate.wasm",
		"stategomigrate": "../engine/sandbox/testdata/stategomigrate.wasm", "stateprobe5": "../engine/sandbox/testdata/stateprobe5.wasm",
	}
	wat := map[string]bool{"notblank": true, "statemigrate": true}                               // built by wat2wasm
	clang := map[string]bool{"range": true, "registry": true, "zscore": true, "freshness": true} // built by clang
	wats, _ := filepath.Glob("../engine/sandbox/testdata/wat/*.wat")
	for _, w := range wats {
		n := strings.TrimSuffix(filepath.Base(w), ".wat")
		files["hostile-"+n] = "../engine/sandbox/testdata/" + n + ".wasm"
		wat["hostile-"+n] = true
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		committed := files[name]
		t.Run(name, func(t *testing.T) {
			if wat[name] {
				// build/plugins.sh builds the WAT modules only when wat2wasm is there.
				tooltest.Need(t, "wat2wasm")
			}
			if clang[name] {
				// ... and the C modules only when clang is.
				tooltest.Need(t, "clang-14")
				tooltest.Need(t, "wasm-ld-14")
			}
			a, err := os.ReadFile(committed)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, name+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			if sandbox.Pin(a) != sandbox.Pin(b) {
				t.Errorf("%s: committed %s, rebuilt %s: run build/plugins.sh and commit the result", committed, sandbox.Pin(a), sandbox.Pin(b))
			} else {
				t.Logf("%-20s %s", name, sandbox.Pin(a))
			}
		})
	}
}

// TestUnicodeTablesCurrent: plugins/c/unicode.h, the tables of the C
// plugins' strconv.Quote and strings.ToLower, is what plugins/c/gen makes
// from this Go's tables (`go generate ./plugins` rewrites it).
func TestUnicodeTablesCurrent(t *testing.T) {
	committed, err := os.ReadFile("c/unicode.h")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, cgen.Header()) {
		t.Fatalf("plugins/c/unicode.h is not this Go's tables (%s): run `go generate ./plugins`, then build/plugins.sh", runtime.Version())
	}
}

// TestNotblankIsItsWAT: notblank.wasm is wat2wasm's build of notblank.wat
// with manifest.json appended as its pawl.manifest section, as
// build/plugins.sh makes it. Unlike TestReproducible it needs no
// particular Go toolchain, so it runs everywhere, -short included.
func TestNotblankIsItsWAT(t *testing.T) {
	tooltest.Need(t, "wat2wasm")
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "notblank.wasm")
	if b, err := exec.Command(wat2wasm, "notblank/notblank.wat", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	code, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile("notblank/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	// plugins/internal/addsection embeds the manifest without its final newline.
	built := sandbox.AppendCustomSection(code, sandbox.ManifestSection, bytes.TrimRight(manifest, "\n"))
	committed, err := os.ReadFile("notblank/notblank.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, committed) {
		t.Errorf("notblank/notblank.wasm is %s, the build of notblank.wat and manifest.json is %s: run build/plugins.sh and commit the result",
			sandbox.Pin(committed), sandbox.Pin(built))
	}
}

// TestNotblankWAT runs the validator written in WebAssembly text: the ABI
// is language-neutral.
func TestNotblankWAT(t *testing.T) {
	p := plugintest.Load(t, "notblank/notblank.wasm")
	in, err := plugintest.Instance(t, p, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	vals := []string{"AB-1", "", "  \t", " x ", "\r\n", "é"}
	b := sandbox.NewBatch(p.Manifest().Fields, len(vals)+1)
	for i, v := range vals {
		b.SetString(0, i, v)
	}
	for round := 0; round < 2; round++ { // the guest reuses its buffers
		v, err := in.Validate(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(plugintest.Rules(v), ",")
		if want := ",notblank.blank,notblank.blank,,notblank.blank,,"; got != want {
			t.Fatalf("rules %q, want %q", got, want)
		}
		if r := v[1].Reasons[0]; r.Field != "value" || r.Message != "the value is empty or only whitespace" {
			t.Fatalf("reason %+v", r)
		}
	}
}

// sensorColumns makes n readings like engine.GenerateSensorReadings, about
// 2% of them failing one of the three stateless checks.
func sensorColumns(n int) (val []float64, unit, ts, dev []string, reg []byte) {
	rng := rand.New(rand.NewPCG(1, 2))
	units := []string{"celsius", "fahrenheit", "kelvin"}
	var ids bytes.Buffer
	for _, p := range []string{"AB", "CD", "EF", "GH"} {
		for k := 0; k < 500; k++ {
			fmt.Fprintf(&ids, "%s-%06d\n", p, 100000+k)
		}
	}
	val, unit, ts, dev = make([]float64, n), make([]string, n), make([]string, n), make([]string, n)
	for i := 0; i < n; i++ {
		u := rng.IntN(3)
		unit[i] = units[u]
		val[i] = []float64{15, 59, 288.15}[u] + rng.NormFloat64()*5
		t := plugintest.AsOf.Add(-time.Duration(rng.Int64N(int64(24 * time.Hour))))
		ts[i] = t.UTC().Truncate(time.Second).Format(time.RFC3339)
		dev[i] = fmt.Sprintf("%s-%06d", []string{"AB", "CD", "EF", "GH"}[rng.IntN(4)], 100000+rng.IntN(500))
		switch rng.IntN(150) {
		case 0:
			val[i] = -1000
		case 1:
			ts[i] = "2020-01-01T00:00:00Z"
		case 2:
			dev[i] = "ZZ-000000"
		}
	}
	return val, unit, ts, dev, ids.Bytes()
}

type stage struct {
	name   string
	file   string
	native pdk.Plugin
	lookup map[string][]byte
	fill   func(b *sandbox.Batch, lo, hi int)
}

func stages(n int) []stage {
	val, unit, ts, dev, reg := sensorColumns(n)
	return []stage{
		{"range", "range/range.wasm", rangecheck.New(), nil, func(b *sandbox.Batch, lo, hi int) {
			b.Columns[0] = sandbox.Column{Num: val[lo:hi]}
			b.Columns[1] = sandbox.Column{Str: unit[lo:hi]}
		}},
		{"freshness", "freshness/freshness.wasm", freshness.New(), nil, func(b *sandbox.Batch, lo, hi int) {
			b.Columns[0] = sandbox.Column{Str: ts[lo:hi]}
		}},
		{"registry", "registry/registry.wasm", registry.New(), map[string][]byte{"registry": reg}, func(b *sandbox.Batch, lo, hi int) {
			b.Columns[0] = sandbox.Column{Str: dev[lo:hi]}
		}},
	}
}

const benchRecords = 1_000_000
const benchBatch = 4096

// BenchmarkSandboxTax validates 1M records' columns through the three
// stateless plugins, in Wasm (host encoding + guest + result decoding)
// and natively (the same plugin code over the same column layout), on one
// goroutine. ns/record is the cost of all three checks per record.
func BenchmarkSandboxTax(b *testing.B) {
	ctx := context.Background()
	st := stages(benchRecords)
	b.Run("wasm", func(b *testing.B) {
		type loaded struct {
			in *sandbox.Instance
			f  []sandbox.Field
		}
		var ls []loaded
		for _, s := range st {
			p := plugintest.Load(b, s.file)
			in, err := plugintest.Instance(b, p, "", s.lookup)
			if err != nil {
				b.Fatal(err)
			}
			ls = append(ls, loaded{in, p.Manifest().Fields})
		}
		b.ResetTimer()
		rejected := 0
		for it := 0; it < b.N; it++ {
			for lo := 0; lo < benchRecords; lo += benchBatch {
				hi := min(lo+benchBatch, benchRecords)
				for k, s := range st {
					bt := &sandbox.Batch{N: hi - lo, First: uint64(lo), Columns: make([]sandbox.Column, len(ls[k].f))}
					s.fill(bt, lo, hi)
					v, err := ls[k].in.Validate(ctx, bt)
					if err != nil {
						b.Fatal(err)
					}
					for _, x := range v {
						if !x.OK {
							rejected++
						}
					}
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
		b.ReportMetric(float64(rejected)/float64(b.N), "rejected")
	})
	b.Run("native", func(b *testing.B) {
		type prepared struct {
			p   pdk.Plugin
			msg [][]byte
		}
		var ps []prepared
		for _, s := range st {
			p := plugintest.Load(b, s.file) // only for its manifest
			f := p.Manifest().Fields
			if err := s.native.Init(pdk.Init{Config: []byte("{}"), Lookups: s.lookup, AsOf: plugintest.AsOf}); err != nil {
				b.Fatal(err)
			}
			pr := prepared{p: s.native}
			for lo := 0; lo < benchRecords; lo += benchBatch {
				hi := min(lo+benchBatch, benchRecords)
				bt := &sandbox.Batch{N: hi - lo, Columns: make([]sandbox.Column, len(f))}
				s.fill(bt, lo, hi)
				msg, err := bt.Encode(f, plugintest.AsOf)
				if err != nil {
					b.Fatal(err)
				}
				pr.msg = append(pr.msg, msg)
			}
			ps = append(ps, pr)
		}
		b.ResetTimer()
		rejected := 0
		r := pdk.NewResult(0)
		for it := 0; it < b.N; it++ {
			for k := range ps[0].msg {
				for _, pr := range ps {
					if _, err := pdk.Run(pr.p, pr.msg[k], r); err != nil {
						b.Fatal(err)
					}
					rejected += r.Rejected()
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
		b.ReportMetric(float64(rejected)/float64(b.N), "rejected")
	})
}

// BenchmarkWarmStart is what `pawl run` of 10 records pays for plugins
// with the compilation cache warm: a new runtime, load (compile from the
// cache) and instantiate the four first-party plugins, validate 10
// records with each.
func BenchmarkWarmStart(b *testing.B) {
	ctx := context.Background()
	cache := filepath.Join(b.TempDir(), "cache")
	// As pawl runs it: the cache's entries checked by their MAC and copied
	// to a stage beside the key.
	stage := filepath.Join(b.TempDir(), "stage")
	key := bytes.Repeat([]byte{7}, sandbox.MinCacheKeyBytes)
	_, _, _, _, reg := sensorColumns(1)
	files := []string{"range/range.wasm", "freshness/freshness.wasm", "registry/registry.wasm", "zscore/zscore.wasm"}
	var wasm [][]byte
	for _, f := range files {
		w, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		wasm = append(wasm, w)
	}
	run := func() {
		rt, err := sandbox.NewRuntime(ctx, sandbox.Config{CacheDir: cache, CacheKey: key, StageDir: stage})
		if err != nil {
			b.Fatal(err)
		}
		defer rt.Close(ctx)
		for _, w := range wasm {
			p, err := rt.Load(ctx, w, sandbox.Pin(w))
			if err != nil {
				b.Fatal(err)
			}
			var lookup map[string][]byte
			if len(p.Manifest().Lookups) > 0 {
				lookup = map[string][]byte{"registry": reg}
			}
			var st sandbox.StateStore
			if p.Manifest().State != nil {
				st = sandbox.NewMemState() // zscore keeps its statistics in the host
			}
			in, err := p.NewInstance(ctx, sandbox.InstanceConfig{AsOf: plugintest.AsOf, Lookup: lookup, State: st})
			if err != nil {
				b.Fatal(err)
			}
			bt := sandbox.NewBatch(p.Manifest().Fields, 10)
			if _, err := in.Validate(ctx, bt); err != nil {
				b.Fatal(err)
			}
			in.Close(ctx)
		}
	}
	cold := time.Now()
	run() // fills the cache
	coldMS := float64(time.Since(cold).Milliseconds())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "warm-ms")
	b.ReportMetric(coldMS, "cold-ms")
}

// TestMemoryPerInstance reports each plugin's linear memory after init and
// a batch of 4096 records, and checks it stays modest.
func TestMemoryPerInstance(t *testing.T) {
	st := stages(benchBatch)
	for _, s := range st {
		p := plugintest.Load(t, s.file)
		in, err := plugintest.Instance(t, p, "", s.lookup)
		if err != nil {
			t.Fatal(err)
		}
		afterInit := in.MemoryBytes()
		bt := &sandbox.Batch{N: benchBatch, Columns: make([]sandbox.Column, len(p.Manifest().Fields))}
		s.fill(bt, 0, benchBatch)
		if _, err := in.Validate(context.Background(), bt); err != nil {
			t.Fatal(err)
		}
		t.Logf("%-10s linear memory: %5.1f MiB after init, %5.1f MiB after a batch of %d", s.name,
			float64(afterInit)/(1<<20), float64(in.MemoryBytes())/(1<<20), benchBatch)
		if in.MemoryBytes() > 64<<20 {
			t.Errorf("%s uses %d bytes", s.name, in.MemoryBytes())
		}
	}
}
