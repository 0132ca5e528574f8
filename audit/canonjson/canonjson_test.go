package canonjson_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/records"
)

func TestCanonicalize(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"b":1,"a":[1,2,{"z":"\u00e9\n\/","y":null}]}`, `{"a":[1,2,{"y":null,"z":"é\n/"}],"b":1}`},
		{` "\ud83d\ude00" `, `"😀"`},
		{`{"\ue000":1,"\ud83d\ude00":2}`, "{\"\ue000\":1,\"😀\":2}"},
		{`"\u001F\u007f<>&\u2028"`, "\"\\u001f\x7f<>&\u2028\""},
		{`{"\n":1," ":2,"\"":3}`, `{"\n":1," ":2,"\"":3}`},
		{`{"\"":3," ":2,"\n":1}`, `{"\n":1," ":2,"\"":3}`},
		// Keys with and without escapes, sorted together.
		{`{"b\u0000":1,"b":2,"\u0062\u0001":3,"a\t":4}`, `{"a\t":4,"b":2,"b\u0000":1,"b\u0001":3}`},
		// Members are moved with their whole values, nested reorderings included.
		{`{"z":{"d":[{"y":1,"x":2}],"c":"\u00e9"},"y":[3,{"b":{"q":1,"p":2},"a":0}],"x":"\/"}`,
			`{"x":"/","y":[3,{"a":0,"b":{"p":2,"q":1}}],"z":{"c":"é","d":[{"x":2,"y":1}]}}`},
		{`[1.0, -0, 1E+3, 1e400, 100000000000000000000000000001]`, `[1.0,-0,1E+3,1e400,100000000000000000000000000001]`},
		{"\"\xef\xbf\xbd\"", "\"\uFFFD\""},
	} {
		got, err := canonjson.Canonicalize([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("Canonicalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCanonicalizeManyMembers(t *testing.T) {
	// Beyond any small-object fast path: 300 keys in reverse order, some
	// written with escapes.
	var in, want strings.Builder
	in.WriteByte('{')
	for i := 299; i >= 0; i-- {
		if i != 299 {
			in.WriteByte(',')
		}
		k := string(rune('a'+i/26%26)) + string(rune('a'+i%26)) + strings.Repeat("x", i%3)
		if i%2 == 0 {
			in.WriteString(`"\u00` + "6" + string("123456789abcdef"[k[0]-'a']) + k[1:] + `":` + string(rune('0'+i%10)))
		} else {
			in.WriteString(`"` + k + `":` + string(rune('0'+i%10)))
		}
	}
	in.WriteByte('}')
	want.WriteByte('{')
	for i := 0; i < 300; i++ {
		if i > 0 {
			want.WriteByte(',')
		}
		k := string(rune('a'+i/26%26)) + string(rune('a'+i%26)) + strings.Repeat("x", i%3)
		want.WriteString(`"` + k + `":` + string(rune('0'+i%10)))
	}
	want.WriteByte('}')
	got, err := canonjson.Canonicalize([]byte(in.String()))
	if err != nil || string(got) != want.String() {
		t.Fatalf("got %s, %v\nwant %s", got, err, want.String())
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tt := range []struct {
		in     string
		offset int64
		msg    string
	}{
		{``, 0, "empty input"},
		{" \n", 2, "only whitespace"},
		{"\xef\xbb\xbf{}", 0, "byte order mark"},
		{` {} x`, 4, "trailing data after the JSON value, which ends at byte 2"},
		{`{"a":1,"a":2}`, 7, `duplicate key "a" (first at byte 1)`},
		{`{"b":1,"a":2,"b":3}`, 13, `duplicate key "b" (first at byte 1)`},
		{`{"a":1,"\u0061":2}`, 7, `duplicate key "a" (first at byte 1)`},
		{`{"x":"\ud800"}`, 6, `lone surrogate \ud800`},
		{`["ok","\ud800\u0041"]`, 7, `lone surrogate \ud800`},
		{`"\udc00"`, 1, `lone surrogate \udc00: a low surrogate`},
		{`"ab\x"`, 3, `invalid escape '\' followed by 'x'`},
		{`"\u12G4"`, 1, `invalid \u escape`},
		{`"\u12`, 5, "unexpected end of input"},
		{"\"a\tb\"", 2, "raw control character 0x09"},
		{"[\"\xed\xa0\x80\"]", 2, "invalid UTF-8 byte 0xed"},
		{"[1,\xff]", 3, "expected a JSON value, found invalid UTF-8 byte 0xff"},
		{"\u00a0{}", 0, "expected a JSON value, found U+00a0"},
		{`01`, 0, "leading zeros"},
		{`[1.]`, 3, "a digit must follow the decimal point, found ']'"},
		{`1e`, 2, "unexpected end of input: expected a digit in the exponent"},
		{`-`, 1, "unexpected end of input"},
		{`-x`, 1, "a digit must follow '-'"},
		{`+1`, 0, "may not start with '+'"},
		{`.5`, 0, "digit before the decimal point"},
		{`[NaN]`, 1, "NaN is not a JSON number"},
		{`-Infinity`, 0, "-Infinity is not a JSON number"},
		{`nul`, 3, "unexpected end of input: expected the rest of null"},
		{`True`, 0, "expected a JSON value, found 'T'"},
		{`tru e`, 0, "invalid literal"},
		{`{"a" 1}`, 5, "expected ':' after an object key, found '1'"},
		{`{a:1}`, 1, "expected a double-quoted object key, found 'a'"},
		{`{"a":1,}`, 6, "trailing comma before '}'"},
		{`[1,]`, 2, "trailing comma before ']'"},
		{`[1 2]`, 3, "expected ',' or ']'"},
		{`{"a":1 "b":2}`, 7, "expected ',' or '}'"},
		{`{"a":[1,2`, 9, "unexpected end of input: expected ',' or ']'"},
		{`"abc`, 4, "unexpected end of input inside the string opened at byte 0"},
		{strings.Repeat("[", 1001) + strings.Repeat("]", 1001), 1000, "nested deeper than 1000 levels"},
	} {
		_, err := canonjson.Canonicalize([]byte(tt.in))
		var se *canonjson.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Canonicalize(%q): error %v is not a *SyntaxError", tt.in, err)
			continue
		}
		if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Canonicalize(%q): offset %d, %q; want offset %d, %q", tt.in, se.Offset, se.Msg, tt.offset, tt.msg)
		}
		if !strings.Contains(err.Error(), "byte ") {
			t.Errorf("Error() does not give the offset: %s", err)
		}
	}
}

