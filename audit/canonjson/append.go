package canonjson

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Append appends the canonical JSON encoding of v to dst and returns the
// extended buffer. It is the fast path for values that are already decoded
// (by a strict decoder such as engine/records.DecodeJSON, which refuses what
// Canonicalize refuses): map[string]any, []any, string, json.Number, bool
// and nil, plus float64, int and int64 for values built in code.
//
// It writes what Canonicalize writes for the text the value was decoded
// from: keys sorted by their bytes, no whitespace, json.Number verbatim
// (the zero Number "" is written as 0, as encoding/json does), strings as
// AppendString writes them. float64 values are formatted as encoding/json
// formats them, so that they read back to the same value.
//
// Append does not check its input: strings are written byte for byte and
// must be valid UTF-8, and json.Number values must be valid JSON numbers.
// Other types, and non-finite floats, panic: they are programming errors,
// not data errors, and writing anything would corrupt what is hashed.
func Append(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		if x {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case string:
		return AppendString(dst, x)
	case json.Number:
		if x == "" {
			return append(dst, '0')
		}
		return append(dst, x...)
	case map[string]any:
		return appendObject(dst, x)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = Append(dst, e)
		}
		return append(dst, ']')
	case float64:
		return appendFloat(dst, x)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	}
	panic(fmt.Sprintf("canonjson.Append: unsupported type %T", v))
}

func appendObject(dst []byte, m map[string]any) []byte {
	if len(m) > smallObject {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, k)
			dst = append(dst, ':')
			dst = Append(dst, m[k])
		}
		return append(dst, '}')
	}
	// Small objects (typical records have a handful of keys) sort their
	// members on the stack, by insertion, and keep each value with its key
	// instead of looking it up again.
	var small [smallObject]keyValue
	ms := small[:0]
	for k, v := range m {
		i := len(ms)
		ms = append(ms, keyValue{})
		for i > 0 && ms[i-1].k > k {
			ms[i] = ms[i-1]
			i--
		}
		ms[i] = keyValue{k, v}
	}
	dst = append(dst, '{')
	for i := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, ms[i].k)
		dst = append(dst, ':')
		dst = Append(dst, ms[i].v)
	}
	return append(dst, '}')
}

// smallObject is the most members an object sorts on the stack.
const smallObject = 16

type keyValue struct {
	k string
	v any
}

// appendFloat formats like encoding/json (ES6 number-to-string), so that a
// float64 built in code reads back to the same value.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		panic(fmt.Sprintf("canonjson.Append: non-finite number %v has no JSON encoding", f))
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// escapeNeeded marks the bytes canonical strings escape: '"', '\\' and the
// control characters below 0x20.
var escapeNeeded = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

// AppendString appends s as a canonical JSON string: '"' and '\\' as \" and
// \\, the control characters \b \f \n \r \t by name and the other ones below
// U+0020 as \u00xx (lowercase hex); every other byte, including '/', '<',
// '>', '&', DEL, U+2028 and U+2029, is written as itself. s is written byte
// for byte and must be valid UTF-8.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		// Skip eight bytes at a time while none needs an escape.
		for i+8 <= len(s) && !needsEscape8(load8(s[i:i+8])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if !escapeNeeded[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscaped(dst, c)
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Word-at-a-time tests (see "Bit Twiddling Hacks", haszero and hasless):
// each is nonzero exactly when some byte of x has the property.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load8 reads the eight bytes of s as a little-endian word (the compiler
// makes this one load).
func load8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// needsEscape8 reports whether any byte of x is below 0x20, '"' or '\\'.
func needsEscape8(x uint64) bool {
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return ((x-ones*0x20)&^x|(q-ones)&^q|(b-ones)&^b)&highs != 0
}

// appendEscaped writes the escape of a byte for which escapeNeeded is set.
func appendEscaped(dst []byte, c byte) []byte {
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	const hex = "0123456789abcdef"
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
}
