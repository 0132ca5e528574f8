package policies

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const toolsModule = `package pawl.p

a := 1

b if {
	input.x == 1
}

c if {
	input.x == 2
	input.y == 3
	input.z == 4
}
`

const toolsTests = `package pawl.p_test

import data.pawl.p

test_a if p.a == 1

test_b if p.b with input as {"x": 1}

test_fails if p.c with input as {"x": 1}

test_errors if 1 / 0 == 0

todo_test_later if false
`

const toolsMoreTests = `package pawl.a_test

test_z if true

test_y if true
`

// TestPolicyTestReport: `pawl policy test` reports every Rego test with its
// file and line, sorted by package then name, counts each outcome, and
// renders failures, errors and skips like opa test.
func TestPolicyTestReport(t *testing.T) {
	dir := writeBundle(t, map[string]string{"pawl/p.rego": toolsModule, "pawl/p_test.rego": toolsTests, "pawl/a_test.rego": toolsMoreTests})
	rep, err := Test(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Results {
		got = append(got, fmt.Sprintf("%s.%s %s:%d", r.Package, r.Name, r.File, r.Line))
	}
	want := []string{
		"data.pawl.a_test.test_y pawl/a_test.rego:5",
		"data.pawl.a_test.test_z pawl/a_test.rego:3",
		"data.pawl.p_test.test_a pawl/p_test.rego:5",
		"data.pawl.p_test.test_b pawl/p_test.rego:7",
		"data.pawl.p_test.test_errors pawl/p_test.rego:11",
		"data.pawl.p_test.test_fails pawl/p_test.rego:9",
		"data.pawl.p_test.todo_test_later pawl/p_test.rego:13",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.Passed != 4 || rep.Failed != 1 || rep.Errored != 1 || rep.Skipped != 1 || rep.OK() {
		t.Fatalf("counts: passed %d failed %d errored %d skipped %d, OK %v", rep.Passed, rep.Failed, rep.Errored, rep.Skipped, rep.OK())
	}
	lines := strings.Split(rep.String(), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[1], "ERROR data.pawl.p_test.test_errors (pawl/p_test.rego:11): ") ||
		lines[2] != "FAIL  data.pawl.p_test.test_fails (pawl/p_test.rego:9)" ||
		lines[3] != "SKIP  data.pawl.p_test.todo_test_later" ||
		lines[4] != "PASS: 4/7  FAIL: 1  ERROR: 1  SKIPPED: 1" || lines[5] != "" {
		t.Fatalf("rendered:\n%s", rep)
	}
	// All passing: no FAIL, ERROR or SKIPPED counts, and OK.
	ok := TestReport{Passed: 2, Results: []TestResult{{Pass: true}, {Pass: true}}}
	if s := ok.String(); !strings.HasSuffix(s, "\nPASS: 2/2\n") || !ok.OK() {
		t.Fatalf("all passing: OK %v\n%s", ok.OK(), s)
	}
	if (TestReport{}).OK() {
		t.Fatal("a report of no tests is OK: at least one must run")
	}
}

// TestPolicyTestCoverage: the coverage of the production modules (tests
// excluded) by line, per file and in all, and the lines never evaluated.
func TestPolicyTestCoverage(t *testing.T) {
	dir := writeBundle(t, map[string]string{"pawl/p.rego": toolsModule, "pawl/p_test.rego": toolsTests,
		"pawl/q.rego": "package pawl.q\n\nd := 2\n", "pawl/q_test.rego": "package pawl.q_test\n\ntest_d if data.pawl.q.d == 2\n"})
	rep, err := Test(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	p, q := rep.Files["pawl/p.rego"], rep.Files["pawl/q.rego"]
	// Of p.rego's seven lines, a, b and its body are evaluated (3); c and
	// its body never succeed (4). q.rego's one line is. In all, 4 of 8.
	if len(rep.Files) != 2 || p.Coverage != 300.0/7 || strings.Join(p.NotCovered, ",") != "9,10,11,12" ||
		q.Coverage != 100 || len(q.NotCovered) != 0 || rep.Coverage != 50 {
		t.Fatalf("coverage %.2f%%, files %+v", rep.Coverage, rep.Files)
	}
	if want := "coverage: 50.0%\n  pawl/p.rego                               42.9%  not covered: 9,10,11,12\n  pawl/q.rego                              100.0%\n"; !strings.HasSuffix(rep.String(), want) {
		t.Fatalf("rendered:\n%s\nwant it to end with\n%s", rep, want)
	}
	// A bundle of tests alone has no line to cover: 0%, and the report is
	// still JSON.
	dir = writeBundle(t, map[string]string{"pawl/a_test.rego": toolsMoreTests})
	rep, err = Test(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(rep); err != nil || rep.Coverage != 0 || !rep.OK() {
		t.Fatalf("tests only: coverage %v, %v", rep.Coverage, err)
	}
	if s := rep.String(); !strings.Contains(s, "coverage: 0.0%") {
		t.Fatalf("tests only:\n%s", s)
	}
}

// TestEvalDefinedAndUndefined: a query with no value is reported as
// undefined, with a null result, not as an error.
func TestEvalDefinedAndUndefined(t *testing.T) {
	dir := writeBundle(t, map[string]string{"pawl/p.rego": toolsModule})
	for query, want := range map[string]string{"data.pawl.p.b": "true", "data.pawl.p.c": "", "data.pawl.p.nothing": ""} {
		res, err := Eval(dir, query, json.RawMessage(`{"x":1}`), false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Defined != (want != "") || (want != "" && string(res.Result) != want) || (want == "" && string(res.Result) != "null") {
			t.Errorf("%s: defined %v result %s", query, res.Defined, res.Result)
		}
	}
}
