package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const seedPath = "testdata/sensor-reading.json"

// record decodes like pawl's own decoder: numbers stay json.Number.
func record(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad test record %s: %v", s, err)
	}
	return v
}

func mustCompile(t testing.TB, path string) *Schema {
	t.Helper()
	s, err := Compile(path)
	if err != nil {
		t.Fatalf("Compile(%q): %v", path, err)
	}
	return s
}

// writeSchema writes a schema under dir (creating directories) and returns its path.
func writeSchema(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func compileInline(t *testing.T, body string) *Schema {
	t.Helper()
	return mustCompile(t, writeSchema(t, t.TempDir(), "s.json", body))
}

func TestSeedValid(t *testing.T) {
	s := mustCompile(t, seedPath)
	for _, rec := range []string{
		`{"device_id":"AB-123456","timestamp":"2024-05-01T12:00:00Z","value":21.5,"unit":"celsius"}`,
		`{"device_id":"ZZ-000000","timestamp":"2024-05-01T12:00:00.123+02:00","value":-273.15,"unit":"kelvin"}`,
		`{"device_id":"ZZ-000000","timestamp":"2024-05-01T12:00:00Z","value":1e3,"unit":"fahrenheit"}`,
	} {
		if vs := s.Validate(record(t, rec)); vs != nil {
			t.Errorf("%s: want no violations, got %v", rec, vs)
		}
	}
}

func TestSeedViolations(t *testing.T) {
	s := mustCompile(t, seedPath)
	got := s.Validate(record(t, `{"device_id":"ab","value":"hot","extra":1}`))
	want := []Violation{
		{"", "required", "/required", `missing required property "timestamp"`},
		{"", "required", "/required", `missing required property "unit"`},
		{"/device_id", "pattern", "/properties/device_id/pattern", `value "ab" does not match pattern "^[A-Z]{2}-[0-9]{6}$"`},
		{"/extra", "additionalProperties", "/additionalProperties", `additional property "extra" is not allowed`},
		{"/value", "type", "/properties/value/type", `value "hot" is not a number`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

func TestSeedKeywordMessages(t *testing.T) {
	s := mustCompile(t, seedPath)
	cases := []struct {
		rec  string
		want Violation
	}{
		{`{"device_id":"AB-123456","timestamp":"yesterday","value":1,"unit":"kelvin"}`,
			Violation{"/timestamp", "format", "/properties/timestamp/format", `value "yesterday" is not a valid date-time: `}},
		{`{"device_id":"AB-123456","timestamp":"2024-05-01T12:00:00Z","value":-300,"unit":"kelvin"}`,
			Violation{"/value", "minimum", "/properties/value/minimum", `value -300 is less than minimum -273.15`}},
		{`{"device_id":"AB-123456","timestamp":"2024-05-01T12:00:00Z","value":1,"unit":"rankine"}`,
			Violation{"/unit", "enum", "/properties/unit/enum", `value "rankine" is not one of "celsius", "fahrenheit", "kelvin"`}},
		{`{"device_id":"AB-123456","timestamp":"2024-05-01T12:00:00Z","value":1,"unit":null}`,
			Violation{"/unit", "type", "/properties/unit/type", `value null is not a string`}},
		{`[]`,
			Violation{"", "type", "/type", `array value is not an object`}},
	}
	for _, c := range cases {
		got := s.Validate(record(t, c.rec))
		found := false
		for _, v := range got {
			if v.Pointer == c.want.Pointer && v.Keyword == c.want.Keyword && v.SchemaPath == c.want.SchemaPath &&
				strings.HasPrefix(v.Message, c.want.Message) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want a violation like %v, got %s", c.rec, c.want, dump(got))
		}
	}
}

func dump(vs []Violation) string {
	var sb strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&sb, "  %#v\n", v)
	}
	return sb.String()
}

func TestJSONNumbers(t *testing.T) {
	s := compileInline(t, `{
		"properties": {
			"i": {"type": "integer"},
			"min": {"minimum": 0.1},
			"max": {"maximum": 1e308},
			"big": {"const": 98249283749234923498293171823948729348710298301928331},
			"mul": {"multipleOf": 0.01}
		}
	}`)
	cases := []struct {
		rec     string
		invalid string // keyword expected, "" for valid
	}{
		{`{"i": 1.0}`, ""},
		{`{"i": 1e2}`, ""},
		{`{"i": -0}`, ""},
		{`{"i": 12345678901234567890123456789}`, ""},
		{`{"i": 1.5}`, "type"},
		{`{"i": 9007199254740993.5}`, "type"}, // not an integer, though float64 would round it to one
		{`{"min": 0.1}`, ""},
		{`{"min": 0.09999999999999999999}`, "minimum"}, // equal to 0.1 as float64
		{`{"max": 1e400}`, "maximum"},                  // +Inf as float64
		{`{"big": 98249283749234923498293171823948729348710298301928331}`, ""},
		{`{"big": 98249283749234923498293171823948729348710298301928332}`, "const"},
		{`{"mul": 19.99}`, ""}, // fails with float64 arithmetic
		{`{"mul": 19.999}`, "multipleOf"},
	}
	for _, c := range cases {
		got := s.Validate(record(t, c.rec))
		switch {
		case c.invalid == "" && got != nil:
			t.Errorf("%s: want valid, got %s", c.rec, dump(got))
		case c.invalid != "" && (len(got) != 1 || got[0].Keyword != c.invalid):
			t.Errorf("%s: want one %q violation, got %s", c.rec, c.invalid, dump(got))
		}
	}
	got := s.Validate(record(t, `{"i": 1.5}`))
	if want := `value 1.5 is not an integer`; len(got) != 1 || got[0].Message != want {
		t.Errorf("message: got %s, want %q", dump(got), want)
	}
}

func TestHugeExponentRefused(t *testing.T) {
	s := compileInline(t, `{"properties": {"v": {"minimum": 0}, "w": {"type": "integer"}}}`)
	// 1e9999999 is beyond what big.Rat parses: the library would panic on "minimum".
	for _, rec := range []string{`{"v": 1e9999999}`, `{"w": [1, {"x": -2E+5000}]}`, `{"v": 1e-4097}`} {
		got := s.Validate(record(t, rec))
		if len(got) != 1 || got[0].Keyword != "number" || !strings.Contains(got[0].Message, "exponent") {
			t.Errorf("%s: want one \"number\" violation, got %s", rec, dump(got))
		}
	}
	got := s.Validate(record(t, `{"w": [1, {"x": -2E+5000}]}`))
	if got[0].Pointer != "/w/1/x" {
		t.Errorf("pointer: got %q, want /w/1/x", got[0].Pointer)
	}
	if vs := s.Validate(record(t, fmt.Sprintf(`{"v": 1e%d}`, MaxExponent))); vs != nil {
		t.Errorf("1e%d is within bounds, got %s", MaxExponent, dump(vs))
	}
	// Text that is not a JSON number must not crash the library either.
	got = s.Validate(map[string]any{"v": json.Number("12abc")})
	if len(got) != 1 || got[0].Keyword != "number" || got[0].Pointer != "/v" {
		t.Errorf("invalid number text: got %s", dump(got))
	}
}

func TestPointerEscaping(t *testing.T) {
	s := compileInline(t, `{
		"properties": {"list": {"items": {"properties": {"a/b~c": {"type": "string"}}}}},
		"patternProperties": {"^x": true},
		"additionalProperties": false
	}`)
	got := s.Validate(record(t, `{"list": [{"a/b~c": "ok"}, {"a/b~c": 5}], "we/ird~": 1, "x1": 2}`))
	want := []Violation{
		{"/list/1/a~1b~0c", "type", "/properties/list/items/properties/a~1b~0c/type", `value 5 is not a string`},
		{"/we~1ird~0", "additionalProperties", "/additionalProperties", `additional property "we/ird~" is not allowed`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

func TestApplicatorMessages(t *testing.T) {
	s := compileInline(t, `{
		"properties": {
			"alt": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 10}]},
			"one": {"oneOf": [{"type": "integer"}, {"minimum": 0}]},
			"neg": {"not": {"type": "string"}},
			"names": {"propertyNames": {"pattern": "^[a-z]+$"}},
			"all": {"allOf": [{"minLength": 2}, {"pattern": "^a"}]},
			"nothing": false,
			"strict": {"properties": {"a": true}, "unevaluatedProperties": false},
			"tags": {"type": "array", "contains": {"const": "x"}, "uniqueItems": true}
		}
	}`)
	got := s.Validate(record(t, `{
		"alt": 3, "one": 5, "neg": "s", "names": {"Bad": 1, "ok": 2},
		"all": "b", "nothing": 1, "strict": {"a": 1, "b": 2}, "tags": ["y", "y"]
	}`))
	want := []Violation{
		{"/all", "minLength", "/properties/all/allOf/0/minLength", `value "b" has 1 characters, fewer than minLength 2`},
		{"/all", "pattern", "/properties/all/allOf/1/pattern", `value "b" does not match pattern "^a"`},
		{"/alt", "anyOf", "/properties/alt/anyOf", `value 3 matches none of the anyOf alternatives (/properties/alt/anyOf/0/type: value 3 is not a string; /properties/alt/anyOf/1/minimum: value 3 is less than minimum 10)`},
		{"/names/Bad", "pattern", "/properties/names/propertyNames/pattern", `property name "Bad" does not match pattern "^[a-z]+$"`},
		{"/neg", "not", "/properties/neg/not", `value "s" must not match the "not" schema`},
		{"/nothing", "false", "/properties/nothing", `value 1 is not allowed: the schema at /properties/nothing is false`},
		{"/one", "oneOf", "/properties/one/oneOf", `value 5 matches oneOf alternatives 0 and 1, but exactly one must match`},
		{"/strict/b", "unevaluatedProperties", "/properties/strict/unevaluatedProperties", `unevaluated property "b" is not allowed`},
		{"/tags", "contains", "/properties/tags/contains", `no array item matches the contains schema (/properties/tags/contains/const: value "y" is not the required constant "x"; /properties/tags/contains/const: value "y" is not the required constant "x")`},
		{"/tags", "uniqueItems", "/properties/tags/uniqueItems", `array items 0 and 1 are equal, but uniqueItems requires distinct items`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

func TestLongValueTruncated(t *testing.T) {
	s := mustCompile(t, seedPath)
	long := strings.Repeat("é", 500)
	got := s.Validate(record(t, `{"device_id":"`+long+`","timestamp":"2024-05-01T12:00:00Z","value":1,"unit":"kelvin"}`))
	if len(got) != 1 {
		t.Fatalf("want one violation, got %s", dump(got))
	}
	if m := got[0].Message; len(m) > 300 || !strings.Contains(m, "(500 characters)") {
		t.Errorf("message not truncated sensibly: %q", m)
	}
}

func TestDeterministicOrder(t *testing.T) {
	s := mustCompile(t, seedPath)
	rec := record(t, `{"device_id":"ab","value":"hot","extra":1,"more":2,"zzz":3,"aaa":4}`)
	first := s.Validate(rec)
	for range 100 { // map iteration order varies between runs
		if got := s.Validate(rec); !reflect.DeepEqual(got, first) {
			t.Fatalf("order changed:\n%s\nvs\n%s", dump(got), dump(first))
		}
	}
}

func TestConcurrentValidate(t *testing.T) {
	s := mustCompile(t, seedPath)
	recs := []any{
		record(t, `{"device_id":"AB-123456","timestamp":"2024-05-01T12:00:00Z","value":21.5,"unit":"celsius"}`),
		record(t, `{"device_id":"ab","value":"hot","extra":1}`),
		record(t, `{"device_id":"AB-123456","timestamp":"nope","value":-1e3,"unit":"x"}`),
	}
	want := make([][]Violation, len(recs))
	for i, r := range recs {
		want[i] = s.Validate(r)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 300 {
				i := (g + n) % len(recs)
				if got := s.Validate(recs[i]); !reflect.DeepEqual(got, want[i]) {
					errs <- fmt.Sprintf("goroutine %d record %d: got %v", g, i, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestTitleAndPropertyTypes(t *testing.T) {
	s := mustCompile(t, seedPath)
	if got := s.Title(); got != "SensorReading" {
		t.Errorf("Title: got %q", got)
	}
	want := map[string]string{"device_id": "string", "timestamp": "string", "value": "number", "unit": "string"}
	if got := s.PropertyTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("PropertyTypes: got %v, want %v", got, want)
	}
	s.PropertyTypes()["value"] = "mutated"
	if s.PropertyTypes()["value"] != "number" {
		t.Error("PropertyTypes must return a copy")
	}

	l := mustCompile(t, "testdata/refs/local.json")
	want = map[string]string{"site": "string", "code": "string", "n": "integer", "any": ""}
	if got := l.PropertyTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("PropertyTypes through $ref and type lists: got %v, want %v", got, want)
	}

	r := compileInline(t, `{"$ref": "#/$defs/r", "$defs": {"r": {"title": "inner", "properties": {"a": {"type": ["null"]}, "b": {"type": ["boolean", "integer"]}}}}}`)
	want = map[string]string{"a": "null", "b": "boolean"}
	if got := r.PropertyTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("PropertyTypes through root $ref: got %v, want %v", got, want)
	}
	if r.Title() != "" {
		t.Errorf("Title is the root schema's own, got %q", r.Title())
	}
}

func TestLocalRef(t *testing.T) {
	s := mustCompile(t, "testdata/refs/local.json")
	got := s.Validate(record(t, `{"site": "ab", "code": "X"}`))
	want := []Violation{
		{"/code", "pattern", "/properties/code/$ref/pattern", `value "X" does not match pattern "^[a-z]+$"`},
		{"/site", "minLength", "/properties/site/$ref/minLength", `value "ab" has 2 characters, fewer than minLength 3`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

func TestDefaultDraftIs2020(t *testing.T) {
	// prefixItems exists only in 2020-12; under an older draft it would be ignored.
	s := compileInline(t, `{"prefixItems": [{"type": "string"}]}`)
	if vs := s.Validate(record(t, `[1]`)); len(vs) != 1 || vs[0].Keyword != "type" {
		t.Errorf("want prefixItems enforced, got %s", dump(vs))
	}
}

func TestCompileRefusesNetworkRef(t *testing.T) {
	for _, u := range []string{"http://example.com/s.json", "https://example.com/s.json#/x", "https://json-schema.org/draft/2020-12/no-such-meta"} {
		p := writeSchema(t, t.TempDir(), "s.json", `{"properties": {"a": {"$ref": "`+u+`"}}}`)
		_, err := Compile(p)
		if err == nil {
			t.Fatalf("%s: want error", u)
		}
		base, _, _ := strings.Cut(u, "#")
		msg := err.Error()
		for _, want := range []string{p, base, "air-gapped", "refused"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not mention %q", u, msg, want)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("error is not one line: %q", msg)
		}
	}
	// $id changes the base URI: a relative $ref then resolves to the network.
	p := writeSchema(t, t.TempDir(), "s.json", `{"$id": "https://example.com/root.json", "$ref": "other.json"}`)
	if _, err := Compile(p); err == nil || !strings.Contains(err.Error(), "https://example.com/other.json") {
		t.Errorf("relative ref under a remote $id: got %v", err)
	}
	// A custom metaschema is loaded like a $ref.
	p = writeSchema(t, t.TempDir(), "s.json", `{"$schema": "http://example.com/meta.json"}`)
	if _, err := Compile(p); err == nil || !strings.Contains(err.Error(), "http://example.com/meta.json") {
		t.Errorf("remote $schema: got %v", err)
	}
}

func TestCompileRefusesRefOutsideDir(t *testing.T) {
	_, err := Compile("testdata/refs/batch.json")
	if err == nil || !strings.Contains(err.Error(), "sensor-reading.json") || !strings.Contains(err.Error(), "outside the schema's directory") {
		t.Errorf("got %v", err)
	}

	dir := t.TempDir()
	writeSchema(t, dir, "secret/outside.json", `{"type": "string"}`)
	p := writeSchema(t, dir, "in/s.json", `{"$ref": "file://`+filepath.ToSlash(filepath.Join(dir, "secret/outside.json"))+`"}`)
	if _, err := Compile(p); err == nil || !strings.Contains(err.Error(), "outside the schema's directory") {
		t.Errorf("absolute file URL: got %v", err)
	}

	if err := os.Symlink(filepath.Join(dir, "secret/outside.json"), filepath.Join(dir, "in/link.json")); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	p = writeSchema(t, dir, "in/s2.json", `{"$ref": "link.json"}`)
	if _, err := Compile(p); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlink out of the directory: got %v", err)
	}
}

func TestCompileFileErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body string
		want       string
	}{
		{"invalid.json", "{\n  \"type\": \"object\",\n}", "invalid JSON at line 3, column 1"},
		{"truncated.json", `{"type": "object"`, "unexpected end of JSON input"},
		{"empty.json", "  \n", "file is empty"},
		{"trailing.json", `{} {}`, "unexpected data after the top-level JSON value"},
		{"dup.json", "{\"type\": \"object\",\n \"type\": \"string\"}", `line 2, column 2: object key "type" appears more than once`},
		{"latin1.json", "{\"title\": \"caf\xe9\"}", "invalid UTF-8 at line 1, column 15"},
		{"badschema.json", `{"type": 5, "minimum": "zero"}`, "not a valid schema"},
		{"badregex.json", `{"pattern": "(unclosed"}`, "(unclosed"},
		{"unknownformat.json", `{"properties": {"t": {"format": "date_time"}}}`, `format "date_time" at`},
	}
	for _, c := range cases {
		p := writeSchema(t, dir, c.name, c.body)
		_, err := Compile(p)
		if err == nil {
			t.Errorf("%s: want error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, fmt.Sprintf("schema %q: ", p)) || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: got %q, want one line naming the file and containing %q", c.name, msg, c.want)
		}
	}

	missing := filepath.Join(dir, "nope.json")
	if _, err := Compile(missing); err == nil || err.Error() != fmt.Sprintf("schema %q: file does not exist", missing) {
		t.Errorf("missing: got %v", err)
	}
	if _, err := Compile(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: got %v", err)
	}
	if os.Geteuid() != 0 { // root reads anything
		p := writeSchema(t, dir, "locked.json", `{}`)
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := Compile(p); err == nil || !strings.Contains(err.Error(), "not readable") {
			t.Errorf("unreadable: got %v", err)
		}
	}
	// A broken file reached through $ref names that file.
	writeSchema(t, dir, "sub/bad.json", `{"type":`)
	p := writeSchema(t, dir, "sub/main.json", `{"$ref": "bad.json"}`)
	if _, err := Compile(p); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "sub/bad.json")) {
		t.Errorf("broken referenced file: got %v", err)
	}
}

// TestFilesListsEveryFileCompiled: Files names the schema file and every
// file its $refs reached (through another file's $ref too), each with the
// sha256 of the bytes compiled; a $ref within one file adds nothing.
func TestFilesListsEveryFileCompiled(t *testing.T) {
	dir := t.TempDir()
	body := map[string]string{
		"main.json":        `{"properties": {"a": {"$ref": "part.json"}, "b": {"$ref": "#/$defs/b"}}, "$defs": {"b": {"type": "string"}}}`,
		"part.json":        `{"$ref": "nested/deep.json"}`,
		"nested/deep.json": `{"type": "integer", "minimum": 0}`,
		"unused.json":      `{"type": "null"}`,
	}
	for name, b := range body {
		writeSchema(t, dir, name, b)
	}
	s, err := Compile(filepath.Join(dir, "main.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := s.Files()
	if len(got) != 3 {
		t.Fatalf("files: %v", got)
	}
	for _, name := range []string{"main.json", "part.json", "nested/deep.json"} {
		sum := sha256.Sum256([]byte(body[name]))
		if got[filepath.Join(dir, name)] != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %q", name, got[filepath.Join(dir, name)])
		}
	}
	if vs := s.Validate(map[string]any{"a": json.Number("-1")}); len(vs) != 1 {
		t.Fatalf("the contract behind part.json did not apply: %v", vs)
	}
	if u, err := CompileURL("mem://x.json", Options{Load: func(string) (any, error) { return map[string]any{}, nil }}); err != nil || len(u.Files()) != 0 {
		t.Fatalf("CompileURL: %v %v", u, err)
	}
}

// TestKnownFormatsAssert guards knownFormats against a library upgrade that
// drops one: every name pawl accepts must reject an obviously bad value.
func TestKnownFormatsAssert(t *testing.T) {
	bad := map[string]string{"uri-template": "{", "regex": "(", "uri-reference": "%", "iri-reference": "%"}
	for _, f := range knownFormats {
		s := compileInline(t, `{"format": "`+f+`"}`)
		v := "x y"
		if b, ok := bad[f]; ok {
			v = b
		}
		if vs := s.Validate(v); len(vs) != 1 || vs[0].Keyword != "format" {
			t.Errorf("format %q accepted %q: %v", f, v, vs)
		}
	}
}

func TestCompileURL(t *testing.T) {
	docs := map[string]string{
		"mem://schemas/root.json":  `{"properties": {"a": {"$ref": "child.json"}}}`,
		"mem://schemas/child.json": `{"type": "string", "format": "date"}`,
	}
	load := func(u string) (any, error) {
		body, ok := docs[u]
		if !ok {
			return nil, fmt.Errorf("%s not found", u)
		}
		return DecodeJSON([]byte(body))
	}
	s, err := CompileURL("mem://schemas/root.json", Options{Load: load})
	if err != nil {
		t.Fatal(err)
	}
	if vs := s.Validate(record(t, `{"a": "2024-02-30"}`)); len(vs) != 1 || vs[0].Keyword != "format" {
		t.Errorf("format asserted by default: got %v", vs)
	}
	s, err = CompileURL("mem://schemas/root.json", Options{Load: load, FormatAnnotation: true})
	if err != nil {
		t.Fatal(err)
	}
	if vs := s.Validate(record(t, `{"a": "2024-02-30"}`)); vs != nil {
		t.Errorf("FormatAnnotation: got %v", vs)
	}
	if _, err := CompileURL("mem://schemas/root.json", Options{}); err == nil || !strings.Contains(err.Error(), "no loader") {
		t.Errorf("nil Load: got %v", err)
	}
}

func TestDecodeJSON(t *testing.T) {
	v, err := DecodeJSON([]byte(`{"n": 1.50, "a": [true, null]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": json.Number("1.50"), "a": []any{true, nil}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got %#v", v)
	}
	if _, err := DecodeJSON(bytes.Repeat([]byte("["), 3)); err == nil {
		t.Error("want error for truncated array")
	}
}

func BenchmarkValidate(b *testing.B) {
	s := mustCompile(b, seedPath)
	rec := record(b, `{"device_id":"AB-123456","timestamp":"2024-05-01T12:00:00Z","value":21.5,"unit":"celsius"}`)
	b.ReportAllocs()
	for b.Loop() {
		if vs := s.Validate(rec); vs != nil {
			b.Fatal(vs)
		}
	}
}

func BenchmarkValidateInvalid(b *testing.B) {
	s := mustCompile(b, seedPath)
	rec := record(b, `{"device_id":"ab","value":"hot","extra":1}`)
	b.ReportAllocs()
	for b.Loop() {
		if vs := s.Validate(rec); len(vs) != 5 {
			b.Fatal(vs)
		}
	}
}

// TestPropertyNamesPointer covers the library's reused instance-location
// slice for propertyNames errors: pointers must be right whatever order the
// maps are visited in.
func TestPropertyNamesPointer(t *testing.T) {
	s := compileInline(t, `{
		"properties": {
			"a": {"propertyNames": {"maxLength": 3}},
			"b": {"type": "string"},
			"list": {"items": {"propertyNames": {"maxLength": 3}}},
			"z": {"type": "string"}
		}
	}`)
	rec := record(t, `{"a": {"long1": 1}, "b": 1, "z": 2, "list": [{"ok": 1}, {"toolong": 1}, {"toolong": 2, "x": {"toolong": 3}}]}`)
	wantPtrs := []string{"/a/long1", "/b", "/list/1/toolong", "/list/2/toolong", "/z"}
	for range 50 {
		got := s.Validate(rec)
		var ptrs []string
		for _, v := range got {
			ptrs = append(ptrs, v.Pointer)
		}
		if !reflect.DeepEqual(ptrs, wantPtrs) {
			t.Fatalf("got pointers %v, want %v:\n%s", ptrs, wantPtrs, dump(got))
		}
		if got[0].Message != `property name "long1" has 5 characters, more than maxLength 3` || got[0].SchemaPath != "/properties/a/propertyNames/maxLength" {
			t.Fatalf("got %v", got[0])
		}
	}
}
