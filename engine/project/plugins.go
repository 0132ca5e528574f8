package project

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/engine/version"
)

// runtimeKey tells plugin runtimes apart by the limits they enforce.
type runtimeKey struct {
	memoryPages uint32
	callTimeout time.Duration
}

// Runtime returns the WebAssembly runtime that enforces the given limits
// (zero: the defaults), created on first use with the compilation cache:
// private (0700), shared by the user's projects, each entry tied to the
// module's sha256 and checked by its MAC under the project's cache key
// (keys/cache.key, made on first use in a project that has none), staged
// for wazero in <data dir>/wasm-stage. A batch runs under the limits on its
// record, so a replay may need another runtime than today's configuration
// would make. Entries the runtime rejected are put on record by
// RecordCacheRejections.
func (p *Project) Runtime(ctx context.Context, memoryPages uint32, callTimeout time.Duration) (*sandbox.Runtime, error) {
	k := runtimeKey{memoryPages, callTimeout}
	if rt, ok := p.rts[k]; ok {
		return rt, nil
	}
	key, dir, err := p.cache(true)
	if err != nil {
		return nil, err
	}
	rt, err := sandbox.NewRuntime(ctx, sandbox.Config{CacheDir: filepath.Join(dir, "wasm"), CacheKey: key, StageDir: p.WasmStageDir(),
		MemoryLimitPages: memoryPages, CallTimeout: callTimeout, CacheMaxBytes: p.Cfg.CacheMaxBytes})
	if err != nil {
		return nil, err
	}
	if p.rts == nil {
		p.rts = map[runtimeKey]*sandbox.Runtime{}
	}
	p.rts[k] = rt
	return rt, nil
}

// cache is the compilation cache's key and directory. The key is read (or
// made) here, and kept for the project's runtimes only when keep is set:
// the policy checks and the executable's hash, asked first, read it
// without keeping it, so that the runtimes read the key the file holds
// when the first plugin loads, as they always have (the tests' projects
// get their shared key after init: enginetest.UseTestCacheKey).
func (p *Project) cache(keep bool) ([]byte, string, error) {
	key := p.cacheKey
	if key == nil {
		k, err := seal.CacheKey(p.KeysDir())
		if err != nil {
			return nil, "", err
		}
		key = k
		if keep {
			p.cacheKey = k
		}
	}
	dir := p.Cfg.CacheDir
	if dir == "" {
		dir = filepath.Join(p.Data, "cache")
	}
	return key, dir, nil
}

// BinaryHashCache is where the executable's sha256 is kept between runs:
// beside the compilation cache ("exe"), its entries MACed with the same
// key (version.HashCache).
func (p *Project) BinaryHashCache() (*version.HashCache, error) {
	key, dir, err := p.cache(false)
	if err != nil {
		return nil, err
	}
	return &version.HashCache{Dir: filepath.Join(dir, "exe"), Key: key}, nil
}

// RecordCacheRejections puts on record, as plugin.cache_rejected entries,
// every compilation cache entry the project's runtimes rejected since the
// last call (each was deleted before wazero read it, and the module
// compiled afresh), and returns them. Whoever loads plugins calls it after
// loading, before the plugins run.
func (p *Project) RecordCacheRejections(ctx context.Context, operator string) ([]sandbox.CacheRejection, error) {
	return p.RecordCacheRejectionsAfter(ctx, operator, nil)
}

