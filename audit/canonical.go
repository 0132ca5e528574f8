package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDetailsDepth bounds nesting so that a hostile details value cannot
// exhaust the stack; audit details are flat in practice.
const maxDetailsDepth = 64

// CanonicalJSON returns the canonical form of a JSON object, the form in
// which details are stored and hashed (see the package documentation for
// the rules). An empty input is taken as the empty object. It refuses
// invalid UTF-8, invalid JSON, anything but an object at the top level,
// duplicate keys, and trailing data.
func CanonicalJSON(raw []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return []byte("{}"), nil
	}
	if !utf8.Valid(trimmed) {
		return nil, errors.New("not valid UTF-8")
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("must be a JSON object, got %s", describeStart(trimmed))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	out := make([]byte, 0, len(trimmed))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	out, err = appendCanonical(out, dec, tok, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the object at offset %d", dec.InputOffset())
	}
	return out, nil
}

func describeStart(b []byte) string {
	switch b[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		if b[0] == '-' || (b[0] >= '0' && b[0] <= '9') {
			return "a number"
		}
		return strconv.Quote(string(b[:min(len(b), 16)]))
	}
}

func appendCanonical(out []byte, dec *json.Decoder, tok json.Token, depth int) ([]byte, error) {
	if depth > maxDetailsDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDetailsDepth)
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return appendObject(out, dec, depth)
		case '[':
			return appendArray(out, dec, depth)
		}
		return nil, fmt.Errorf("unexpected %q at offset %d", v, dec.InputOffset())
	case string:
		return appendString(out, v), nil
	case json.Number:
		// Kept exactly as written: reformatting numbers would tie the
		// hash to one float formatting algorithm, and 1.0 vs 1 may matter
		// to whoever wrote it.
		return append(out, v...), nil
	case bool:
		return strconv.AppendBool(out, v), nil
	case nil:
		return append(out, "null"...), nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

type member struct {
	key   string
	value []byte
}

func appendObject(out []byte, dec *json.Decoder, depth int) ([]byte, error) {
	var members []member
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := kt.(string)
		if !ok {
			return nil, fmt.Errorf("object key is not a string at offset %d", dec.InputOffset())
		}
		vt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		val, err := appendCanonical(nil, dec, vt, depth+1)
		if err != nil {
			return nil, err
		}
		members = append(members, member{key, val})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, err
	}
	slices.SortStableFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	for i := 1; i < len(members); i++ {
		if members[i].key == members[i-1].key {
			// Duplicate keys are refused because parsers disagree on
			// which one wins, so the stored meaning would be ambiguous.
			return nil, fmt.Errorf("duplicate key %q", members[i].key)
		}
	}
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, m.key)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}'), nil
}

func appendArray(out []byte, dec *json.Decoder, depth int) ([]byte, error) {
	out = append(out, '[')
	for i := 0; dec.More(); i++ {
		if i > 0 {
			out = append(out, ',')
		}
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		out, err = appendCanonical(out, dec, t, depth+1)
		if err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, err
	}
	return append(out, ']'), nil
}

// appendString writes s as a JSON string with a fixed escaping, written out
// here rather than borrowed from encoding/json so that the hash of an entry
// cannot change when Go's encoder does: only '"', '\\' and control
// characters are escaped; everything else, including '<', '>', '&' and
// U+2028/U+2029, is written as UTF-8.
func appendString(out []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			out = append(out, '\\', '"')
		case c == '\\':
			out = append(out, '\\', '\\')
		case c == '\b':
			out = append(out, '\\', 'b')
		case c == '\f':
			out = append(out, '\\', 'f')
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c == '\t':
			out = append(out, '\\', 't')
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}
