package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/plugins/pdk"
)

var updateVectors = flag.Bool("update", false, "rewrite testdata/vectors/*.bin and the verdicts in vectors.json")

// vectorFile is testdata/vectors/vectors.json: the ABI's messages as files
// (docs/plugin-abi.md §3, plugins/c/pawl_abi.h), for a guest in any
// language to check its reading of batches and its writing of results
// against. Each batch is the bytes the host hands pawl_validate; each
// result is bytes a guest may return, with the verdicts the host reads
// from them, or its refusal.
type vectorFile struct {
	Batches []struct {
		File   string    `json:"file"`
		Fields []Field   `json:"fields"`
		First  uint64    `json:"first"`
		AsOf   time.Time `json:"as_of"`
		// Values: one row a record, one value a field; null is absent.
		Values [][]any `json:"values"`
		// Module, when given, is run over the batch in the sandbox and
		// must give Verdicts.
		Module   string    `json:"module,omitempty"`
		Verdicts []Verdict `json:"verdicts,omitempty"`
	} `json:"batches"`
	Results []struct {
		File       string    `json:"file"`
		N          int       `json:"n"`
		Fields     []Field   `json:"fields"`
		Transforms bool      `json:"transforms"`
		Verdicts   []Verdict `json:"verdicts,omitempty"`
		Error      string    `json:"error,omitempty"`
	} `json:"results"`
}

// vectorResults builds the results' bytes: the Go kit's writer, then a
// few bytes changed for the ones the host must refuse.
func vectorResults() map[string][]byte {
	r := pdk.NewResult(3)
	r.Reject(0, 0, "range.min", "value -300 is below the minimum -273.15")
	r.Reject(2, pdk.Whole, "record.whole", "a reason about the record as a whole")
	r.Reject(0, 1, "unit.known", `unit "K" is not one of celsius, fahrenheit, kelvin`)
	reasons := append([]byte(nil), r.Bytes()...)
	t := pdk.NewResult(2)
	t.ReplaceNumber(0, 0, 21.5)
	t.ReplaceString(1, 1, "kelvin")
	t.Remove(1, 0)
	wrongN := append([]byte(nil), reasons...)
	wrongN[4] = 2
	return map[string][]byte{
		"result-empty.bin":        {},
		"result-none.bin":         append([]byte(nil), pdk.NewResult(3).Bytes()...),
		"result-reasons.bin":      reasons,
		"result-replacements.bin": append([]byte(nil), t.Bytes()...),
		"result-trailing.bin":     append(append([]byte(nil), reasons...), 0),
		"result-wrong-n.bin":      wrongN,
	}
}

func TestVectors(t *testing.T) {
	dir := filepath.Join("testdata", "vectors")
	index := filepath.Join(dir, "vectors.json")
	raw, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&vf); err != nil {
		t.Fatalf("%s: %v", index, err)
	}
	check := func(name string, want []byte) {
		t.Helper()
		path := filepath.Join(dir, name)
		if *updateVectors {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./engine/sandbox -run TestVectors -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not the bytes the host and the Go kit make now: review, then -update", path)
		}
	}
	rt := newRuntime(t, Config{})
	for i := range vf.Batches {
		v := &vf.Batches[i]
		b := NewBatch(v.Fields, len(v.Values))
		b.First = v.First
		for r, row := range v.Values {
			for j, x := range row {
				switch x := x.(type) {
				case float64:
					b.SetNumber(j, r, x)
				case string:
					b.SetString(j, r, x)
				case bool:
					b.SetBool(j, r, x)
				}
			}
		}
		msg, err := b.Encode(v.Fields, v.AsOf)
		if err != nil {
			t.Fatal(err)
		}
		check(v.File, msg)
		if v.Module == "" {
			continue
		}
		wasm, err := os.ReadFile(filepath.Join(dir, v.Module))
		if err != nil {
			t.Fatal(err)
		}
		p, err := rt.Load(context.Background(), wasm, Pin(wasm))
		if err != nil {
			t.Fatal(err)
		}
		in, err := p.NewInstance(context.Background(), InstanceConfig{AsOf: v.AsOf, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		got, err := in.Validate(context.Background(), b)
		in.Close(context.Background())
		if err != nil {
			t.Fatalf("%s over %s: %v", v.Module, v.File, err)
		}
		if *updateVectors {
			v.Verdicts = got
		} else if g, w := mustJSON(t, got), mustJSON(t, v.Verdicts); g != w {
			t.Errorf("%s over %s: verdicts\n%s\nwant\n%s", v.Module, v.File, g, w)
		}
	}
	results := vectorResults()
	for i := range vf.Results {
		v := &vf.Results[i]
		msg, ok := results[v.File]
		if !ok {
			t.Fatalf("%s: no such result in vectorResults", v.File)
		}
		check(v.File, msg)
		got, err := decodeResult(msg, v.N, v.Fields, v.Transforms)
		if *updateVectors {
			v.Verdicts, v.Error = got, ""
			if err != nil {
				v.Error = err.Error()
			}
			continue
		}
		switch {
		case v.Error != "" && (err == nil || err.Error() != v.Error):
			t.Errorf("%s: %v, want the refusal %q", v.File, err, v.Error)
		case v.Error == "" && err != nil:
			t.Errorf("%s: %v", v.File, err)
		case v.Error == "" && mustJSON(t, got) != mustJSON(t, v.Verdicts):
			t.Errorf("%s: verdicts\n%s\nwant\n%s", v.File, mustJSON(t, got), mustJSON(t, v.Verdicts))
		}
	}
	if *updateVectors {
		out, err := json.MarshalIndent(vf, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(index, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
