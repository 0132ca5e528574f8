// Package pdktest runs a plugin module in pawl's real sandbox without a
// project: load the .wasm, build a batch from JSON records, read the
// verdicts. `pawl plugin test` is this package behind a command; a plugin
// author's `go test` can call it directly:
//
//	p, err := pdktest.Load(ctx, wasm)
//	defer p.Close(ctx)
//	out, err := p.Run(ctx, pdktest.Options{}, []byte(`{"device_id": " "}`))
//	// out[0].Verdict.OK, out[0].Verdict.Reasons[0].Rule, ...
//
// Records reach the plugin as they do in a run: each field the manifest
// declares is read at its JSON pointer, a value of another type (or null)
// is absent, strings are NFC. The records of one Run are one batch, fed to
// one fresh instance in order (as an ordered plugin sees them); a record
// that makes a stateless plugin trap is found by the host's own bisection
// and reported with the rule "<plugin>/plugin.trap", as a run quarantines
// it; a trap of an ordered plugin fails the Run, as it fails a batch.
// What pdktest does not do: the stages before the plugins (the job's
// schema, the Unicode profile), and checking the config against the
// manifest's config_schema (the plugin's own init still checks it).
//
// Case files (ReadCases) are JSON Lines, one case a line:
//
//	{"record": {"device_id": "  "}, "expect": "quarantined", "rules": ["notblank.blank"]}
//	{"record": {"device_id": "d-1"}, "expect": "verified"}
//
// docs/plugin-how-to.md describes the format.
package pdktest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine/jsonptr"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"golang.org/x/text/unicode/norm"
)

// AsOf is the as-of time Options uses when it gives none.
var AsOf = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Plugin is a module loaded in a sandbox runtime of its own.
type Plugin struct {
	rt *sandbox.Runtime
	p  *sandbox.Plugin
}

// Load checks and compiles wasm (its manifest, imports and exports, as
// `pawl plugin add` does), in memory.
func Load(ctx context.Context, wasm []byte) (*Plugin, error) {
	rt, err := sandbox.NewRuntime(ctx, sandbox.Config{})
	if err != nil {
		return nil, err
	}
	p, err := rt.Load(ctx, wasm, sandbox.Pin(wasm))
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &Plugin{rt: rt, p: p}, nil
}

// Manifest is the module's embedded manifest.
func (p *Plugin) Manifest() *sandbox.Manifest { return p.p.Manifest() }

// Pin is the module's sha256 pin.
func (p *Plugin) Pin() string { return p.p.Pin() }

// Close releases the compiled module.
func (p *Plugin) Close(ctx context.Context) error { return p.rt.Close(ctx) }

// Options is what an instance starts from besides the module.
type Options struct {
	Config []byte            // the plugin's config (JSON); empty means {}
	Lookup map[string][]byte // the lookup files the manifest names
	AsOf   time.Time         // zero: AsOf
	Seed   uint64            // zero: 1
}

// Outcome is the plugin's judgement of one record. A record that made the
// plugin trap has a single reason, "<plugin>/plugin.trap", saying how.
type Outcome struct {
	Verdict sandbox.Verdict
	Trapped bool
}

// Rules are the rules of the outcome's reasons, in order.
func (o Outcome) Rules() []string {
	var r []string
	for _, x := range o.Verdict.Reasons {
		r = append(r, x.Rule)
	}
	return r
}

// Run judges records (JSON objects) as one batch on a fresh instance. It
// fails when a record is not JSON, when the plugin refuses its config
// (init), or when the batch fails as it would fail a run (a timeout, a
// malformed result, a trap on every record).
func (p *Plugin) Run(ctx context.Context, o Options, records ...[]byte) ([]Outcome, error) {
	m := p.p.Manifest()
	b, err := NewBatch(m.Fields, records...)
	if err != nil {
		return nil, err
	}
	ic := sandbox.InstanceConfig{Config: o.Config, Lookup: o.Lookup, AsOf: o.AsOf, Seed: o.Seed}
	if len(bytes.TrimSpace(ic.Config)) == 0 {
		ic.Config = []byte("{}")
	}
	if ic.AsOf.IsZero() {
		ic.AsOf = AsOf
	}
	if ic.Seed == 0 {
		ic.Seed = 1
	}
	if ic.Lookup == nil {
		ic.Lookup = map[string][]byte{}
	}
	fresh := func(ctx context.Context) (*sandbox.Instance, error) {
		if m.State != nil {
			ic.State = sandbox.NewMemState()
		}
		return p.p.NewInstance(ctx, ic)
	}
	in, err := fresh(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Outcome, b.N)
	v, err := in.Validate(ctx, b)
	in.Close(ctx)
	if sandbox.IsTrap(err) && m.Mode == sandbox.ModeOrdered {
		// As in a run: an ordered plugin's record cannot be set aside
		// without replaying everything before it, so the batch fails.
		return nil, fmt.Errorf("%w: %s is ordered, so the record cannot be set aside; fix the plugin or the input", err, m.ID())
	} else if sandbox.IsTrap(err) {
		res, berr := sandbox.Bisect(ctx, fresh, nil, b)
		if berr != nil {
			return nil, berr
		}
		v = res.Verdicts
		for i, e := range res.Trapped {
			out[i].Trapped = true
			v[i] = sandbox.Verdict{Reasons: []sandbox.Reason{{Rule: m.Name + "/plugin.trap", FieldIndex: -1,
				Message: fmt.Sprintf("the plugin trapped on this record and it was set aside: %v", e)}}}
		}
	} else if err != nil {
		return nil, err
	}
	if b.N > 0 && len(v) != b.N {
		return nil, fmt.Errorf("%s: %d verdicts for %d records", m.ID(), len(v), b.N)
	}
	for i := range v {
		out[i].Verdict = v[i]
	}
	return out, nil
}