func TestCanonicalizeObject(t *testing.T) {
	got, err := canonjson.CanonicalizeObject([]byte(` {"b":2,"a":1} `))
	if err != nil || string(got) != `{"a":1,"b":2}` {
		t.Fatalf("got %s, %v", got, err)
	}
	for in, what := range map[string]string{
		`[]`:       "found an array",
		` "x"`:     "found a string",
		`true`:     "found a boolean",
		`false`:    "found a boolean",
		`null`:     "found null",
		`-1`:       "found a number",
		`7`:        "found a number",
		``:         "empty input",
		"\t":       "only whitespace",
		"\xef{}":   "invalid UTF-8",
		`{"a":1}x`: "trailing data",
	} {
		_, err := canonjson.CanonicalizeObject([]byte(in))
		if err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("CanonicalizeObject(%q) = %v, want an error saying %q", in, err, what)
		}
	}
}

// TestCanonicalizeDoesNotModifyInput: the result never aliases the input.
func TestCanonicalizeDoesNotModifyInput(t *testing.T) {
	in := []byte(`{"b":"\u0041","a":[2,1]}`)
	orig := bytes.Clone(in)
	out, err := canonjson.Canonicalize(in)
	if err != nil {
		t.Fatal(err)
	}
	out[0] = 'X'
	if !bytes.Equal(in, orig) {
		t.Fatalf("input changed to %q", in)
	}
	in = []byte(`{"a":1}`)
	out, _ = canonjson.Canonicalize(in)
	out[0] = 'X'
	if in[0] != '{' {
		t.Fatal("the result aliases the input")
	}
}

