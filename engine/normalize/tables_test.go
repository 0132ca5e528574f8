package normalize

// The generated tables checked in full: every code point from U+0000 to
// U+10FFFF is looked up with the function the package uses and compared
// with the value the Unicode data file gives it. The files are read with
// the small parser below, not the generator's, so a generator bug and a
// hand edit of tables.go both show up as a mismatch.

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

const numCodePoints = unicode.MaxRune + 1

// ucdEntry is one data line of a UCD-style file: a code point or a range,
// then the line's fields, trimmed, up to the comment.
type ucdEntry struct {
	line   int
	lo, hi rune
	fields []string
}

// ucdFile is a UCD-style file as the tests read it: its data lines and the
// value of its "# @missing: 0000..10FFFF; VALUE" line, if it has one.
type ucdFile struct {
	name    string
	missing string
	entries []ucdEntry
}

// readUCD parses a file of testdata/unicode-<version>: "#" starts a comment,
// blank lines are skipped, a data line is "CODE(..CODE)? ; field ; ...".
func readUCD(t *testing.T, name string) *ucdFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	f := &ucdFile{name: name}
	for i, s := range strings.Split(string(b), "\n") {
		line := i + 1
		if rest, ok := strings.CutPrefix(s, "# @missing:"); ok {
			rng, val, ok := strings.Cut(rest, ";")
			if !ok || strings.TrimSpace(rng) != "0000..10FFFF" {
				t.Fatalf("%s:%d: unexpected @missing line %q", name, line, s)
			}
			f.missing = strings.TrimSpace(val)
			continue
		}
		if k := strings.IndexByte(s, '#'); k >= 0 {
			s = s[:k]
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		fields := strings.Split(s, ";")
		for k := range fields {
			fields[k] = strings.TrimSpace(fields[k])
		}
		if len(fields) < 2 {
			t.Fatalf("%s:%d: no field after the code points: %q", name, line, s)
		}
		lo, hi := parseCodePoints(t, name, line, fields[0])
		f.entries = append(f.entries, ucdEntry{line, lo, hi, fields[1:]})
	}
	if len(f.entries) == 0 {
		t.Fatalf("%s: no data lines", name)
	}
	return f
}

// parseCodePoints parses "XXXX" or "XXXX..YYYY".
func parseCodePoints(t *testing.T, name string, line int, s string) (rune, rune) {
	t.Helper()
	a, b, isRange := strings.Cut(s, "..")
	if !isRange {
		b = a
	}
	lo, err1 := strconv.ParseUint(a, 16, 32)
	hi, err2 := strconv.ParseUint(b, 16, 32)
	if err1 != nil || err2 != nil || len(a) < 4 || len(b) < 4 || lo > hi || hi > unicode.MaxRune {
		t.Fatalf("%s:%d: bad code point or range %q", name, line, s)
	}
	return rune(lo), rune(hi)
}

// perCodePoint gives each code point the value that value computes from
// the entry listing it, or missing when no entry does; values are interned
// in vals, idx holds one index per code point. A code point listed twice is
// an error: these files give each code point one value.
func (f *ucdFile) perCodePoint(t *testing.T, missing string, value func(ucdEntry) string) (vals []string, idx []uint16) {
	t.Helper()
	vals = []string{missing}
	ids := map[string]uint16{missing: 0}
	idx = make([]uint16, numCodePoints)
	listed := make([]bool, numCodePoints)
	for _, e := range f.entries {
		v := value(e)
		id, ok := ids[v]
		if !ok {
			id = uint16(len(vals))
			ids[v] = id
			vals = append(vals, v)
		}
		for r := e.lo; r <= e.hi; r++ {
			if listed[r] {
				t.Fatalf("%s:%d: U+%04X listed twice", f.name, e.line, r)
			}
			listed[r] = true
			idx[r] = id
		}
	}
	return vals, idx
}

// property returns the code points a binary property holds: the entries
// whose first field is prop.
func (f *ucdFile) property(t *testing.T, prop string, atLeast int) []bool {
	t.Helper()
	has := make([]bool, numCodePoints)
	n := 0
	for _, e := range f.entries {
		if e.fields[0] != prop {
			continue
		}
		for r := e.lo; r <= e.hi; r++ {
			if !has[r] {
				n++
			}
			has[r] = true
		}
	}
	if n < atLeast {
		t.Fatalf("%s: %d code points have %s, expected at least %d: is the file complete?", f.name, n, prop, atLeast)
	}
	return has
}

