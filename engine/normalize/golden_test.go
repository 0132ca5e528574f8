package normalize

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// twelve are the seed's "Twelve Characters of Christmas", one each: what
// the boundary must do with each is fixed here; the exact messages are in
// testdata/twelve.golden.
var twelve = []struct {
	name, input, pointer string
	action, rule, output string
}{
	{"emoji", "AB-123456\U0001F4CA", "/device_id", "reject", "unicode.emoji", ""},
	{"zero width joiner", "AB\u200d123456", "/note", "reject", "unicode.zero_width", ""},
	{"right-to-left override", "invoice\u202egnp.exe", "/note", "reject", "unicode.bidi", ""},
	{"NUL", "celsius\x00", "/unit", "reject", "unicode.control", ""},
	{"byte order mark", "\ufeffAB-123456", "/device_id", "reject", "unicode.bom", ""},
	{"soft hyphen", "Ibu\u00adprofen", "/note", "strip", "unicode.soft_hyphen", "Ibuprofen"},
	{"Turkish dotted I", "\u0130STANBUL-01", "/device_id", "reject", "unicode.locale_case", ""},
	{"combining accent", "Ame\u0301lie", "/note", "normalize", "unicode.nfc", "Amélie"},
	{"surrogate pair (CESU-8)", "\xed\xa0\xbd\xed\xb8\x80", "/note", "reject", "unicode.invalid_utf8", ""},
	{"homoglyph", "\u0410B-123456", "/device_id", "reject", "unicode.confusable", ""},
	{"CRLF", "line one\r\nline two", "/note", "normalize", "unicode.newline", "line one\nline two"},
	{"tab", "AB\t123456", "/device_id", "reject", "unicode.tab", ""},
}

func TestTwelveCharacters(t *testing.T) {
	p, err := NewProfile(Config{Identifiers: []string{"/device_id"}, SingleLine: []string{"/unit"},
		References: map[string]string{"/device_id": "registry/devices.txt"}},
		map[string][]string{"/device_id": {"AB-123456", "CD-654321"}})
	if err != nil {
		t.Fatal(err)
	}
	var golden strings.Builder
	for _, tc := range twelve {
		out, fs := p.Field(tc.pointer, tc.input)
		fmt.Fprintf(&golden, "## %s\ninput:  %+q\nfield:  %s (%s)\n", tc.name, tc.input, tc.pointer, p.fieldFor(tc.pointer, field{}).class)
		var hit *Finding
		for i := range fs {
			f := fs[i]
			fmt.Fprintf(&golden, "found:  %s %s at byte %d (+%d): %s\n", f.Rule, f.Action, f.Offset, f.Length, f.Message)
			if f.Rule == tc.rule && hit == nil {
				hit = &fs[i]
			}
		}
		if hit == nil {
			t.Errorf("%s: no %s finding in %+v", tc.name, tc.rule, fs)
			continue
		}
		if hit.Action != tc.action {
			t.Errorf("%s: %s, want %s", tc.name, hit.Action, tc.action)
		}
		if tc.action == "reject" {
			golden.WriteString("result: rejected\n\n")
			continue
		}
		fmt.Fprintf(&golden, "result: %+q\n\n", out)
		if out != tc.output {
			t.Errorf("%s: output %+q, want %+q", tc.name, out, tc.output)
		}
		for _, f := range fs {
			if f.Reject {
				t.Errorf("%s: rejected: %s", tc.name, f.Message)
			}
		}
	}
	path := filepath.Join("testdata", "twelve.golden")
	if *update {
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestTwelveCharacters -update to create it)", err)
	}
	if got := golden.String(); got != string(want) {
		t.Errorf("findings differ from %s (go test -update rewrites it; review the diff):\n%s", path, got)
	}
}
