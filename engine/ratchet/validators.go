package ratchet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/jsonptr"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/sandbox"
)

// validator is one of a job's validators, loaded for a plan.
type validator struct {
	id       string
	plugin   *sandbox.Plugin
	ordered  bool
	pointers []string // per manifest field: the JSON pointer it reads
	icfg     sandbox.InstanceConfig
	log      *pluginLog // what its instances wrote, gathered as they close
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

func (pl *Plan) validatorRefs() map[string]actions.ValidatorRef {
	refs := map[string]actions.ValidatorRef{}
	for _, v := range pl.validators {
		m := v.plugin.Manifest()
		refs[m.Name] = actions.ValidatorRef{Version: m.Version, Hash: pl.Pins[lockfile.PluginKey(v.id)]}
	}
	return refs
}

// loadValidators resolves, checks and loads the job's plugins under the
// plan's limits: the module from the store, its hash checked before
// compiling, its config checked against the schema in its manifest. With
// admit, the plugins policy decides whether each may run in this batch:
// the decisions are asked plugin by plugin and put on record together, in
// one transaction of the trail (gate.RecordAll), before any plugin runs; a
// refusal, or anything else put on record on the way (a cache entry
// rejected), goes after the decisions asked before it, as if each had been
// recorded when asked. The decisions the run asked before (pl.asked: its
// classification) go in the same transaction.
func (pl *Plan) loadValidators(ctx context.Context, p *project.Project, operator string, admit bool) (err error) {
	job := pl.Job
	rt, err := p.Runtime(ctx, pl.Limits.PluginMemoryPages, time.Duration(pl.Limits.PluginCallTimeoutMS)*time.Millisecond)
	if err != nil {
		return err
	}
	preload(ctx, p, rt, job, pl.Pins)
	// A cache entry that failed its check was deleted and its module
	// compiled afresh: on record before any plugin runs.
	record := func() error { return pl.recordAsked(ctx, p.Trail) }
	if _, err := p.RecordCacheRejectionsAfter(ctx, operator, record); err != nil {
		return err
	}
	defer func() {
		// Whatever happened, the decisions asked are on record.
		if rerr := record(); rerr != nil && err == nil {
			err = rerr
		} else if rerr != nil {
			err = fmt.Errorf("%w (and %v)", err, rerr)
		}
	}()
	pl.validators = nil
	for _, spec := range job.Validators {
		pin, ok := pl.Pins[lockfile.PluginKey(spec.Plugin)]
		if !ok {
			return fmt.Errorf("job %s: plugin %s is not pinned: add it with `pawl plugin add FILE`", job.Name, spec.Plugin)
		}
		refuse := func(err error) error {
			if rerr := record(); rerr != nil {
				err = fmt.Errorf("%w (and %v)", err, rerr)
			}
			_, aerr := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: operator, Object: "plugin:" + spec.Plugin,
				Details: actions.PluginRefusedDetails{Plugin: spec.Plugin, Pinned: pin, Job: job.Name, Error: err.Error()}})
			if aerr != nil {
				return fmt.Errorf("%w (and auditing the refusal failed: %v)", err, aerr)
			}
			return err
		}
		wasm, err := p.ReadBlob(pin)
		if err != nil {
			return refuse(fmt.Errorf("plugin %s: %w", spec.Plugin, err))
		}
		pg, err := rt.Load(ctx, wasm, string(pin))
		if _, rerr := p.RecordCacheRejectionsAfter(ctx, operator, record); rerr != nil {
			return rerr
		}
		if err != nil {
			return refuse(err)
		}
		m := pg.Manifest()
		if m.ID() != spec.Plugin {
			return refuse(fmt.Errorf("the module pinned as %s says it is %s", spec.Plugin, m.ID()))
		}
		if admit {
			a := gate.AskPlugin(ctx, pl.Policy, job, m, pin, operator, pl.AsOf, pl.BatchID)
			pl.asked = append(pl.asked, a)
			if err := a.Err(); err != nil {
				return refuse(err)
			}
		}
		v, err := pl.newValidator(spec, pg, p)
		if err != nil {
			return err
		}
		pl.validators = append(pl.validators, v)
	}
	return record()
}

