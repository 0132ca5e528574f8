package finding

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/sandbox"
)

// TestReasonsDigestIsTheSpec: the digest written directly in canonical form
// is audit.ReasonsDigest over the findings' JSON, for findings with every
// kind of string and with and without offsets.
func TestReasonsDigestIsTheSpec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "a", "é\u2028<&>\"\\\x00\x1f\x7f", "/x~1y", "schema", "type: want number, got \"hot\""}
	pick := func() string { return strs[r.IntN(len(strs))] }
	gen := func() []Finding {
		var fs []Finding
		for range r.IntN(4) {
			f := Finding{Stage: pick(), Rule: pick(), Pointer: pick(), Message: pick()}
			if r.IntN(2) == 0 {
				f.Offset = at(r.Int64N(1 << 40))
			}
			fs = append(fs, f)
		}
		return fs
	}
	for range 500 {
		a, q := gen(), gen()
		var aj, qj []byte
		if len(a) > 0 {
			aj, _ = json.Marshal(a)
		}
		if len(q) > 0 {
			qj, _ = json.Marshal(q)
		}
		want, err := audit.ReasonsDigest(aj, qj)
		if err != nil {
			t.Fatal(err)
		}
		if got := ReasonsDigest(a, q); got != want {
			t.Fatalf("actions %+v reasons %+v: digest %x, the spec says %x", a, q, got, want)
		}
	}
}

