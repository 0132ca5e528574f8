package normalize

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/runenames"
)

// TablesVersion is the Unicode version of the generated UTS #39, script and
// emoji tables. It must equal norm.Version: a skeleton computed with one
// version's decompositions and another's confusables is not a skeleton.
const TablesVersion = tablesVersion

type runeRange struct{ lo, hi rune }

type typeStart struct {
	lo   rune
	mask uint16
}

type scriptStart struct {
	lo  rune
	sc  uint8
	set uint8
}

// scriptSet is a bit set of script ids (indexes into scriptNames).
type scriptSet [3]uint64

func (s scriptSet) and(o scriptSet) scriptSet {
	return scriptSet{s[0] & o[0], s[1] & o[1], s[2] & o[2]}
}
func (s scriptSet) empty() bool     { return s[0]|s[1]|s[2] == 0 }
func (s scriptSet) has(id int) bool { return s[id/64]&(1<<(id%64)) != 0 }
func (s *scriptSet) add(id int)     { s[id/64] |= 1 << (id % 64) }

func (s scriptSet) names() []string {
	var out []string
	for w, x := range s {
		for x != 0 {
			b := bits.TrailingZeros64(x)
			x &^= 1 << b
			out = append(out, scriptNames[w*64+b])
		}
	}
	return out
}

func inRanges(rs []runeRange, r rune) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].hi >= r })
	return i < len(rs) && rs[i].lo <= r
}

func isDefaultIgnorable(r rune) bool { return r >= 0xAD && inRanges(defaultIgnorable[:], r) }
func isExtPict(r rune) bool          { return r >= 0xA9 && inRanges(extendedPictographic[:], r) }
func isEmojiPresentation(r rune) bool {
	return r >= 0x231A && inRanges(emojiPresentation[:], r)
}
func isEmojiModifier(r rune) bool     { return r >= 0x1F3FB && r <= 0x1F3FF }
func isRegionalIndicator(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }
func isTurkic(r rune) bool {
	for _, t := range turkicCase {
		if r == t {
			return true
		}
	}
	return false
}

// identifierAllowedRune reports UTS #39 Identifier_Status=Allowed.
func identifierAllowedRune(r rune) bool { return inRanges(identifierAllowed[:], r) }

// identifierType returns the UTS #39 Identifier_Type values of r.
func identifierType(r rune) []string {
	i := sort.Search(len(identifierTypes), func(i int) bool { return identifierTypes[i].lo > r }) - 1
	var out []string
	m := identifierTypes[i].mask
	for b := 0; m != 0; b++ {
		if m&(1<<b) != 0 {
			out = append(out, identifierTypeNames[b])
			m &^= 1 << b
		}
	}
	return out
}

func scriptOf(r rune) scriptStart {
	i := sort.Search(len(scriptStarts), func(i int) bool { return scriptStarts[i].lo > r }) - 1
	return scriptStarts[i]
}

// Script returns the Unicode Script property value of r, e.g. "Latin",
// "Common", "Unknown".
func Script(r rune) string {
	if r < 0 || r > unicode.MaxRune {
		return "Unknown"
	}
	return scriptNames[scriptOf(r).sc]
}

// ScriptExtensions returns r's Script_Extensions as script names, with the
// UTS #39 augmentation (Han also counts as Jpan, Kore and Hanb; Hiragana and
// Katakana as Jpan; Hangul as Kore; Bopomofo as Hanb). Common and Inherited
// characters without extensions return nil: they go with any script.
func ScriptExtensions(r rune) []string {
	st := scriptOf(r)
	if st.set == 0 {
		return nil
	}
	return scriptSets[st.set].names()
}

var (
	confusableOnce    sync.Once
	confusableRunes   []rune
	confusableOffsets []uint32 // start of each line's prototype in confusableData
)

func loadConfusables() {
	n := strings.Count(confusableData, "\n")
	confusableRunes = make([]rune, 0, n)
	confusableOffsets = make([]uint32, 0, n+1)
	for i := 0; i < len(confusableData); {
		r, size := utf8.DecodeRuneInString(confusableData[i:])
		confusableRunes = append(confusableRunes, r)
		confusableOffsets = append(confusableOffsets, uint32(i+size))
		i += strings.IndexByte(confusableData[i:], '\n') + 1
	}
}

// prototype returns the confusables.txt prototype of r, if r has one.
func prototype(r rune) (string, bool) {
	confusableOnce.Do(loadConfusables)
	i := sort.Search(len(confusableRunes), func(i int) bool { return confusableRunes[i] >= r })
	if i == len(confusableRunes) || confusableRunes[i] != r {
		return "", false
	}
	start := confusableOffsets[i]
	end := start + uint32(strings.IndexByte(confusableData[start:], '\n'))
	return confusableData[start:end], true
}

// Skeleton is the UTS #39 skeleton of s: NFD, default-ignorable code points
// removed (as UTS #39 does from Unicode 15.1 on, so that an inserted zero
// width space cannot split a match), each code point replaced by its
// confusables.txt prototype, NFD again. Two strings are confusable when
// their skeletons are equal.
func Skeleton(s string) string {
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if isDefaultIgnorable(r) {
			continue
		}
		if p, ok := prototype(r); ok {
			b.WriteString(p)
		} else {
			b.WriteRune(r)
		}
	}
	return norm.NFD.String(b.String())
}

