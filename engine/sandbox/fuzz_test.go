package sandbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/plugins/pdk"
	"github.com/tetratelabs/wazero"
)

// refSection is one section as framed by refSections.
type refSection struct {
	start int // offset of the id byte
	id    byte
	body  []byte
}

// refSections frames a module into sections the simple way, as the model
// the scanner's error offsets are checked against: it returns the
// sections whose id and size it could read, and, when it stopped early,
// the offset of the section it could not frame (-1 otherwise).
func refSections(wasm []byte) ([]refSection, int) {
	var out []refSection
	off := 8
	for off < len(wasm) {
		start := off
		id := wasm[off]
		off++
		var size uint64
		ok := false
		for i := 0; i < 5 && off < len(wasm); i++ {
			c := wasm[off]
			off++
			size |= uint64(c&0x7f) << (7 * i)
			if c&0x80 == 0 {
				ok = size <= math.MaxUint32
				break
			}
		}
		if !ok || uint64(len(wasm)-off) < size {
			return out, start
		}
		out = append(out, refSection{start: start, id: id, body: wasm[off : off+int(size)]})
		off += int(size)
	}
	return out, -1
}

var atByte = regexp.MustCompile(`^(section|section \d+|custom section|import section) at byte (\d+)[:,]`)

// checkScanError: a module the scanner refuses is refused either for its
// header, or with an error that names the section and the offset it starts
// at, which the simple framing agrees is a section start.
func checkScanError(t *testing.T, wasm []byte, err error) {
	t.Helper()
	msg := err.Error()
	if strings.HasPrefix(msg, "not a WebAssembly 1.0 module") {
		if len(wasm) >= 8 && bytes.Equal(wasm[:8], wasmHeader) {
			t.Fatalf("header refused, but it is the WebAssembly 1.0 header: %v", err)
		}
		return
	}
	m := atByte.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("refused without naming the section and its offset: %q", msg)
	}
	at, _ := strconv.Atoi(m[2])
	secs, bad := refSections(wasm)
	if at == bad {
		return
	}
	for _, s := range secs {
		if s.start == at {
			if m[1] == "custom section" && s.id != 0 || m[1] == "import section" && s.id != 2 {
				t.Fatalf("%q names a section of id %d", msg, s.id)
			}
			return
		}
	}
	t.Fatalf("%q: byte %d is not where a section starts (sections %v, unframeable at %d)", msg, at, secs, bad)
}

// withManifest returns wasm with the payload of every manifest section
// replaced by payload, each section in its place.
func withManifest(wasm []byte, payload []byte) []byte {
	secs, _ := refSections(wasm)
	out := append([]byte(nil), wasm[:8]...)
	for i, s := range secs {
		end := len(wasm)
		if i+1 < len(secs) {
			end = secs[i+1].start
		}
		if s.id == 0 {
			r := &reader{b: s.body}
			if name, err := r.name(); err == nil && name == ManifestSection {
				out = AppendCustomSection(out, ManifestSection, payload)
				continue
			}
		}
		out = append(out, wasm[s.start:end]...)
	}
	return out
}

