package records

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a data problem: which rule was broken, where, and what to do.
// It is never used for I/O failures, which are returned as plain errors.
type Error struct {
	Rule    string // stable id, e.g. "json.duplicate_key", "csv.ragged_row"
	Offset  int64  // byte offset within the record (DecodeJSON) or within the input (CSV)
	Pointer string // RFC 6901 JSON pointer of the value concerned, "" for the whole record
	Message string // what is wrong and, where useful, what to do
}

// Error formats the error as "rule at byte N (at /pointer): message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Rule)
	b.WriteString(" at byte ")
	b.WriteString(strconv.FormatInt(e.Offset, 10))
	if e.Pointer != "" {
		b.WriteString(" (at ")
		b.WriteString(e.Pointer)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// appendPointerToken appends s escaped as an RFC 6901 reference token.
func appendPointerToken(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '~':
			b = append(b, '~', '0')
		case '/':
			b = append(b, '~', '1')
		default:
			b = append(b, s[i])
		}
	}
	return b
}

// PointerToken returns the JSON pointer "/name" for a top-level member name,
// escaped per RFC 6901.
func PointerToken(name string) string {
	return string(appendPointerToken([]byte{'/'}, name))
}

// maxQuoted bounds how much of a bad value is echoed into a message: enough
// to recognise it, not enough to copy a megabyte field into every report.
const maxQuoted = 64

// quoteEvidence quotes s for a message, truncated to maxQuoted bytes on a
// rune boundary.
func quoteEvidence(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

// describeByte names the input at b[i] for a message: a printable character
// in quotes, a control byte by its hex value and name, a non-ASCII character
// by its code point. ok is false when b[i] does not start valid UTF-8.
func describeByte(b []byte, i int) (desc string, ok bool) {
	c := b[i]
	switch {
	case c >= 0x80:
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return "byte 0x" + hex2(c) + " (not valid UTF-8)", false
		}
		return fmt.Sprintf("U+%04X %s", r, strconv.QuoteRune(r)), true
	case c < 0x20 || c == 0x7f:
		name := ""
		switch c {
		case 0:
			name = " (NUL)"
		case '\t':
			name = " (tab)"
		case '\n':
			name = " (LF)"
		case '\r':
			name = " (CR)"
		case 0x7f:
			name = " (DEL)"
		}
		return "control byte 0x" + hex2(c) + name, true
	default:
		return "'" + string(rune(c)) + "'", true
	}
}

func hex2(c byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[c>>4], digits[c&15]})
}