func TestMarshal(t *testing.T) {
	type inner struct {
		Z string `json:"z"`
		A int    `json:"a"`
	}
	v := map[string]any{
		"struct": inner{Z: "<&>\u2028\u2029", A: 1},
		"raw":    json.RawMessage(`{"y" : 1, "x" : "\u0041"}`),
		"num":    json.Number("1.0E+3"),
		"float":  1e21,
		"bad":    "a\xffb",
	}
	got, err := canonjson.Marshal(v)
	want := "{\"bad\":\"a\uFFFDb\",\"float\":1e+21,\"num\":1.0E+3,\"raw\":{\"x\":\"A\",\"y\":1},\"struct\":{\"a\":1,\"z\":\"<&>\u2028\u2029\"}}"
	if err != nil || string(got) != want {
		t.Fatalf("Marshal = %s, %v\nwant %s", got, err, want)
	}
	if _, err := canonjson.Marshal(json.RawMessage(`"\ud800"`)); err == nil || !strings.Contains(err.Error(), "lone surrogate") {
		t.Errorf("a lone surrogate in a RawMessage: %v", err)
	}
	if _, err := canonjson.Marshal(math.NaN()); err == nil {
		t.Error("NaN marshalled")
	}
	// For the value types Append takes, Marshal and Append agree.
	for _, v := range appendValues() {
		m, err := canonjson.Marshal(v)
		if err != nil || string(m) != string(canonjson.Append(nil, v)) {
			t.Errorf("Marshal(%#v) = %s, %v; Append gives %s", v, m, err, canonjson.Append(nil, v))
		}
	}
}

func appendValues() []any {
	return []any{
		nil, true, false, "", "plain", "a\"b\\c\n\r\t\b\f\x00\x1f\x7f/<>&\u2028\u2029é😀",
		json.Number("0"), json.Number("-0.0"), json.Number("1e400"), json.Number(""),
		0.0, math.Copysign(0, -1), 1.5, 1e21, 1e20, 1e-7, 1e-6, 0.1, -123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64,
		0, -7, int64(math.MaxInt64), int64(math.MinInt64),
		[]any{}, map[string]any{},
		[]any{1, "x", nil, []any{map[string]any{"b": 1, "a": []any{}}}},
		map[string]any{"b": 1.5, "a": int64(2), "c": 3, "d": json.Number(""), "\n": "nl", " ": "sp", "é": "e", "\ue000": 1, "😀": 2},
		manyKeys(40),
	}
}

func manyKeys(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[strings.Repeat("k", i%7)+string(rune('A'+i))] = i
	}
	return m
}

// TestAppendMatchesMarshal: the fast path writes what Marshal (the Go
// value through encoding/json, then canonicalized) writes.
func TestAppendMatchesMarshal(t *testing.T) {
	for _, v := range appendValues() {
		m, err := canonjson.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", v, err)
		}
		if got, want := canonjson.Append([]byte("x"), v), append([]byte("x"), m...); !bytes.Equal(got, want) {
			t.Errorf("Append(%#v) = %s, Marshal %s", v, got, want)
		}
	}
	s := "a\"b\\\x00\x01\x1f\x7f\u2028</>"
	if got := string(canonjson.AppendString(nil, s)); got != "\"a\\\"b\\\\\\u0000\\u0001\\u001f\x7f\u2028</>\"" {
		t.Errorf("AppendString = %s", got)
	}
}

func TestAppendPanics(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), math.Inf(-1), float32(1), uint(1), []string{}, map[string]string{}, struct{}{}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Append(%T %v) did not panic", v, v)
				}
			}()
			canonjson.Append(nil, v)
		}()
	}
}