func wasmSeeds(f *testing.F) {
	names, _ := filepath.Glob("testdata/*.wasm")
	for _, n := range names {
		if b, err := os.ReadFile(n); err == nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	good := `{"abi":1,"name":"x","version":"1.0.0","mode":"ordered","fields":[{"name":"v","pointer":"/v","type":"number"}],"lookups":["registry"],"config_schema":{"type":"object"}}`
	f.Add(AppendCustomSection(wasmHeader, ManifestSection, []byte(good)))
	// a function import, a memory import and the manifest
	imp := []byte{0x02, 0x00, 0x02,
		4, 'p', 'a', 'w', 'l', 3, 'l', 'o', 'g', 0x00, 0x00,
		3, 'e', 'n', 'v', 3, 'm', 'e', 'm', 0x02, 0x01, 0x01, 0x02}
	imp[1] = byte(len(imp) - 2)
	f.Add(AppendCustomSection(append(append([]byte{}, wasmHeader...), imp...), ManifestSection, []byte(good)))
	// huge and overlong LEB128 lengths, truncated sections
	f.Add(append(append([]byte{}, wasmHeader...), 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f))
	f.Add(append(append([]byte{}, wasmHeader...), 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00))
	f.Add(append(append([]byte{}, wasmHeader...), 0x02, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f))
	f.Add(append(append([]byte{}, wasmHeader...), 0x00, 0x06, 0xff, 0xff, 0xff, 0xff, 0x0f, 'x'))
	f.Add(append(append([]byte{}, wasmHeader...), 0x01))
	f.Add([]byte("\x00asm\x02\x00\x00\x00"))
}

// FuzzReadManifest feeds the import/custom-section scanner and
// ReadManifest arbitrary bytes:
//   - a module the scanner refuses is refused for its header or with an
//     error naming the section and the byte it starts at (a section start
//     by simple framing), and ReadManifest refuses it too;
//   - a module with a manifest ReadManifest accepts round-trips: the
//     manifest encoded again, put back in place of the manifest section,
//     is read as the same manifest (the same JSON), and the scanner then
//     sees the same imports and other custom sections;
//   - when wazero compiles the module, the scanner saw exactly the
//     function and memory imports wazero links: a plugin cannot hide an
//     import from the check that runs before compiling.
//
// Lengths are LEB128 from the input, so the seeds include huge and
// overlong ones; none may make the scanner allocate or loop beyond the
// input's size (the fuzzer's timeout catches a hang).
func FuzzReadManifest(f *testing.F) {
	wasmSeeds(f)
	ctx := context.Background()
	wrt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer wrt.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		mod, err := scanModule(wasm)
		if err != nil {
			checkScanError(t, wasm, err)
			if _, err := ReadManifest(wasm); err == nil {
				t.Fatal("ReadManifest accepts what the scanner refuses")
			}
			return
		}
		if len(wasm) <= 1<<16 {
			compareWithWazero(t, ctx, wrt, wasm, mod)
		}
		m, err := ReadManifest(wasm)
		if err != nil {
			if !strings.Contains(err.Error(), "manifest") {
				t.Fatalf("a manifest refusal that does not say so: %v", err)
			}
			return
		}
		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("an accepted manifest does not encode: %v", err)
		}
		again := withManifest(wasm, enc)
		m2, err := ReadManifest(again)
		if err != nil {
			t.Fatalf("manifest %s, put back, is refused: %v", enc, err)
		}
		enc2, _ := json.Marshal(m2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("manifest does not round-trip:\n%s\n%s", enc, enc2)
		}
		mod2, err := scanModule(again)
		if err != nil {
			t.Fatalf("rebuilt module refused: %v", err)
		}
		if !reflect.DeepEqual(mod.imports, mod2.imports) {
			t.Fatalf("imports changed: %v, then %v", mod.imports, mod2.imports)
		}
		others := func(mi *moduleInfo) (out []customSection) {
			for _, c := range mi.customs {
				if c.name != ManifestSection {
					out = append(out, c)
				}
			}
			return out
		}
		if !reflect.DeepEqual(others(mod), others(mod2)) {
			t.Fatal("custom sections other than the manifest changed")
		}
	})
}

func compareWithWazero(t *testing.T, ctx context.Context, wrt wazero.Runtime, wasm []byte, mod *moduleInfo) {
	t.Helper()
	cm, err := wrt.CompileModule(ctx, wasm)
	if err != nil {
		return
	}
	defer cm.Close(ctx)
	var want, got []string
	for _, d := range cm.ImportedFunctions() {
		m, n, _ := d.Import()
		want = append(want, fmt.Sprintf("func %s.%s", m, n))
	}
	for _, d := range cm.ImportedMemories() {
		m, n, _ := d.Import()
		want = append(want, fmt.Sprintf("memory %s.%s", m, n))
	}
	for _, im := range mod.imports {
		switch im.kind {
		case 0:
			got = append(got, fmt.Sprintf("func %s.%s", im.module, im.name))
		case 2:
			got = append(got, fmt.Sprintf("memory %s.%s", im.module, im.name))
		}
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("wazero links imports %q; the scanner saw %q", want, got)
	}
}

// resultFields are the columns of the result fuzz targets: one of each type.
var resultFields = []Field{{Name: "n", Pointer: "/n", Type: TypeNumber}, {Name: "s", Pointer: "/s", Type: TypeString}, {Name: "b", Pointer: "/b", Type: TypeBool}}

// script hands out the bytes of a fuzz input as choices.
type script struct{ b []byte }

func (s *script) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *script) text(max int) string {
	n := int(s.next()) % (max + 1)
	n = min(n, len(s.b))
	str := strings.ToValidUTF8(string(s.b[:n]), "?")
	s.b = s.b[n:]
	return str
}

func sameVerdicts(a, b []Verdict) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.OK != y.OK || len(x.Reasons) != len(y.Reasons) || len(x.Replacements) != len(y.Replacements) {
			return false
		}
		for k := range x.Reasons {
			if x.Reasons[k] != y.Reasons[k] {
				return false
			}
		}
		for k := range x.Replacements {
			p, q := x.Replacements[k], y.Replacements[k]
			if p.Field != q.Field || p.FieldIndex != q.FieldIndex || p.Value.Absent != q.Value.Absent ||
				math.Float64bits(p.Value.Num) != math.Float64bits(q.Value.Num) || p.Value.Str != q.Value.Str || p.Value.Bool != q.Value.Bool {
				return false
			}
		}
	}
	return true
}

