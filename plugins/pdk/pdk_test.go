package pdk

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// batchMsg lays out a two-column batch (number, string) the way the host
// does (docs/plugin-abi.md §3.3).
func batchMsg() []byte {
	le := binary.LittleEndian
	msg := make([]byte, 128)
	le.PutUint32(msg[0:], magicBatch)
	le.PutUint32(msg[4:], 1)
	le.PutUint32(msg[8:], 2)  // N
	le.PutUint32(msg[12:], 2) // columns
	le.PutUint64(msg[16:], 5)
	le.PutUint64(msg[24:], uint64(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()))
	// column 0: number, presence at 64, data at 72 (16 bytes)
	le.PutUint32(msg[32:], 1)
	le.PutUint32(msg[36:], 64)
	le.PutUint32(msg[40:], 72)
	le.PutUint32(msg[44:], 16)
	msg[64] = 0b10
	le.PutUint64(msg[80:], math.Float64bits(2.5))
	// column 1: string, presence at 88, data at 96: offsets 0,0,2 then "hi"
	le.PutUint32(msg[48:], 2)
	le.PutUint32(msg[52:], 88)
	le.PutUint32(msg[56:], 96)
	le.PutUint32(msg[60:], 14)
	msg[88] = 0b11
	le.PutUint32(msg[104:], 2)
	le.PutUint32(msg[100:], 0)
	copy(msg[108:], "hi")
	return msg
}

func TestDecodeBatch(t *testing.T) {
	b, err := DecodeBatch(batchMsg())
	if err != nil {
		t.Fatal(err)
	}
	if b.N != 2 || b.First != 5 || b.AsOf.Year() != 2025 || b.Columns() != 2 {
		t.Fatalf("%+v", b)
	}
	if _, ok := b.Numbers(0).Get(0); ok {
		t.Error("record 0's number is absent")
	}
	if v, ok := b.Numbers(0).Get(1); !ok || v != 2.5 {
		t.Errorf("number[1] = %v %v", v, ok)
	}
	if s, ok := b.Strings(1).Get(0); !ok || s != "" {
		t.Errorf("string[0] = %q %v", s, ok)
	}
	if s, ok := b.Strings(1).Get(1); !ok || s != "hi" {
		t.Errorf("string[1] = %q %v", s, ok)
	}
	bad := batchMsg()
	binary.LittleEndian.PutUint32(bad[104:], 200) // offset past the data
	if _, err := DecodeBatch(bad); err == nil {
		t.Error("a string offset past the data was accepted")
	}
}

func TestResultEncoding(t *testing.T) {
	r := NewResult(3)
	r.Reject(2, Whole, "x.y", "why")
	r.ReplaceNumber(1, 0, 1.5)
	out := r.Bytes()
	le := binary.LittleEndian
	if le.Uint32(out) != magicResult || le.Uint32(out[4:]) != 3 || le.Uint32(out[8:]) != 1 || le.Uint32(out[12:]) != 1 {
		t.Fatalf("header % x", out[:16])
	}
	if le.Uint32(out[16:]) != 2 || le.Uint32(out[20:]) != math.MaxUint32 || string(out[28:31]) != "x.y" {
		t.Fatalf("reason % x", out[16:])
	}
	if want := 16 + (4 + 4 + 4 + 3 + 4 + 3) + (4 + 4 + 1 + 8); len(out) != want {
		t.Fatalf("%d bytes, want %d", len(out), want)
	}
}

func TestQuoteValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"AB-1", `"AB-1"`},
		{strings.Repeat("x", 200), strconv.Quote(strings.Repeat("x", 200))},
		{strings.Repeat("x", 201), strconv.Quote(strings.Repeat("x", 200)) + "… (201 bytes)"},
		// the 200th byte is inside an "é": cut before it
		{"a" + strings.Repeat("é", 150), strconv.Quote("a"+strings.Repeat("é", 99)) + "… (301 bytes)"},
		// invalid bytes are quoted as \xNN and never split
		{strings.Repeat("\xff", 300), strconv.Quote(strings.Repeat("\xff", 200)) + "… (300 bytes)"},
	} {
		if got := QuoteValue(tc.in); got != tc.want {
			t.Errorf("QuoteValue(%.20q…) = %.60q…, want %.60q…", tc.in, got, tc.want)
		}
		if got := QuoteValue(tc.in); len(got) > 1000 {
			t.Errorf("QuoteValue of %d bytes is %d bytes", len(tc.in), len(got))
		}
	}
}

// The borrowing rule of doc.go, shown: a map write with a borrowed key
// rebinds an existing entry's key to the batch's memory, even though the
// entry was made with a copy; GetCopy's keys survive the next batch. If a
// Go release stops storing the key again on assignment, this fails: say
// so in doc.go and docs/plugin-abi.md.
func TestMapWriteRebindsTheKey(t *testing.T) {
	msg := batchMsg()
	b, err := DecodeBatch(msg)
	if err != nil {
		t.Fatal(err)
	}
	col := b.Strings(1)
	borrowed, _ := col.Get(1)
	copied, _ := col.GetCopy(1)
	m := map[string]int{copied: 1}
	m[borrowed]++ // the same key: only the count changes, but the key is stored again
	safe := map[string]int{}
	safe[copied]++
	safe[copied]++
	copy(msg[108:], "XY") // the next batch reuses the buffer
	for k := range m {
		if k != "XY" {
			t.Errorf("the map's key is %q after the buffer changed: Go no longer rebinds the key on a write", k)
		}
	}
	for k, n := range safe {
		if k != "hi" || n != 2 {
			t.Errorf("GetCopy's key is %q (%d)", k, n)
		}
	}
	if s, ok := col.GetCopy(0); s != "" || !ok {
		t.Errorf("GetCopy of an empty present value: %q %v", s, ok)
	}
}
