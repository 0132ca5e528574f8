package normalize

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Finding is one thing the boundary did or refused, for one value.
type Finding struct {
	Pointer string // RFC 6901 pointer of the value (or of the key's object for keys)
	Offset  int    // byte offset within the value, before normalization
	Rune    rune   // the code point concerned; -1 for whole-value changes
	Rule    string // stable id, e.g. "unicode.control", "unicode.nfc"
	Message string
	Reject  bool // true: the record must be quarantined
}

// Stats counts what the stage saw in a batch. Fields are summed by the caller.
type Stats struct {
	Records    int64 `json:"records"`
	NonASCII   int64 `json:"non_ascii"`
	Controls   int64 `json:"control_characters"`
	Normalized int64 `json:"normalized"`
	Rejected   int64 `json:"rejected"`
}

// Add sums o into s.
func (s *Stats) Add(o Stats) {
	s.Records += o.Records
	s.NonASCII += o.NonASCII
	s.Controls += o.Controls
	s.Normalized += o.Normalized
	s.Rejected += o.Rejected
}

// String renders the stats the way the run summary prints them.
func (s Stats) String() string {
	return fmt.Sprintf("%d records, %d contained non-ASCII, %d contained control characters, %d normalized, %d rejected",
		s.Records, s.NonASCII, s.Controls, s.Normalized, s.Rejected)
}

// Record normalizes every string (object keys included) of a decoded record
// in place and returns what it found. v is a value as produced by pawl's JSON
// decoder: map[string]any, []any, string, json.Number, bool or nil. The
// returned value replaces v (a top-level string may change).
func Record(v any, st *Stats) (any, []Finding) {
	if plain(v) {
		// The common case: nothing but printable ASCII. No pointers are
		// built and nothing is allocated.
		st.Records++
		return v, nil
	}
	w := walker{}
	out := w.value(v, "")
	st.Records++
	if w.nonASCII {
		st.NonASCII++
	}
	if w.controls {
		st.Controls++
	}
	if w.changed {
		st.Normalized++
	}
	for _, f := range w.findings {
		if f.Reject {
			st.Rejected++
			break
		}
	}
	return out, w.findings
}

// plain reports whether every string of v (keys included) is printable
// ASCII plus TAB, LF and CR, so that the boundary has nothing to do.
func plain(v any) bool {
	switch t := v.(type) {
	case string:
		return plainString(t)
	case []any:
		for _, x := range t {
			if !plain(x) {
				return false
			}
		}
	case map[string]any:
		for k, x := range t {
			if !plainString(k) || !plain(x) {
				return false
			}
		}
	}
	return true
}

func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x7f || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			return false
		}
	}
	return true
}

type walker struct {
	findings []Finding
	nonASCII bool
	controls bool
	changed  bool
}

func (w *walker) value(v any, ptr string) any {
	switch t := v.(type) {
	case string:
		return w.str(t, ptr)
	case []any:
		for i := range t {
			t[i] = w.value(t[i], fmt.Sprintf("%s/%d", ptr, i))
		}
		return t
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys) // findings in a deterministic order
		for _, k := range keys {
			child := ptr + "/" + EscapePointer(k)
			nk := w.str(k, child)
			val := w.value(t[k], child)
			if nk != k {
				delete(t, k)
				if _, clash := t[nk]; clash {
					w.findings = append(w.findings, Finding{Pointer: child, Rune: -1, Rule: "unicode.key_collision", Reject: true,
						Message: fmt.Sprintf("key %q normalizes to %q, which is also a key of this object", k, nk)})
				}
			}
			t[nk] = val
		}
		return t
	default:
		return v
	}
}

func (w *walker) str(s, ptr string) string {
	if plainString(s) {
		return s
	}
	for i, r := range s {
		if r >= 0x80 {
			w.nonASCII = true
		}
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				w.findings = append(w.findings, Finding{Pointer: ptr, Offset: i, Rune: -1, Rule: "unicode.invalid_utf8", Reject: true,
					Message: fmt.Sprintf("invalid UTF-8 byte 0x%02X at byte %d of the value", s[i], i)})
				continue
			}
		}
		if rule, what := hazard(r); rule != "" {
			if rule == "unicode.control" {
				w.controls = true
			}
			w.findings = append(w.findings, Finding{Pointer: ptr, Offset: i, Rune: r, Rule: rule, Reject: true,
				Message: fmt.Sprintf("%s %s at byte %d of the value; remove it at the source", Describe(r), what, i)})
		}
	}
	if norm.NFC.IsNormalString(s) {
		return s
	}
	n := norm.NFC.String(s)
	w.changed = true
	at := firstDiff(s, n)
	w.findings = append(w.findings, Finding{Pointer: ptr, Offset: at, Rune: -1, Rule: "unicode.nfc",
		Message: fmt.Sprintf("normalized to NFC from byte %d (%d bytes became %d)", at, len(s), len(n))})
	return n
}

func firstDiff(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// hazard classifies the code points this first version rejects.
func hazard(r rune) (rule, what string) {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return "", ""
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return "unicode.control", "is a control character"
	case r >= 0x202a && r <= 0x202e:
		return "unicode.bidi", "is a bidi embedding/override control (it can reorder how the text displays)"
	case r >= 0x2066 && r <= 0x2069:
		return "unicode.bidi", "is a bidi isolate control (it can reorder how the text displays)"
	case r == 0x200e || r == 0x200f || r == 0x061c:
		return "unicode.bidi", "is an invisible bidi mark"
	case r == 0x200b || r == 0x200c || r == 0x200d || r == 0x2060:
		return "unicode.zero_width", "is an invisible zero-width character"
	case r == 0xfeff:
		return "unicode.bom", "is a byte order mark inside a value"
	}
	return "", ""
}

var names = map[rune]string{
	0x00: "NULL", 0x09: "CHARACTER TABULATION", 0x0a: "LINE FEED", 0x0d: "CARRIAGE RETURN", 0x1b: "ESCAPE", 0x7f: "DELETE",
	0x061c: "ARABIC LETTER MARK",
	0x200b: "ZERO WIDTH SPACE", 0x200c: "ZERO WIDTH NON-JOINER", 0x200d: "ZERO WIDTH JOINER",
	0x200e: "LEFT-TO-RIGHT MARK", 0x200f: "RIGHT-TO-LEFT MARK",
	0x202a: "LEFT-TO-RIGHT EMBEDDING", 0x202b: "RIGHT-TO-LEFT EMBEDDING", 0x202c: "POP DIRECTIONAL FORMATTING",
	0x202d: "LEFT-TO-RIGHT OVERRIDE", 0x202e: "RIGHT-TO-LEFT OVERRIDE",
	0x2060: "WORD JOINER", 0x2066: "LEFT-TO-RIGHT ISOLATE", 0x2067: "RIGHT-TO-LEFT ISOLATE", 0x2068: "FIRST STRONG ISOLATE",
	0x2069: "POP DIRECTIONAL ISOLATE", 0xfeff: "ZERO WIDTH NO-BREAK SPACE (BYTE ORDER MARK)",
}

// Describe renders a code point as "U+XXXX NAME" when the name is known.
func Describe(r rune) string {
	if n, ok := names[r]; ok {
		return fmt.Sprintf("U+%04X %s", r, n)
	}
	if r < 0x20 || (r >= 0x80 && r <= 0x9f) {
		return fmt.Sprintf("U+%04X <control>", r)
	}
	return fmt.Sprintf("U+%04X", r)
}

// EscapePointer escapes one reference token per RFC 6901.
func EscapePointer(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}
