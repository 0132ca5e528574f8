package engine

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/schema"
	"github.com/pawl-dev/pawl/engine/store"
)

// ValidatorSpec is one entry of a job's `validators:` list.
type ValidatorSpec struct {
	// Plugin is "name@version"; the module is the one pinned for it.
	Plugin string `yaml:"plugin"`
	// Config is the plugin's configuration, checked against the schema in
	// its manifest.
	Config map[string]any `yaml:"config"`
	// Fields binds a manifest field to another JSON pointer than its default.
	Fields map[string]string `yaml:"fields"`
	// Lookups names the file (pinned like every input) for each lookup the
	// plugin declares.
	Lookups map[string]string `yaml:"lookups"`
}

// Audit actions of plugins.
const (
	ActionPluginAdded   = "plugin.added"
	ActionPluginRefused = "plugin.refused"
)

// pluginKey is how a plugin is pinned in pawl.lock.
func pluginKey(id string) string { return "plugin:" + id }

func (v ValidatorSpec) check() []string {
	var problems []string
	name, version, ok := strings.Cut(v.Plugin, "@")
	if !ok || name == "" || version == "" {
		problems = append(problems, fmt.Sprintf("validators: plugin %q must be NAME@VERSION (see `pawl plugin list`)", v.Plugin))
	}
	for f, ptr := range v.Fields {
		if ptr != "" && !strings.HasPrefix(ptr, "/") {
			problems = append(problems, fmt.Sprintf("validators: %s: field %s: %q is not a JSON pointer (it starts with /)", v.Plugin, f, ptr))
		}
	}
	for l, f := range v.Lookups {
		if !insideProject(f) {
			problems = append(problems, fmt.Sprintf("validators: %s: lookup %s: %q must be a path inside the project", v.Plugin, l, f))
		}
	}
	return problems
}

// AddPlugin checks a plugin module's manifest, keeps the module in the store
// and pins name@version to its sha256 in pawl.lock. A name@version already
// pinned to other bytes is refused: a new build needs a new version.
func (p *Project) AddPlugin(ctx context.Context, wasm []byte, operator, reason string) (*sandbox.Manifest, store.Digest, bool, error) {
	m, err := sandbox.ReadManifest(wasm)
	if err != nil {
		return nil, "", false, err
	}
	d, _, err := p.Store.Put(strings.NewReader(string(wasm)))
	if err != nil {
		return nil, "", false, err
	}
	pins, err := ReadPins(p.Root)
	if err != nil {
		return nil, "", false, err
	}
	key := pluginKey(m.ID())
	if old, ok := pins[key]; ok {
		if old == d {
			return m, d, false, nil
		}
		return nil, "", false, fmt.Errorf("%s is already pinned to %s, this module is %s: a new build must carry a new version", m.ID(), old, d)
	}
	pins[key] = d
	if err := writeFileSync(filepath.Join(p.Root, LockFile), pins.Format(), 0o644); err != nil {
		return nil, "", false, err
	}
	if reason == "" {
		reason = "plugin added"
	}
	_, err = p.Trail.Append(ctx, audit.Entry{
		Operator: operator, Action: ActionPluginAdded, Object: "plugin:" + m.ID(), Reason: reason,
		Details: mustJSON(map[string]any{"plugin": m.ID(), "hash": d, "mode": m.Mode, "fields": m.Fields, "lookups": m.Lookups}),
	})
	return m, d, true, err
}

// PinnedPlugin is a plugin pinned in pawl.lock.
type PinnedPlugin struct {
	ID       string            `json:"id"`
	Hash     store.Digest      `json:"hash"`
	Manifest *sandbox.Manifest `json:"manifest,omitempty"`
	Imports  []string          `json:"imports,omitempty"`
	Problem  string            `json:"problem,omitempty"`
	runtime  *sandbox.Manifest
}