func TestEachLine(t *testing.T) {
	long := strings.Repeat("x", 3<<20) + "\n" // longer than the reader's buffer
	in := "a\n" + long + "c"                  // the last line has no LF
	var got []string
	var nums []int64
	if err := EachLine(strings.NewReader(in), func(n int64, l []byte) (bool, error) {
		got = append(got, string(l))
		nums = append(nums, n)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != "a\n" || got[1] != long || got[2] != "c" {
		t.Fatalf("lines: %d, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
	if nums[0] != 1 || nums[2] != 3 {
		t.Fatalf("numbers %v", nums)
	}
	seen := 0
	if err := EachLine(strings.NewReader("1\n2\n3\n"), func(n int64, l []byte) (bool, error) {
		seen++
		return n < 2, nil
	}); err != nil || seen != 2 {
		t.Fatalf("stopping at line 2: saw %d, err %v", seen, err)
	}
	boom := errors.New("boom")
	if err := EachLine(strings.NewReader("1\n2\n"), func(int64, []byte) (bool, error) { return true, boom }); !errors.Is(err, boom) {
		t.Fatalf("fn's error lost: %v", err)
	}
	if err := EachLine(iotest.ErrReader(boom), func(int64, []byte) (bool, error) { return true, nil }); !errors.Is(err, boom) {
		t.Fatalf("reader's error lost: %v", err)
	}
}

// TestQuarantineLineIsLine: the quarantine line written by hand is the
// bytes encoding/json writes (Line), for entries with every kind of byte in
// their strings (control characters, quotes, invalid UTF-8, U+2028/2029,
// HTML characters, multi-byte runes), with and without offsets, raw fields
// (Raw also given as bytes: AppendQuarantineRecord), reasons and actions.
func TestQuarantineLineIsLine(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "Z", " ", "\"", "\\", "\x00", "\x08", "\x0c", "\n", "\r", "\t", "\x1f", "\x7f",
		"<", ">", "&", "é", "\u2028", "\u2029", "\u2027", "\u202a", "\xff", "\xe2\x80", "\xed\xa0\x80", "😀", "\uFFFD"}
	str := func() string {
		var b strings.Builder
		// Some long enough for the eight-byte words of appendJSONString.
		for range r.IntN(12) + r.IntN(2)*r.IntN(60) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	findings := func() []Finding {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return []Finding{}
		}
		var fs []Finding
		for range 1 + r.IntN(3) {
			f := Finding{Stage: str(), Rule: str(), Pointer: str(), Message: str()}
			if r.IntN(2) == 0 {
				f.Offset = at(r.Int64N(1<<40) - 1<<39)
			}
			fs = append(fs, f)
		}
		return fs
	}
	for i := range 3000 {
		q := QuarantineEntry{Ordinal: r.Int64N(1 << 40), Line: r.Int64N(1000), Offset: r.Int64N(1 << 40), Length: r.Int64N(1 << 20),
			Reasons: findings(), Actions: findings()}
		switch i % 4 {
		case 1:
			q.Raw = str()
		case 2:
			q.RawBase64 = str()
		case 3:
			q.RawOmitted = str()
		}
		want := Line(q)
		if got := AppendQuarantineLine([]byte("kept"), &q); string(got) != "kept"+string(want) || string(QuarantineLine(&q)) != string(want) {
			t.Fatalf("entry %+v:\n got %q\nwant %q", q, got[4:], want)
		}
		if q.Raw != "" {
			// The record's bytes given as they are (the pipeline's way).
			raw := []byte(q.Raw)
			q.Raw = ""
			if got := AppendQuarantineRecord([]byte("kept"), &q, raw); string(got) != "kept"+string(want) {
				t.Fatalf("entry %+v with raw %q:\n got %q\nwant %q", q, raw, got[4:], want)
			}
		}
	}
}

// TestPluginFindingsAreFromPlugin: the findings PluginFindings makes for a
// call's reasons are FromPlugin's, rule and message byte for byte, over
// calls of two plugins in turn (rules repeated and new, more rules than it
// keeps prefixed, more reasons for a record than are kept, messages with
// every kind of byte), and the findings of a call stay as they were after
// the next call's.
func TestPluginFindingsAreFromPlugin(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ms := []*sandbox.Manifest{{Name: "range", Version: "1.1.0"}, {Name: "zscore", Version: "2.1.0-rc.1"}}
	var pf PluginFindings
	var kept []Finding
	var want []Finding
	for call := range 40 {
		m := ms[call%2]
		verdicts := make([]sandbox.Verdict, 1+r.IntN(20))
		for i := range verdicts {
			for range r.IntN(MaxPluginReasons + 3) {
				verdicts[i].Reasons = append(verdicts[i].Reasons, sandbox.Reason{
					Rule: fmt.Sprintf("rule.%d", r.IntN(2*maxInternedRules+8)), FieldIndex: -1,
					Message: strings.Repeat("é\"<\x00", r.IntN(4)) + fmt.Sprint(r.IntN(1000))})
			}
		}
		pf.Reset(m, verdicts)
		for _, v := range verdicts {
			for n, x := range v.Reasons {
				if n == MaxPluginReasons {
					break
				}
				ptr := fmt.Sprintf("/f%d", n)
				got, w := pf.Of(x, ptr), FromPlugin(m, x, ptr)
				if got != w {
					t.Fatalf("call %d: %+v, FromPlugin %+v", call, got, w)
				}
				kept, want = append(kept, got), append(want, w)
			}
		}
	}
	for i := range kept {
		if kept[i] != want[i] {
			t.Fatalf("finding %d changed after later calls: %+v, want %+v", i, kept[i], want[i])
		}
	}
	if len(kept) < 1000 {
		t.Fatalf("only %d findings made", len(kept))
	}
}

// FuzzAppendJSONString: appendJSONString writes any bytes, given as a
// string or as bytes after any prefix, as encoding/json does with HTML
// escaping off, and the result decodes back to them (invalid UTF-8 as
// U+FFFD). The seeds put every kind of byte at every position of an
// eight-byte word, where the word-at-a-time path decides.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", `{"device_id":"GH-100000","value":23.39}`, "abcdefg\"", "abcdefgh\\ijklmnop",
		"\x00abcdefghijklmno", "abcdefghijklmn\x7f\x1f", "é12345678", "1234567\xe2\x80\xa8", "12345678\xff", "😀😀😀😀"} {
		for pad := range 9 {
			f.Add(strings.Repeat("x", pad) + s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		w := bytes.TrimSuffix(want.Bytes(), []byte("\n"))
		if got := appendJSONString([]byte("kept"), s); !bytes.Equal(got, append([]byte("kept"), w...)) {
			t.Fatalf("appendJSONString(%q) = %q, want %q", s, got[4:], w)
		}
		if got := appendJSONString([]byte(nil), []byte(s)); !bytes.Equal(got, w) {
			t.Fatalf("appendJSONString([]byte(%q)) = %q, want %q", s, got, w)
		}
		var back string
		if err := json.Unmarshal(w, &back); err != nil || utf8.ValidString(s) && back != s {
			t.Fatalf("%q decodes to %q, %v", w, back, err)
		}
	})
}

// TestFillRaw: an entry whose line leaves the record's bytes to the input
// gets them as a line of format 1 holds them (Raw, or RawBase64 when they
// are not UTF-8); an entry that has them, or says why not, is left as it
// is; a line naming a span no quarantined record can have, or one past the
// input's end, is an error naming the record.
func TestFillRaw(t *testing.T) {
	input := bytes.NewReader([]byte("{\"a\":1}\n{\"b\":\"\xff\"}\n{\"c\":\"\u00e9\"}"))
	for _, tc := range []struct {
		q                    QuarantineEntry
		raw, base64, omitted string
		err                  string
	}{
		{q: QuarantineEntry{Ordinal: 1, Offset: 0, Length: 7}, raw: `{"a":1}`},
		{q: QuarantineEntry{Ordinal: 2, Offset: 8, Length: 9}, base64: "eyJiIjoi/yJ9"},
		{q: QuarantineEntry{Ordinal: 3, Offset: 18, Length: 10}, raw: "{\"c\":\"\u00e9\"}"},
		{q: QuarantineEntry{Ordinal: 1, Offset: 0, Length: 7, Raw: "kept"}, raw: "kept"},
		{q: QuarantineEntry{Ordinal: 1, Offset: 0, Length: 7, RawOmitted: "why"}, omitted: "why"},
		{q: QuarantineEntry{Ordinal: 4, Offset: 0, Length: 0}},
		{q: QuarantineEntry{Ordinal: 5, Offset: 0, Length: 17}, err: "record 5: its quarantine line names 17 bytes at input offset 0"},
		{q: QuarantineEntry{Ordinal: 6, Offset: -1, Length: 3}, err: "record 6: its quarantine line names 3 bytes at input offset -1"},
		{q: QuarantineEntry{Ordinal: 7, Offset: 20, Length: 10}, err: "record 7: reading its 10 bytes at input offset 20: unexpected EOF"},
		{q: QuarantineEntry{Ordinal: 8, Offset: 99, Length: 1}, err: "record 8: reading its 1 bytes at input offset 99: unexpected EOF"},
	} {
		q := tc.q
		err := q.FillRaw(input, 16)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("record %d: error %v, want %q", tc.q.Ordinal, err, tc.err)
			}
			continue
		}
		if err != nil || q.Raw != tc.raw || q.RawBase64 != tc.base64 || q.RawOmitted != tc.omitted {
			t.Errorf("record %d: %+v, %v; want raw %q base64 %q omitted %q", tc.q.Ordinal, q, err, tc.raw, tc.base64, tc.omitted)
		}
	}
}
