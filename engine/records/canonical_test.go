package records

import (
	"encoding/json"
	"testing"

	"github.com/pawl-dev/pawl/audit/canonjson"
)

func TestAppendCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{ "b" : 1 , "a" : [ true , null , "x" ] }`, `{"a":[true,null,"x"],"b":1}`},
		{`{"é":1,"z":2,"A":3,"":4}`, `{"":4,"A":3,"z":2,"é":1}`}, // byte order, not locale
		{`[1.50, -0, 1E+2, 1e-400]`, `[1.50,-0,1E+2,1e-400]`},    // numbers verbatim
		{`"\u0041\u00e9\/\u2028\u2029<>&"`, "\"Aé/\u2028\u2029<>&\""},
		{`"\"\\\b\f\n\r\t\u0000\u001f\u007f"`, "\"\\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\""},
		{`{"k":{"y":[],"x":{}}}`, `{"k":{"x":{},"y":[]}}`},
	}
	for _, tt := range tests {
		v, err := DecodeJSON([]byte(tt.in), DecodeOptions{})
		if err != nil {
			t.Fatalf("DecodeJSON(%q): %v", tt.in, err)
		}
		got := string(canonjson.Append(nil, v))
		if got != tt.want {
			t.Errorf("canonjson.Append(%s) = %s, want %s", tt.in, got, tt.want)
		}
		again, err := DecodeJSON([]byte(got), DecodeOptions{})
		if err != nil || string(canonjson.Append(nil, again)) != got {
			t.Errorf("canonical form %s is not a fixed point (%v)", got, err)
		}
	}
}

func TestAppendCanonicalAppends(t *testing.T) {
	got := canonjson.Append([]byte("x"), map[string]any{"b": 1.5, "a": int64(2), "c": 3, "d": json.Number("")})
	if string(got) != `x{"a":2,"b":1.5,"c":3,"d":0}` {
		t.Errorf("got %s", got)
	}
	if got := string(canonjson.Append(nil, []any{1e21, 1e-7, 0.1})); got != `[1e+21,1e-7,0.1]` {
		t.Errorf("floats: %s", got)
	}
}

func TestAppendCanonicalRefusesWhatItCannotWrite(t *testing.T) {
	for _, v := range []any{struct{}{}, []string{"a"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("canonjson.Append(%T) did not panic", v)
				}
			}()
			canonjson.Append(nil, v)
		}()
	}
}