// Confusable reports whether a and b are visually confusable: different
// strings with the same skeleton.
func Confusable(a, b string) bool { return a != b && Skeleton(a) == Skeleton(b) }

// controlNames are the Unicode name aliases of the controls, which have no
// character names of their own (NameAliases.txt, type "control").
var controlNames = [...]string{
	"NULL", "START OF HEADING", "START OF TEXT", "END OF TEXT", "END OF TRANSMISSION", "ENQUIRY", "ACKNOWLEDGE", "ALERT",
	"BACKSPACE", "CHARACTER TABULATION", "LINE FEED", "LINE TABULATION", "FORM FEED", "CARRIAGE RETURN", "SHIFT OUT", "SHIFT IN",
	"DATA LINK ESCAPE", "DEVICE CONTROL ONE", "DEVICE CONTROL TWO", "DEVICE CONTROL THREE", "DEVICE CONTROL FOUR", "NEGATIVE ACKNOWLEDGE", "SYNCHRONOUS IDLE", "END OF TRANSMISSION BLOCK",
	"CANCEL", "END OF MEDIUM", "SUBSTITUTE", "ESCAPE", "INFORMATION SEPARATOR FOUR", "INFORMATION SEPARATOR THREE", "INFORMATION SEPARATOR TWO", "INFORMATION SEPARATOR ONE",
}

var c1Names = [...]string{
	"PADDING CHARACTER", "HIGH OCTET PRESET", "BREAK PERMITTED HERE", "NO BREAK HERE", "INDEX", "NEXT LINE", "START OF SELECTED AREA", "END OF SELECTED AREA",
	"CHARACTER TABULATION SET", "CHARACTER TABULATION WITH JUSTIFICATION", "LINE TABULATION SET", "PARTIAL LINE FORWARD", "PARTIAL LINE BACKWARD", "REVERSE LINE FEED", "SINGLE SHIFT TWO", "SINGLE SHIFT THREE",
	"DEVICE CONTROL STRING", "PRIVATE USE ONE", "PRIVATE USE TWO", "SET TRANSMIT STATE", "CANCEL CHARACTER", "MESSAGE WAITING", "START OF GUARDED AREA", "END OF GUARDED AREA",
	"START OF STRING", "SINGLE GRAPHIC CHARACTER INTRODUCER", "SINGLE CHARACTER INTRODUCER", "CONTROL SEQUENCE INTRODUCER", "STRING TERMINATOR", "OPERATING SYSTEM COMMAND", "PRIVACY MESSAGE", "APPLICATION PROGRAM COMMAND",
}

// Name returns the Unicode name of r (x/text's runenames, of the same
// Unicode version as the tables), the name alias for controls, and for
// code points without a name a description such as "<unassigned>" or
// "<CJK Ideograph>".
func Name(r rune) string {
	switch {
	case r >= 0 && r < 0x20:
		return controlNames[r]
	case r == 0x7F:
		return "DELETE"
	case r >= 0x80 && r <= 0x9F:
		return c1Names[r-0x80]
	case r == 0xFEFF:
		return "ZERO WIDTH NO-BREAK SPACE (BYTE ORDER MARK)"
	case r < 0 || r > unicode.MaxRune:
		return "<not a code point>"
	}
	if n := runenames.Name(r); n != "" {
		return n
	}
	if unicode.Is(unicode.Cs, r) || (r >= 0xD800 && r <= 0xDFFF) {
		return "<surrogate>"
	}
	if r&0xFFFE == 0xFFFE || (r >= 0xFDD0 && r <= 0xFDEF) {
		return "<noncharacter>"
	}
	return "<unassigned>"
}

// Describe renders a code point as "U+XXXX NAME".
func Describe(r rune) string {
	return fmt.Sprintf("U+%04X %s", r, Name(r))
}

var categories = []struct {
	name string
	tab  *unicode.RangeTable
}{
	{"Lu", unicode.Lu}, {"Ll", unicode.Ll}, {"Lt", unicode.Lt}, {"Lm", unicode.Lm}, {"Lo", unicode.Lo},
	{"Mn", unicode.Mn}, {"Mc", unicode.Mc}, {"Me", unicode.Me},
	{"Nd", unicode.Nd}, {"Nl", unicode.Nl}, {"No", unicode.No},
	{"Pc", unicode.Pc}, {"Pd", unicode.Pd}, {"Ps", unicode.Ps}, {"Pe", unicode.Pe}, {"Pi", unicode.Pi}, {"Pf", unicode.Pf}, {"Po", unicode.Po},
	{"Sm", unicode.Sm}, {"Sc", unicode.Sc}, {"Sk", unicode.Sk}, {"So", unicode.So},
	{"Zs", unicode.Zs}, {"Zl", unicode.Zl}, {"Zp", unicode.Zp},
	{"Cc", unicode.Cc}, {"Cf", unicode.Cf}, {"Co", unicode.Co}, {"Cs", unicode.Cs},
}

// Category returns the General_Category of r as its two-letter alias
// ("Lu", "Mn", "Cf"; "Cn" when unassigned), from Go's unicode package, whose
// version a test holds equal to the tables'.
func Category(r rune) string {
	for _, c := range categories {
		if unicode.Is(c.tab, r) {
			return c.name
		}
	}
	return "Cn"
}
