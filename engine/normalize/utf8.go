package normalize

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// invalidUTF8 describes the ill-formed sequence at the start of b (which
// must not start with a valid encoding): how many bytes it spans and what
// is wrong with it. The span follows the sequence as far as its lead byte
// announces and continuation bytes follow, so that an overlong encoding or
// an encoded surrogate is reported whole.
func invalidUTF8(b string) (n int, why string) {
	c := b[0]
	need := 0
	switch {
	case c >= 0x80 && c <= 0xBF:
		return 1, "a continuation byte with no lead byte"
	case c == 0xC0 || c == 0xC1:
		need = 1
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c >= 0xE0 && c <= 0xEF:
		need = 2
	case c >= 0xF0 && c <= 0xF4:
		need = 3
	default:
		return 1, fmt.Sprintf("byte 0x%02X, which never occurs in UTF-8", c)
	}
	n = 1
	for n <= need && n < len(b) && b[n]&0xC0 == 0x80 {
		n++
	}
	if n <= need {
		// Truncated, whatever the lead: say so before anything else.
		return n, fmt.Sprintf("a truncated sequence: lead byte 0x%02X needs %d continuation byte(s), %d follow", c, need, n-1)
	}
	var v rune
	switch need {
	case 1:
		v = rune(c&0x1F)<<6 | rune(b[1]&0x3F)
	case 2:
		v = rune(c&0x0F)<<12 | rune(b[1]&0x3F)<<6 | rune(b[2]&0x3F)
	case 3:
		v = rune(c&0x07)<<18 | rune(b[1]&0x3F)<<12 | rune(b[2]&0x3F)<<6 | rune(b[3]&0x3F)
	}
	switch {
	case need == 1 && v < 0x80, need == 2 && v < 0x800, need == 3 && v < 0x10000:
		return n, fmt.Sprintf("an overlong encoding of U+%04X (it must be %d byte(s))", v, len(string(v)))
	case v >= 0xD800 && v <= 0xDFFF:
		return n, fmt.Sprintf("an encoded surrogate U+%04X (CESU-8 or WTF-8, not UTF-8; a surrogate pair must be encoded as one 4-byte sequence)", v)
	case v > utf8.MaxRune:
		return n, fmt.Sprintf("a sequence for U+%X, beyond U+10FFFF", v)
	}
	// Not reached for input that is invalid at b[0].
	return 1, fmt.Sprintf("an ill-formed sequence starting with 0x%02X", c)
}

func hexBytes(b string) string {
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "0x%02X", b[i])
	}
	return sb.String()
}

// CheckUTF8 reports every ill-formed UTF-8 sequence of s: byte offset, the
// bytes in hex, and what is wrong. Nothing is ever replaced by U+FFFD.
func CheckUTF8(s string) []Finding {
	if utf8.ValidString(s) {
		return nil
	}
	var fs []Finding
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || size > 1 {
			i += size
			continue
		}
		n, why := invalidUTF8(s[i:])
		fs = append(fs, Finding{Offset: i, Length: n, Rune: -1, Rule: "unicode.invalid_utf8", Action: "reject", Reject: true,
			Message: fmt.Sprintf("invalid UTF-8 at byte %d of the value: %s is %s; re-export the source as UTF-8 (pawl never substitutes U+FFFD)",
				i, hexBytes(s[i:i+n]), why)})
		i += n
	}
	return fs
}
