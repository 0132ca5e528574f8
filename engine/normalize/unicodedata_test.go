package normalize

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/runenames"
)

// dataDir holds the project's copy of the Unicode data; tests never read
// anything outside the repository.
var dataDir = filepath.Join("..", "..", "testdata", "unicode-"+tablesVersion)

// TestVersions fails when x/text's normalization (or Go's unicode package,
// or the name table) moves to another Unicode version than the generated
// tables: regenerate them from that version's data (go generate).
func TestVersions(t *testing.T) {
	if norm.Version != TablesVersion {
		t.Errorf("norm.Version is %s but the UTS #39 tables are %s: copy the %s data to testdata/unicode-%s and run go generate",
			norm.Version, TablesVersion, norm.Version, norm.Version)
	}
	if unicode.Version != TablesVersion {
		t.Errorf("Go's unicode.Version is %s but the tables are %s", unicode.Version, TablesVersion)
	}
	if runenames.UnicodeVersion != TablesVersion {
		t.Errorf("runenames.UnicodeVersion is %s but the tables are %s", runenames.UnicodeVersion, TablesVersion)
	}
}

// ucdLines yields the data fields of a UCD-style file.
func ucdLines(t *testing.T, name string, fn func(line int, fields []string)) {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		parts := strings.Split(s, ";")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		fn(line, parts)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func hexString(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for _, f := range strings.Fields(s) {
		v, err := strconv.ParseUint(f, 16, 32)
		if err != nil {
			t.Fatalf("bad code point %q", f)
		}
		b.WriteRune(rune(v))
	}
	return b.String()
}

func hexRange(t *testing.T, s string) (rune, rune) {
	t.Helper()
	a, b, ok := strings.Cut(s, "..")
	lo, err := strconv.ParseUint(a, 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	hi := lo
	if ok {
		if hi, err = strconv.ParseUint(b, 16, 32); err != nil {
			t.Fatal(err)
		}
	}
	return rune(lo), rune(hi)
}

// TestNormalizationTest runs NormalizationTest.txt through NormalizeString,
// the function the boundary normalizes with, for all four forms, and the
// Part 2 invariant: a code point not in Part 1 is unchanged by every form.
func TestNormalizationTest(t *testing.T) {
	nf := func(f norm.Form, s string) string {
		out, _ := NormalizeString(f, s)
		if want := f.String(s); out != want {
			t.Fatalf("segment-wise normalization of %+q gives %+q, x/text %+q", s, out, want)
		}
		return out
	}
	part := ""
	inPart1 := map[rune]bool{}
	lines := 0
	f, err := os.Open(filepath.Join(dataDir, "NormalizationTest.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		s := sc.Text()
		if strings.HasPrefix(s, "@Part") {
			part = strings.Fields(s)[0]
			continue
		}
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		cols := strings.Split(s, ";")
		if len(cols) < 5 {
			t.Fatalf("line %d: %d columns", ln, len(cols))
		}
		var c [6]string
		for i := 1; i <= 5; i++ {
			c[i] = hexString(t, cols[i-1])
		}
		if part == "@Part1" {
			r, _ := utf8.DecodeRuneInString(c[1])
			inPart1[r] = true
		}
		lines++
		check := func(form string, got, want string) {
			if got != want {
				t.Errorf("line %d (%s): %s gives %+q, want %+q", ln, part, form, got, want)
			}
		}
		// NFC: c2 == toNFC(c1) == toNFC(c2) == toNFC(c3); c4 == toNFC(c4) == toNFC(c5)
		for _, i := range []int{1, 2, 3} {
			check("NFC", nf(norm.NFC, c[i]), c[2])
		}
		for _, i := range []int{4, 5} {
			check("NFC", nf(norm.NFC, c[i]), c[4])
		}
		// NFD: c3 == toNFD(c1..c3); c5 == toNFD(c4), toNFD(c5)
		for _, i := range []int{1, 2, 3} {
			check("NFD", nf(norm.NFD, c[i]), c[3])
		}
		for _, i := range []int{4, 5} {
			check("NFD", nf(norm.NFD, c[i]), c[5])
		}
		// NFKC: c4 == toNFKC(c1..c5); NFKD: c5 == toNFKD(c1..c5)
		for i := 1; i <= 5; i++ {
			check("NFKC", nf(norm.NFKC, c[i]), c[4])
			check("NFKD", nf(norm.NFKD, c[i]), c[5])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 19000 || len(inPart1) < 10000 {
		t.Fatalf("read only %d test lines, %d Part 1 code points: is the file complete?", lines, len(inPart1))
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if inPart1[r] || (r >= 0xD800 && r <= 0xDFFF) {
			continue
		}
		s := string(r)
		for _, f := range []norm.Form{norm.NFC, norm.NFD, norm.NFKC, norm.NFKD} {
			if out, _ := NormalizeString(f, s); out != s {
				t.Fatalf("Part 2: U+%04X is not in Part 1 but form %v changes it to %+q", r, f, out)
			}
		}
	}
}

func isDI(s string) bool {
	for _, r := range s {
		if isDefaultIgnorable(r) {
			return true
		}
	}
	return false
}

// TestConfusables checks the skeleton against confusables.txt the way ICU
// does: for each mapping whose source is in NFD and holds no default
// ignorable code point, skeleton(source) == NFD(target); and every pair of
// intentional.txt comes out confusable.
func TestConfusables(t *testing.T) {
	n, checked := 0, 0
	ucdLines(t, "confusables.txt", func(line int, f []string) {
		n++
		src := hexString(t, f[0])
		target := hexString(t, f[1])
		if !norm.NFD.IsNormalString(src) || isDI(src) {
			return
		}
		checked++
		if got, want := Skeleton(src), norm.NFD.String(target); got != want {
			t.Errorf("confusables.txt:%d: skeleton(%+q) = %+q, want %+q", line, src, got, want)
		}
	})
	if n < 6000 || checked < 5000 {
		t.Fatalf("%d mappings, %d checked: is confusables.txt complete?", n, checked)
	}
	pairs := 0
	ucdLines(t, "intentional.txt", func(line int, f []string) {
		pairs++
		a, b := hexString(t, f[0]), hexString(t, f[1])
		if Skeleton(a) != Skeleton(b) {
			t.Errorf("intentional.txt:%d: %+q and %+q have skeletons %+q and %+q", line, a, b, Skeleton(a), Skeleton(b))
		}
	})
	if pairs < 70 {
		t.Fatalf("only %d intentional pairs", pairs)
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"paypal", "pаypal", true}, // Cyrillic а
		{"AB-123456", "AB-I23456", true},
		{"rn", "m", true},
		{"AB-1\u200b23", "AB-123", true}, // default ignorable removed
		{"device", "devise", false},
		{"same", "same", false},
	} {
		if got := Confusable(tc.a, tc.b); got != tc.want {
			t.Errorf("Confusable(%+q, %+q) = %v, want %v (skeletons %+q %+q)", tc.a, tc.b, got, tc.want, Skeleton(tc.a), Skeleton(tc.b))
		}
	}
}

// TestTablesAgainstData checks the hand-written classifications of the
// scan and the generated lookups against the data files.
func TestTablesAgainstData(t *testing.T) {
	bidi := map[rune]bool{}
	ucdLines(t, "PropList.txt", func(_ int, f []string) {
		if f[1] == "Bidi_Control" {
			lo, hi := hexRange(t, f[0])
			for r := lo; r <= hi; r++ {
				bidi[r] = true
			}
		}
	})
	if len(bidi) != 12 {
		t.Fatalf("%d Bidi_Control code points in PropList.txt, the scan knows 12", len(bidi))
	}
	for r := range bidi {
		_, fs := Default.value("a"+string(r)+"b", field{class: Text}, "", false, nil)
		if len(fs) == 0 || !strings.HasPrefix(fs[0].Rule, "unicode.bidi") {
			t.Errorf("Bidi_Control U+%04X: findings %+v", r, fs)
		}
	}
	di := 0
	ucdLines(t, "DerivedCoreProperties.txt", func(_ int, f []string) {
		if f[1] != "Default_Ignorable_Code_Point" {
			return
		}
		lo, hi := hexRange(t, f[0])
		for r := lo; r <= hi; r++ {
			di++
			if !isDefaultIgnorable(r) {
				t.Errorf("U+%04X is Default_Ignorable_Code_Point", r)
			}
			// At the start of a text value, every default ignorable is
			// reported: none passes silently.
			if _, fs := Default.value(string(r)+"a", field{class: Text}, "", false, nil); len(fs) == 0 {
				t.Errorf("default ignorable U+%04X at the start of a text value passes unreported", r)
			}
		}
	})
	if di < 4000 {
		t.Fatalf("%d default ignorables", di)
	}
	ucdLines(t, "Scripts.txt", func(_ int, f []string) {
		lo, hi := hexRange(t, f[0])
		for _, r := range []rune{lo, hi} {
			if got := Script(r); got != f[1] {
				t.Errorf("Script(U+%04X) = %s, want %s", r, got, f[1])
			}
		}
	})
	ucdLines(t, "IdentifierStatus.txt", func(_ int, f []string) {
		lo, hi := hexRange(t, f[0])
		if !identifierAllowedRune(lo) || !identifierAllowedRune(hi) {
			t.Errorf("%s is Allowed", f[0])
		}
	})
	if identifierAllowedRune(0x0430) == false || identifierAllowedRune(0xFF21) || identifierAllowedRune(0x200B) {
		t.Errorf("identifier status: U+0430 allowed, U+FF21 and U+200B not")
	}
	for r, want := range map[rune]string{0x0041: "Latin", 0x0430: "Cyrillic", 0x3042: "Hiragana", 0x0030: "Common", 0x0301: "Inherited", 0x0378: "Unknown"} {
		if got := Script(r); got != want {
			t.Errorf("Script(U+%04X) = %s, want %s", r, got, want)
		}
	}
	if got := strings.Join(ScriptExtensions(0x0660), " "); got != "Arabic Thaana Yezidi" {
		t.Errorf("ScriptExtensions(U+0660) = %s", got)
	}
	for r, want := range map[rune]string{0: "NULL", 0x1F4CA: "BAR CHART", 0x202E: "RIGHT-TO-LEFT OVERRIDE", 0x85: "NEXT LINE", 0x378: "<unassigned>", 0xAC00: "<Hangul Syllable>", 0xFFFF: "<noncharacter>"} {
		if got := Name(r); got != want {
			t.Errorf("Name(U+%04X) = %q, want %q", r, got, want)
		}
	}
	for r, want := range map[rune]string{'A': "Lu", 0x301: "Mn", 0x200B: "Cf", 0x1F4CA: "So", 0x378: "Cn", 0: "Cc"} {
		if got := Category(r); got != want {
			t.Errorf("Category(U+%04X) = %s, want %s", r, got, want)
		}
	}
}

func TestRestrictionLevels(t *testing.T) {
	for s, want := range map[string]RestrictionLevel{
		"AB-123": ASCIIOnly, "café": SingleScript, "Ελληνικά": SingleScript, "東京タワー": SingleScript,
		"Tokyoタワー東京": HighlyRestrictive, "Seoul서울": HighlyRestrictive, "abcदेव": ModeratelyRestrictive,
		"pаypal": MinimallyRestrictive, "abcαβγ": MinimallyRestrictive, "١٢٣": SingleScript,
	} {
		if got, _, _ := restriction(s); got != want {
			t.Errorf("restriction(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestNaughtyStrings runs the Big List of Naughty Strings through every
// class: no panic, offsets on the right bytes, output valid, in the form,
// and a fixed point.
func TestNaughtyStrings(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "naughty-strings", "blns.json"))
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) < 500 {
		t.Fatalf("%d strings", len(list))
	}
	rejected := 0
	for _, p := range fuzzProfiles {
		for cl := Class(0); cl < numClasses; cl++ {
			for _, s := range list {
				checkOutput(t, p, field{class: cl, singleLine: cl == Identifier}, s)
				if _, fs := p.value(s, field{class: cl}, "", false, nil); len(fs) > 0 && fs[0].Reject {
					rejected++
				}
			}
		}
	}
	if rejected == 0 {
		t.Fatal("nothing in the naughty list was rejected")
	}
}
