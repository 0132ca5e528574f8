package canonjson_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/pawl-dev/pawl/audit/canonjson"
)

// vectorsPath is the vector file shared with build/verify-trail.py.
const vectorsPath = "../../testdata/canonical-json/vectors.json"

type vector struct {
	Name        string  `json:"name"`
	Input       *string `json:"input"`
	InputBase64 *string `json:"input_base64"`
	Canonical   *string `json:"canonical"`
	Error       *string `json:"error"`
}

type vectorFile struct {
	Spec     string   `json:"spec"`
	MaxDepth int      `json:"max_depth"`
	Vectors  []vector `json:"vectors"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f vectorFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", vectorsPath, err)
	}
	return f
}

// input returns the vector's input bytes.
func (v vector) input(t testing.TB) []byte {
	t.Helper()
	switch {
	case v.Input != nil && v.InputBase64 == nil:
		return []byte(*v.Input)
	case v.InputBase64 != nil && v.Input == nil:
		b, err := base64.StdEncoding.DecodeString(*v.InputBase64)
		if err != nil {
			t.Fatalf("vector %q: %v", v.Name, err)
		}
		return b
	}
	t.Fatalf("vector %q: want exactly one of input and input_base64", v.Name)
	return nil
}

func TestVectors(t *testing.T) {
	f := loadVectors(t)
	if f.MaxDepth != canonjson.MaxDepth {
		t.Errorf("vectors say max_depth %d, the package %d", f.MaxDepth, canonjson.MaxDepth)
	}
	if f.Spec != "docs/audit-format.md#canonical-json" {
		t.Errorf("spec = %q", f.Spec)
	}
	if len(f.Vectors) < 60 {
		t.Errorf("only %d vectors", len(f.Vectors))
	}
	seen := map[string]bool{}
	var accepted, refused int
	for _, v := range f.Vectors {
		if seen[v.Name] {
			t.Errorf("vector name %q used twice", v.Name)
		}
		seen[v.Name] = true
		in := v.input(t)
		got, err := canonjson.Canonicalize(in)
		switch {
		case (v.Canonical == nil) == (v.Error == nil):
			t.Errorf("vector %q: want exactly one of canonical and error", v.Name)
		case v.Canonical != nil:
			accepted++
			if err != nil {
				t.Errorf("vector %q: %q refused: %v", v.Name, in, err)
				continue
			}
			if string(got) != *v.Canonical {
				t.Errorf("vector %q: Canonicalize(%q) = %q, want %q", v.Name, in, got, *v.Canonical)
			}
			again, err := canonjson.Canonicalize(got)
			if err != nil || string(again) != string(got) {
				t.Errorf("vector %q: canonical form %q is not a fixed point: %q, %v", v.Name, got, again, err)
			}
		default:
			refused++
			var se *canonjson.SyntaxError
			if err == nil {
				t.Errorf("vector %q: %q accepted as %q, want an error (%s)", v.Name, in, got, *v.Error)
			} else if !errors.As(err, &se) || se.Offset < 0 || se.Offset > int64(len(in)) {
				t.Errorf("vector %q: error %#v is not a *SyntaxError within the input", v.Name, err)
			}
		}
	}
	t.Logf("%d vectors: %d canonical, %d refused", len(f.Vectors), accepted, refused)
}