// newValidator configures a loaded plugin as the job's validator spec
// says: its config checked against its manifest, its fields bound, its
// lookups read (by their pins, from blobs), its state bound. A worker
// (pl.onWorker) binds no state: only stateless plugins run there, and a
// plugin that keeps state is ordered (the manifest says so).
func (pl *Plan) newValidator(spec project.ValidatorSpec, pg *sandbox.Plugin, blobs blobReader) (*validator, error) {
	job, m := pl.Job, pg.Manifest()
	cfg, err := json.Marshal(orEmpty(spec.Config))
	if err != nil {
		return nil, fmt.Errorf("job %s: %s: config: %w", job.Name, spec.Plugin, err)
	}
	if err := CheckConfig(m, cfg); err != nil {
		return nil, fmt.Errorf("job %s: %s: %w", job.Name, spec.Plugin, err)
	}
	v := &validator{id: m.ID(), plugin: pg, ordered: m.Mode == sandbox.ModeOrdered, log: &pluginLog{},
		icfg: sandbox.InstanceConfig{Config: cfg, Lookup: map[string][]byte{}, AsOf: pl.AsOf, Seed: pl.Seed}}
	if m.State != nil && !pl.onWorker {
		if pl.state == nil {
			return nil, fmt.Errorf("job %s: %s keeps state, and the batch has none loaded (internal error)", job.Name, spec.Plugin)
		}
		v.icfg.State = &nsState{t: pl.state, ns: plugstate.Namespace(m.Name, m.State.StateFormat())}
	}
	for _, f := range m.Fields {
		ptr := f.Pointer
		if b, ok := spec.Fields[f.Name]; ok && b != "" {
			ptr = b
		}
		v.pointers = append(v.pointers, ptr)
	}
	for f := range spec.Fields {
		if m.FieldIndex(f) < 0 {
			return nil, fmt.Errorf("job %s: %s has no field %q to bind (it reads %s)", job.Name, spec.Plugin, f, fieldNames(m))
		}
	}
	for _, l := range m.Lookups {
		file, ok := spec.Lookups[l]
		if !ok {
			return nil, fmt.Errorf("job %s: %s needs the lookup %q: name its file under lookups:", job.Name, spec.Plugin, l)
		}
		b, err := blobs.ReadBlob(pl.Pins[project.CleanRef(file)])
		if err != nil {
			return nil, fmt.Errorf("job %s: %s: lookup %s (%s): %w", job.Name, spec.Plugin, l, file, err)
		}
		v.icfg.Lookup[l] = b
	}
	return v, nil
}

