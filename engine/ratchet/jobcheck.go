package ratchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/schema"
)

// ConfigRefusal is one reason a job's plugin would refuse to start: which
// plugin, at which step, the JSON pointer in its config (when the refusal
// names one) and the message.
type ConfigRefusal struct {
	Plugin string `json:"plugin"` // name@version as the job names it
	// Step is where it was found: "pin" (not pinned), "load" (the module
	// is refused), "schema" (the config does not match the manifest's
	// config_schema), "fields" (a binding names no field of the plugin),
	// "lookup" (a lookup file is missing) or "init" (the plugin's own init
	// refused the config).
	Step    string `json:"step"`
	Path    string `json:"path"` // JSON pointer in the config; "" for the whole config or none
	Message string `json:"message"`
}

// JobCheck is what CheckJob found: each plugin checked, and every refusal.
type JobCheck struct {
	Job      string          `json:"job"`
	Spec     string          `json:"spec"` // the job spec's path
	Plugins  []string        `json:"plugins"`
	Refusals []ConfigRefusal `json:"refusals"`
}

// CheckJob checks the job spec in the tree (jobs/JOB.yaml: what `pawl pin`
// would pin) against the plugins pinned in pawl.lock, without reading any
// record: for each validator, that it is pinned and loads, that its config
// matches the config_schema of its manifest (every violation, by pointer),
// that its field bindings and lookups resolve, and then runs its init with
// that config in the real sandbox, under the project's limits, as a batch
// would. It reports every refusal rather than stopping at the first.
// Nothing is recorded, as nothing is decided (a compilation cache entry
// found bad on the way is on record, as always); no policy is asked: the
// plugins policy decides when a batch runs.
func CheckJob(ctx context.Context, p *project.Project, job, operator string) (*JobCheck, error) {
	rel, err := project.JobPath(p.Root, job)
	if err != nil {
		return nil, err
	}
	j, err := project.LoadJob(p.Root, rel)
	if err != nil {
		return nil, err
	}
	pins, err := p.Pins(ctx)
	if err != nil {
		return nil, err
	}
	limits := project.LimitsFor(p.Cfg)
	rt, err := p.Runtime(ctx, limits.PluginMemoryPages, time.Duration(limits.PluginCallTimeoutMS)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	res := &JobCheck{Job: j.Name, Spec: rel, Plugins: []string{}, Refusals: []ConfigRefusal{}}
	preload(ctx, p, rt, j, pins)
	for _, spec := range j.Validators {
		res.Plugins = append(res.Plugins, spec.Plugin)
		refuse := func(step, path, msg string) {
			res.Refusals = append(res.Refusals, ConfigRefusal{Plugin: spec.Plugin, Step: step, Path: path, Message: msg})
		}
		pin, ok := pins[lockfile.PluginKey(spec.Plugin)]
		if !ok {
			refuse("pin", "", fmt.Sprintf("%s is not pinned: add it with `pawl plugin add FILE.wasm`", spec.Plugin))
			continue
		}
		wasm, err := p.ReadBlob(pin)
		if err != nil {
			refuse("load", "", err.Error())
			continue
		}
		pg, err := rt.Load(ctx, wasm, string(pin))
		if _, rerr := p.RecordCacheRejections(ctx, operator); rerr != nil {
			return nil, rerr
		}
		if err != nil {
			refuse("load", "", err.Error())
			continue
		}
		m := pg.Manifest()
		if m.ID() != spec.Plugin {
			refuse("load", "", fmt.Sprintf("the module pinned as %s says it is %s", spec.Plugin, m.ID()))
			continue
		}
		cfg, err := json.Marshal(orEmpty(spec.Config))
		if err != nil {
			refuse("schema", "", err.Error())
			continue
		}
		vs, err := ConfigViolations(m, cfg)
		if err != nil {
			refuse("schema", "", err.Error())
			continue
		}
		for _, v := range vs {
			refuse("schema", v.Pointer, v.Message)
		}
		bound := true
		for f := range spec.Fields {
			if m.FieldIndex(f) < 0 {
				refuse("fields", "", fmt.Sprintf("the job binds field %q, and %s has no such field (it reads %s)", f, spec.Plugin, fieldNames(m)))
				bound = false
			}
		}
		ic := sandbox.InstanceConfig{Config: cfg, Lookup: map[string][]byte{}, AsOf: time.Now().UTC()}
		for _, l := range m.Lookups {
			file, ok := spec.Lookups[l]
			if !ok {
				refuse("lookup", "", fmt.Sprintf("%s needs the lookup %q: name its file under lookups:", spec.Plugin, l))
				bound = false
				continue
			}
			ref := project.Ref{Path: project.CleanRef(file)}
			if err := p.CheckReference(j, ref); err != nil {
				refuse("lookup", "", err.Error())
				bound = false
				continue
			}
			b, err := os.ReadFile(p.File(ref.Path))
			if err != nil {
				refuse("lookup", "", fmt.Sprintf("lookup %s (%s): %v", l, file, err))
				bound = false
				continue
			}
			ic.Lookup[l] = b
		}
		if len(vs) > 0 || !bound {
			// The host would not start it: its init is not what refuses.
			continue
		}
		if m.State != nil {
			ic.State = sandbox.NewMemState()
		}
		inst, err := pg.NewInstance(ctx, ic)
		if err != nil {
			path, msg := "", err.Error()
			var se *sandbox.Error
			if errors.As(err, &se) && se.Kind == sandbox.KindConfig {
				msg = se.Detail
				// The Go kit's refusals (plugins/pdk/config.Error) read
				// "config /pointer: message".
				if rest, ok := strings.CutPrefix(msg, "config /"); ok {
					if ptr, m, ok := strings.Cut(rest, ": "); ok {
						path, msg = "/"+ptr, m
					}
				}
			}
			refuse("init", path, msg)
			continue
		}
		inst.Close(ctx)
	}
	return res, nil
}

// ConfigViolations checks a plugin's config (JSON) against the config_schema
// of its manifest and returns every violation; none when the manifest has
// no schema. The error is for a config that is not JSON or a schema that
// does not compile.
func ConfigViolations(m *sandbox.Manifest, cfg []byte) ([]schema.Violation, error) {
	if len(m.ConfigSchema) == 0 {
		return nil, nil
	}
	const u = "https://plugins.pawl.invalid/config-schema.json"
	sch, err := schema.CompileURL(u, schema.Options{Load: func(url string) (any, error) {
		if url != u {
			return nil, fmt.Errorf("the config schema of %s may not reference %s", m.ID(), url)
		}
		return schema.DecodeJSON(m.ConfigSchema)
	}})
	if err != nil {
		return nil, fmt.Errorf("config schema: %w", err)
	}
	v, err := schema.DecodeJSON(cfg)
	if err != nil {
		return nil, err
	}
	return sch.Validate(v), nil
}
