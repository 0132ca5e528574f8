// Package jsonptr is RFC 6901 JSON pointers over the values pawl's decoder
// produces (map[string]any, []any, string, json.Number, bool, nil): the one
// place where "/a~1b/0" is split, escaped and resolved, so that every stage
// names a field the same way. It imports nothing of pawl's.
package jsonptr

import (
	"strconv"
	"strings"
)

// Escape escapes one reference token: "~" becomes "~0" and "/" becomes "~1".
func Escape(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// Unescape reverses Escape.
func Unescape(tok string) string {
	if !strings.Contains(tok, "~") {
		return tok
	}
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
}

// Split returns the unescaped reference tokens of ptr; "" (the whole value)
// has none. A pointer that does not start with "/" has none either: callers
// check pointers where they are written (job specs, manifests).
func Split(ptr string) []string {
	if ptr == "" || ptr[0] != '/' {
		return nil
	}
	toks := strings.Split(ptr[1:], "/")
	for i, t := range toks {
		toks[i] = Unescape(t)
	}
	return toks
}

// Join builds the pointer of toks.
func Join(toks []string) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteByte('/')
		b.WriteString(Escape(t))
	}
	return b.String()
}

// Get resolves toks in v: object members by name, array elements by
// decimal index.
func Get(v any, toks []string) (any, bool) {
	for _, t := range toks {
		switch c := v.(type) {
		case map[string]any:
			x, ok := c[t]
			if !ok {
				return nil, false
			}
			v = x
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}