// preload loads the job's plugins in parallel, so that a run waits for the
// slowest compile (or cache read) rather than for their sum. Errors are left
// for loadValidators to meet again, in order, and report.
func preload(ctx context.Context, p *project.Project, rt *sandbox.Runtime, job *project.Job, pins lockfile.Pins) {
	var wg sync.WaitGroup
	for _, spec := range job.Validators {
		pin, ok := pins[lockfile.PluginKey(spec.Plugin)]
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if wasm, err := p.ReadBlob(pin); err == nil {
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

// CheckConfig validates a plugin's config (JSON) against the JSON Schema in
// its manifest, so that a mistake is reported with its pointer before any
// record is read.
func CheckConfig(m *sandbox.Manifest, cfg []byte) error {
	vs, err := ConfigViolations(m, cfg)
	if err != nil {
		return err
	}
	if len(vs) > 0 {
		var msgs []string
		for _, x := range vs {
			msgs = append(msgs, x.String())
		}
		return fmt.Errorf("config does not match the plugin's config schema: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// runValidators runs vs — all stateless (in a worker) or all ordered (in
// the writer, in record order) — over the chunk's records that reached the
// validate stage, each plugin on one call for the whole chunk, and records
// their verdicts. insts holds the caller's instance of each plugin,
// created on first use and replaced after a trap. Every validator sees every
// record that passed the schema, so a record carries the reasons of all of
// them.
func runValidators(ctx context.Context, vs []*validator, insts []checker, items []item, st *stats) error {
	sc := scratchPool.Get().(*validateScratch)
	defer scratchPool.Put(sc)
	sc.rules = sc.rules[:0]
	idx := sc.idx[:0]
	for i := range items {
		if items[i].stage == "" || items[i].stage == finding.StageValidate {
			idx = append(idx, i)
		}
	}
	sc.idx = idx
	if len(idx) == 0 {
		return nil
	}
	before := sc.before[:0] // reasons each record had before this call
	for _, i := range idx {
		before = append(before, len(items[i].reasons))
	}
	sc.before = before
	sc.grow(len(vs))
	for k, v := range vs {
		b := batchFor(v, items, idx, sc.batches[k])
		sc.batches[k] = b
		verdicts, trapped, err := v.call(ctx, &insts[k], b, sc.verdicts[k])
		if err != nil {
			return err
		}
		if trapped == nil {
			sc.verdicts[k] = verdicts // its array, for the next chunk's call
		}
		m := v.plugin.Manifest()
		pf := &sc.findings[k]
		pf.Reset(m, verdicts)
		slab := reasonSlab(items, idx, verdicts, trapped)
		for j, i := range idx {
			it := &items[i]
			if e, ok := trapped[j]; ok {
				it.reasons = append(it.reasons, finding.PluginTrap(m, e))
				continue
			}
			vd := verdicts[j]
			if need := newReasons(vd); need > 0 {
				it.reasons = withRoom(it.reasons, need, &slab)
			}
			for n, r := range vd.Reasons {
				if n == finding.MaxPluginReasons {
					it.reasons = append(it.reasons, finding.PluginReasonsCapped(m, len(vd.Reasons)-n))
					break
				}
				it.reasons = append(it.reasons, pf.Of(r, v.pointerOf(r.FieldIndex)))
			}
			if !vd.OK && len(vd.Reasons) == 0 {
				it.reasons = append(it.reasons, finding.PluginRejected(m))
			}
			for _, rp := range vd.Replacements {
				if rp.FieldIndex < 0 || rp.FieldIndex >= len(m.Fields) {
					return fmt.Errorf("%s replaced field %d of record %d, which it does not declare", v.id, rp.FieldIndex, it.rec.Ordinal)
				}
				if it.v == nil && it.flat != nil {
					// A value replaced in a record the flat path took:
					// the record becomes its decoded value.
					it.v, it.flat = flatValue(it.flat), nil
				}
				if err := setPointer(it.v, v.pointerOf(rp.FieldIndex), replacementValue(rp.Value, m.Fields[rp.FieldIndex].Type)); err != nil {
					return fmt.Errorf("%s replaced %s of record %d: %w", v.id, v.pointerOf(rp.FieldIndex), it.rec.Ordinal, err)
				}
				it.actions = append(it.actions, finding.PluginReplaced(m, v.pointerOf(rp.FieldIndex)))
			}
		}
	}
	for j, i := range idx {
		it := &items[i]
		if len(it.reasons) == before[j] {
			continue
		}
		if it.stage == "" {
			st.rejected[finding.StageValidate]++
			it.stage = finding.StageValidate
		}
		// Each rule once per record: a new reason counts when no reason
		// before it (this stage's or an earlier one's) has its rule. A
		// scan of a few reasons, not a map per quarantined record; the
		// counts go into st's map once a chunk.
		for k := before[j]; k < len(it.reasons); k++ {
			rule := it.reasons[k].Rule
			if !slices.ContainsFunc(it.reasons[:k], func(x finding.Finding) bool { return x.Rule == rule }) {
				sc.count(rule, st)
			}
		}
	}
	for _, c := range sc.rules {
		st.rules[[2]string{finding.StageValidate, c.rule}] += c.n
	}
	sc.rules = sc.rules[:0]
	return nil
}

// ruleCount is how many records of a chunk a rule rejected.
type ruleCount struct {
	rule string
	n    int64
}

// maxCountedRules bounds the rules a chunk counts in its scratch; more
// (a plugin whose rules name each record) go to st's map directly.
const maxCountedRules = 32

// count counts one record rejected by rule.
func (sc *validateScratch) count(rule string, st *stats) {
	for k := range sc.rules {
		if sc.rules[k].rule == rule {
			sc.rules[k].n++
			return
		}
	}
	if len(sc.rules) == maxCountedRules {
		st.rules[[2]string{finding.StageValidate, rule}]++
		return
	}
	sc.rules = append(sc.rules, ruleCount{rule, 1})
}

// newReasons is how many reasons a verdict gives its record.
func newReasons(vd sandbox.Verdict) int {
	switch {
	case len(vd.Reasons) > finding.MaxPluginReasons:
		return finding.MaxPluginReasons + 1 // and PluginReasonsCapped
	case len(vd.Reasons) > 0:
		return len(vd.Reasons)
	case !vd.OK:
		return 1 // PluginRejected
	}
	return 0
}

// reasonSlab is one array for the reasons one plugin call adds to the
// chunk's records, where their reasons have no room left: one allocation
// a call, not one a rejected record.
func reasonSlab(items []item, idx []int, verdicts []sandbox.Verdict, trapped map[int]*sandbox.Error) []finding.Finding {
	size := 0
	for j, i := range idx {
		if _, ok := trapped[j]; ok {
			continue
		}
		rs := items[i].reasons
		if need := newReasons(verdicts[j]); need > cap(rs)-len(rs) {
			size += len(rs) + need
		}
	}
	if size == 0 {
		return nil
	}
	return make([]finding.Finding, size)
}

// withRoom returns rs with room for need more, in the next part of *slab
// when it has none (rs's findings copied there).
func withRoom(rs []finding.Finding, need int, slab *[]finding.Finding) []finding.Finding {
	if cap(rs)-len(rs) >= need {
		return rs
	}
	n := len(rs) + need
	if len(*slab) < n {
		return slices.Grow(rs, need)
	}
	out := (*slab)[:len(rs):n]
	copy(out, rs)
	*slab = (*slab)[n:]
	return out
}

// validateScratch is what runValidators needs for one chunk and can use
// again for the next: the records' indices, each plugin's batch (its
// columns) and verdicts, and the findings of its reasons. Kept in
// scratchPool, so a worker's chunks after the first allocate none of it.
type validateScratch struct {
	idx, before []int
	batches     []*sandbox.Batch
	verdicts    [][]sandbox.Verdict
	findings    []finding.PluginFindings
	rules       []ruleCount
}

var scratchPool = sync.Pool{New: func() any { return new(validateScratch) }}

// grow gives the scratch room for n plugins.
func (sc *validateScratch) grow(n int) {
	for len(sc.batches) < n {
		sc.batches = append(sc.batches, nil)
		sc.verdicts = append(sc.verdicts, nil)
		sc.findings = append(sc.findings, finding.PluginFindings{})
	}
}

// call validates b on the caller's instance. A deterministic trap is
// bisected on fresh instances to find the records that cause it; any other
// failure (a timeout, resource exhaustion, a malformed result) fails the
// batch.
//
// The verdicts are written into dst's array when it has room and the
// call does not trap.
func (v *validator) call(ctx context.Context, inst *checker, b *sandbox.Batch, dst []sandbox.Verdict) ([]sandbox.Verdict, map[int]*sandbox.Error, error) {
	if *inst == nil {
		in, err := v.newChecker(ctx)
		if err != nil {
			return nil, nil, err
		}
		*inst = in
	}
	var verdicts []sandbox.Verdict
	var err error
	if in, ok := (*inst).(*sandbox.Instance); ok {
		verdicts, err = in.ValidateInto(ctx, b, dst)
	} else {
		verdicts, err = (*inst).Validate(ctx, b)
	}
	if err == nil {
		return verdicts, nil, nil
	}
	v.collect(*inst)
	(*inst).Close(ctx)
	*inst = nil // a trapped instance is thrown away
	if !sandbox.IsTrap(err) {
		return nil, nil, err
	}
	if v.ordered {
		return nil, nil, fmt.Errorf("%w: %s is ordered, so the record cannot be set aside without replaying the whole run; fix the plugin or the input", err, v.id)
	}
	res, err := sandbox.Bisect(ctx, v.fresh, nil, b)
	if err != nil {
		return nil, nil, err
	}
	return res.Verdicts, res.Trapped, nil
}

func (v *validator) pointerOf(field int) string {
	if field >= 0 && field < len(v.pointers) {
		return v.pointers[field]
	}
	return ""
}

// batchFor puts the values the plugin reads into columns: the host parsed
// each record once; the guest never sees JSON.
// The batch is made in reuse's columns when they have room.
func batchFor(v *validator, items []item, idx []int, reuse *sandbox.Batch) *sandbox.Batch {
	return columns(v.plugin.Manifest().Fields, v.pointers, items, idx, reuse)
}

// columns is batchFor for the fields, read at pointers.
func columns(fields []sandbox.Field, pointers []string, items []item, idx []int, reuse *sandbox.Batch) *sandbox.Batch {
	b := reuse.Reuse(fields, len(idx))
	b.First = uint64(items[idx[0]].rec.Ordinal - 1)
	toks := make([][]string, len(fields)) // each pointer split once a batch, not once a record
	for f := range fields {
		toks[f] = jsonptr.Split(pointers[f])
	}
	for j, i := range idx {
		if it := &items[i]; it.v == nil && it.flat != nil {
			flatColumns(b, j, fields, toks, it.flat)
			continue
		}
		for f, field := range fields {
			val, ok := jsonptr.Get(items[i].v, toks[f])
			if !ok {
				continue
			}
			switch field.Type {
			case sandbox.TypeNumber:
				if n, ok := val.(json.Number); ok {
					if x, err := n.Float64(); err == nil {
						b.SetNumber(f, j, x)
					}
				}
			case sandbox.TypeString:
				if s, ok := val.(string); ok {
					b.SetString(f, j, s)
				}
			case sandbox.TypeBool:
				if x, ok := val.(bool); ok {
					b.SetBool(f, j, x)
				}
			}
		}
	}
	return b
}

// flatColumns puts the values the plugin reads from a record the flat path
// took (its members ms) into row j of b: what the switch in columns puts
// there from the record's decoded value. A flat record is an object of
// scalars, so a pointer resolves only when it names a member (one token);
// the whole record ("") is an object, which no field reads, and a deeper
// pointer finds a scalar. A number is parsed from its text as
// json.Number.Float64 does, a string is the text between its quotes
// (ScanFlat takes none with an escape), and a member of another kind than
// the field's is left unset, as a missing one is.
func flatColumns(b *sandbox.Batch, j int, fields []sandbox.Field, toks [][]string, ms []records.FlatMember) {
	for f, field := range fields {
		if len(toks[f]) != 1 {
			continue
		}
		key := toks[f][0]
		k := 0
		for k < len(ms) && ms[k].Key != key {
			k++
		}
		if k == len(ms) {
			continue
		}
		m := &ms[k]
		switch {
		case field.Type == sandbox.TypeNumber && m.Kind == records.FlatNumber:
			if x, err := strconv.ParseFloat(m.Value, 64); err == nil {
				b.SetNumber(f, j, x)
			}
		case field.Type == sandbox.TypeString && m.Kind == records.FlatString:
			b.SetString(f, j, m.Value[1:len(m.Value)-1])
		case field.Type == sandbox.TypeBool && m.Kind == records.FlatBool:
			b.SetBool(f, j, m.Value == "true")
		}
	}
}

// setPointer sets (or, for nil, removes) the member ptr names; its parent
// must be an object.
func setPointer(v any, ptr string, val any) error {
	toks := jsonptr.Split(ptr)
	if len(toks) == 0 {
		return fmt.Errorf("cannot replace the whole record")
	}
	parent, ok := jsonptr.Get(v, toks[:len(toks)-1])
	m, isObj := parent.(map[string]any)
	if !ok || !isObj {
		return fmt.Errorf("the parent of %s is not an object", ptr)
	}
	if val == nil {
		delete(m, toks[len(toks)-1])
	} else {
		m[toks[len(toks)-1]] = val
	}
	return nil
}

func replacementValue(x sandbox.Value, t sandbox.FieldType) any {
	switch {
	case x.Absent:
		return nil
	case t == sandbox.TypeString:
		return x.Str
	case t == sandbox.TypeBool:
		return x.Bool
	}
	return json.Number(strconv.FormatFloat(x.Num, 'g', -1, 64))
}
