package policies

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// writeBundle writes files (path → content) as a bundle with a manifest.
func writeBundle(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	if _, ok := files[".manifest"]; !ok {
		files[".manifest"] = `{"revision": "test-1"}`
	}
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCapabilitiesRemoveNondeterminism(t *testing.T) {
	caps := Capabilities()
	have := map[string]bool{}
	for _, b := range caps.Builtins {
		have[b.Name] = true
	}
	for name := range forbiddenBuiltins {
		if have[name] {
			t.Errorf("%s is still in the capabilities", name)
		}
	}
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if b.Nondeterministic && have[b.Name] {
			t.Errorf("non-deterministic %s is still in the capabilities", b.Name)
		}
	}
	for _, name := range []string{"time.parse_rfc3339_ns", "time.date", "uuid.parse", "crypto.x509.parse_certificates", "sprintf", "regex.match", "trace"} {
		if !have[name] {
			t.Errorf("deterministic %s was removed", name)
		}
	}
	t.Logf("removed: %v", RemovedBuiltins())
}

// TestForbiddenBuiltinsFailToLoad: a policy that calls, refers to or mocks a
// removed builtin anywhere in the bundle (a rule, a function, a test file,
// under `with`) is refused by LoadBundle, Test and Eval.
func TestForbiddenBuiltinsFailToLoad(t *testing.T) {
	// body → what the error must mention.
	cases := map[string]struct{ body, want string }{
		"time.now_ns":          {`x := time.now_ns()`, "undefined function time.now_ns"},
		"http.send":            {`x := http.send({"method": "get", "url": "https://evil.example/"})`, "undefined function http.send"},
		"net.lookup_ip_addr":   {`x := net.lookup_ip_addr("evil.example")`, "undefined function net.lookup_ip_addr"},
		"opa.runtime":          {`x := opa.runtime()`, "undefined function opa.runtime"},
		"rand.intn":            {`x := rand.intn("seed", 10)`, "undefined function rand.intn"},
		"uuid.rfc4122":         {`x := uuid.rfc4122("k")`, "undefined function uuid.rfc4122"},
		"io.jwt.decode_verify": {`x := io.jwt.decode_verify("a.b.c", {"secret": "s"})`, "undefined function io.jwt.decode_verify"},
		"x509 verify":          {`x := crypto.x509.parse_and_verify_certificates("MIIB")`, "undefined function crypto.x509.parse_and_verify_certificates"},
		"io.jwt.encode_sign":   {`x := io.jwt.encode_sign({}, {}, {})`, "undefined function io.jwt.encode_sign"},
		"json.match_schema":    {`x := json.match_schema({}, {})`, "undefined function json.match_schema"},
		"in a function body":   {"f(a) := a + time.now_ns()\nx := f(1)", "undefined function time.now_ns"},
		"with input as":        {"x if {\n\ttime.now_ns() > 0 with input as {\"time\": \"2025-01-01T00:00:00Z\"}\n}", "undefined function time.now_ns"},
		"mocked by with":       {"y := 1\n\nx if {\n\ty == 1 with time.now_ns as 5\n}", "with keyword target must reference existing input, data, or a function"},
		"mocked by a function": {"fake := 5\n\ny := 1\n\nx if {\n\ty == 1 with time.now_ns as fake\n}", "with keyword target must reference existing input, data, or a function"},
		"as a mock value":      {"y := time.parse_rfc3339_ns(input.time)\n\nx if {\n\ty > 0 with time.parse_rfc3339_ns as time.now_ns\n}", "var time is unsafe"},
		"as a value":           {`f := time.now_ns`, "var time is unsafe"},
		"as a ref in a body":   {"x if {\n\tg := http.send\n\tg != null\n}", "var http is unsafe"},
		"inside print":         {"x if {\n\tprint(time.now_ns())\n}", "undefined function time.now_ns"},
		"in a comprehension":   {`x := [t | some i in [1]; t := time.now_ns()]`, "undefined function time.now_ns"},
		"in an every body":     {"x if {\n\tevery i in [1] { time.now_ns() > i }\n}", "undefined function time.now_ns"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := writeBundle(t, map[string]string{"p/p.rego": "package p\n\n" + c.body + "\n"})
			_, err := LoadBundle(dir, LoadOptions{})
			if err == nil {
				t.Fatal("bundle loaded")
			}
			if !strings.Contains(err.Error(), "p/p.rego") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not name the file and %q: %v", c.want, err)
			}
			t.Log(err)
			if _, err := Test(dir, false); err == nil {
				t.Error("Test loaded it")
			}
			if _, err := Eval(dir, "data.p.x", nil, false); err == nil {
				t.Error("Eval loaded it")
			}
		})
	}
}

func TestForbiddenBuiltinInTestFile(t *testing.T) {
	dir := writeBundle(t, map[string]string{
		"p/p.rego":      "package p\n\nx := 1\n",
		"p/p_test.rego": "package p_test\n\ntest_clock if {\n\ttime.now_ns() > 0\n}\n",
	})
	if _, err := Test(dir, false); err == nil || !strings.Contains(err.Error(), "time.now_ns") {
		t.Fatalf("Test: %v", err)
	} else {
		t.Log(err)
	}
	if _, err := LoadBundle(dir, LoadOptions{}); err == nil {
		t.Fatal("LoadBundle accepted a test file calling time.now_ns")
	}
	// Mocking the clock in a test does not help either.
	dir = writeBundle(t, map[string]string{
		"p/p.rego":      "package p\n\nx := 1\n",
		"p/p_test.rego": "package p_test\n\ntest_clock if {\n\tdata.p.x == 1 with time.now_ns as 7\n}\n",
	})
	if _, err := Test(dir, false); err == nil {
		t.Fatal("Test accepted `with time.now_ns as`")
	}
}

func TestDeterministicBuiltinsLoad(t *testing.T) {
	dir := writeBundle(t, map[string]string{"p/p.rego": `package p

ns := time.parse_rfc3339_ns(input.time)

weekday := time.weekday(ns)

id := uuid.parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
`})
	res, err := Eval(dir, "data.p.weekday", map[string]any{"time": "2025-01-02T03:04:05Z"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Result) != `"Thursday"` {
		t.Fatalf("result %s", res.Result)
	}
}
