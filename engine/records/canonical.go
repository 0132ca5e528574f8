package records

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// AppendCanonical appends the canonical JSON encoding of v to dst and
// returns the extended buffer. v is a value as produced by DecodeJSON or
// TypeCSV: map[string]any, []any, string, json.Number, bool or nil (float64,
// int and int64 are accepted too, for values built in code).
//
// Object keys are sorted by byte order, there is no insignificant
// whitespace, json.Number is written verbatim, and strings are escaped
// minimally: only '"', '\\' and control characters below 0x20 (as \n \r \t
// \b \f or \u00XX); everything else, including U+2028, U+2029 and all
// non-ASCII text, is written as raw UTF-8, with no HTML escaping. Strings
// are written byte for byte, so they must be valid UTF-8, as DecodeJSON and
// TypeCSV guarantee.
//
// Other types, and non-finite floats, panic: they are programming errors,
// not data errors, and writing anything would corrupt verified output.
func AppendCanonical(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		if x {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case string:
		return appendString(dst, x)
	case json.Number:
		if x == "" {
			// Same convention as encoding/json: the zero Number is 0.
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
			dst = AppendCanonical(dst, e)
		}
		return append(dst, ']')
	case float64:
		return appendFloat(dst, x)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	}
	panic(fmt.Sprintf("records.AppendCanonical: unsupported type %T", v))
}

func appendObject(dst []byte, m map[string]any) []byte {
	// Small objects sort on the stack; typical records have a handful of keys.
	var small [16]string
	keys := small[:0]
	if len(m) > len(small) {
		keys = make([]string, 0, len(m))
	}
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = AppendCanonical(dst, m[k])
	}
	return append(dst, '}')
}

// appendFloat formats like encoding/json (ES6 number-to-string), so that a
// float64 built in code reads back to the same value.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		panic(fmt.Sprintf("records.AppendCanonical: non-finite number %v has no JSON encoding", f))
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

// escapeNeeded marks the bytes canonical strings escape.
var escapeNeeded = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !escapeNeeded[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