// sortedSet is a space-separated set in one spelling: sorted, no
// duplicates.
func sortedSet(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	s := slices.Clone(names)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), " ")
}

// mismatches reports the first 20 code points where a table disagrees with
// its data file, then how many there were in all.
type mismatches struct {
	t     *testing.T
	file  string
	table string
	n     int
}

func (m *mismatches) add(r rune, want, got string) {
	m.t.Helper()
	m.n++
	if m.n <= 20 {
		m.t.Errorf("U+%04X: %s gives %q, %s gives %q", r, m.file, want, m.table, got)
	}
}

func (m *mismatches) done() {
	m.t.Helper()
	if m.n > 20 {
		m.t.Errorf("%d mismatches between %s and %s in all; the first 20 are above", m.n, m.file, m.table)
	}
}

// scriptsPerCodePoint reads Scripts.txt: the Script value of every code
// point.
func scriptsPerCodePoint(t *testing.T) (vals []string, idx []uint16) {
	f := readUCD(t, "Scripts.txt")
	if f.missing != "Unknown" {
		t.Fatalf("Scripts.txt: @missing is %q", f.missing)
	}
	vals, idx = f.perCodePoint(t, f.missing, func(e ucdEntry) string { return e.fields[0] })
	listed := 0
	for _, i := range idx {
		if i != 0 {
			listed++
		}
	}
	if listed < 140000 || len(vals) < 150 {
		t.Fatalf("Scripts.txt: %d code points with %d values: is the file complete?", listed, len(vals))
	}
	return vals, idx
}

// TestScriptEveryCodePoint: Script(r) is r's value in Scripts.txt, Unknown
// for code points it does not list.
func TestScriptEveryCodePoint(t *testing.T) {
	vals, idx := scriptsPerCodePoint(t)
	m := mismatches{t: t, file: "Scripts.txt", table: "Script"}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if want, got := vals[idx[r]], Script(r); got != want {
			m.add(r, want, got)
		}
	}
	m.done()
}

// iso15924 maps the script codes ScriptExtensions.txt uses to the Script
// values of Scripts.txt (ISO 15924 codes and Unicode property value
// aliases, as PropertyValueAliases.txt pairs them).
var iso15924 = map[string]string{
	"Adlm": "Adlam", "Arab": "Arabic", "Beng": "Bengali", "Bopo": "Bopomofo",
	"Bugi": "Buginese", "Buhd": "Buhid", "Cakm": "Chakma", "Copt": "Coptic",
	"Cpmn": "Cypro_Minoan", "Cprt": "Cypriot", "Cyrl": "Cyrillic", "Deva": "Devanagari",
	"Dogr": "Dogra", "Dupl": "Duployan", "Geor": "Georgian", "Glag": "Glagolitic",
	"Gong": "Gunjala_Gondi", "Gonm": "Masaram_Gondi", "Gran": "Grantha", "Grek": "Greek",
	"Gujr": "Gujarati", "Guru": "Gurmukhi", "Hang": "Hangul", "Hani": "Han",
	"Hano": "Hanunoo", "Hira": "Hiragana", "Java": "Javanese", "Kali": "Kayah_Li",
	"Kana": "Katakana", "Khoj": "Khojki", "Knda": "Kannada", "Kthi": "Kaithi",
	"Latn": "Latin", "Limb": "Limbu", "Lina": "Linear_A", "Linb": "Linear_B",
	"Mahj": "Mahajani", "Mand": "Mandaic", "Mani": "Manichaean", "Mlym": "Malayalam",
	"Modi": "Modi", "Mong": "Mongolian", "Mult": "Multani", "Mymr": "Myanmar",
	"Nand": "Nandinagari", "Nkoo": "Nko", "Orya": "Oriya", "Ougr": "Old_Uyghur",
	"Perm": "Old_Permic", "Phag": "Phags_Pa", "Phlp": "Psalter_Pahlavi", "Rohg": "Hanifi_Rohingya",
	"Shrd": "Sharada", "Sind": "Khudawadi", "Sinh": "Sinhala", "Sogd": "Sogdian",
	"Sylo": "Syloti_Nagri", "Syrc": "Syriac", "Tagb": "Tagbanwa", "Takr": "Takri",
	"Tale": "Tai_Le", "Taml": "Tamil", "Telu": "Telugu", "Tglg": "Tagalog",
	"Thaa": "Thaana", "Tirh": "Tirhuta", "Yezi": "Yezidi", "Yiii": "Yi",
}

