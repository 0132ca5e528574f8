package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The official JSON-Schema-Test-Suite, copied into the repository (see its
// SOURCE file) because tests must run air-gapped.
const suiteDir = "../../testdata/json-schema-test-suite"

// suiteSchemaURL is where each test group's schema is served. The .test TLD
// is reserved, so the URL can never name a real host.
const suiteSchemaURL = "http://pawl.test/suite/schema.json"

type suiteGroup struct {
	Description string
	Schema      json.RawMessage
	Tests       []struct {
		Description string
		Data        json.RawMessage
		Valid       bool
	}
}

// decodeNumbers decodes like pawl's record decoder: numbers stay json.Number.
func decodeNumbers(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// suiteLoader serves the group's schema and maps http://localhost:1234/ to
// the suite's remotes directory; every other URL fails, as it would in an
// air-gapped site.
func suiteLoader(schema any) func(string) (any, error) {
	return func(u string) (any, error) {
		if u == suiteSchemaURL {
			return schema, nil
		}
		if rest, ok := strings.CutPrefix(u, "http://localhost:1234/"); ok {
			data, err := os.ReadFile(filepath.Join(suiteDir, "remotes", filepath.FromSlash(rest)))
			if err != nil {
				return nil, err
			}
			return DecodeJSON(data)
		}
		return nil, fmt.Errorf("%s is not served by the test suite (no network)", u)
	}
}

// suiteCase names one test of the suite the way the suite does: the file
// (relative to tests/draft2020-12), the group's description and the test's.
type suiteCase struct {
	File, Group, Test string
}

func (c suiteCase) String() string { return fmt.Sprintf("%s: %s / %s", c.File, c.Group, c.Test) }

// How a case failed.
type failure int

const (
	passed       failure = iota
	notCompiled          // the group's schema did not compile
	validRefused         // the suite says valid, pawl reported violations
	invalidTaken         // the suite says invalid, pawl reported none
)

func (f failure) String() string {
	return [...]string{"passed", "schema refused at compile time", "valid instance refused", "invalid instance accepted"}[f]
}

type caseResult struct {
	suiteCase
	failure failure
	detail  string // the compile error or the violations
}

// coverage counts the suite's test groups by how much of their schema the
// compiled path checks.
type coverage struct {
	full, partial, library int // compiled entirely; some nodes left to the library; all left to it
	cases                  int // cases both paths ran on
	flat                   int // cases ValidFlat decided (objects of scalars)
}

func (c coverage) String() string {
	return fmt.Sprintf("%d groups compiled fully, %d partly (some schemas checked by the library), %d left to the library; %d cases checked on both paths, %d by ValidFlat too",
		c.full, c.partial, c.library, c.cases, c.flat)
}

// runSuiteFile runs one test file through CompileURL and Validate, the same
// path Compile uses after it has read the file, and returns every case.
//
// Every case runs on both paths — Validate as pawl runs it (the compiled
// path deciding, when the schema has one) and the library alone — which
// must return exactly the same violations; and the compiled path's own
// verdict must be the library's. cov counts the groups by coverage.
func runSuiteFile(t *testing.T, path string, opts Options, cov *coverage) []caseResult {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var groups []suiteGroup
	if err := json.Unmarshal(data, &groups); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	rel, _ := filepath.Rel(filepath.Join(suiteDir, "tests", "draft2020-12"), path)
	rel = filepath.ToSlash(rel)
	var res []caseResult
	for _, g := range groups {
		schemaDoc, err := decodeNumbers(g.Schema)
		if err != nil {
			t.Fatalf("%s: %s: schema: %v", rel, g.Description, err)
		}
		o := opts
		o.Load = suiteLoader(schemaDoc)
		s, cerr := CompileURL(suiteSchemaURL, o)
		var lib *Schema // the same schema, every record to the library
		if cerr == nil {
			l := *s
			l.fast = nil
			lib = &l
			switch {
			case s.fast == nil:
				cov.library++
			case s.falls > 0:
				cov.partial++
			default:
				cov.full++
			}
		}
		for _, tc := range g.Tests {
			r := caseResult{suiteCase: suiteCase{rel, g.Description, tc.Description}}
			switch {
			case cerr != nil:
				r.failure, r.detail = notCompiled, cerr.Error()
			default:
				inst, err := decodeNumbers(tc.Data)
				if err != nil {
					t.Fatalf("%s: data: %v", r.suiteCase, err)
				}
				vs := s.Validate(inst)
				cov.cases++
				if want := lib.Validate(inst); !reflect.DeepEqual(vs, want) {
					t.Errorf("%s: the compiled path returns\n%s\nthe library alone\n%s", r.suiteCase, dump(vs), dump(want))
				}
				if checkFlat(t, s, lib, inst, r.suiteCase.String) {
					cov.flat++
				}
				if bad, foreign := scanRecord(inst); s.fast != nil && !bad && !foreign {
					if got, want := s.fast.valid(inst), s.sch.Validate(inst) == nil; got != want {
						t.Errorf("%s: the compiled path says valid=%v, the library valid=%v", r.suiteCase, got, want)
					}
				}
				switch {
				case (vs == nil) == tc.Valid:
				case tc.Valid:
					r.failure, r.detail = validRefused, fmt.Sprint(vs)
				default:
					r.failure = invalidTaken
				}
			}
			res = append(res, r)
		}
	}
	return res
}

func suiteFiles(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(suiteDir, "tests", "draft2020-12", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no suite files match %s under %s (err %v)", pattern, suiteDir, err)
	}
	slices.Sort(files)
	return files
}

// runSuite runs every file that matches pattern.
func runSuite(t *testing.T, pattern string, opts Options, cov *coverage) []caseResult {
	t.Helper()
	var all []caseResult
	for _, f := range suiteFiles(t, pattern) {
		all = append(all, runSuiteFile(t, f, opts, cov)...)
	}
	return all
}

// exemption is a required case that pawl's own configuration fails on
// purpose: the failure it must fail with, and why.
type exemption struct {
	suiteCase
	fails failure
	why   string
}

const (
	whyAsserted = "the suite's format.json treats formats as annotations (the draft 2020-12 default); " +
		"pawl asserts them, so this invalid string is a violation"
	whyUncheckable = "the suite's format.json expects an unknown-to-the-validator format to be ignored; " +
		"pawl refuses at compile time a format it cannot check (the library implements no idn-email " +
		"or idn-hostname check), rather than let a contract silently check nothing"
)

// exemptions lists, one by one, every required test of draft 2020-12 that
// pawl's configuration (format asserted, exactly as Compile runs it) fails.
// A case fails the test if it fails and is not listed here, if it fails
// another way than listed, or if it is listed and passes: the list says
// exactly what pawl does not conform to, never more.
var exemptions = []exemption{
	// format.json: an invalid string of each format "is only an annotation by default".
	{suiteCase{"format.json", "email format", "invalid email string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "regex format", "invalid regex string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "ipv4 format", "invalid ipv4 string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "ipv6 format", "invalid ipv6 string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "hostname format", "invalid hostname string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "date format", "invalid date string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "date-time format", "invalid date-time string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "time format", "invalid time string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "json-pointer format", "invalid json-pointer string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "relative-json-pointer format", "invalid relative-json-pointer string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "iri format", "invalid iri string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "iri-reference format", "invalid iri-reference string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "uri format", "invalid uri string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "uri-reference format", "invalid uri-reference string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "uri-template format", "invalid uri-template string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "uuid format", "invalid uuid string is only an annotation by default"}, validRefused, whyAsserted},
	{suiteCase{"format.json", "duration format", "invalid duration string is only an annotation by default"}, validRefused, whyAsserted},

	// format.json: idn-email and idn-hostname, which pawl cannot check, so their schemas never compile.
	{suiteCase{"format.json", "idn-email format", "all string formats ignore integers"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-email format", "all string formats ignore floats"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-email format", "all string formats ignore objects"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-email format", "all string formats ignore arrays"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-email format", "all string formats ignore booleans"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-email format", "all string formats ignore nulls"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-email format", "invalid idn-email string is only an annotation by default"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-hostname format", "all string formats ignore integers"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-hostname format", "all string formats ignore floats"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-hostname format", "all string formats ignore objects"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-hostname format", "all string formats ignore arrays"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-hostname format", "all string formats ignore booleans"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-hostname format", "all string formats ignore nulls"}, notCompiled, whyUncheckable},
	{suiteCase{"format.json", "idn-hostname format", "invalid idn-hostname string is only an annotation by default"}, notCompiled, whyUncheckable},
}

// checkExemptions fails t for every case that fails without being listed
// (or fails another way than listed), for every listed case that passes,
// and for every listed case the suite does not have. It returns how many
// cases passed.
func checkExemptions(t *testing.T, results []caseResult, listed []exemption) (pass int) {
	t.Helper()
	want := map[suiteCase]exemption{}
	for _, e := range listed {
		if _, dup := want[e.suiteCase]; dup {
			t.Errorf("%s is listed twice", e.suiteCase)
		}
		want[e.suiteCase] = e
	}
	seen := map[suiteCase]bool{}
	for _, r := range results {
		seen[r.suiteCase] = true
		e, exempt := want[r.suiteCase]
		switch {
		case r.failure == passed && !exempt:
			pass++
		case r.failure == passed:
			t.Errorf("%s: passes now; remove its exemption (%s)", r.suiteCase, e.why)
		case !exempt:
			t.Errorf("%s: %s: %s", r.suiteCase, r.failure, r.detail)
		case r.failure != e.fails:
			t.Errorf("%s: exempted as %q, but failed as %q: %s", r.suiteCase, e.fails, r.failure, r.detail)
		}
	}
	for _, e := range listed {
		if !seen[e.suiteCase] {
			t.Errorf("%s: exempted, but the suite has no such case (renamed or removed upstream?)", e.suiteCase)
		}
	}
	return pass
}

// TestOfficialSuite runs JSON-Schema-Test-Suite draft 2020-12 through pawl's
// schema stage: CompileURL + Validate with everything as Compile sets it
// (default draft 2020-12, format asserted, unknown formats refused, pawl's
// decoder's json.Number instances, strict loading, the Violation
// flattening).
//
//   - required: every tests/draft2020-12/*.json in pawl's configuration.
//     Every case must pass except the ones in exemptions, each named and
//     explained; a listed case that passes fails the test too.
//   - required-format-annotation: the same files with FormatAnnotation, the
//     knob the suite's required tests assume. Every case must pass, which
//     shows that format assertion, and nothing else, explains the
//     exemptions.
//   - optional-format: with format asserted, as pawl runs. Counts and
//     failures are logged (-v), never fatal. unknown.json is expected to
//     fail: pawl refuses unknown format names rather than ignore them.
//   - optional-other: logged for information, with FormatAnnotation as the
//     suite's optional non-format tests assume annotation only.
func TestOfficialSuite(t *testing.T) {
	t.Run("required", func(t *testing.T) {
		var cov coverage
		results := runSuite(t, "*.json", Options{}, &cov)
		t.Logf("required, pawl's configuration: %s", cov)
		if cov.flat < 100 {
			t.Errorf("ValidFlat decided %d cases of the suite; the differential check of the flat path needs more", cov.flat)
		}
		pass := checkExemptions(t, results, exemptions)
		t.Logf("required, pawl's configuration (format asserted): %d/%d pass; %d exempted, each listed in suite_test.go",
			pass, len(results), len(exemptions))
		// The documents that state the count must state this one.
		count := fmt.Sprintf("%d of %d", pass, len(results))
		for _, doc := range []string{"doc.go", "../../docs/architecture.md"} {
			if b, err := os.ReadFile(doc); err != nil || !strings.Contains(strings.Join(strings.Fields(string(b)), " "), count) {
				t.Errorf("%s does not say %q (the count of required tests that pass in pawl's configuration): %v", doc, count, err)
			}
		}
	})

	t.Run("required-format-annotation", func(t *testing.T) {
		var cov coverage
		results := runSuite(t, "*.json", Options{FormatAnnotation: true}, &cov)
		t.Logf("required, format as annotation: %s", cov)
		pass := checkExemptions(t, results, nil)
		t.Logf("required, format as annotation: %d/%d pass", pass, len(results))
	})

	logOptional := func(t *testing.T, pattern string, opts Options) {
		var pass, total int
		var failed []caseResult
		var cov coverage
		defer func() { t.Logf("%s: %s", pattern, cov) }()
		for _, f := range suiteFiles(t, pattern) {
			rs := runSuiteFile(t, f, opts, &cov)
			p := 0
			for _, r := range rs {
				if r.failure == passed {
					p++
				} else {
					failed = append(failed, r)
				}
			}
			t.Logf("  %-40s %3d passed, %3d failed", filepath.Base(f), p, len(rs)-p)
			pass, total = pass+p, total+len(rs)
		}
		t.Logf("%s: %d/%d pass", pattern, pass, total)
		for _, r := range failed {
			t.Logf("  FAIL %s: %s %s", r.suiteCase, r.failure, r.detail)
		}
	}
	t.Run("optional-format", func(t *testing.T) { logOptional(t, "optional/format/*.json", Options{}) })
	t.Run("optional-other", func(t *testing.T) { logOptional(t, "optional/*.json", Options{FormatAnnotation: true}) })
}
