package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Config bounds what any plugin loaded by a Runtime may use.
type Config struct {
	// CacheDir holds compiled plugin code: per cache key a subdirectory
	// ("key-<id>", see CacheKey), in it one per plugin sha256
	// ("sha256-<hex>"). It is executable code: pawl creates it 0700 and
	// refuses one that is a symlink, group- or world-accessible, or owned
	// by another user. Empty: compile in memory only (cold starts).
	CacheDir string
	// CacheKey is the key of the MACs that guard the compilation cache,
	// at least MinCacheKeyBytes random bytes, required with CacheDir. It
	// must be held where the cache's writers cannot read it (pawl:
	// <data dir>/keys/cache.key). An entry is used only when its
	// HMAC-SHA256 under this key, over the module's sha256 and the
	// entry's files, matches; otherwise it is deleted, the module
	// compiled afresh and the rejection reported (TakeCacheRejections).
	CacheKey []byte
	// StageDir is where a load copies a verified cache entry for wazero
	// to read, and where wazero writes a fresh compilation for pawl to
	// MAC: wazero never reads or writes CacheDir. Whoever can write here
	// while a plugin loads can swap what wazero reads, so it belongs with
	// the key, not with the cache (pawl: <data dir>/wasm-stage); pawl
	// creates it 0700 and refuses it on the terms of CacheDir. Empty: a
	// private directory made in os.TempDir() for each load.
	StageDir string
	// MemoryLimitPages caps each instance's linear memory in 64 KiB pages.
	// Default 4096 (256 MiB).
	MemoryLimitPages uint32
	// CallTimeout is the deadline of each guest call (instantiation, init,
	// one batch). Default 30 s.
	CallTimeout time.Duration
	// MaxResultBytes caps the result message of one batch. Default 64 MiB.
	MaxResultBytes int
	// MaxOutputBytes caps what a guest may write to stdout/stderr/pawl.log
	// per instance; the rest is dropped. It is kept only as evidence for
	// errors (a Go panic's message). Default 16 KiB.
	MaxOutputBytes int
	// CacheMaxBytes caps the compiled code kept in CacheDir, over every
	// key: past it, the entries used longest ago are deleted when a fresh
	// compilation is published (prune.go). Default (0):
	// DefaultCacheMaxBytes; negative: no cap.
	CacheMaxBytes int64
}

// Defaults of Config.
const (
	DefaultMemoryLimitPages = 4096
	DefaultCallTimeout      = 30 * time.Second
	DefaultMaxResultBytes   = 64 << 20
	DefaultMaxOutputBytes   = 16 << 10
)

// Runtime loads plugins. Make one per process; it is safe for concurrent
// use. Close it to release compiled code.
type Runtime struct {
	cfg       Config
	cacheRoot *os.Root // CacheDir's subdirectory for CacheKey

	mu       sync.Mutex
	plugins  map[string]*Plugin // by sha256 hex
	rejected []CacheRejection   // not yet taken
	closed   bool
	// calls is held (shared) through every guest call and instantiation;
	// Close takes it alone, so it never unmaps a memory a guest is using
	// (memory_linux.go).
	calls sync.RWMutex
}

