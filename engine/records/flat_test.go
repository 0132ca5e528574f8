package records

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/audit/canonjson"
)

// checkFlat is the property ScanFlat keeps, both ways: what it accepts,
// DecodeJSON decodes to the same members and canonjson writes as
// AppendFlat does; and what it ought to accept (a flat object of printable,
// unescaped strings and plain numbers) it does accept. accepted says which.
func checkFlat(t *testing.T, b []byte) (accepted bool) {
	t.Helper()
	ms, ok := ScanFlat(string(b), nil)
	v, err := DecodeJSON(b, DecodeOptions{RequireObject: true})
	if !ok {
		if err == nil && shouldBeFlat(b, v) {
			t.Fatalf("ScanFlat refused %q, a flat record", b)
		}
		return false
	}
	if err != nil {
		t.Fatalf("ScanFlat accepted %q, which DecodeJSON refuses: %v", b, err)
	}
	m := v.(map[string]any)
	if len(m) != len(ms) || len(ms) > MaxFlatMembers {
		t.Fatalf("%q: ScanFlat gave %d members, DecodeJSON %d", b, len(ms), len(m))
	}
	for i, fm := range ms {
		if i > 0 && ms[i-1].Key >= fm.Key {
			t.Fatalf("%q: members not sorted and distinct: %q then %q", b, ms[i-1].Key, fm.Key)
		}
		got, ok := m[fm.Key]
		if !ok {
			t.Fatalf("%q: ScanFlat's key %q is not DecodeJSON's", b, fm.Key)
		}
		var want any
		switch fm.Kind {
		case FlatString:
			want = fm.Value[1 : len(fm.Value)-1]
		case FlatNumber:
			want = json.Number(fm.Value)
		case FlatBool:
			want = fm.Value == "true"
		case FlatNull:
			want = nil
		default:
			t.Fatalf("%q: member %q has kind %d", b, fm.Key, fm.Kind)
		}
		if got != want {
			t.Fatalf("%q: member %q is %#v (%q), DecodeJSON says %#v", b, fm.Key, want, fm.Value, got)
		}
	}
	if want, got := canonjson.Append(nil, v), AppendFlat(nil, ms); !bytes.Equal(want, got) {
		t.Fatalf("%q: AppendFlat wrote %q, canonjson.Append %q", b, got, want)
	}
	return true
}

// shouldBeFlat reports whether the decoded record v of text b is one that
// ScanFlat must accept.
func shouldBeFlat(b []byte, v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) > MaxFlatMembers || bytes.IndexByte(b, '\\') >= 0 {
		return false
	}
	printable := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7E {
				return false
			}
		}
		return true
	}
	for k, x := range m {
		if !printable(k) {
			return false
		}
		switch x := x.(type) {
		case string:
			if !printable(x) {
				return false
			}
		case json.Number:
			s := strings.TrimPrefix(string(x), "-")
			if i := strings.IndexByte(s, '.'); i >= 0 {
				s = s[:i]
			}
			if strings.ContainsAny(string(x), "eE") || len(s) > 308 {
				return false
			}
		case bool, nil:
		default:
			return false
		}
	}
	return true
}

