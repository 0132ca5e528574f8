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
		rule    string // first finding's rule, "" for none
		ptr     string
		offset  int
		reject  bool
		message string
	}{
		{name: "ascii untouched", in: "AB-123456", out: "AB-123456"},
		{name: "tab and newline pass", in: "a\tb\nc", out: "a\tb\nc"},
		{name: "NFC already", in: "café", out: "café"},
		{name: "decomposed accent", in: "cafe\u0301", out: "café", rule: "unicode.nfc", offset: 3},
		{name: "NUL", in: "ab\x00c", rule: "unicode.control", offset: 2, reject: true, message: "U+0000 NULL"},
		{name: "C1 control", in: "a\u0085", rule: "unicode.control", offset: 1, reject: true, message: "U+0085"},
		{name: "RLO", in: "\u202eAB-1", rule: "unicode.bidi", offset: 0, reject: true, message: "RIGHT-TO-LEFT OVERRIDE"},
		{name: "isolate", in: "x\u2066y\u2069", rule: "unicode.bidi", offset: 1, reject: true},
		{name: "ZWSP", in: "AB-1\u200b23456", rule: "unicode.zero_width", offset: 4, reject: true, message: "ZERO WIDTH SPACE"},
		{name: "BOM inside", in: "a\ufeffb", rule: "unicode.bom", offset: 1, reject: true},
		{name: "nested pointer", in: map[string]any{"a/b": []any{"x", "y\u200d"}}, rule: "unicode.zero_width", ptr: "/a~1b/1", offset: 1, reject: true},
		{name: "key normalized", in: map[string]any{"cafe\u0301": "1"}, out: map[string]any{"café": "1"}, rule: "unicode.nfc", ptr: "/cafe\u0301", offset: 3},
		{name: "key collision", in: map[string]any{"cafe\u0301": "1", "café": "2"}, rule: "unicode.key_collision", reject: true},
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
				if tc.reject && st.Rejected != 1 {
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
}

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
		if again.(string) != o || len(fs2) != 0 {
			t.Fatalf("not idempotent: %q -> %q (%+v)", o, again, fs2)
		}
	})
}