// NewRuntime checks cfg, fills in defaults and prepares the cache
// directory.
func NewRuntime(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if cfg.MemoryLimitPages > 65536 {
		return nil, fmt.Errorf("sandbox: MemoryLimitPages %d exceeds the 4 GiB of a 32-bit memory (65536 pages)", cfg.MemoryLimitPages)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.MaxResultBytes <= 0 {
		cfg.MaxResultBytes = DefaultMaxResultBytes
	}
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if cfg.CacheMaxBytes == 0 {
		cfg.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if cfg.CacheDir != "" {
		abs, err := filepath.Abs(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: cache dir: %w", err)
		}
		cfg.CacheDir = abs
		if len(cfg.CacheKey) < MinCacheKeyBytes {
			return nil, fmt.Errorf("sandbox: a compilation cache needs a CacheKey of at least %d bytes (it has %d): its entries are native code, used only when their MAC matches", MinCacheKeyBytes, len(cfg.CacheKey))
		}
		cfg.CacheKey = append([]byte(nil), cfg.CacheKey...)
		if cfg.StageDir != "" {
			if cfg.StageDir, err = filepath.Abs(cfg.StageDir); err != nil {
				return nil, fmt.Errorf("sandbox: stage dir: %w", err)
			}
			if err := privateDir(cfg.StageDir); err != nil {
				return nil, err
			}
		}
		ns := filepath.Join(cfg.CacheDir, namespace(cfg.CacheKey))
		for _, d := range []string{cfg.CacheDir, ns} {
			if err := privateDir(d); err != nil {
				return nil, err
			}
		}
		root, err := os.OpenRoot(ns)
		if err != nil {
			return nil, fmt.Errorf("sandbox: cache dir: %w", err)
		}
		return &Runtime{cfg: cfg, cacheRoot: root, plugins: map[string]*Plugin{}}, nil
	}
	return &Runtime{cfg: cfg, plugins: map[string]*Plugin{}}, nil
}

// Config returns the runtime's configuration with defaults filled in.
func (r *Runtime) Config() Config { return r.cfg }

// privateDir creates dir 0700 if needed and refuses one that others could
// write into: compiled code read from it is executed.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sandbox: cache dir: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("sandbox: cache dir: %w", err)
	}
	return checkPrivate(dir, fi)
}

// checkPrivate refuses a directory that is a symlink, open to others or
// owned by another user.
func checkPrivate(dir string, fi os.FileInfo) error {
	if fi.Mode()&os.ModeSymlink != 0 || !fi.IsDir() {
		return fmt.Errorf("sandbox: cache dir %s is not a directory (a symlink?): refusing to run compiled code from it", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("sandbox: cache dir %s has mode %04o: it holds executable code and must be private (chmod 700 %s)", dir, perm, dir)
	}
	if err := ownedByMe(fi); err != nil {
		return fmt.Errorf("sandbox: cache dir %s: %w", dir, err)
	}
	return nil
}

// ParsePin parses "sha256:<64 lowercase hex>" and returns the hex.
func ParsePin(pin string) (string, error) {
	h, ok := strings.CutPrefix(pin, "sha256:")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return "", fmt.Errorf("pin %q: want sha256:<64 lowercase hex digits>", pin)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("pin %q: want sha256:<64 lowercase hex digits>", pin)
	}
	return h, nil
}