// Plugins lists the pinned plugins; with verify, each module is re-hashed
// from the store and loaded (hash checked before compiling, manifest and
// imports checked), and any problem is reported on its line.
func (p *Project) Plugins(ctx context.Context, verify bool) ([]PinnedPlugin, error) {
	pins, err := ReadPins(p.Root)
	if err != nil {
		return nil, err
	}
	var out []PinnedPlugin
	for _, k := range pins.sorted() {
		id, ok := strings.CutPrefix(k, "plugin:")
		if !ok {
			continue
		}
		pp := PinnedPlugin{ID: id, Hash: pins[k]}
		wasm, err := p.readBlob(pins[k])
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
		}
		out = append(out, pp)
	}
	return out, nil
}

// readBlob reads a whole blob from the store, checked against its digest.
func (p *Project) readBlob(d store.Digest) ([]byte, error) {
	r, err := p.Store.Open(d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Sandbox returns the project's WebAssembly runtime, created on first use
// with its compilation cache in the data directory (private, 0700; each
// entry tied to the module's sha256).
func (p *Project) Sandbox(ctx context.Context) (*sandbox.Runtime, error) {
	if p.rt == nil {
		dir := p.Cfg.CacheDir
		if dir == "" {
			dir = filepath.Join(p.Data, "cache")
		}
		rt, err := sandbox.NewRuntime(ctx, sandbox.Config{CacheDir: filepath.Join(dir, "wasm"), CallTimeout: p.Cfg.PluginCallTimeout})
		if err != nil {
			return nil, err
		}
		p.rt = rt
	}
	return p.rt, nil
}

// validator is one of a job's validators, loaded for a run.
type validator struct {
	id       string
	plugin   *sandbox.Plugin
	ordered  bool
	pointers []string // per manifest field: the JSON pointer it reads
	icfg     sandbox.InstanceConfig
}

// checker validates batches: a sandboxed plugin instance, or — only in the
// benchmark that measures the sandbox's cost — the same plugin code built
// natively.
type checker interface {
	Validate(ctx context.Context, b *sandbox.Batch) ([]sandbox.Verdict, error)
	Close(ctx context.Context)
}

// nativeCheckers replaces plugins by native builds of the same code, by
// plugin id; only BenchmarkSandboxTax sets it.
var nativeCheckers map[string]func(icfg sandbox.InstanceConfig) (checker, error)

func (v *validator) fresh(ctx context.Context) (*sandbox.Instance, error) {
	return v.plugin.NewInstance(ctx, v.icfg)
}

func (v *validator) newChecker(ctx context.Context) (checker, error) {
	if f, ok := nativeCheckers[v.id]; ok {
		return f(v.icfg)
	}
	return v.fresh(ctx)
}

// loadValidators resolves, checks and loads the job's plugins: the module
// from the store, its hash checked before compiling, its config checked
// against the schema in its manifest. A refusal is audited.
func (p *Project) loadValidators(ctx context.Context, job *Job, pins Pins, operator string, asOf time.Time, batchID string) ([]*validator, map[string]ValidatorRef, error) {
	refs := map[string]ValidatorRef{}
	var out []*validator
	seed := seedFor(batchID)
	p.preload(ctx, job, pins)
	for _, spec := range job.Validators {
		key := pluginKey(spec.Plugin)
		pin, ok := pins[key]
		if !ok {
			return nil, nil, fmt.Errorf("job %s: plugin %s is not pinned: add it with `pawl plugin add FILE`", job.Name, spec.Plugin)
		}
		refuse := func(err error) error {
			_, aerr := p.Trail.Append(context.WithoutCancel(ctx), audit.Entry{
				Operator: operator, Action: ActionPluginRefused, Object: "plugin:" + spec.Plugin,
				Details: mustJSON(map[string]any{"plugin": spec.Plugin, "pinned": pin, "job": job.Name, "error": err.Error()}),
			})
			if aerr != nil {
				return fmt.Errorf("%w (and auditing the refusal failed: %v)", err, aerr)
			}
			return err
		}
		wasm, err := p.readBlob(pin)
		if err != nil {
			return nil, nil, refuse(fmt.Errorf("plugin %s: %w", spec.Plugin, err))
		}
		rt, err := p.Sandbox(ctx)
		if err != nil {
			return nil, nil, err
		}
		pl, err := rt.Load(ctx, wasm, string(pin))
		if err != nil {
			return nil, nil, refuse(err)
		}
		m := pl.Manifest()
		if m.ID() != spec.Plugin {
			return nil, nil, refuse(fmt.Errorf("the module pinned as %s says it is %s", spec.Plugin, m.ID()))
		}
		// Admission: the plugins policy decides (and the decision is on
		// record) whether this module may run in this batch.
		if err := p.admitPlugin(ctx, job, m, pin, operator, asOf, batchID); err != nil {
			return nil, nil, refuse(err)
		}
		cfg, err := json.Marshal(orEmpty(spec.Config))
		if err != nil {
			return nil, nil, fmt.Errorf("job %s: %s: config: %w", job.Name, spec.Plugin, err)
		}
		if err := checkConfig(m, cfg); err != nil {
			return nil, nil, fmt.Errorf("job %s: %s: %w", job.Name, spec.Plugin, err)
		}
		v := &validator{id: m.ID(), plugin: pl, ordered: m.Mode == sandbox.ModeOrdered,
			icfg: sandbox.InstanceConfig{Config: cfg, Lookup: map[string][]byte{}, AsOf: asOf, Seed: seed}}
		for _, f := range m.Fields {
			ptr := f.Pointer
			if b, ok := spec.Fields[f.Name]; ok && b != "" {
				ptr = b
			}
			v.pointers = append(v.pointers, ptr)
		}
		for f := range spec.Fields {
			if m.FieldIndex(f) < 0 {
				return nil, nil, fmt.Errorf("job %s: %s has no field %q to bind (it reads %s)", job.Name, spec.Plugin, f, fieldNames(m))
			}
		}
		for _, l := range m.Lookups {
			file, ok := spec.Lookups[l]
			if !ok {
				return nil, nil, fmt.Errorf("job %s: %s needs the lookup %q: name its file under lookups:", job.Name, spec.Plugin, l)
			}
			b, err := p.readBlob(pins[file])
			if err != nil {
				return nil, nil, fmt.Errorf("job %s: %s: lookup %s (%s): %w", job.Name, spec.Plugin, l, file, err)
			}
			v.icfg.Lookup[l] = b
		}
		out = append(out, v)
		refs[m.Name] = ValidatorRef{Version: m.Version, Hash: pin}
	}
	return out, refs, nil
}

// preload loads the job's plugins in parallel, so that a run waits for the
// slowest compile (or cache read) rather than for their sum. Errors are left
// for loadValidators to meet again, in order, and report.
func (p *Project) preload(ctx context.Context, job *Job, pins Pins) {
	rt, err := p.Sandbox(ctx)
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for _, spec := range job.Validators {
		pin, ok := pins[pluginKey(spec.Plugin)]
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if wasm, err := p.readBlob(pin); err == nil {
				rt.Load(ctx, wasm, string(pin))
			}
		}()
	}
	wg.Wait()
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func fieldNames(m *sandbox.Manifest) string {
	var n []string
	for _, f := range m.Fields {
		n = append(n, f.Name)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// checkConfig validates a plugin's config against the JSON Schema in its
// manifest, so that a mistake is reported with its pointer before any
// record is read.
func checkConfig(m *sandbox.Manifest, cfg []byte) error {
	if len(m.ConfigSchema) == 0 {
		return nil
	}
	const u = "https://plugins.pawl.invalid/config-schema.json"
	sch, err := schema.CompileURL(u, schema.Options{Load: func(url string) (any, error) {
		if url != u {
			return nil, fmt.Errorf("the config schema of %s may not reference %s", m.ID(), url)
		}
		return schema.DecodeJSON(m.ConfigSchema)
	}})
	if err != nil {
		return fmt.Errorf("config schema: %w", err)
	}
	v, err := schema.DecodeJSON(cfg)
	if err != nil {
		return err
	}
	if vs := sch.Validate(v); len(vs) > 0 {
		var msgs []string
		for _, x := range vs {
			msgs = append(msgs, x.String())
		}
		return fmt.Errorf("config does not match the plugin's config schema: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// seedFor derives the plugins' random seed from the batch id, so that a
// replay draws the same numbers.
func seedFor(batchID string) uint64 {
	b, err := hex.DecodeString(batchID)
	if err != nil || len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b[:8])
}
