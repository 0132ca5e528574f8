package sandbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/plugins/pdk"
)

// TestBatchCheckRefusesMalformedBatches: a batch the host would encode for
// a guest is checked first — its size within what the message can carry,
// one column per declared field, a presence flag and a value per record —
// and each refusal says what is wrong.
func TestBatchCheckRefusesMalformedBatches(t *testing.T) {
	fields := []Field{{Name: "v", Type: TypeNumber}, {Name: "id", Type: TypeString}}
	good := func() *Batch {
		b := NewBatch(fields, 3)
		b.SetNumber(0, 1, 2.5)
		b.SetString(1, 2, "AB-1")
		return b
	}
	if err := good().check(fields); err != nil {
		t.Fatalf("a well-formed batch: %v", err)
	}
	for _, tc := range []struct {
		name  string
		b     func() *Batch
		fs    []Field
		want  string
		valid bool
	}{
		{"the largest size", func() *Batch { return &Batch{N: math.MaxInt32 / 8} }, nil, "", true},
		{"one record more than the largest", func() *Batch { return &Batch{N: math.MaxInt32/8 + 1} }, nil, "batch of 268435456 records", false},
		{"a negative size", func() *Batch { return &Batch{N: -1} }, nil, "batch of -1 records", false},
		{"a column missing", func() *Batch { b := good(); b.Columns = b.Columns[:1]; return b }, fields, "batch has 1 columns; the plugin declares 2 fields", false},
		{"presence flags short", func() *Batch { b := good(); b.Columns[0].Present = b.Columns[0].Present[:2]; return b }, fields, `column "v": 2 presence flags for 3 records`, false},
		{"no presence flags: every value present", func() *Batch { b := good(); b.Columns[0].Present = nil; return b }, fields, "", true},
		{"values short", func() *Batch { b := good(); b.Columns[1].Str = b.Columns[1].Str[:1]; return b }, fields, `column "id" (string): 1 values for 3 records`, false},
	} {
		err := tc.b().check(tc.fs)
		if tc.valid != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: check = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestSubsetKeepsEachRecordsValues: a subset (what Bisect gives a fresh
// instance) has the chosen records' values and presence, in the order
// asked, and a column without presence flags stays without.
func TestSubsetKeepsEachRecordsValues(t *testing.T) {
	fields := []Field{{Name: "v", Type: TypeNumber}, {Name: "id", Type: TypeString}, {Name: "ok", Type: TypeBool}}
	b := NewBatch(fields, 4)
	b.First = 40
	for i := range 4 {
		if i != 1 {
			b.SetNumber(0, i, float64(10*i))
		}
		if i != 2 {
			b.SetString(1, i, string(rune('a'+i)))
		}
		b.SetBool(2, i, i%2 == 0)
	}
	b.Columns[2].Present = nil // every bool present
	s := b.Subset([]int{3, 1, 2})
	if s.N != 3 || s.First != 40 || len(s.Columns) != 3 {
		t.Fatalf("subset: N %d, First %d, %d columns", s.N, s.First, len(s.Columns))
	}
	if got, want := s.Columns[0].Present, []bool{true, false, true}; !slices.Equal(got, want) {
		t.Errorf("number presence %v, want %v", got, want)
	}
	if got, want := s.Columns[0].Num, []float64{30, 0, 20}; !slices.Equal(got, want) {
		t.Errorf("numbers %v, want %v", got, want)
	}
	if got, want := s.Columns[1].Present, []bool{true, true, false}; !slices.Equal(got, want) {
		t.Errorf("string presence %v, want %v", got, want)
	}
	if got, want := s.Columns[1].Str, []string{"d", "b", ""}; !slices.Equal(got, want) {
		t.Errorf("strings %q, want %q", got, want)
	}
	if s.Columns[2].Present != nil {
		t.Errorf("a column with every value present got presence flags %v", s.Columns[2].Present)
	}
	if got, want := s.Columns[2].Bool, []bool{false, false, true}; !slices.Equal(got, want) {
		t.Errorf("bools %v, want %v", got, want)
	}
	if err := s.check(fields); err != nil {
		t.Fatalf("the subset does not check: %v", err)
	}
}

// TestEncodeEveryValuePresent: a column without presence flags (every
// value present) is encoded with a bit set for each record and none past
// the last, whatever the count modulo eight; with flags, exactly the
// flagged records' bits.
func TestEncodeEveryValuePresent(t *testing.T) {
	fields := []Field{{Name: "v", Type: TypeNumber}}
	for _, tc := range []struct {
		n       int
		present []bool
		want    []byte
	}{
		{5, nil, []byte{0x1f}},
		{8, nil, []byte{0xff}},
		{13, nil, []byte{0xff, 0x1f}},
		{1, nil, []byte{0x01}},
		{10, []bool{true, false, true, false, false, false, false, false, false, true}, []byte{0x05, 0x02}},
	} {
		b := NewBatch(fields, tc.n)
		b.Columns[0].Present = tc.present
		msg, err := b.Encode(fields, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		// The column's descriptor follows the 32-byte header: type,
		// offset of the presence bitmap, offset and length of the values.
		off := binary.LittleEndian.Uint32(msg[batchHeaderSize+4:])
		got := msg[off : int(off)+len(tc.want)]
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%d records, presence %v: bitmap % x, want % x", tc.n, tc.present, got, tc.want)
		}
	}
}

// TestResultCountsAreBoundedByItsSize: a result that claims more reasons
// or replacements than its bytes can hold (each reason takes at least 16
// bytes, each replacement 9) is refused before anything is allocated for
// them, saying what it claims; one that claims exactly what fits is read.
func TestResultCountsAreBoundedByItsSize(t *testing.T) {
	header := func(n, reasons, repl uint32) []byte {
		le := binary.LittleEndian
		return le.AppendUint32(le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, magicResult), n), reasons), repl)
	}
	fields := []Field{{Name: "v", Type: TypeNumber}}
	for _, tc := range []struct {
		name          string
		reasons, repl uint32
		body          int
	}{
		{"a million reasons in 64 bytes", 1 << 20, 0, 64},
		{"five reasons in 64 bytes", 5, 0, 64},
		{"a million replacements in 64 bytes", 0, 1 << 20, 64},
		{"eight replacements in 64 bytes", 0, 8, 64},
		{"three reasons and two replacements in 64 bytes", 3, 2, 64},
	} {
		msg := append(header(1, tc.reasons, tc.repl), make([]byte, tc.body)...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := decodeResultInto(msg, 1, fields, true, nil)
		runtime.ReadMemStats(&after)
		want := fmt.Sprintf("result claims %d reasons and %d replacements in %d bytes", tc.reasons, tc.repl, len(msg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", tc.name, err, want)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<16 {
			t.Errorf("%s: %d bytes allocated before the refusal", tc.name, alloc)
		}
	}
	// Exactly what fits passes the count check (and fails later, on the
	// zeroes, for another reason).
	msg := append(header(1, 4, 0), make([]byte, 64)...)
	if _, err := decodeResultInto(msg, 1, fields, true, nil); err == nil || strings.Contains(err.Error(), "result claims") {
		t.Errorf("four reasons in 64 bytes: %v, want a refusal of their content, not of their count", err)
	}
}

// TestDecodeResultEdges: what a result may hold, at its edges — reasons
// out of record order (every one kept, under its record, in the result's
// order), replacements of every type, a rule and a message at their
// length limits and one byte over, a field index one past the declared
// fields, a replacement for a record past the batch, a type code or a bool
// that does not fit — each read or refused with its reason, never a panic.
func TestDecodeResultEdges(t *testing.T) {
	build := func(n int, f func(r *pdk.Result)) []byte {
		r := pdk.NewResult(n)
		f(r)
		return r.Bytes()
	}
	v, err := decodeResult(build(3, func(r *pdk.Result) {
		r.Reject(0, 0, "a", "first")
		r.Reject(2, pdk.Whole, "b", "second")
		r.Reject(0, 1, "c", "third")
	}), 3, resultFields, false)
	if err != nil {
		t.Fatal(err)
	}
	want0 := []Reason{{Rule: "a", Field: "n", FieldIndex: 0, Message: "first"}, {Rule: "c", Field: "s", FieldIndex: 1, Message: "third"}}
	if v[0].OK || !slices.Equal(v[0].Reasons, want0) || !v[1].OK || len(v[1].Reasons) != 0 ||
		v[2].OK || !slices.Equal(v[2].Reasons, []Reason{{Rule: "b", FieldIndex: -1, Message: "second"}}) {
		t.Fatalf("reasons out of record order: %+v", v)
	}

	v, err = decodeResult(build(2, func(r *pdk.Result) {
		r.ReplaceNumber(0, 0, 2.5)
		r.Remove(0, 1)
		r.ReplaceString(1, 1, "héllo")
		r.ReplaceBool(1, 2, true)
		r.ReplaceBool(0, 2, false)
	}), 2, resultFields, true)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Replacement{
		{{Field: "n", FieldIndex: 0, Value: Value{Num: 2.5}}, {Field: "s", FieldIndex: 1, Value: Value{Absent: true}}, {Field: "b", FieldIndex: 2, Value: Value{Bool: false}}},
		{{Field: "s", FieldIndex: 1, Value: Value{Str: "héllo"}}, {Field: "b", FieldIndex: 2, Value: Value{Bool: true}}},
	}
	for i := range want {
		if !v[i].OK || !slices.Equal(v[i].Replacements, want[i]) {
			t.Fatalf("replacements of record %d: %+v, want %+v", i, v[i].Replacements, want[i])
		}
	}

	for _, tc := range []struct {
		name       string
		msg        []byte
		transforms bool
		want       string // "" : read
	}{
		{"a rule at the limit", build(1, func(r *pdk.Result) { r.Reject(0, 0, strings.Repeat("r", maxRuleBytes), "m") }), false, ""},
		{"a rule one byte over", build(1, func(r *pdk.Result) { r.Reject(0, 0, strings.Repeat("r", maxRuleBytes+1), "m") }), false, "rule of 129 bytes (at most 128)"},
		{"a message at the limit", build(1, func(r *pdk.Result) { r.Reject(0, 0, "r", strings.Repeat("m", maxMessageBytes)) }), false, ""},
		{"a message one byte over", build(1, func(r *pdk.Result) { r.Reject(0, 0, "r", strings.Repeat("m", maxMessageBytes+1)) }), false, "message of 4097 bytes (at most 4096)"},
		{"a reason's field one past the fields", build(1, func(r *pdk.Result) { r.Reject(0, 3, "r", "m") }), false, "reason 0: field index 3 (the plugin declares 3 fields)"},
		{"a replacement's field one past the fields", build(1, func(r *pdk.Result) { r.ReplaceNumber(0, 3, 1) }), true, "replacement 0: field index 3 (the plugin declares 3 fields)"},
		{"a replacement's field: the whole record", build(1, func(r *pdk.Result) { r.Remove(0, pdk.Whole) }), true, "replacement 0: field index -1"},
		{"a replacement for the record past the batch", build(1, func(r *pdk.Result) { r.ReplaceNumber(1, 0, 1) }), true, "replacement 0 is for record 1 of a batch of 1"},
		{"a reason for the record past the batch", build(1, func(r *pdk.Result) { r.Reject(1, 0, "r", "m") }), false, "reason 0 is for record 1 of a batch of 1"},
		{"a string for a number field", build(1, func(r *pdk.Result) { r.ReplaceString(0, 0, "x") }), true, "replacement 0: type code 2 for number field \"n\""},
		{"replacements from a plugin that does not transform", build(1, func(r *pdk.Result) { r.ReplaceNumber(0, 0, 1) }), false, "does not declare \"transforms\""},
		{"a bool that is neither 0 nor 1", func() []byte {
			m := build(1, func(r *pdk.Result) { r.ReplaceBool(0, 2, true) })
			m[len(m)-1] = 2
			return m
		}(), true, "replacement 0: bad bool"},
	} {
		_, err := decodeResult(tc.msg, 1, resultFields, tc.transforms)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestErrorSaysWhatTheGuestWrote: an error's message ends with the last
// line of what the guest wrote (its whole output is in Output), clipped
// at 200 bytes; a Go panic, whose message is already in Detail, and
// output of blanks add nothing.
func TestErrorSaysWhatTheGuestWrote(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		e    Error
		want string // "": no guest output in the message
	}{
		{Error{Plugin: "p@1", Op: "init", Kind: KindTrap, Detail: "wasm error: unreachable", Output: "starting\nconfig: no lookup\n"}, " [guest output: … config: no lookup]"},
		{Error{Plugin: "p@1", Op: "init", Kind: KindTrap, Output: "one line only"}, " [guest output: one line only]"},
		{Error{Plugin: "p@1", Op: "validate", Kind: KindTrap, First: 10, Records: 5, Detail: "d", Output: long}, " [guest output: " + long[:200] + " …]"},
		{Error{Plugin: "p@1", Op: "init", Kind: KindTrap, Output: long[:201]}, " [guest output: " + long[:200] + " …]"},
		{Error{Plugin: "p@1", Op: "init", Kind: KindTrap, Output: long[:200]}, " [guest output: " + long[:200] + "]"},
		{Error{Plugin: "p@1", Op: "validate", Kind: KindTrap, First: 10, Records: 1, Detail: "panic: boom", Output: "panic: boom\ngoroutine 1"}, ""},
		{Error{Plugin: "p@1", Op: "load", Kind: KindLoad, Output: "  \n "}, ""},
	} {
		got := tc.e.Error()
		if tc.want == "" && strings.Contains(got, "guest output") || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("Error() = %q, want %q in it", got, tc.want)
		}
		if !strings.HasPrefix(got, "plugin p@1: "+tc.e.Op) {
			t.Errorf("Error() = %q: does not name the plugin and the operation first", got)
		}
	}
}

// TestCappedBufferKeepsTheFirstBytes: what a guest writes is kept up to the
// cap, the rest counted as dropped, and every write reports success (a
// chatty guest is not broken by the cap).
func TestCappedBufferKeepsTheFirstBytes(t *testing.T) {
	c := &cappedBuffer{max: 5}
	for _, w := range []struct {
		p       string
		buf     string
		dropped int
	}{
		{"abc", "abc", 0},
		{"de", "abcde", 0},
		{"", "abcde", 0},
		{"fgh", "abcde", 3},
		{"i", "abcde", 4},
	} {
		if n, err := c.Write([]byte(w.p)); n != len(w.p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w.p, n, err)
		}
		if string(c.buf) != w.buf || c.dropped != w.dropped {
			t.Fatalf("after %q: kept %q, dropped %d; want %q, %d", w.p, c.buf, c.dropped, w.buf, w.dropped)
		}
	}
	c = &cappedBuffer{max: 4}
	c.Write([]byte("abcdef"))
	if string(c.buf) != "abcd" || c.dropped != 2 {
		t.Fatalf("one write over the cap: kept %q, dropped %d", c.buf, c.dropped)
	}
}