// RecordCacheRejectionsAfter is RecordCacheRejections, calling first, when
// there is any rejection to record, first (when not nil): what must be on
// record before the rejections (a run's decisions asked before the loads
// that met them), so that the trail keeps the order things happened in.
func (p *Project) RecordCacheRejectionsAfter(ctx context.Context, operator string, first func() error) ([]sandbox.CacheRejection, error) {
	keys := make([]runtimeKey, 0, len(p.rts))
	for k := range p.rts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].memoryPages < keys[j].memoryPages || keys[i].memoryPages == keys[j].memoryPages && keys[i].callTimeout < keys[j].callTimeout
	})
	var all []sandbox.CacheRejection
	for _, k := range keys {
		all = append(all, p.rts[k].TakeCacheRejections()...)
	}
	if len(all) > 0 && first != nil {
		if err := first(); err != nil {
			return all, fmt.Errorf("%d compilation cache entries were rejected (%s) but could not be put on record: %w", len(all), all[0], err)
		}
	}
	for i, r := range all {
		if _, err := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: operator, Object: "plugin:" + r.Plugin,
			Reason: "compilation cache entry rejected",
			Details: actions.PluginCacheRejectedDetails{Plugin: r.Plugin, Hash: store.Digest(r.Module), Entry: r.Entry,
				Problem: r.Problem, Recompiled: r.Recompiled}}); err != nil {
			return all, fmt.Errorf("%d compilation cache entries were rejected (%s) but could not be put on record: %w", len(all)-i, r, err)
		}
	}
	return all, nil
}

// Sandbox returns the runtime with the configured limits.
func (p *Project) Sandbox(ctx context.Context) (*sandbox.Runtime, error) {
	return p.Runtime(ctx, 0, p.Cfg.PluginCallTimeout)
}

// PluginCapabilities are what a plugin's manifest asks for beyond reading
// its fields: "transform" when it may rewrite values, "lookup:NAME" for each
// pinned file it reads. They are the plugin admission input's capabilities
// and what an approval lists.
func PluginCapabilities(m *sandbox.Manifest) []string {
	caps := []string{}
	if m.Transforms {
		caps = append(caps, "transform")
	}
	for _, l := range m.Lookups {
		caps = append(caps, "lookup:"+l)
	}
	sort.Strings(caps)
	return caps
}

// AddPlugin checks a plugin module's manifest, keeps the module in the store
// and pins name@version to its sha256 in pawl.lock, on record. added is
// false when the same module was already pinned.
//
// A module whose manifest cannot be read, or whose name@version is already
// pinned to other bytes (a new build needs a new version), is refused:
// nothing is kept in the store or pinned, and the refusal is a
// plugin.add_refused entry. The error says both.
func (p *Project) AddPlugin(ctx context.Context, wasm []byte, operator, reason string) (m *sandbox.Manifest, d store.Digest, added bool, err error) {
	d = store.HashBytes(wasm)
	refuse := func(id string, pinned store.Digest, cause error) (*sandbox.Manifest, store.Digest, bool, error) {
		object := "plugin:" + id
		if id == "" {
			object = "plugin:" + string(d)
		}
		why := reason
		if why == "" {
			why = "plugin add refused"
		}
		if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: object, Reason: why,
			Details: actions.PluginAddRefusedDetails{Plugin: id, Hash: d, Pinned: pinned, Error: cause.Error()}}); err != nil {
			return nil, "", false, fmt.Errorf("%w; refused, nothing kept or pinned, but the refusal could not be put on record: %v", cause, err)
		}
		return nil, "", false, fmt.Errorf("%w; refused: nothing kept or pinned (on record as %s)", cause, actions.PluginAddRefused)
	}
	m, err = sandbox.ReadManifest(wasm)
	if err != nil {
		return refuse("", "", err)
	}
	// pawl.lock must be the pins on record (or those before a change cut
	// short, which this addition then completes): adding to a pawl.lock
	// edited by hand would put the edit on record unseen.
	st, err := p.readLock(ctx)
	if err != nil {
		return nil, "", false, err
	}
	if st.problem != nil && !st.problem.Behind {
		return nil, "", false, st.problem
	}
	pins := st.found
	key := lockfile.PluginKey(m.ID())
	old, pinned := pins[key]
	var replaces store.Digest
	if pinned && old != d {
		if !IsDevVersion(m.Version) {
			return refuse(m.ID(), old, fmt.Errorf("%s is already pinned to %s, this module is %s: a new build must carry a new version (or a version ending in %q while developing, which a production policy refuses)", m.ID(), old, d, DevSuffix))
		}
		// A development build replaces the pin; the build it replaces
		// stays in the store for the batches that ran it.
		replaces, pinned = old, false
	}
	// Stored only now, once it is accepted (again, when the pinned blob was lost).
	if _, _, err := p.Store.Put(bytes.NewReader(wasm)); err != nil {
		return nil, "", false, err
	}
	if pinned {
		return m, d, false, nil
	}
	if reason == "" {
		reason = "plugin added"
	}
	lookups := m.Lookups
	if lookups == nil {
		lookups = []string{}
	}
	// On record first, as a pin change is, with the digest of the pins
	// about to be written (their lines kept in the store): a crash before
	// pawl.lock is written leaves an addition on record that running `pawl
	// plugin add` again completes, never a pin in force the trail does not
	// know.
	pins[key] = d
	if err := p.storePins(pins); err != nil {
		return nil, "", false, err
	}
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "plugin:" + m.ID(), Reason: reason,
		Details: actions.PluginAddedDetails{Plugin: m.ID(), Hash: d, Mode: m.Mode, Fields: m.Fields, Lookups: lookups, PinsDigest: pins.Digest(), Replaces: replaces}}); err != nil {
		return nil, "", false, err
	}
	failpoint.Hit("plugin-add.after-record")
	if err := durable.WriteFile(p.LockPath(), pins.Format(), 0o644); err != nil {
		return nil, "", false, fmt.Errorf("the addition of %s is on record but %s could not be written: %w: run `pawl plugin add` again", m.ID(), LockFile, err)
	}
	return m, d, true, nil
}

