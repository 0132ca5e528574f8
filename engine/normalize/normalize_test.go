package normalize

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestRecord(t *testing.T) {
	cases := []struct {
		name    string
		in      any
		out     any
		rule    string // a finding that must be there, "" for none at all
		ptr     string
		offset  int
		reject  bool
		message string
	}{
		{name: "ascii untouched", in: "AB-123456", out: "AB-123456"},
		{name: "newline passes in text", in: "a\nb", out: "a\nb"},
		{name: "tab flagged in text", in: "a\tb", out: "a\tb", rule: "unicode.tab", offset: 1, message: "U+0009 CHARACTER TABULATION at byte 1"},
		{name: "NFC already", in: "café", out: "café"},
		{name: "decomposed accent", in: "cafe\u0301", out: "café", rule: "unicode.nfc", offset: 3},
		{name: "NUL", in: "ab\x00c", rule: "unicode.control", offset: 2, reject: true, message: "U+0000 NULL"},
		{name: "C1 control", in: "a\u0085", rule: "unicode.control", offset: 1, reject: true, message: "U+0085 NEXT LINE"},
		{name: "RLO", in: "\u202eAB-1", rule: "unicode.bidi", offset: 0, reject: true, message: "RIGHT-TO-LEFT OVERRIDE"},
		{name: "balanced isolate", in: "x\u2066y\u2069", out: "x\u2066y\u2069", rule: "unicode.bidi_isolate", offset: 1},
		{name: "unbalanced isolate", in: "x\u2066y", rule: "unicode.bidi_unbalanced", offset: 1, reject: true},
		{name: "stray PDI", in: "x\u2069y", rule: "unicode.bidi_unbalanced", offset: 1, reject: true},
		{name: "isolate closed across a line", in: "\u2067a\nb\u2069", rule: "unicode.bidi_unbalanced", offset: 0, reject: true},
		{name: "ZWSP", in: "AB-1\u200b23456", rule: "unicode.zero_width", offset: 4, reject: true, message: "ZERO WIDTH SPACE"},
		{name: "ZWJ in emoji survives", in: "👩\u200d💻", out: "👩\u200d💻", rule: "unicode.emoji", offset: 0},
		{name: "BOM inside", in: "a\ufeffb", rule: "unicode.bom", offset: 1, reject: true},
		{name: "soft hyphen stripped", in: "co\u00adop", out: "coop", rule: "unicode.soft_hyphen", offset: 2},
		{name: "CRLF normalized", in: "a\r\nb", out: "a\nb", rule: "unicode.newline", offset: 1},
		{name: "strip then NFC", in: "e\u00ad\u0301", out: "é", rule: "unicode.nfc", offset: 0},
		{name: "nested pointer", in: map[string]any{"a/b": []any{"x", "y\u200b"}}, rule: "unicode.zero_width", ptr: "/a~1b/1", offset: 1, reject: true},
		{name: "key normalized", in: map[string]any{"cafe\u0301": "1"}, out: map[string]any{"café": "1"}, rule: "unicode.nfc", ptr: "/cafe\u0301", offset: 3},
		{name: "key collision", in: map[string]any{"cafe\u0301": "1", "café": "2"}, rule: "unicode.key_collision", reject: true},
		{name: "newline in key", in: map[string]any{"a\nb": "1"}, rule: "unicode.single_line", offset: 1, reject: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var st Stats
			out, fs := Record(tc.in, &st)
			if tc.rule == "" {
				if len(fs) != 0 {
					t.Fatalf("unexpected findings %+v", fs)
				}
			} else {
				var f *Finding
				for i := range fs {
					if fs[i].Rule == tc.rule {
						f = &fs[i]
						break
					}
				}
				if f == nil {
					t.Fatalf("no %s finding in %+v", tc.rule, fs)
				}
				if tc.ptr != "" && f.Pointer != tc.ptr {
					t.Errorf("pointer %q, want %q", f.Pointer, tc.ptr)
				}
				if tc.rule != "unicode.key_collision" && f.Offset != tc.offset {
					t.Errorf("offset %d, want %d", f.Offset, tc.offset)
				}
				if f.Reject != tc.reject {
					t.Errorf("reject %v, want %v", f.Reject, tc.reject)
				}
				if !strings.Contains(f.Message, tc.message) {
					t.Errorf("message %q lacks %q", f.Message, tc.message)
				}
				if tc.reject != (st.Rejected == 1) {
					t.Errorf("stats %+v", st)
				}
			}
			if tc.out != nil {
				if m, ok := tc.out.(map[string]any); ok {
					got := out.(map[string]any)
					for k, v := range m {
						if got[k] != v {
							t.Errorf("key %q: got %v, want %v (%v)", k, got[k], v, got)
						}
					}
				} else if out != tc.out {
					t.Errorf("got %q, want %q", out, tc.out)
				}
			}
		})
	}
}