// Pin returns the "sha256:<hex>" pin of a plugin file.
func Pin(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Plugin is a loaded, compiled plugin. Make instances with NewInstance.
type Plugin struct {
	rt       *Runtime
	sha      string
	manifest *Manifest
	wrt      wazero.Runtime
	cache    wazero.CompilationCache
	compiled wazero.CompiledModule
	imports  []string
	// kept: its wazero runtime and compiled module are the process's
	// (KeepCompiled), shared with other Runtimes' Plugins of the same
	// module, and not released when this Runtime closes.
	kept bool
}

// keptModules are the modules compiled in this process, by sha256 and
// memory limit, when KeepCompiled is on.
var keptModules struct {
	sync.Mutex
	on bool
	m  map[keptKey]*Plugin
}

type keptKey struct {
	sha   string
	pages uint32 // the wazero runtime's memory limit
}

// KeepCompiled makes every Runtime of this process share the modules it
// compiles: a module loaded once (compiled, or read from the compilation
// cache, checked and deserialised) stays loaded while it is on, and a
// later Runtime's Load of the same sha256 under the same
// memory limit makes a Plugin of it without reading the cache again. For a
// long-lived process that makes a new Runtime per request (pawl serve:
// one per command). The hash of the bytes given to Load is checked all the
// same, before the module is looked up, so a Plugin is only ever the
// pinned bytes' code; a cache entry that a Runtime does not read is not
// checked either, and is never used. Calls are bounded by each Runtime's
// own Config (call timeout, result and output caps). Off by default: a
// command that runs once releases what it compiled at Close. Turning it
// off releases what was kept: every Runtime that used it must be closed.
func KeepCompiled(on bool) {
	keptModules.Lock()
	defer keptModules.Unlock()
	for _, p := range keptModules.m {
		p.kept = false
		p.close(context.Background())
	}
	keptModules.on = on
	keptModules.m = map[keptKey]*Plugin{}
}

// kept returns a Plugin of r for the module with that sha256 compiled
// earlier in this process, or nil.
func (r *Runtime) kept(sha string) *Plugin {
	keptModules.Lock()
	defer keptModules.Unlock()
	k, ok := keptModules.m[keptKey{sha, r.cfg.MemoryLimitPages}]
	if !keptModules.on || !ok {
		return nil
	}
	return &Plugin{rt: r, sha: sha, manifest: k.manifest, wrt: k.wrt, compiled: k.compiled, imports: k.imports, kept: true}
}

// keep makes p's compiled module the process's when KeepCompiled is on
// (the first one loaded stays if two raced), and returns the Plugin of r
// to use.
func (r *Runtime) keep(p *Plugin) *Plugin {
	keptModules.Lock()
	defer keptModules.Unlock()
	if !keptModules.on {
		return p
	}
	key := keptKey{p.sha, r.cfg.MemoryLimitPages}
	if k, ok := keptModules.m[key]; ok {
		p.close(context.Background())
		return &Plugin{rt: r, sha: p.sha, manifest: k.manifest, wrt: k.wrt, compiled: k.compiled, imports: k.imports, kept: true}
	}
	p.kept = true
	keptModules.m[key] = p
	return p
}

// Manifest returns the plugin's manifest (do not modify it).
func (p *Plugin) Manifest() *Manifest { return p.manifest }

// Pin returns the plugin's "sha256:<hex>".
func (p *Plugin) Pin() string { return "sha256:" + p.sha }

// ID returns "name@version".
func (p *Plugin) ID() string { return p.manifest.ID() }

// Imports returns the host functions the plugin imports, "module.name",
// sorted (for `pawl plugin list` and the audit trail).
func (p *Plugin) Imports() []string { return append([]string(nil), p.imports...) }

// Load checks wasm against its pin, reads its manifest, checks its imports
// and exports, and compiles it (from the cache when warm). The hash is
// checked before anything else is done with the bytes; the imports before
// anything is compiled. Loading the same pin twice returns the same Plugin.
func (r *Runtime) Load(ctx context.Context, wasm []byte, pin string) (*Plugin, error) {
	want, err := ParsePin(pin)
	if err != nil {
		return nil, &Error{Plugin: pin, Op: "load", Kind: KindLoad, Detail: err.Error()}
	}
	sum := sha256.Sum256(wasm)
	got := hex.EncodeToString(sum[:])
	if got != want {
		return nil, &Error{Plugin: pin, Op: "load", Kind: KindLoad,
			Detail: fmt.Sprintf("hash mismatch: pinned sha256:%s, the file is sha256:%s (%d bytes)", want, got, len(wasm))}
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errors.New("sandbox: runtime is closed")
	}
	if p, ok := r.plugins[got]; ok {
		r.mu.Unlock()
		return p, nil
	}
	r.mu.Unlock()
	if p := r.kept(got); p != nil {
		return r.add(ctx, got, p)
	}
	// Each plugin has a wazero runtime of its own, so several load (and
	// compile, or read from the cache) at once; the lock only guards the map.
	p, err := r.load(ctx, wasm, got)
	if err != nil {
		return nil, err
	}
	p = r.keep(p)
	return r.add(ctx, got, p)
}

// add makes p the runtime's plugin for sha, unless another goroutine
// loaded the same pin first.
func (r *Runtime) add(ctx context.Context, got string, p *Plugin) (*Plugin, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		p.close(ctx)
		return nil, errors.New("sandbox: runtime is closed")
	}
	if q, ok := r.plugins[got]; ok {
		p.close(ctx) // another goroutine loaded the same pin first
		return q, nil
	}
	r.plugins[got] = p
	return p, nil
}

