package policies

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"
)

// TestResult is one Rego test case.
type TestResult struct {
	Package  string        `json:"package"` // e.g. "data.pawl.egress_test"
	Name     string        `json:"name"`    // e.g. "test_denies_uncommitted_batch"
	File     string        `json:"file"`
	Line     int           `json:"line"`
	Pass     bool          `json:"pass"`
	Fail     bool          `json:"fail,omitempty"`  // evaluated to false or undefined
	Error    string        `json:"error,omitempty"` // evaluation error
	Skip     bool          `json:"skip,omitempty"`  // todo_test_...
	Duration time.Duration `json:"duration_ns"`
	Output   string        `json:"output,omitempty"` // print() output
}

// FileCoverage is the coverage of one Rego file.
type FileCoverage struct {
	Coverage float64 `json:"coverage"` // percent of lines with an expression
	// NotCovered lists the line ranges never evaluated, as "12" or "12-14".
	NotCovered []string `json:"not_covered,omitempty"`
}

// TestReport is what `pawl policy test` prints.
type TestReport struct {
	Bundle  BundleInfo   `json:"bundle"`
	Results []TestResult `json:"results"`
	Passed  int          `json:"passed"`
	Failed  int          `json:"failed"`
	Errored int          `json:"errored"`
	Skipped int          `json:"skipped"`
	// Coverage is the percent of lines of the production modules (tests
	// excluded) evaluated by the tests; 0 unless coverage was asked for.
	Coverage float64                 `json:"coverage,omitempty"`
	Files    map[string]FileCoverage `json:"files,omitempty"`
}

// OK reports whether every test passed (and at least one ran).
func (r TestReport) OK() bool {
	return r.Failed == 0 && r.Errored == 0 && r.Passed > 0
}