// augmentedWith is UTS #39 section 5.1: Han also counts as Japanese,
// Korean and Han with Bopomofo; Hiragana and Katakana as Japanese; Hangul
// as Korean; Bopomofo as Han with Bopomofo.
var augmentedWith = map[string][]string{
	"Han": {"Jpan", "Kore", "Hanb"}, "Hiragana": {"Jpan"}, "Katakana": {"Jpan"},
	"Hangul": {"Kore"}, "Bopomofo": {"Hanb"},
}

func augmented(scripts []string) string {
	var out []string
	for _, s := range scripts {
		out = append(out, s)
		out = append(out, augmentedWith[s]...)
	}
	return sortedSet(out)
}

// TestScriptExtensionsEveryCodePoint: ScriptExtensions(r) is, augmented,
// r's Script_Extensions from ScriptExtensions.txt, or its Script when the
// file does not list it (the file's @missing value "<script>"), or nil for
// Common and Inherited code points the file does not list.
func TestScriptExtensionsEveryCodePoint(t *testing.T) {
	scVals, scIdx := scriptsPerCodePoint(t)
	inScripts := map[string]bool{}
	for _, v := range scVals {
		inScripts[v] = true
	}
	for code, name := range iso15924 {
		if !inScripts[name] {
			t.Fatalf("iso15924: %s maps to %s, which Scripts.txt does not have", code, name)
		}
	}
	f := readUCD(t, "ScriptExtensions.txt")
	if f.missing != "<script>" {
		t.Fatalf("ScriptExtensions.txt: @missing is %q", f.missing)
	}
	// A code point's own Script is among its extensions unless it is
	// Common or Inherited (UAX #24); this checks the names in iso15924.
	for _, e := range f.entries {
		var names []string
		for _, code := range strings.Fields(e.fields[0]) {
			n, ok := iso15924[code]
			if !ok {
				t.Fatalf("ScriptExtensions.txt:%d: script code %s is not in iso15924", e.line, code)
			}
			names = append(names, n)
		}
		for r := e.lo; r <= e.hi; r++ {
			if own := scVals[scIdx[r]]; own != "Common" && own != "Inherited" && !slices.Contains(names, own) {
				t.Fatalf("ScriptExtensions.txt:%d: U+%04X has Script %s but extensions %s", e.line, r, own, e.fields[0])
			}
		}
	}
	const unlisted = "(not listed)"
	vals, idx := f.perCodePoint(t, unlisted, func(e ucdEntry) string {
		var names []string
		for _, code := range strings.Fields(e.fields[0]) {
			names = append(names, iso15924[code])
		}
		return augmented(names)
	})
	if len(f.entries) < 100 || len(vals) < 50 {
		t.Fatalf("ScriptExtensions.txt: %d lines, %d sets: is the file complete?", len(f.entries), len(vals))
	}
	// The expected value of an unlisted code point, per Script value.
	ownScript := make([]string, len(scVals))
	for i, sc := range scVals {
		if sc != "Common" && sc != "Inherited" {
			ownScript[i] = augmented([]string{sc})
		}
	}
	m := mismatches{t: t, file: "ScriptExtensions.txt", table: "ScriptExtensions"}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := vals[idx[r]]
		if want == unlisted {
			want = ownScript[scIdx[r]]
		}
		got := ScriptExtensions(r)
		if want == "" && got != nil {
			m.add(r, "(none: any script)", sortedSet(got))
		} else if want != "" && got == nil {
			m.add(r, want, "(none: any script)")
		} else if got := sortedSet(got); got != want {
			m.add(r, want, got)
		}
	}
	m.done()
}

// TestIdentifierStatusEveryCodePoint: identifierAllowedRune(r) holds
// exactly for the code points IdentifierStatus.txt lists as Allowed; every
// other code point is Restricted.
func TestIdentifierStatusEveryCodePoint(t *testing.T) {
	f := readUCD(t, "IdentifierStatus.txt")
	if f.missing != "Restricted" {
		t.Fatalf("IdentifierStatus.txt: @missing is %q", f.missing)
	}
	vals, idx := f.perCodePoint(t, f.missing, func(e ucdEntry) string { return e.fields[0] })
	if !slices.Equal(vals, []string{"Restricted", "Allowed"}) {
		t.Fatalf("IdentifierStatus.txt: values %q, expected Restricted and Allowed", vals)
	}
	allowed := 0
	m := mismatches{t: t, file: "IdentifierStatus.txt", table: "identifierAllowed"}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := vals[idx[r]]
		if want == "Allowed" {
			allowed++
		}
		got := "Restricted"
		if identifierAllowedRune(r) {
			got = "Allowed"
		}
		if got != want {
			m.add(r, want, got)
		}
	}
	m.done()
	if allowed < 100000 {
		t.Fatalf("IdentifierStatus.txt: only %d Allowed code points", allowed)
	}
}

