package sandbox

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"
)

func TestManifestRoundTrip(t *testing.T) {
	base := []byte("\x00asm\x01\x00\x00\x00")
	good := `{"abi":1,"name":"x","version":"1.0.0","mode":"ordered","fields":[{"name":"v","pointer":"/v","type":"number"}]}`
	m, err := ReadManifest(AppendCustomSection(base, ManifestSection, []byte(good)))
	if err != nil || m.Name != "x" || m.Mode != ModeOrdered || m.FieldIndex("v") != 0 {
		t.Fatalf("%+v %v", m, err)
	}
	for name, tc := range map[string]struct {
		wasm []byte
		want string
	}{
		"none":    {base, "no \"pawl.manifest\""},
		"two":     {AppendCustomSection(AppendCustomSection(base, ManifestSection, []byte(good)), ManifestSection, []byte(good)), "exactly one"},
		"unknown": {AppendCustomSection(base, ManifestSection, []byte(`{"abi":1,"nme":"x"}`)), "unknown field"},
		"mode":    {AppendCustomSection(base, ManifestSection, []byte(strings.Replace(good, "ordered", "parallel", 1))), "mode"},
		"type":    {AppendCustomSection(base, ManifestSection, []byte(strings.Replace(good, "number", "float", 1))), "type"},
		"trunc":   {AppendCustomSection(base, ManifestSection, []byte(good))[:20], "declared"},
		"notwasm": {[]byte("hello"), "not a WebAssembly"},
		"abi":     {AppendCustomSection(base, ManifestSection, []byte(strings.Replace(good, `"abi":1`, `"abi":7`, 1))), "ABI 7"},
		"pointer": {AppendCustomSection(base, ManifestSection, []byte(strings.Replace(good, `"/v"`, `"v"`, 1))), "not a JSON pointer"},
	} {
		if _, err := ReadManifest(tc.wasm); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want an error containing %q, got %v", name, tc.want, err)
		}
	}
}

func TestEncodeLayout(t *testing.T) {
	fields := []Field{{Name: "n", Type: TypeNumber}, {Name: "s", Type: TypeString}, {Name: "b", Type: TypeBool}}
	b := NewBatch(fields, 3)
	b.SetNumber(0, 0, 1.5)
	b.SetNumber(0, 2, -2)
	b.SetString(1, 1, "héllo")
	b.SetBool(2, 2, true)
	b.First = 7
	msg := make([]byte, b.encodedSize(fields))
	b.encode(msg, fields, 99)
	le := binary.LittleEndian
	if le.Uint32(msg) != magicBatch || le.Uint32(msg[8:]) != 3 || le.Uint32(msg[12:]) != 3 || le.Uint64(msg[16:]) != 7 || le.Uint64(msg[24:]) != 99 {
		t.Fatal("header")
	}
	for j := 0; j < 3; j++ {
		d := msg[32+16*j:]
		if le.Uint32(d[4:])%8 != 0 || le.Uint32(d[8:])%8 != 0 {
			t.Errorf("column %d sections not 8-aligned", j)
		}
	}
	d := msg[32:]
	if p := msg[le.Uint32(d[4:])]; p != 0b101 {
		t.Errorf("number presence %b", p)
	}
	if v := math.Float64frombits(le.Uint64(msg[le.Uint32(d[8:])+16:])); v != -2 {
		t.Errorf("number[2] = %v", v)
	}
	d = msg[48:]
	off := le.Uint32(d[8:])
	if s, e := le.Uint32(msg[off+4:]), le.Uint32(msg[off+8:]); string(msg[off+16+s:off+16+e]) != "héllo" {
		t.Errorf("string[1] = %q", msg[off+16+s:off+16+e])
	}
}

// TestReusedBatchIsNew: a batch refilled in the arrays of a used one
// (Reuse: larger, then smaller, then of other field types) encodes to the
// bytes a new batch with the same values does, and its Subset is the new
// one's.
func TestReusedBatchIsNew(t *testing.T) {
	fields := []Field{{Name: "n", Type: TypeNumber}, {Name: "s", Type: TypeString}, {Name: "b", Type: TypeBool}}
	fill := func(b *Batch, fs []Field, n int) *Batch {
		for i := 0; i < n; i += 2 {
			for j, f := range fs {
				switch f.Type {
				case TypeNumber:
					b.SetNumber(j, i, float64(i)+0.5)
				case TypeString:
					b.SetString(j, i, strings.Repeat("x", i))
				case TypeBool:
					b.SetBool(j, i, i%4 == 0)
				}
			}
		}
		b.First = uint64(n)
		return b
	}
	var used *Batch
	for _, tc := range []struct {
		fs []Field
		n  int
	}{{fields, 9}, {fields, 20}, {fields, 3}, {[]Field{fields[2], fields[0]}, 5}, {fields, 0}} {
		used = fill(used.Reuse(tc.fs, tc.n), tc.fs, tc.n)
		want := fill(NewBatch(tc.fs, tc.n), tc.fs, tc.n)
		got, err := used.Encode(tc.fs, time.Unix(5, 0))
		if err != nil {
			t.Fatal(err)
		}
		if w, _ := want.Encode(tc.fs, time.Unix(5, 0)); string(got) != string(w) {
			t.Fatalf("%d records of %d fields: reused batch encodes to\n% x\nnew one to\n% x", tc.n, len(tc.fs), got, w)
		}
		idx := []int{tc.n / 2}
		if tc.n > 0 {
			g, _ := used.Subset(idx).Encode(tc.fs, time.Unix(5, 0))
			w, _ := want.Subset(idx).Encode(tc.fs, time.Unix(5, 0))
			if string(g) != string(w) {
				t.Fatalf("%d records of %d fields: subsets differ", tc.n, len(tc.fs))
			}
		}
	}
}