// TestAppendMatchesCanonicalize: the fast path over decoded values writes
// the same bytes as the scanner over the text they were decoded from.
func TestAppendMatchesCanonicalize(t *testing.T) {
	inputs := []string{
		`{"b":1,"a":[1,2,{"z":"\u00e9\n\/","y":null}]}`,
		`{"\ue000":1,"\ud83d\ude00":2,"\u0000":3," ":4,"\"":5}`,
		`[1.0,-0,-0.0,1E+3,1e400,-1e-400,100000000000000000000000000001,0.5e-3]`,
		`"\u001F\u007f<>&\u2028\u2029\b\f\n\r\t\"\\\/"`,
		`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`,
		`true`, `null`, `[]`, `{}`, `""`,
		strings.Repeat("[", canonjson.MaxDepth) + strings.Repeat("]", canonjson.MaxDepth),
	}
	f := loadVectors(t)
	for _, v := range f.Vectors {
		if v.Canonical != nil {
			inputs = append(inputs, string(v.input(t)))
		}
	}
	for _, in := range inputs {
		want, err := canonjson.Canonicalize([]byte(in))
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		// Decoded by the strict record decoder, which keeps numbers verbatim
		// (it refuses numbers beyond the float64 range).
		if v, derr := records.DecodeJSON([]byte(in), records.DecodeOptions{MaxDepth: canonjson.MaxDepth}); derr == nil {
			if got := canonjson.Append(nil, v); !bytes.Equal(got, want) {
				t.Errorf("records decode of %q: Append = %q, Canonicalize = %q", in, got, want)
			}
		} else if !strings.Contains(derr.Error(), "float64 range") {
			t.Errorf("records.DecodeJSON refuses %q, which Canonicalize accepts: %v", in, derr)
		}
		// Decoded by encoding/json with UseNumber.
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			if !strings.Contains(err.Error(), "exceeded max depth") {
				t.Errorf("encoding/json refuses %q: %v", in, err)
			}
			continue
		}
		if got := canonjson.Append(nil, v); !bytes.Equal(got, want) {
			t.Errorf("encoding/json decode of %q: Append = %q, Canonicalize = %q", in, got, want)
		}
	}
}

func TestAllocations(t *testing.T) {
	in := []byte(`{"unit":"celsius","value":21.5,"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","tags":["a","b"],"pos":{"lon":-4.25e0,"lat":52.1},"note":"caf\u00e9"}`)
	canonjson.Canonicalize(in) // warm the pool
	if n := testing.AllocsPerRun(200, func() { canonjson.Canonicalize(in) }); n > 1 {
		t.Errorf("Canonicalize allocates %v times per call, want 1 (the result)", n)
	}
	v, derr := records.DecodeJSON(in, records.DecodeOptions{})
	if derr != nil {
		t.Fatal(derr)
	}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(200, func() { buf = canonjson.Append(buf[:0], v) }); n != 0 {
		t.Errorf("Append allocates %v times per call, want 0", n)
	}
}

// TestAppendStringWordAtATime checks the eight-bytes-at-a-time scan in
// AppendString against a byte-at-a-time reference, on strings that put
// every byte value at every position of a word.
func TestAppendStringWordAtATime(t *testing.T) {
	ref := func(s string) string {
		var b strings.Builder
		b.WriteByte('"')
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '"' || c == '\\':
				b.WriteString(`\` + string(c))
			case c == '\b':
				b.WriteString(`\b`)
			case c == '\f':
				b.WriteString(`\f`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				b.WriteString(`\u00` + hex.EncodeToString([]byte{c}))
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		return b.String()
	}
	for c := range 256 {
		for pos := range 19 {
			for _, fill := range []byte{'a', 0x7f, 0x80, 0xff, 0x1f, 0x21, 0x5b, 0x5d} {
				b := bytes.Repeat([]byte{fill}, 19)
				b[pos] = byte(c)
				for _, s := range []string{string(b), string(b[:pos+1]), string(b[pos:])} {
					if got, want := string(canonjson.AppendString(nil, s)), ref(s); got != want {
						t.Fatalf("AppendString(%q) = %q, want %q", s, got, want)
					}
				}
			}
		}
	}
}