// PinnedPlugin is a plugin pinned in pawl.lock.
type PinnedPlugin struct {
	ID       string            `json:"id"`
	Hash     store.Digest      `json:"hash"`
	Manifest *sandbox.Manifest `json:"manifest,omitempty"`
	Imports  []string          `json:"imports,omitempty"`
	Problem  string            `json:"problem,omitempty"`
	// CacheRejected says what was wrong with the module's compilation
	// cache entry, when verify rejected it (deleted, compiled afresh, on
	// record as plugin.cache_rejected).
	CacheRejected string `json:"cache_rejected,omitempty"`
}

// Plugins lists the pinned plugins; with verify, pawl.lock must be the
// pins on record (Pins), and each module is re-hashed from the store and
// loaded (hash checked before compiling, manifest and imports checked, its
// compilation cache entry checked by its MAC), and any problem is reported
// on its line. A rejected cache entry is put on record with the configured
// operator. Without verify it lists pawl.lock as it is, so that a hand edit
// can be reviewed.
func (p *Project) Plugins(ctx context.Context, verify bool) ([]PinnedPlugin, error) {
	read := func(context.Context) (lockfile.Pins, error) { return lockfile.Read(p.Root) }
	if verify {
		read = p.Pins
	}
	pins, err := read(ctx)
	if err != nil {
		return nil, err
	}
	out := []PinnedPlugin{}
	for _, k := range pins.Sorted() {
		id, ok := strings.CutPrefix(k, lockfile.PluginPrefix)
		if !ok {
			continue
		}
		pp := PinnedPlugin{ID: id, Hash: pins[k]}
		wasm, err := p.ReadBlob(pins[k])
		if err != nil {
			pp.Problem = err.Error()
			out = append(out, pp)
			continue
		}
		if pp.Manifest, err = sandbox.ReadManifest(wasm); err != nil {
			pp.Problem = err.Error()
		} else if pp.Manifest.ID() != id {
			pp.Problem = fmt.Sprintf("the module pinned as %s says it is %s", id, pp.Manifest.ID())
		} else if verify {
			rt, err := p.Sandbox(ctx)
			if err != nil {
				return nil, err
			}
			pl, err := rt.Load(ctx, wasm, string(pins[k]))
			if err != nil {
				pp.Problem = err.Error()
			} else {
				pp.Imports = pl.Imports()
			}
			rejected, rerr := p.RecordCacheRejections(ctx, p.Cfg.Operator)
			for _, r := range rejected {
				if r.Module == string(pins[k]) {
					pp.CacheRejected = r.Problem
				}
			}
			if rerr != nil {
				return nil, rerr
			}
		}
		out = append(out, pp)
	}
	return out, nil
}