func TestStats(t *testing.T) {
	var st Stats
	Record("plain", &st)
	Record("café", &st)
	Record("cafe\u0301", &st)
	Record("a\x01", &st)
	want := Stats{Records: 4, NonASCII: 2, Controls: 1, Normalized: 1, Rejected: 1}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	if s := st.String(); s != "4 records, 2 contained non-ASCII, 1 contained control characters, 1 normalized, 1 rejected" {
		t.Fatalf("String: %s", s)
	}
	big := Stats{Records: 1000000, NonASCII: 47, Controls: 3, Normalized: 12, Rejected: 3}
	if s := big.String(); s != "1,000,000 records, 47 contained non-ASCII, 3 contained control characters, 12 normalized, 3 rejected" {
		t.Fatalf("String: %s", s)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 123456789: "123,456,789", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPlainString(t *testing.T) {
	// Every byte value at every position of a 1..24-byte string: the SWAR
	// test must agree with the byte-by-byte definition.
	for n := 1; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				want := c >= 0x20 && c <= 0x7E
				if got := plainString(string(b)); got != want {
					t.Fatalf("plainString(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
	// Neighbours of every boundary value, eight bytes at a time.
	for _, a := range []byte{0x00, 0x1F, 0x20, 0x21, 0x7E, 0x7F, 0x80, 0xFF} {
		for _, b := range []byte{0x00, 0x1F, 0x20, 0x21, 0x7E, 0x7F, 0x80, 0xFF} {
			s := string([]byte{a, b, a, b, a, b, a, b, a, b, a, b, a, b, a, b})
			want := a >= 0x20 && a <= 0x7E && b >= 0x20 && b <= 0x7E
			if got := plainString(s); got != want {
				t.Fatalf("plainString(% X) = %v, want %v", s, got, want)
			}
		}
	}
}

func TestPlainRecordsDoNotAllocate(t *testing.T) {
	rec := map[string]any{"device_id": "AB-123456", "timestamp": "2026-11-24T10:00:00Z", "value": 21.5, "unit": "celsius",
		"tags": []any{"north", "roof"}}
	var st Stats
	if n := testing.AllocsPerRun(100, func() { Record(rec, &st) }); n != 0 {
		t.Fatalf("%v allocations per plain record, want 0", n)
	}
	p, err := NewProfile(Config{Identifiers: []string{"/device_id"}, References: map[string]string{"/device_id": "devices.txt"}},
		map[string][]string{"/device_id": {"AB-123456"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { p.Record(rec, &st) }); n != 0 {
		t.Fatalf("%v allocations per plain record with a known reference value, want 0", n)
	}
}

func TestCheckUTF8(t *testing.T) {
	cases := []struct {
		in     string
		offset int
		hex    string
		why    string
	}{
		{"ab\xc0\xaf", 2, "0xC0 0xAF", "overlong encoding of U+002F"},
		{"\xe0\x80\xaf", 0, "0xE0 0x80 0xAF", "overlong encoding of U+002F"},
		{"\xf0\x80\x80\xaf", 0, "0xF0 0x80 0x80 0xAF", "overlong encoding of U+002F"},
		{"x\xed\xa0\xbd\xed\xb2\xa9", 1, "0xED 0xA0 0xBD", "encoded surrogate U+D83D"},
		{"abc\xe2\x82", 3, "0xE2 0x82", "truncated sequence: lead byte 0xE2 needs 2 continuation byte(s), 1 follow"},
		{"\xe2\x82z", 0, "0xE2 0x82", "truncated"},
		{"a\x80b", 1, "0x80", "continuation byte with no lead byte"},
		{"\xf4\x90\x80\x80", 0, "0xF4 0x90 0x80 0x80", "beyond U+10FFFF"},
		{"\xff", 0, "0xFF", "never occurs in UTF-8"},
	}
	for _, tc := range cases {
		fs := CheckUTF8(tc.in)
		if len(fs) == 0 {
			t.Errorf("%q: no finding", tc.in)
			continue
		}
		f := fs[0]
		if f.Offset != tc.offset || !strings.Contains(f.Message, tc.hex+" is ") || !strings.Contains(f.Message, tc.why) || !f.Reject {
			t.Errorf("%q: %+v; want offset %d, %s, %q", tc.in, f, tc.offset, tc.hex, tc.why)
		}
		if got := hexBytes(tc.in[f.Offset : f.Offset+f.Length]); got != tc.hex {
			t.Errorf("%q: span %s, want %s", tc.in, got, tc.hex)
		}
		if strings.Contains(f.Message, "\ufffd") {
			t.Errorf("%q: message substitutes U+FFFD: %s", tc.in, f.Message)
		}
	}
	if fs := CheckUTF8("héllo 👋"); fs != nil {
		t.Errorf("valid UTF-8 reported: %+v", fs)
	}
}

// checkOutput is the boundary's contract on one value: offsets point at
// the bytes they name, and what passes is valid UTF-8 in the field's form
// and a fixed point.
func checkOutput(t *testing.T, p *Profile, f field, s string) {
	t.Helper()
	out, fs := p.value(s, f, "/x", false, nil)
	rejected := false
	for _, x := range fs {
		if x.Offset < 0 || x.Offset+x.Length > len(s) {
			t.Fatalf("%q: offset %d+%d outside a %d-byte value (%+v)", s, x.Offset, x.Length, len(s), x)
		}
		if x.Rune >= 0 && !strings.HasPrefix(s[x.Offset:], string(x.Rune)) {
			t.Fatalf("%q: finding %+v does not point at its code point", s, x)
		}
		rejected = rejected || x.Reject
	}
	if rejected {
		return
	}
	form := p.forms[f.class]
	if !utf8.ValidString(out) || !form.IsNormalString(out) {
		t.Fatalf("%q passed as %q, which is not valid %v", s, out, form)
	}
	again, fs2 := p.value(out, f, "/x", false, nil)
	if again != out {
		t.Fatalf("not idempotent: %q -> %q -> %q", s, out, again)
	}
	for _, x := range fs2 {
		if x.Reject || x.Action == "strip" || x.Action == "normalize" {
			t.Fatalf("not a fixed point: %q -> %q, then %+v", s, out, x)
		}
	}
}

var fuzzProfiles = func() []*Profile {
	strip := map[string]string{}
	for _, h := range hazards {
		for _, a := range h.allowed {
			if a == Strip {
				strip[h.name] = "strip"
			}
		}
	}
	return []*Profile{
		Default,
		mustProfile(Config{IdentifierForm: "NFKC"}),
		mustProfile(Config{Form: "NFKC", Actions: map[string]map[string]string{"text": strip, "free": strip}}),
		mustProfile(Config{Lowercase: []string{"/x"}, Language: "tr"}),
	}
}()

// FuzzRecord: any string in, no panic; what passes is valid UTF-8 in NFC and
// normalizing it again changes nothing; every offset points inside the value.
func FuzzRecord(f *testing.F) {
	for _, s := range []string{"", "abc", "cafe\u0301", "\u202e", "a\x00b", "\xff", "ﬁ", "\u0041\u030a\u0301", "İ", "👩‍👩‍👧"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var st Stats
		out, fs := Record(s, &st)
		for _, f := range fs {
			if f.Offset < 0 || f.Offset > len(s) {
				t.Fatalf("offset %d outside a %d-byte value", f.Offset, len(s))
			}
			if f.Rune >= 0 && !strings.HasPrefix(s[f.Offset:], string(f.Rune)) {
				t.Fatalf("finding %+v does not point at its code point in %q", f, s)
			}
		}
		if st.Rejected > 0 {
			return
		}
		o := out.(string)
		if !utf8.ValidString(o) || !norm.NFC.IsNormalString(o) {
			t.Fatalf("passed %q is not valid NFC", o)
		}
		again, fs2 := Record(o, &Stats{})
		if again.(string) != o {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, o, again)
		}
		for _, x := range fs2 {
			if x.Reject || x.Action == "strip" || x.Action == "normalize" {
				t.Fatalf("not a fixed point: %q -> %q, then %+v", s, o, x)
			}
		}
	})
}

// FuzzValue runs any bytes through every class under profiles that strip
// everything strippable, use NFKC, and lower-case: the same contract.
func FuzzValue(f *testing.F) {
	for _, s := range []string{"", "a\u00ad\u0301", "\u2066\u00ad\u2069", "I\u00ad\u0307", "𝚤", "\r\u00ad\n", "👨\u00ad\u200d👩", "1\ufe0f\u20e3", "ﾞﾞﾞ"} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, sel uint8) {
		p := fuzzProfiles[int(sel)%len(fuzzProfiles)]
		cl := Class(int(sel/4) % int(numClasses))
		fd := field{class: cl, singleLine: cl == Identifier || sel&0x80 != 0, lower: p.lang != "" && sel&0x40 != 0}
		checkOutput(t, p, fd, s)
	})
}