func (r *Runtime) load(ctx context.Context, wasm []byte, sha string) (*Plugin, error) {
	fail := func(id string, kind Kind, format string, args ...any) error {
		return &Error{Plugin: id, Op: "load", Kind: kind, Detail: fmt.Sprintf(format, args...)}
	}
	mod, err := scanModule(wasm)
	if err != nil {
		return nil, fail("sha256:"+sha, KindLoad, "%v", err)
	}
	m, err := parseManifest(mod)
	if err != nil {
		kind := KindLoad
		if errors.Is(err, errWrongABI) {
			kind = KindABI
		}
		id := "sha256:" + sha
		if m != nil {
			id = m.ID()
		}
		return nil, fail(id, kind, "%v", err)
	}
	imports, err := checkImports(mod.imports)
	if err != nil {
		return nil, fail(m.ID(), KindLoad, "%v", err)
	}
	if m.State == nil {
		for _, im := range imports {
			if im == hostModule+".state_get" || im == hostModule+".state_put" {
				return nil, fail(m.ID(), KindLoad, "imports %s but its manifest declares no state: declare \"state\": {\"max_key_bytes\": …, \"max_value_bytes\": …}", im)
			}
		}
	}

	p := &Plugin{rt: r, sha: sha, manifest: m, imports: imports}
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(r.cfg.MemoryLimitPages).
		// The only way to stop a runaway guest; it costs loops 2-6x, which
		// batching spreads.
		WithCloseOnContextDone(true)
	var cl *cacheLoad
	if r.cacheRoot != nil {
		// One entry per plugin hash, checked by its MAC and copied to a
		// stage for wazero (cache.go): an entry can only ever be used for
		// the exact bytes that were pinned.
		if cl, p.cache, err = r.beginCacheLoad(ctx, sha, m.ID()); err != nil {
			return nil, err
		}
		rc = rc.WithCompilationCache(p.cache)
	}
	p.wrt = wazero.NewRuntimeWithConfig(ctx, rc)
	ok := false
	defer func() {
		if !ok {
			if cl != nil {
				cl.end(false)
			}
			p.close(ctx)
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.wrt); err != nil {
		return nil, fmt.Errorf("sandbox: WASI host module: %w", err)
	}
	if _, err := p.wrt.NewHostModuleBuilder(hostModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostLog), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, nil).Export("log").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostStateGet), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).Export("state_get").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostStatePut), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).Export("state_put").
		Instantiate(ctx); err != nil {
		return nil, fmt.Errorf("sandbox: pawl host module: %w", err)
	}
	if p.compiled, err = p.wrt.CompileModule(ctx, wasm); err != nil {
		return nil, fail(m.ID(), KindLoad, "does not compile: %v", err)
	}
	if err := checkExports(p.compiled); err != nil {
		return nil, fail(m.ID(), KindLoad, "%v", err)
	}
	if cl != nil {
		// As with wazero's own cache, an entry that cannot be written
		// fails the load.
		err := cl.end(true)
		cl = nil
		if err != nil {
			return nil, err
		}
	}
	ok = true
	return p, nil
}

func (p *Plugin) close(ctx context.Context) {
	if p.kept {
		return // the process's (KeepCompiled): released when that is turned off
	}
	if p.wrt != nil {
		_ = p.wrt.Close(ctx)
	}
	if p.cache != nil {
		_ = p.cache.Close(ctx)
	}
}

// Close releases every plugin's compiled code. Instances must be closed
// first.
func (r *Runtime) Close(ctx context.Context) error {
	r.calls.Lock()
	defer r.calls.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, p := range r.plugins {
		p.close(ctx)
	}
	r.plugins = nil
	if r.cacheRoot != nil {
		r.cacheRoot.Close()
	}
	return nil
}

// hostModule is pawl's own import module.
const hostModule = "pawl"