// FuzzResultRoundTrip: a result the PDK's encoder writes for any verdicts
// (reasons on any record and field or on the whole record, every kind of
// replacement value, removals) decodes to exactly those verdicts; with a
// manifest that does not declare "transforms" it decodes the same when it
// has no replacements and is refused when it has; no strict prefix of it
// is accepted.
func FuzzResultRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{0, 1, 0xff, 3, 'r', '.', 'x', 2, 'h', 'i'}, uint8(3))
	f.Add([]byte{4, 0, 0}, uint8(0))                                                 // one removal
	f.Add([]byte{4, 0, 2, 4, 1, 1, 3, 0, 1}, uint8(1))                               // removals and a bool
	f.Add([]byte{1, 2, 0, 0, 0, 0, 0, 0xf8, 0x7f, 2, 1, 3, 'a', 'b', 'c'}, uint8(4)) // NaN, a string
	f.Fuzz(func(t *testing.T, ops []byte, nb uint8) {
		n := int(nb)%64 + 1
		s := &script{b: ops}
		r := pdk.NewResult(n)
		want := make([]Verdict, n)
		for i := range want {
			want[i].OK = true
		}
		repl := false
		for steps := 0; len(s.b) > 0 && steps < 256; steps++ {
			op, i := s.next()%5, int(s.next())%n
			v := &want[i]
			switch op {
			case 0:
				field := int(s.next())%4 - 1
				rule := "r" + s.text(maxRuleBytes-1)
				msg := s.text(255)
				r.Reject(i, field, rule, msg)
				name := ""
				if field >= 0 {
					name = resultFields[field].Name
				}
				v.OK = false
				v.Reasons = append(v.Reasons, Reason{Rule: rule, Field: name, FieldIndex: field, Message: msg})
			case 1:
				var b [8]byte
				for k := range b {
					b[k] = s.next()
				}
				x := math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
				r.ReplaceNumber(i, 0, x)
				v.Replacements = append(v.Replacements, Replacement{Field: "n", FieldIndex: 0, Value: Value{Num: x}})
			case 2:
				str := s.text(255)
				r.ReplaceString(i, 1, str)
				v.Replacements = append(v.Replacements, Replacement{Field: "s", FieldIndex: 1, Value: Value{Str: str}})
			case 3:
				x := s.next()&1 == 1
				r.ReplaceBool(i, 2, x)
				v.Replacements = append(v.Replacements, Replacement{Field: "b", FieldIndex: 2, Value: Value{Bool: x}})
			case 4:
				field := int(s.next()) % 3
				r.Remove(i, field)
				v.Replacements = append(v.Replacements, Replacement{Field: resultFields[field].Name, FieldIndex: field, Value: Value{Absent: true}})
			}
			repl = repl || op != 0
		}
		msg := r.Bytes()
		got, err := DecodeResult(msg, n, &Manifest{Fields: resultFields, Transforms: true})
		if err != nil {
			t.Fatalf("the PDK's result is refused: %v\n% x", err, msg)
		}
		if !sameVerdicts(got, want) {
			t.Fatalf("decoded %+v, encoded %+v", got, want)
		}
		got, err = DecodeResult(msg, n, &Manifest{Fields: resultFields})
		if repl != (err != nil) || err == nil && !sameVerdicts(got, want) {
			t.Fatalf("without transforms (replacements: %v): %+v, %v", repl, got, err)
		}
		for _, cut := range []int{len(msg) - 1, len(msg) / 2, 15} {
			if cut >= 0 && cut < len(msg) {
				if _, err := DecodeResult(msg[:cut], n, &Manifest{Fields: resultFields, Transforms: true}); err == nil {
					t.Fatalf("the first %d of %d bytes are accepted", cut, len(msg))
				}
			}
		}
		if _, err := DecodeResult(msg, n+1, &Manifest{Fields: resultFields, Transforms: true}); err == nil {
			t.Fatal("accepted for a batch of another size")
		}
	})
}

