package records

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeJSONErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		opt     DecodeOptions
		rule    string
		offset  int64
		pointer string
		msgHas  string
	}{
		{"empty", ``, DecodeOptions{}, RuleJSONEmpty, 0, "", "empty"},
		{"whitespace only", " \t\r", DecodeOptions{}, RuleJSONEmpty, 0, "", "whitespace"},
		{"bom", "\xEF\xBB\xBF{}", DecodeOptions{}, RuleJSONBOM, 0, "", "byte order mark"},
		{"truncated object", `{"a":1,"b":`, DecodeOptions{}, RuleJSONTruncated, 11, "/b", "object opened at byte 0"},
		{"truncated string", `{"a":"abc`, DecodeOptions{}, RuleJSONTruncated, 9, "/a", "string opened at byte 5"},
		{"truncated literal", `[tru`, DecodeOptions{}, RuleJSONTruncated, 4, "/0", "true"},
		{"truncated number", `[1.`, DecodeOptions{}, RuleJSONTruncated, 3, "/0", "number"},
		{"truncated escape", `["\u12`, DecodeOptions{}, RuleJSONTruncated, 6, "/0", "\\u escape"},
		{"not object array", ` [1]`, DecodeOptions{RequireObject: true}, RuleJSONNotObject, 1, "", "array"},
		{"not object string", `"x"`, DecodeOptions{RequireObject: true}, RuleJSONNotObject, 0, "", "string"},
		{"duplicate key", `{"value":1,"unit":"c","value":2}`, DecodeOptions{}, RuleJSONDuplicateKey, 22, "/value", `duplicate key "value" at byte 22 (first at byte 1)`},
		{"duplicate key after unescape", `{"a":1,"\u0061":2}`, DecodeOptions{}, RuleJSONDuplicateKey, 7, "/a", "first at byte 1"},
		{"duplicate key nested", `{"x":[{"k":1,"k":2}]}`, DecodeOptions{}, RuleJSONDuplicateKey, 13, "/x/0/k", "duplicate key"},
		{"duplicate key in big object", `{"a0":0,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"b0":0,"b1":1,"b2":2,"b3":3,"b4":4,"b5":5,"b6":6,"b7":7,"a3":1}`, DecodeOptions{}, RuleJSONDuplicateKey, 127, "/a3", "first at byte 22"},
		{"NaN", `{"v":NaN}`, DecodeOptions{}, RuleJSONNaN, 5, "/v", "NaN"},
		{"Infinity", `{"v":Infinity}`, DecodeOptions{}, RuleJSONNaN, 5, "/v", "Infinity"},
		{"-Infinity", `[-Infinity]`, DecodeOptions{}, RuleJSONNaN, 1, "/0", "-Infinity"},
		{"+Infinity", `[+Infinity]`, DecodeOptions{}, RuleJSONNaN, 1, "/0", "+Infinity"},
		{"number beyond float64", `{"v":1e400}`, DecodeOptions{}, RuleJSONNumberRange, 5, "/v", "float64"},
		{"negative beyond float64", `{"v":-2e308}`, DecodeOptions{}, RuleJSONNumberRange, 5, "/v", "float64"},
		{"long integer beyond float64", `[` + "1" + strings.Repeat("0", 309) + `]`, DecodeOptions{}, RuleJSONNumberRange, 1, "/0", "float64"},
		{"leading zero", `{"v":012}`, DecodeOptions{}, RuleJSONSyntax, 5, "/v", "leading zeros"},
		{"leading plus", `{"v":+1}`, DecodeOptions{}, RuleJSONSyntax, 5, "/v", "'+'"},
		{"leading dot", `[.5]`, DecodeOptions{}, RuleJSONSyntax, 1, "/0", "0.5"},
		{"minus alone", `[-]`, DecodeOptions{}, RuleJSONSyntax, 2, "/0", "digit"},
		{"exponent without digits", `[1e]`, DecodeOptions{}, RuleJSONSyntax, 3, "/0", "exponent"},
		{"trailing comma object", `{"a":1,}`, DecodeOptions{}, RuleJSONSyntax, 6, "", "trailing comma"},
		{"trailing comma array", `[1,2,]`, DecodeOptions{}, RuleJSONSyntax, 4, "", "trailing comma"},
		{"single quotes value", `{"a":'x'}`, DecodeOptions{}, RuleJSONSyntax, 5, "/a", "double quotes"},
		{"single quotes key", `{'a':1}`, DecodeOptions{}, RuleJSONSyntax, 1, "", "double quotes"},
		{"unquoted key", `{a:1}`, DecodeOptions{}, RuleJSONSyntax, 1, "", "unquoted key"},
		{"comment", `{"a":1 // c` + "\n}", DecodeOptions{}, RuleJSONSyntax, 7, "", "expected ',' or '}'"},
		{"comment as value", `[/* c */1]`, DecodeOptions{}, RuleJSONSyntax, 1, "/0", "comments"},
		{"python literal", `{"a":True}`, DecodeOptions{}, RuleJSONSyntax, 5, "/a", `"True"`},
		{"raw newline in string", "[\"a\nb\"]", DecodeOptions{}, RuleJSONControlChar, 3, "/0", "0x0A (LF)"},
		{"raw NUL in string", "{\"a\":\"x\x00\"}", DecodeOptions{}, RuleJSONControlChar, 7, "/a", "0x00 (NUL)"},
		{"raw NUL outside string", "{\"a\":1}\x00", DecodeOptions{}, RuleJSONTrailingData, 7, "", "NUL"},
		{"raw NUL as value", "[\x00]", DecodeOptions{}, RuleJSONSyntax, 1, "/0", "NUL"},
		{"invalid escape", `["a\x"]`, DecodeOptions{}, RuleJSONInvalidEscape, 3, "/0", `'x'`},
		{"invalid hex escape", `["\u12g4"]`, DecodeOptions{}, RuleJSONInvalidEscape, 2, "/0", "four hex digits"},
		{"lone high surrogate", `{"s":"\ud800"}`, DecodeOptions{}, RuleJSONLoneSurrogate, 6, "/s", `\\ud800`},
		{"high surrogate then letter", `["\ud800x"]`, DecodeOptions{}, RuleJSONLoneSurrogate, 2, "/0", "lone"},
		{"high surrogate then non-low", `["\ud800\u0041"]`, DecodeOptions{}, RuleJSONLoneSurrogate, 2, "/0", "lone"},
		{"lone low surrogate", `["\udc00"]`, DecodeOptions{}, RuleJSONLoneSurrogate, 2, "/0", "lone"},
		{"invalid utf8 in string", "{\"name\":\"caf\xE9\"}", DecodeOptions{}, RuleJSONInvalidUTF8, 12, "/name", "0xE9"},
		{"invalid utf8 after escape", "[\"\\n\xFF\"]", DecodeOptions{}, RuleJSONInvalidUTF8, 4, "/0", "0xFF"},
		{"invalid utf8 in key", "{\"k\xC0\x80\":1}", DecodeOptions{}, RuleJSONInvalidUTF8, 3, "", "0xC0"},
		{"utf8-encoded surrogate", "[\"\xED\xA0\x80\"]", DecodeOptions{}, RuleJSONInvalidUTF8, 2, "/0", "0xED"},
		{"invalid utf8 outside string", "{\"a\":1,\xFF}", DecodeOptions{}, RuleJSONInvalidUTF8, 7, "", "0xFF"},
		{"invalid utf8 trailing", "{}\xFF", DecodeOptions{}, RuleJSONInvalidUTF8, 2, "", "0xFF"},
		{"non-ascii outside string", "[é]", DecodeOptions{}, RuleJSONSyntax, 1, "/0", "U+00E9"},
		{"trailing data", `{"a":1} x`, DecodeOptions{}, RuleJSONTrailingData, 8, "", "exactly one JSON value"},
		{"two values", `{"a":1}{"a":2}`, DecodeOptions{}, RuleJSONTrailingData, 7, "", "second value"},
		{"missing colon", `{"a" 1}`, DecodeOptions{}, RuleJSONSyntax, 5, "/a", "':'"},
		{"missing comma", `[1 2]`, DecodeOptions{}, RuleJSONSyntax, 3, "", "','"},
		{"mismatched bracket", `[1}`, DecodeOptions{}, RuleJSONSyntax, 2, "", "']'"},
		{"depth", strings.Repeat("[", 5) + strings.Repeat("]", 5), DecodeOptions{MaxDepth: 4}, RuleJSONDepth, 4, "/0/0/0/0", "4 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := DecodeJSON([]byte(tt.in), tt.opt)
			if err == nil {
				t.Fatalf("DecodeJSON(%q) = %#v, want error %s", tt.in, v, tt.rule)
			}
			if v != nil {
				t.Errorf("value %#v returned alongside error", v)
			}
			if err.Rule != tt.rule || err.Offset != tt.offset || err.Pointer != tt.pointer {
				t.Errorf("DecodeJSON(%q) error = {%s %d %q}, want {%s %d %q}\n%v", tt.in, err.Rule, err.Offset, err.Pointer, tt.rule, tt.offset, tt.pointer, err)
			}
			if !strings.Contains(err.Message, tt.msgHas) {
				t.Errorf("message %q does not contain %q", err.Message, tt.msgHas)
			}
		})
	}
}