// NewBatch puts the values fields read from records (JSON objects) into
// the columns a plugin receives, as the host does in a run.
func NewBatch(fields []sandbox.Field, records ...[]byte) (*sandbox.Batch, error) {
	b := sandbox.NewBatch(fields, len(records))
	for i, rec := range records {
		v, err := decode(rec)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i+1, err)
		}
		for j, f := range fields {
			val, ok := jsonptr.Get(v, jsonptr.Split(f.Pointer))
			if !ok {
				continue
			}
			switch f.Type {
			case sandbox.TypeNumber:
				if n, ok := val.(json.Number); ok {
					if x, err := n.Float64(); err == nil && !math.IsInf(x, 0) {
						b.SetNumber(j, i, x)
					}
				}
			case sandbox.TypeString:
				if s, ok := val.(string); ok {
					b.SetString(j, i, norm.NFC.String(s))
				}
			case sandbox.TypeBool:
				if x, ok := val.(bool); ok {
					b.SetBool(j, i, x)
				}
			}
		}
	}
	return b, nil
}

func decode(rec []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(rec))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("not one JSON value: something follows it")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("not a JSON object")
	}
	return v, nil
}

// Expectations of a case.
const (
	Verified    = "verified"
	Quarantined = "quarantined"
)

// Case is one line of a case file: a record and what the plugin must say
// of it. Rules, when given (only with "quarantined"), are the rules of the
// record's reasons, exactly and in order.
type Case struct {
	Line   int             `json:"-"`
	Name   string          `json:"name,omitempty"`
	Record json.RawMessage `json:"record"`
	Expect string          `json:"expect"`
	Rules  []string        `json:"rules,omitempty"`
}

// ReadCases reads a case file: one JSON object a line (blank lines are
// skipped), with the keys record, expect and optionally rules and name;
// any other key is refused. name is used in errors ("cases.jsonl").
func ReadCases(r io.Reader, name string) ([]Case, error) {
	var cs []Case
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var c Case
		d := json.NewDecoder(bytes.NewReader(text))
		d.DisallowUnknownFields()
		if err := d.Decode(&c); err != nil {
			return nil, fmt.Errorf("%s:%d: %v; a case is {\"record\": {…}, \"expect\": \"verified\"|\"quarantined\", \"rules\": [\"…\"]}", name, line, err)
		}
		if _, err := d.Token(); err != io.EOF {
			return nil, fmt.Errorf("%s:%d: one case a line: something follows the case's object", name, line)
		}
		c.Line = line
		switch {
		case len(c.Record) == 0 || bytes.Equal(c.Record, []byte("null")):
			return nil, fmt.Errorf("%s:%d: the case has no \"record\": give the record the plugin judges", name, line)
		case c.Expect != Verified && c.Expect != Quarantined:
			return nil, fmt.Errorf("%s:%d: \"expect\" is %q: say \"verified\" or \"quarantined\"", name, line, c.Expect)
		case c.Expect == Verified && len(c.Rules) > 0:
			return nil, fmt.Errorf("%s:%d: a verified record breaks no rules: drop \"rules\" or expect \"quarantined\"", name, line)
		}
		if _, err := decode(c.Record); err != nil {
			return nil, fmt.Errorf("%s:%d: record: %v", name, line, err)
		}
		cs = append(cs, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%s holds no cases: write one JSON object a line", name)
	}
	return cs, nil
}

// Result is a case and what the plugin said.
type Result struct {
	Case    Case
	Outcome Outcome
	// Failure says how the outcome differs from the expectation; empty
	// when the case passes.
	Failure string
}

// RunCases runs the cases' records as one batch and compares each outcome
// with its case.
func (p *Plugin) RunCases(ctx context.Context, o Options, cases []Case) ([]Result, error) {
	recs := make([][]byte, len(cases))
	for i, c := range cases {
		recs[i] = c.Record
	}
	outs, err := p.Run(ctx, o, recs...)
	if err != nil {
		return nil, err
	}
	res := make([]Result, len(cases))
	for i, c := range cases {
		r := Result{Case: c, Outcome: outs[i]}
		got := outs[i].Rules()
		switch {
		case c.Expect == Verified && !outs[i].Verdict.OK:
			r.Failure = "expected verified, quarantined by " + strings.Join(got, ", ")
		case c.Expect == Quarantined && outs[i].Verdict.OK:
			r.Failure = "expected quarantined, verified"
		case c.Expect == Quarantined && len(c.Rules) > 0 && !slices.Equal(got, c.Rules):
			r.Failure = fmt.Sprintf("expected the rules %s, got %s", strings.Join(c.Rules, ", "), strings.Join(got, ", "))
		}
		res[i] = r
	}
	return res, nil
}