// FuzzDecodeResult feeds the host's result decoder arbitrary bytes (the
// header's record count is set to the batch size so that fuzzing gets past
// it). Whatever it accepts is exactly n verdicts, each consistent: OK iff
// it has no reasons, every field index in range and naming its field (or
// -1 and "" for the record as a whole), rules non-empty and within their
// limits, valid UTF-8, replacement values of the field's type, and none
// without "transforms"; decoded into a used slice of verdicts, the same.
// Accepted or not, it allocates no more than a bound
// proportional to the input and the batch size.
func FuzzDecodeResult(f *testing.F) {
	seed := func(n int, build func(r *pdk.Result)) []byte {
		r := pdk.NewResult(n)
		build(r)
		return r.Bytes()
	}
	f.Add(seed(3, func(r *pdk.Result) {}), true)
	f.Add(seed(3, func(r *pdk.Result) { r.Reject(1, 0, "range.min", "below 0"); r.Reject(2, pdk.Whole, "x", "") }), false)
	f.Add(seed(2, func(r *pdk.Result) { r.ReplaceString(0, 1, "héllo"); r.Remove(1, 2); r.ReplaceBool(1, 2, true) }), true)
	f.Add(seed(1, func(r *pdk.Result) { r.ReplaceNumber(0, 0, 2.5) }), true)
	le := binary.LittleEndian
	huge := le.AppendUint32(le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, magicResult), 1), math.MaxUint32), math.MaxUint32)
	f.Add(huge, true)
	f.Add(append(seed(1, func(r *pdk.Result) { r.ReplaceString(0, 1, "") })[:25], 0xff, 0xff, 0xff, 0x7f), true)
	f.Fuzz(func(t *testing.T, msg []byte, transforms bool) {
		n := 0
		if len(msg) >= 8 {
			n = int(le.Uint32(msg[4:]) % 1024)
			le.PutUint32(msg[4:], uint32(n))
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		v, err := decodeResult(msg, n, resultFields, transforms)
		runtime.ReadMemStats(&after)
		if alloc, bound := after.TotalAlloc-before.TotalAlloc, uint64(64*len(msg)+128*n+1<<16); alloc > bound {
			t.Fatalf("decoding %d bytes for %d records allocated %d bytes (bound %d)", len(msg), n, alloc, bound)
		}
		if err != nil {
			if v != nil {
				t.Fatal("verdicts alongside an error")
			}
			return
		}
		if len(v) != n {
			t.Fatalf("%d verdicts for %d records", len(v), n)
		}
		// Decoded into a used slice of verdicts (ValidateInto): the same
		// verdicts, in that slice, nothing of what it held left.
		used := make([]Verdict, n+1)
		for i := range used {
			used[i] = Verdict{Reasons: []Reason{{Rule: "stale"}}, Replacements: []Replacement{{Field: "stale"}}}
		}
		if again, err := decodeResultInto(msg, n, resultFields, transforms, used); err != nil || !sameVerdicts(again, v) || n > 0 && &again[0] != &used[0] {
			t.Fatalf("decoded into a used slice: %+v, %v; fresh: %+v", again, err, v)
		}
		for i, x := range v {
			if x.OK != (len(x.Reasons) == 0) {
				t.Fatalf("verdict %d: OK %v with %d reasons", i, x.OK, len(x.Reasons))
			}
			for _, r := range x.Reasons {
				if r.FieldIndex == -1 && r.Field != "" || r.FieldIndex != -1 && (r.FieldIndex < 0 || r.FieldIndex >= len(resultFields) || r.Field != resultFields[r.FieldIndex].Name) {
					t.Fatalf("verdict %d: reason field %q index %d", i, r.Field, r.FieldIndex)
				}
				if r.Rule == "" || len(r.Rule) > maxRuleBytes || len(r.Message) > maxMessageBytes || !utf8.ValidString(r.Rule) || !utf8.ValidString(r.Message) {
					t.Fatalf("verdict %d: reason %+v", i, r)
				}
			}
			if len(x.Replacements) > 0 && !transforms {
				t.Fatalf("verdict %d: replacements without transforms", i)
			}
			for _, p := range x.Replacements {
				if p.FieldIndex < 0 || p.FieldIndex >= len(resultFields) || p.Field != resultFields[p.FieldIndex].Name {
					t.Fatalf("verdict %d: replacement field %q index %d", i, p.Field, p.FieldIndex)
				}
				typ := resultFields[p.FieldIndex].Type
				if !p.Value.Absent && (typ != TypeNumber && p.Value.Num != 0 || typ != TypeString && p.Value.Str != "" || typ != TypeBool && p.Value.Bool) {
					t.Fatalf("verdict %d: %s field %q given %+v", i, typ, p.Field, p.Value)
				}
				if !utf8.ValidString(p.Value.Str) {
					t.Fatalf("verdict %d: replacement string is not UTF-8", i)
				}
			}
		}
	})
}