func TestScanFlat(t *testing.T) {
	accept := []string{
		`{}`, ` { } `, "{\"a\":1}\r", `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`,
		`{ "b" : true , "a" : false , "c" : null , "" : "" , "d" : -0.0 , "e" : "~ !#/<>&" }`,
		`{"z":1,"y":2,"x":3,"w":4,"v":5,"u":6,"t":7,"s":8,"r":9,"q":10,"p":11,"o":12,"n":13,"m":14,"l":15,"k":16}`,
		`{"n":` + strings.Repeat("9", 308) + `.5}`,
	}
	refuse := []string{
		``, ` `, `[]`, `1`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{"a":1}x`, `{"a":1}{}`,
		`{"a":1,"a":2}`, `{"b":1,"a":2,"b":3}`, `{"a":[1]}`, `{"a":{}}`, `{"a":"\n"}`, `{"a\u0062":1}`, `{"a":"é"}`,
		"{\"a\":\"\x7f\"}", "{\"a\":\"\t\"}", "\xEF\xBB\xBF{}", `{"a":1e2}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":tru}`,
		`{"a":truex}`, `{"a":nul}`, `{"a":NaN}`, `{"a":"x}`, `{"n":` + strings.Repeat("9", 309) + `}`,
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17}`,
	}
	for _, s := range accept {
		if !checkFlat(t, []byte(s)) {
			t.Errorf("ScanFlat refused %q", s)
		}
	}
	for _, s := range refuse {
		if checkFlat(t, []byte(s)) {
			t.Errorf("ScanFlat accepted %q", s)
		}
	}
	// Appending after members already in the slice keeps them.
	ms, ok := ScanFlat(`{"b":2,"a":1}`, []FlatMember{{Key: "zz"}})
	if !ok || len(ms) != 3 || ms[0].Key != "zz" || ms[1].Key != "a" || ms[2].Key != "b" {
		t.Errorf("ScanFlat after a member: %v %+v", ok, ms)
	}
}

// TestScanFlatCorpora holds the property over the decoder's seeds and fuzz
// corpus, the canonical-JSON vectors, and the Big List of Naughty Strings,
// each string as a value and as a key.
func TestScanFlatCorpora(t *testing.T) {
	var inputs [][]byte
	for _, s := range decodeSeeds {
		inputs = append(inputs, []byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeJSON", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// go test fuzz v1, then one []byte("...") line.
		lines := strings.SplitN(string(b), "\n", 2)
		if len(lines) < 2 {
			continue
		}
		lit := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(lines[1]), "[]byte("), ")")
		s, err := strconv.Unquote(lit)
		if err != nil {
			continue // another argument type
		}
		inputs = append(inputs, []byte(s))
	}
	vec, err := os.ReadFile(filepath.Join("..", "..", "testdata", "canonical-json", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors struct {
		Vectors []struct{ Input, Canonical string }
	}
	if err := json.Unmarshal(vec, &vectors); err != nil || len(vectors.Vectors) == 0 {
		t.Fatalf("vectors.json: %v (%d vectors)", err, len(vectors.Vectors))
	}
	for _, v := range vectors.Vectors {
		inputs = append(inputs, []byte(v.Input), []byte(v.Canonical))
	}
	blns, err := os.ReadFile(filepath.Join("..", "..", "testdata", "naughty-strings", "blns.json"))
	if err != nil {
		t.Fatal(err)
	}
	var naughty []string
	if err := json.Unmarshal(blns, &naughty); err != nil {
		t.Fatalf("blns.json: %v", err)
	}
	for _, s := range naughty {
		q, _ := json.Marshal(s) // escapes <, >, & and more: both spellings below
		raw := `"` + s + `"`
		for _, lit := range []string{string(q), raw} {
			inputs = append(inputs, []byte(`{"k":`+lit+`,"n":1}`), []byte(`{`+lit+`:"v"}`), []byte(`{"a":1,`+lit+`:2}`))
		}
	}
	accepted := 0
	for _, b := range inputs {
		if checkFlat(t, b) {
			accepted++
		}
	}
	// Both sides of the property are exercised.
	if accepted < 100 || accepted > len(inputs)-100 {
		t.Errorf("%d of %d inputs accepted: the corpora do not test both sides", accepted, len(inputs))
	}
}

// TestJSONLText: the JSONL reader's Record.Text is the record's bytes,
// still after many blocks of text were filled; "" only for a line too long
// for a block, whose Raw is then its own.
func TestJSONLText(t *testing.T) {
	var in bytes.Buffer
	for i := range 3000 {
		fmt.Fprintf(&in, "{\"i\":%d,\"s\":%q}\n", i, strings.Repeat("x", i%300))
		if i%1000 == 0 {
			fmt.Fprintf(&in, "%s\n", strings.Repeat("y", rawBlockMax+1))
		}
	}
	r := NewJSONLReader(&in, Options{})
	var recs []*Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != 3003 {
		t.Fatalf("%d records, want 3003", len(recs))
	}
	for _, rec := range recs {
		if long := len(rec.Raw) > rawBlockMax; long && rec.Text != "" || !long && rec.Text != string(rec.Raw) {
			t.Fatalf("record %d: Text %q, Raw %q", rec.Ordinal, rec.Text, rec.Raw)
		}
	}
}

func FuzzScanFlat(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"b":true,"a":false,"c":null,"":"","d":-0.0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFlat(t, b)
	})
}

func BenchmarkScanFlat(b *testing.B) {
	const rec = `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`
	var buf [MaxFlatMembers]FlatMember
	var out []byte
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		ms, ok := ScanFlat(rec, buf[:0])
		if !ok {
			b.Fatal("refused")
		}
		out = AppendFlat(out[:0], ms)
	}
}