func TestDecodeJSONDeepNestingIsFastAndBounded(t *testing.T) {
	for _, open := range []string{"[", `{"a":`} {
		in := []byte(strings.Repeat(open, 100000))
		start := time.Now()
		_, err := DecodeJSON(in, DecodeOptions{})
		if err == nil || err.Rule != RuleJSONDepth {
			t.Fatalf("want json.depth, got %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("100,000 nested %q took %v", open, d)
		}
		// A limit beyond the input depth must not blow the stack either:
		// the parser has no recursion.
		_, err = DecodeJSON(in, DecodeOptions{MaxDepth: 1 << 30})
		if err == nil || err.Rule != RuleJSONTruncated {
			t.Fatalf("with a huge MaxDepth: want json.truncated, got %v", err)
		}
	}
	ok := strings.Repeat("[", 1000) + strings.Repeat("]", 1000)
	if _, err := DecodeJSON([]byte(ok), DecodeOptions{}); err != nil {
		t.Errorf("1000 levels must be accepted by default: %v", err)
	}
	if _, err := DecodeJSON([]byte("["+ok+"]"), DecodeOptions{}); err == nil || err.Rule != RuleJSONDepth {
		t.Errorf("1001 levels must be refused by default, got %v", err)
	}
}

func TestDecodeJSONValues(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`{"device_id":"AB-123456","value":21.5}`, map[string]any{"device_id": "AB-123456", "value": json.Number("21.5")}},
		{" \t\r\n{}\n ", map[string]any{}},
		{`[]`, []any{}},
		{`-0`, json.Number("-0")},
		{`1E+2`, json.Number("1E+2")},
		{`1e-400`, json.Number("1e-400")}, // underflows to 0: finite, accepted
		{`12345678901234567890123`, json.Number("12345678901234567890123")},
		{`[true,false,null]`, []any{true, false, nil}},
		{`"\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00"`, "\"\\/\b\f\n\r\tAé€😀"},
		{"\"\u2028\u2029\x7f\"", "\u2028\u2029\x7f"},
		{`{"a":{"a":{"a":1}}}`, map[string]any{"a": map[string]any{"a": map[string]any{"a": json.Number("1")}}}},
		{`{"":0}`, map[string]any{"": json.Number("0")}},
		{`"\u0000"`, "\x00"},
	}
	for _, tt := range tests {
		got, err := DecodeJSON([]byte(tt.in), DecodeOptions{})
		if err != nil {
			t.Errorf("DecodeJSON(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DecodeJSON(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

// stdDecode decodes b with encoding/json, keeping numbers as json.Number.
func stdDecode(b []byte) (any, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// crossCheck compares DecodeJSON with encoding/json on b. encoding/json is
// laxer in known ways (duplicates, lone surrogates and invalid UTF-8 become
// U+FFFD, out-of-range numbers), never stricter, except for its own nesting
// limit of 10000.
func crossCheck(t *testing.T, b []byte) {
	t.Helper()
	got, err := DecodeJSON(b, DecodeOptions{MaxDepth: 20000})
	want, ok := stdDecode(b)
	switch {
	case err == nil && !ok:
		if bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > 10000 {
			return
		}
		t.Fatalf("DecodeJSON accepts %q, encoding/json rejects it", b)
	case err == nil && ok:
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeJSON(%q) = %#v, encoding/json = %#v", b, got, want)
		}
	case err != nil && ok:
		switch err.Rule {
		case RuleJSONDuplicateKey, RuleJSONLoneSurrogate, RuleJSONInvalidUTF8, RuleJSONNumberRange:
		default:
			t.Fatalf("DecodeJSON rejects %q (%v), encoding/json accepts it", b, err)
		}
	}
}

func TestDecodeJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range decodeSeeds {
		crossCheck(t, []byte(s))
	}
}

var decodeSeeds = []string{
	`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`,
	`{"a":[1,2,{"b":null,"c":[true,false]}],"d":"\u00e9\ud83d\ude00\n","e":-0.5e-3}`,
	`[]`, `{}`, `0`, `-0.0`, `1E+2`, `"x"`, `null`, `true`, ` [ 1 , 2 ] `,
	`{"a":1,"a":2}`, `{"a":"\ud800"}`, `1e400`, "\"\xff\"", `[01]`, `[1,]`, `{"a":NaN}`,
	`{"a":1}{}`, `"\u0000\u001f\u007f\u2028"`, "\xEF\xBB\xBF{}", `{"a\\/b":"\/"}`,
	strings.Repeat("[", 50) + strings.Repeat("]", 50), `[1.5e308, 5e-324, 1e-400]`,
}

// TestDecodeDoesNotAliasInput: the decoded strings and numbers are the
// record's text as it was when decoded, whatever the caller does with the
// bytes afterwards (they are substrings of one copy of the record, not
// views of the caller's buffer).
func TestDecodeDoesNotAliasInput(t *testing.T) {
	b := []byte(`{"device_id":"AB-123456","value":23.5,"note":"a\tb","list":["x",7]}`)
	v, err := DecodeJSON(b, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"device_id": "AB-123456", "value": json.Number("23.5"), "note": "a\tb", "list": []any{"x", json.Number("7")}}
	for i := range b {
		b[i] = 'Z'
	}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("after the input was overwritten the value is %#v, want %#v", v, want)
	}
}

// TestDecodeKeysAcrossRecords: a decoder reused from record to record
// (it remembers the last record's keys by position) gives each record its
// own keys, in any order, and still finds duplicates.
func TestDecodeKeysAcrossRecords(t *testing.T) {
	for i, tc := range []struct {
		in   string
		want map[string]any
		rule string
	}{
		{in: `{"a":1,"b":"x"}`, want: map[string]any{"a": json.Number("1"), "b": "x"}},
		{in: `{"b":"y","a":2}`, want: map[string]any{"b": "y", "a": json.Number("2")}},
		{in: `{"a":1,"ab":2,"a":3}`, rule: RuleJSONDuplicateKey},
		{in: `{"ab":1,"a":{"a":2,"b":3}}`, want: map[string]any{"ab": json.Number("1"), "a": map[string]any{"a": json.Number("2"), "b": json.Number("3")}}},
		{in: `{"a\u0062":1,"b":2}`, want: map[string]any{"ab": json.Number("1"), "b": json.Number("2")}},
		{in: `{"b":1,"b":2}`, rule: RuleJSONDuplicateKey},
	} {
		v, err := DecodeJSON([]byte(tc.in), DecodeOptions{})
		switch {
		case tc.rule != "":
			if err == nil || err.Rule != tc.rule {
				t.Errorf("record %d %s: got %v, %v; want %s", i, tc.in, v, err, tc.rule)
			}
		case err != nil:
			t.Errorf("record %d %s: %v", i, tc.in, err)
		case !reflect.DeepEqual(v, tc.want):
			t.Errorf("record %d %s: got %#v, want %#v", i, tc.in, v, tc.want)
		}
	}
}
