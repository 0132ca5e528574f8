package canonjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/records"
)

// FuzzCanonicalize checks, for any input:
//   - Canonicalize never panics, and refuses only with a *SyntaxError
//     inside the input;
//   - what it accepts is valid JSON (json.Valid), and so is its output;
//   - the output is a fixed point (canonicalizing it again changes nothing);
//   - the output decodes (encoding/json, UseNumber) to a value
//     reflect.DeepEqual to the input's (an accepted input has no duplicate
//     keys and no lone surrogates, on which encoding/json would differ);
//   - whatever the strict record decoder accepts is accepted, and Append of
//     the decoded value equals the output.
//
// The seed corpus is in testdata/fuzz/FuzzCanonicalize; the shared vectors
// are added too.
func FuzzCanonicalize(f *testing.F) {
	for _, v := range loadVectors(f).Vectors {
		if in := v.input(f); len(in) < 4096 {
			f.Add(in)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := canonjson.Canonicalize(in)
		v, derr := records.DecodeJSON(in, records.DecodeOptions{MaxDepth: canonjson.MaxDepth})
		if err != nil {
			var se *canonjson.SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > int64(len(in)) {
				t.Fatalf("Canonicalize(%q): error %#v is not a *SyntaxError within the input", in, err)
			}
			if derr == nil {
				t.Fatalf("Canonicalize(%q) refuses what the record decoder accepts: %v", in, err)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("Canonicalize accepts %q, which encoding/json says is not JSON", in)
		}
		if !json.Valid(out) {
			t.Fatalf("Canonicalize(%q) = %q, not valid JSON", in, out)
		}
		again, err := canonjson.Canonicalize(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
		want, werr := decodeStd(in)
		got, gerr := decodeStd(out)
		switch {
		case werr != nil && strings.Contains(werr.Error(), "exceeded max depth"):
		case werr != nil || gerr != nil:
			t.Fatalf("encoding/json: input %q: %v; output %q: %v", in, werr, out, gerr)
		case !reflect.DeepEqual(got, want):
			t.Fatalf("%q decodes to %#v, its canonical form %q to %#v", in, want, out, got)
		}
		if derr == nil {
			if a := canonjson.Append(nil, v); !bytes.Equal(a, out) {
				t.Fatalf("%q: Append(decoded) = %q, Canonicalize = %q", in, a, out)
			}
		} else if derr.Rule != records.RuleJSONNumberRange {
			t.Fatalf("Canonicalize accepts %q, the record decoder refuses it: %v", in, derr)
		}
	})
}

func decodeStd(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return v, nil
}
