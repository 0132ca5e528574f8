package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

type suiteResult struct {
	passed, failed int
	failures       []string // "file: group / test: reason"
}

// runSuiteFile runs one test file through CompileURL and Validate, the same
// path Compile uses after it has read the file.
func runSuiteFile(t *testing.T, path string, opts Options) suiteResult {
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
	var res suiteResult
	for _, g := range groups {
		schemaDoc, err := decodeNumbers(g.Schema)
		if err != nil {
			t.Fatalf("%s: %s: schema: %v", rel, g.Description, err)
		}
		o := opts
		o.Load = suiteLoader(schemaDoc)
		s, cerr := CompileURL(suiteSchemaURL, o)
		for _, tc := range g.Tests {
			id := fmt.Sprintf("%s: %s / %s", rel, g.Description, tc.Description)
			if cerr != nil {
				res.failed++
				res.failures = append(res.failures, fmt.Sprintf("%s: compile: %v", id, cerr))
				continue
			}
			inst, err := decodeNumbers(tc.Data)
			if err != nil {
				t.Fatalf("%s: data: %v", id, err)
			}
			vs := s.Validate(inst)
			if (vs == nil) == tc.Valid {
				res.passed++
				continue
			}
			res.failed++
			if tc.Valid {
				res.failures = append(res.failures, fmt.Sprintf("%s: want valid, got %v", id, vs))
			} else {
				res.failures = append(res.failures, fmt.Sprintf("%s: want invalid, got valid", id))
			}
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

// TestOfficialSuite runs JSON-Schema-Test-Suite draft 2020-12 through pawl's
// schema stage.
//
// "pawl's schema stage" means CompileURL + Validate with everything as
// Compile sets it: default draft 2020-12, pawl's decoder's json.Number
// instances, strict loading, the Violation flattening. Only one knob differs
// between runs, format assertion, because the suite itself splits on it:
//
//   - required: every tests/draft2020-12/*.json with FormatAnnotation, since
//     the required tests (format.json) assert that draft 2020-12 "format" is
//     annotation-only. Every test must pass.
//   - required, pawl's configuration: the same files with format asserted,
//     exactly as Compile runs. Only format.json may disagree (by design);
//     anything else failing means assertion mode broke conformance.
//   - optional/format: with format asserted, as pawl runs. Counts and
//     failures are logged (-v), never fatal. unknown.json is expected to
//     fail: pawl refuses unknown format names rather than ignore them.
//   - other optional files: logged for information, with FormatAnnotation
//     as the suite's optional non-format tests assume annotation only.
func TestOfficialSuite(t *testing.T) {
	t.Run("required", func(t *testing.T) {
		total := suiteResult{}
		for _, f := range suiteFiles(t, "*.json") {
			r := runSuiteFile(t, f, Options{FormatAnnotation: true})
			total.passed += r.passed
			total.failed += r.failed
			for _, msg := range r.failures {
				t.Error(msg)
			}
		}
		t.Logf("required (format as annotation): %d passed, %d failed", total.passed, total.failed)
	})

	t.Run("required-format-asserted", func(t *testing.T) {
		total := suiteResult{}
		byDesign := 0
		for _, f := range suiteFiles(t, "*.json") {
			r := runSuiteFile(t, f, Options{})
			total.passed += r.passed
			total.failed += r.failed
			for _, msg := range r.failures {
				if strings.HasPrefix(msg, "format.json: ") {
					byDesign++
					continue
				}
				t.Error(msg)
			}
		}
		t.Logf("required with pawl's format assertion: %d passed, %d failed (%d in format.json, expected: it tests annotation-only format)",
			total.passed, total.failed, byDesign)
	})

	t.Run("optional-format", func(t *testing.T) {
		total := suiteResult{}
		for _, f := range suiteFiles(t, "optional/format/*.json") {
			r := runSuiteFile(t, f, Options{})
			t.Logf("  %-40s %3d passed, %3d failed", filepath.Base(f), r.passed, r.failed)
			total.passed += r.passed
			total.failed += r.failed
			total.failures = append(total.failures, r.failures...)
		}
		t.Logf("optional/format (format asserted): %d passed, %d failed of %d", total.passed, total.failed, total.passed+total.failed)
		for _, msg := range total.failures {
			t.Logf("  FAIL %s", msg)
		}
	})

	t.Run("optional-other", func(t *testing.T) {
		total := suiteResult{}
		for _, f := range suiteFiles(t, "optional/*.json") {
			r := runSuiteFile(t, f, Options{FormatAnnotation: true})
			t.Logf("  %-40s %3d passed, %3d failed", filepath.Base(f), r.passed, r.failed)
			total.passed += r.passed
			total.failed += r.failed
			total.failures = append(total.failures, r.failures...)
		}
		t.Logf("optional, other than format: %d passed, %d failed", total.passed, total.failed)
		for _, msg := range total.failures {
			t.Logf("  FAIL %s", msg)
		}
	})
}