// TestIdentifierTypeEveryCodePoint: identifierType(r) is the set of
// Identifier_Type values IdentifierType.txt gives r, Not_Character for the
// code points it does not list.
func TestIdentifierTypeEveryCodePoint(t *testing.T) {
	f := readUCD(t, "IdentifierType.txt")
	if f.missing != "Not_Character" {
		t.Fatalf("IdentifierType.txt: @missing is %q", f.missing)
	}
	vals, idx := f.perCodePoint(t, f.missing, func(e ucdEntry) string { return sortedSet(strings.Fields(e.fields[0])) })
	if len(f.entries) < 2000 || len(vals) < 12 {
		t.Fatalf("IdentifierType.txt: %d lines, %d type sets: is the file complete?", len(f.entries), len(vals))
	}
	m := mismatches{t: t, file: "IdentifierType.txt", table: "identifierType"}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if want, got := vals[idx[r]], sortedSet(identifierType(r)); got != want {
			m.add(r, want, got)
		}
	}
	m.done()
}

// TestConfusablePrototypesEveryCodePoint: prototype(r) is r's target in
// confusables.txt, and r has none when the file does not map it.
func TestConfusablePrototypesEveryCodePoint(t *testing.T) {
	f := readUCD(t, "confusables.txt")
	const none = "(no mapping)"
	vals, idx := f.perCodePoint(t, none, func(e ucdEntry) string {
		if e.lo != e.hi || len(e.fields) < 2 || e.fields[1] != "MA" {
			t.Fatalf("confusables.txt:%d: expected one code point, a target and MA", e.line)
		}
		var b strings.Builder
		for _, h := range strings.Fields(e.fields[0]) {
			lo, _ := parseCodePoints(t, f.name, e.line, h)
			b.WriteRune(lo)
		}
		if b.Len() == 0 {
			t.Fatalf("confusables.txt:%d: empty target", e.line)
		}
		return b.String()
	})
	if len(f.entries) < 6000 {
		t.Fatalf("confusables.txt: %d mappings: is the file complete?", len(f.entries))
	}
	m := mismatches{t: t, file: "confusables.txt", table: "prototype"}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := vals[idx[r]]
		got, ok := prototype(r)
		if !ok {
			got = none
		}
		if got != want {
			m.add(r, want, got)
		}
	}
	m.done()
}

// TestPropertiesEveryCodePoint: the generated property tables, and the
// hand-written property tests the scan uses, against PropList.txt,
// DerivedCoreProperties.txt and emoji-data.txt.
func TestPropertiesEveryCodePoint(t *testing.T) {
	props := readUCD(t, "PropList.txt")
	derived := readUCD(t, "DerivedCoreProperties.txt")
	emoji := readUCD(t, "emoji-data.txt")
	di := derived.property(t, "Default_Ignorable_Code_Point", 4000)
	extPict := emoji.property(t, "Extended_Pictographic", 3000)
	emojiPres := emoji.property(t, "Emoji_Presentation", 1000)
	for _, p := range []struct {
		file   *ucdFile
		prop   string
		table  string
		has    []bool
		lookup func(rune) bool
	}{
		{derived, "Default_Ignorable_Code_Point", "isDefaultIgnorable (defaultIgnorable)", di, isDefaultIgnorable},
		{emoji, "Extended_Pictographic", "isExtPict (extendedPictographic)", extPict, isExtPict},
		{emoji, "Emoji_Presentation", "isEmojiPresentation (emojiPresentation)", emojiPres, isEmojiPresentation},
		{emoji, "Emoji", "emojiProperty", emoji.property(t, "Emoji", 1000), func(r rune) bool { return inRanges(emojiProperty[:], r) }},
		{emoji, "Emoji_Modifier", "isEmojiModifier", emoji.property(t, "Emoji_Modifier", 5), isEmojiModifier},
		{props, "Regional_Indicator", "isRegionalIndicator", props.property(t, "Regional_Indicator", 26), isRegionalIndicator},
		// A variation selector after a visible character is kept.
		{props, "Variation_Selector", "variationAfterBase(r, 'a')", props.property(t, "Variation_Selector", 200), func(r rune) bool { return variationAfterBase(r, 'a') }},
	} {
		m := mismatches{t: t, file: p.file.name + " " + p.prop, table: p.table}
		for r := rune(0); r <= unicode.MaxRune; r++ {
			if want, got := p.has[r], p.lookup(r); got != want {
				m.add(r, strconv.FormatBool(want), strconv.FormatBool(got))
			}
		}
		m.done()
	}
	// The scan skips every code point below U+034F but U+00A9 and U+00AE
	// once the controls, U+00AD and the Turkic i are dealt with: nothing
	// else there is default ignorable or a pictograph.
	for r := rune(0); r < 0x34F; r++ {
		if di[r] && r != 0xAD || (extPict[r] || emojiPres[r]) && r != 0xA9 && r != 0xAE {
			t.Errorf("U+%04X below U+034F is default ignorable or a pictograph: the scan's shortcut misses it", r)
		}
	}
}