// String renders the report like `opa test`: one line per failing test, a
// summary, and the coverage when measured.
func (r TestReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bundle revision %s (%s)\n", r.Bundle.Revision, r.Bundle.SHA256)
	for _, t := range r.Results {
		switch {
		case t.Error != "":
			fmt.Fprintf(&b, "ERROR %s.%s (%s:%d): %s\n", t.Package, t.Name, t.File, t.Line, t.Error)
		case t.Fail:
			fmt.Fprintf(&b, "FAIL  %s.%s (%s:%d)\n", t.Package, t.Name, t.File, t.Line)
		case t.Skip:
			fmt.Fprintf(&b, "SKIP  %s.%s\n", t.Package, t.Name)
		}
	}
	fmt.Fprintf(&b, "PASS: %d/%d", r.Passed, len(r.Results))
	if r.Failed > 0 {
		fmt.Fprintf(&b, "  FAIL: %d", r.Failed)
	}
	if r.Errored > 0 {
		fmt.Fprintf(&b, "  ERROR: %d", r.Errored)
	}
	if r.Skipped > 0 {
		fmt.Fprintf(&b, "  SKIPPED: %d", r.Skipped)
	}
	b.WriteByte('\n')
	if r.Files != nil {
		fmt.Fprintf(&b, "coverage: %.1f%%\n", r.Coverage)
		names := make([]string, 0, len(r.Files))
		for n := range r.Files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			f := r.Files[n]
			fmt.Fprintf(&b, "  %-40s %5.1f%%", n, f.Coverage)
			if len(f.NotCovered) > 0 {
				fmt.Fprintf(&b, "  not covered: %s", strings.Join(f.NotCovered, ","))
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Test runs the Rego unit tests (rules named test_*) of the bundle in dir,
// like `opa test`, but with the production capabilities: a module or test
// that calls a removed builtin (time.now_ns, http.send, ...) fails to load
// and Test returns that error. The bundle's data (with the derived egress
// index) is loaded as in production. A signature, if present, is not
// checked (Test is a development tool; LoadBundle/VerifyBundle check it).
// The error is about loading and compiling; failing tests are in the report
// (check OK()).
func Test(dir string, coverage bool) (TestReport, error) {
	b, err := LoadBundle(dir, LoadOptions{})
	if err != nil {
		return TestReport{}, err
	}
	return runTests(context.Background(), b, coverage)
}

func runTests(ctx context.Context, b *Bundle, coverage bool) (TestReport, error) {
	rep := TestReport{Bundle: b.Info, Results: []TestResult{}}
	compiler := ast.NewCompiler().
		WithCapabilities(Capabilities()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(true)
	store := newStore(b.data)
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(b.modules).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(true).
		SetDefaultRegoVersion(ast.RegoV1).
		SetTimeout(30 * time.Second)
	var cov *cover.Cover
	if coverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov).SetCoverageRuns(nil)
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("policies: bundle %s: %w", b.source, err)
	}
	for r := range ch {
		t := TestResult{
			Package:  r.Package,
			Name:     r.Name,
			Fail:     r.Fail,
			Skip:     r.Skip,
			Duration: r.Duration,
			Output:   string(r.Output),
		}
		if r.Location != nil {
			t.File, t.Line = strings.TrimPrefix(r.Location.File, "/"), r.Location.Row
		}
		if r.Error != nil {
			t.Error = r.Error.Error()
		}
		t.Pass = r.Pass()
		switch {
		case t.Error != "":
			rep.Errored++
		case t.Fail:
			rep.Failed++
		case t.Skip:
			rep.Skipped++
		default:
			rep.Passed++
		}
		rep.Results = append(rep.Results, t)
	}
	sort.Slice(rep.Results, func(i, j int) bool {
		a, c := rep.Results[i], rep.Results[j]
		if a.Package != c.Package {
			return a.Package < c.Package
		}
		return a.Name < c.Name
	})
	if cov != nil {
		// Report by the file names the evaluator saw (module locations),
		// and count only production modules: a test covering itself is
		// not coverage.
		prod := map[string]*ast.Module{}
		for p, m := range b.productionModules() {
			name := p
			if m.Package != nil && m.Package.Location != nil {
				name = m.Package.Location.File
			}
			prod[name] = m
		}
		cr := cov.Report(prod)
		rep.Files = map[string]FileCoverage{}
		var covered, notCovered int
		for name, fr := range cr.Files {
			if _, ok := prod[name]; !ok {
				continue
			}
			covered += fr.CoveredLines
			notCovered += fr.NotCoveredLines
			fc := FileCoverage{Coverage: fr.Coverage}
			for _, rg := range fr.NotCovered {
				if rg.Start.Row == rg.End.Row {
					fc.NotCovered = append(fc.NotCovered, fmt.Sprint(rg.Start.Row))
				} else {
					fc.NotCovered = append(fc.NotCovered, fmt.Sprintf("%d-%d", rg.Start.Row, rg.End.Row))
				}
			}
			rep.Files[strings.TrimPrefix(name, "/")] = fc
		}
		if covered+notCovered > 0 {
			rep.Coverage = 100 * float64(covered) / float64(covered+notCovered)
		}
	}
	return rep, nil
}

// EvalResult is what `pawl policy eval` prints.
type EvalResult struct {
	Bundle BundleInfo `json:"bundle"`
	Query  string     `json:"query"`
	// Defined is false when the query has no value for the input.
	Defined bool `json:"defined"`
	// Result is the query's value (canonical JSON), null when undefined.
	Result json.RawMessage `json:"result"`
	// Explain, when asked for, is a readable trace: each expression that
	// failed and the rule it belongs to, with file:line, which is why a
	// decision denied ("fails" trace); Trace is the full evaluation trace.
	Explain string `json:"explain,omitempty"`
	Trace   string `json:"trace,omitempty"`
}

// Eval evaluates query (e.g. "data.pawl.egress.decision") against the
// bundle in dir with input, with the production capabilities, the way a
// compliance officer asks "what would the policy say, and why". The input
// is used as given: for a decision kind, pass it through PrepareInput
// first to see exactly what Decide would evaluate (the CLI does this when
// the query is a kind's decision). With explain, the result carries the
// failed expressions (Explain) and the full trace (Trace).
func Eval(dir, query string, input any, explain bool) (EvalResult, error) {
	b, err := LoadBundle(dir, LoadOptions{})
	if err != nil {
		return EvalResult{}, err
	}
	return evalBundle(context.Background(), b, query, input, explain)
}

func evalBundle(ctx context.Context, b *Bundle, query string, input any, explain bool) (EvalResult, error) {
	res := EvalResult{Bundle: b.Info, Query: query, Result: json.RawMessage("null")}
	compiler, err := compileModules(b.productionModules())
	if err != nil {
		return res, fmt.Errorf("policies: bundle %s: %v", b.source, err)
	}
	opts := []func(*rego.Rego){
		rego.Query(query),
		rego.Compiler(compiler),
		rego.Store(newStore(b.data)),
		rego.Capabilities(Capabilities()),
		rego.StrictBuiltinErrors(true),
		rego.SetRegoVersion(ast.RegoV1),
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return res, fmt.Errorf("policies: query %q: %w", query, err)
	}
	var evalOpts []rego.EvalOption
	if input != nil {
		raw, err := toJSON(input)
		if err != nil {
			return res, fmt.Errorf("policies: input: %w", err)
		}
		val, err := ast.ValueFromReader(bytes.NewReader(raw))
		if err != nil {
			return res, fmt.Errorf("policies: input: %w", err)
		}
		evalOpts = append(evalOpts, rego.EvalParsedInput(val))
		var hdr struct {
			Time string `json:"time"`
		}
		if json.Unmarshal(raw, &hdr) == nil {
			if t, err := time.Parse(time.RFC3339Nano, hdr.Time); err == nil {
				evalOpts = append(evalOpts, rego.EvalTime(t))
			}
		}
	}
	evalOpts = append(evalOpts, rego.EvalSeed(zeroReader{}))
	var buf *topdown.BufferTracer
	if explain {
		buf = topdown.NewBufferTracer()
		evalOpts = append(evalOpts, rego.EvalQueryTracer(buf))
	}
	rs, err := pq.Eval(ctx, evalOpts...)
	if buf != nil {
		var fails, full bytes.Buffer
		topdown.PrettyTraceWithLocation(&fails, lineage.Fails(*buf))
		topdown.PrettyTraceWithLocation(&full, *buf)
		res.Explain, res.Trace = fails.String(), full.String()
	}
	if err != nil {
		return res, fmt.Errorf("policies: query %q: %w", query, err)
	}
	if len(rs) > 0 && len(rs[0].Expressions) > 0 {
		res.Defined = true
		if rb, err := encodeCanonical(rs[0].Expressions[0].Value); err == nil {
			res.Result = rb
		}
	}
	return res, nil
}

// ReadInputFile reads a JSON input file for Eval or Decide (a convenience
// for the CLI's --input flag).
func ReadInputFile(path string) (json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("policies: input file %s is not valid JSON", path)
	}
	return b, nil
}