func TestDecodeResultRefusesLies(t *testing.T) {
	fields := []Field{{Name: "v", Type: TypeNumber}}
	le := binary.LittleEndian
	hdr := func(n, reasons, repl uint32) []byte {
		b := le.AppendUint32(nil, magicResult)
		b = le.AppendUint32(b, n)
		b = le.AppendUint32(b, reasons)
		return le.AppendUint32(b, repl)
	}
	reason := func(b []byte, rec, field uint32, rule, msg string) []byte {
		b = le.AppendUint32(b, rec)
		b = le.AppendUint32(b, field)
		b = le.AppendUint32(b, uint32(len(rule)))
		b = append(b, rule...)
		b = le.AppendUint32(b, uint32(len(msg)))
		return append(b, msg...)
	}
	ok := reason(hdr(2, 1, 0), 1, 0, "r", "m")
	v, err := decodeResult(ok, 2, fields, false)
	if err != nil || v[0].OK != true || v[1].OK || v[1].Reasons[0].Field != "v" {
		t.Fatalf("%+v %v", v, err)
	}
	whole := reason(hdr(1, 1, 0), 0, math.MaxUint32, "r", "m")
	if v, err := decodeResult(whole, 1, fields, false); err != nil || v[0].Reasons[0].FieldIndex != -1 {
		t.Fatalf("whole-record reason: %+v %v", v, err)
	}
	for name, tc := range map[string]struct {
		msg  []byte
		want string
	}{
		"n":         {hdr(3, 0, 0), "for 3 records"},
		"record":    {reason(hdr(2, 1, 0), 2, 0, "r", "m"), "record 2 of a batch of 2"},
		"field":     {reason(hdr(2, 1, 0), 0, 5, "r", "m"), "field index 5"},
		"count":     {hdr(2, 1000000, 0), "claims 1000000 reasons"},
		"utf8":      {reason(hdr(2, 1, 0), 0, 0, "r", "\xff"), "not valid UTF-8"},
		"empty":     {reason(hdr(2, 1, 0), 0, 0, "", "m"), "empty rule"},
		"trailing":  {append(ok, 0), "after the last entry"},
		"replaces":  {append(hdr(2, 0, 1), make([]byte, 17)...), "does not declare \"transforms\""},
		"long rule": {reason(hdr(2, 1, 0), 0, 0, strings.Repeat("r", 200), "m"), "rule of 200 bytes"},
	} {
		if _, err := decodeResult(tc.msg, 2, fields, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want %q, got %v", name, tc.want, err)
		}
	}
	// a transformer's replacement
	r := hdr(1, 0, 1)
	r = le.AppendUint32(r, 0)
	r = le.AppendUint32(r, 0)
	r = append(r, 1)
	r = le.AppendUint64(r, math.Float64bits(2.5))
	if v, err := decodeResult(r, 1, fields, true); err != nil || v[0].Replacements[0].Value.Num != 2.5 || !v[0].OK {
		t.Fatalf("%+v %v", v, err)
	}
	// A removal is 9 bytes (record, field, type 0, no value): a result of
	// removals alone is not "too short for its counts".
	rm := hdr(2, 0, 2)
	for rec := uint32(0); rec < 2; rec++ {
		rm = le.AppendUint32(rm, rec)
		rm = le.AppendUint32(rm, 0)
		rm = append(rm, 0)
	}
	if v, err := decodeResult(rm, 2, fields, true); err != nil || !v[0].Replacements[0].Value.Absent || !v[1].Replacements[0].Value.Absent {
		t.Fatalf("removals only: %+v %v", v, err)
	}
	if _, err := decodeResult(rm[:len(rm)-1], 2, fields, true); err == nil || !strings.Contains(err.Error(), "claims 0 reasons and 2 replacements") {
		t.Fatalf("removals one byte short: %v", err)
	}
}