// TestTurkicEveryCodePoint: isTurkic holds for the non-ASCII code points of
// the tr and az rules of SpecialCasing.txt and the status T lines of
// CaseFolding.txt, but U+0307 COMBINING DOT ABOVE (an ordinary mark that
// only matters after I and i).
func TestTurkicEveryCodePoint(t *testing.T) {
	want := make([]bool, numCodePoints)
	add := func(f *ucdFile, e ucdEntry, mappings []string) {
		want[e.lo] = true
		for _, m := range mappings {
			if rs := strings.Fields(m); len(rs) == 1 {
				r, _ := parseCodePoints(t, f.name, e.line, rs[0])
				want[r] = true
			}
		}
	}
	sc := readUCD(t, "SpecialCasing.txt")
	for _, e := range sc.entries {
		// code; lower; title; upper; (condition_list;)?
		if len(e.fields) == 5 && (strings.HasPrefix(e.fields[3], "tr") || strings.HasPrefix(e.fields[3], "az")) {
			add(sc, e, e.fields[:3])
		}
	}
	cf := readUCD(t, "CaseFolding.txt")
	for _, e := range cf.entries {
		// code; status; mapping;
		if e.fields[0] == "T" {
			add(cf, e, e.fields[1:2])
		}
	}
	n := 0
	m := mismatches{t: t, file: "SpecialCasing.txt tr/az and CaseFolding.txt T", table: "isTurkic"}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		w := want[r] && r >= 0x80 && r != 0x307
		if w {
			n++
		}
		if got := isTurkic(r); got != w {
			m.add(r, strconv.FormatBool(w), strconv.FormatBool(got))
		}
	}
	m.done()
	if n == 0 {
		t.Fatal("no Turkic case characters found in the data")
	}
}

// TestRecommendedScripts: recommendedScripts is UAX #31 Table 5 (revision
// 37, Unicode 15.0.0) without Common and Inherited, which go with any
// script; and the script constants name the scripts they stand for.
func TestRecommendedScripts(t *testing.T) {
	table5 := "Arabic Armenian Bengali Bopomofo Cyrillic Devanagari Ethiopic Georgian Greek Gujarati " +
		"Gurmukhi Han Hangul Hebrew Hiragana Kannada Katakana Khmer Lao Latin Malayalam Myanmar " +
		"Oriya Sinhala Tamil Telugu Thaana Thai Tibetan"
	if got := sortedSet(recommendedScripts.names()); got != table5 {
		t.Errorf("recommendedScripts = %s\nUAX #31 Table 5: %s", got, table5)
	}
	for id, want := range map[int]string{
		scriptCommon: "Common", scriptInherited: "Inherited", scriptLatin: "Latin", scriptHan: "Han",
		scriptHiragana: "Hiragana", scriptKatakana: "Katakana", scriptHangul: "Hangul", scriptBopomofo: "Bopomofo",
		scriptCyrillic: "Cyrillic", scriptGreek: "Greek", scriptJpan: "Jpan", scriptKore: "Kore", scriptHanb: "Hanb",
	} {
		if scriptNames[id] != want {
			t.Errorf("script id %d is %s, the constant says %s", id, scriptNames[id], want)
		}
	}
	if scriptNames[0] != "Unknown" {
		t.Errorf("script id 0 is %s, want Unknown", scriptNames[0])
	}
}