// allowedWASI is the WASI preview1 subset a Go guest needs. Every one is
// deterministic here: no args, no environment, no preopened directories
// (so the fd_* and path_* calls only ever see stdin at EOF and the
// captured stdout/stderr), clocks and random bytes from the instance's
// deterministic sources, sleeping advances the fake clock.
var allowedWASI = map[string]bool{
	"args_get": true, "args_sizes_get": true,
	"environ_get": true, "environ_sizes_get": true,
	"clock_res_get": true, "clock_time_get": true,
	"random_get": true, "proc_exit": true, "sched_yield": true, "poll_oneoff": true,
	"fd_write": true, "fd_read": true, "fd_close": true, "fd_seek": true,
	"fd_fdstat_get": true, "fd_fdstat_set_flags": true, "fd_filestat_get": true,
	"fd_prestat_get": true, "fd_prestat_dir_name": true, "fd_readdir": true,
	"path_open": true, "path_filestat_get": true,
}

var allowedHost = map[string]bool{"log": true, "state_get": true, "state_put": true}

// checkImports refuses every import but the allowed functions, naming it.
func checkImports(imps []importEntry) ([]string, error) {
	var names []string
	for _, im := range imps {
		what := im.module + "." + im.name
		if im.kind != 0 {
			return nil, fmt.Errorf("imports the %s %s: a plugin may import only functions, and only pawl.* and a WASI subset", importKinds[im.kind], what)
		}
		switch {
		case im.module == hostModule && allowedHost[im.name]:
		case im.module == wasi_snapshot_preview1.ModuleName && allowedWASI[im.name]:
		default:
			return nil, fmt.Errorf("imports %s, which pawl does not provide (allowed: %s)", what, allowedList())
		}
		names = append(names, what)
	}
	sort.Strings(names)
	return names, nil
}

func allowedList() string {
	var l []string
	for n := range allowedHost {
		l = append(l, hostModule+"."+n)
	}
	for n := range allowedWASI {
		l = append(l, wasi_snapshot_preview1.ModuleName+"."+n)
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

var requiredExports = []struct {
	name            string
	params, results []api.ValueType
}{
	{"pawl_alloc", []api.ValueType{i32}, []api.ValueType{i32}},
	{"pawl_init", []api.ValueType{i32, i32}, []api.ValueType{i64}},
	{"pawl_validate", []api.ValueType{i32, i32}, []api.ValueType{i64}},
}

func checkExports(c wazero.CompiledModule) error {
	fns := c.ExportedFunctions()
	for _, want := range requiredExports {
		f, ok := fns[want.name]
		if !ok {
			return fmt.Errorf("does not export %s (ABI %d requires pawl_alloc, pawl_init, pawl_validate and memory)", want.name, ABIVersion)
		}
		if !slices.Equal(f.ParamTypes(), want.params) || !slices.Equal(f.ResultTypes(), want.results) {
			return fmt.Errorf("exports %s%s, ABI %d requires %s%s", want.name, sig(f.ParamTypes(), f.ResultTypes()), ABIVersion, want.name, sig(want.params, want.results))
		}
	}
	if _, ok := c.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("does not export its memory as \"memory\"")
	}
	if f, ok := fns[migrateExport]; ok && (!slices.Equal(f.ParamTypes(), []api.ValueType{i32, i32}) || !slices.Equal(f.ResultTypes(), []api.ValueType{i64})) {
		return fmt.Errorf("exports %s%s, ABI %d requires %s(i32, i32) -> (i64)", migrateExport, sig(f.ParamTypes(), f.ResultTypes()), ABIVersion, migrateExport)
	}
	return nil
}

// migrateExport is the optional export through which a plugin carries its
// state from an older format to the one it declares (docs/plugin-abi.md §8).
const migrateExport = "pawl_migrate_state"

// Migrates says whether the plugin exports pawl_migrate_state.
func (p *Plugin) Migrates() bool {
	_, ok := p.compiled.ExportedFunctions()[migrateExport]
	return ok
}

func sig(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		var s []string
		for _, t := range ts {
			s = append(s, api.ValueTypeName(t))
		}
		return strings.Join(s, ",")
	}
	return "(" + name(params) + ")->(" + name(results) + ")"
}
