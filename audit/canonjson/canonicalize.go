package canonjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays accepted: a text
// with MaxDepth nested containers is canonicalized, one with MaxDepth+1 is
// refused. It is the same limit as the record decoder's default
// (engine/records.DefaultMaxDepth). Scalars do not count as a level.
const MaxDepth = 1000

// SyntaxError is the error Canonicalize, CanonicalizeObject and Marshal
// return for a text that has no canonical form: Offset is the byte offset
// in the input of what is wrong, Msg says what it is.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "canonical JSON: " + e.Msg + " (at byte " + strconv.FormatInt(e.Offset, 10) + ")"
}

// Canonicalize returns the canonical form of the JSON text b, whose top
// level may be any JSON value, or a *SyntaxError saying why b has none.
// The rules are in the package documentation. The result is a new slice;
// b is not modified.
func Canonicalize(b []byte) ([]byte, error) {
	s := scannerPool.Get().(*scanner)
	out, err := s.run(b)
	s.release()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CanonicalizeObject is Canonicalize for a text whose top level must be an
// object; any other top-level value is refused, and the error names what it
// is instead.
func CanonicalizeObject(b []byte) ([]byte, error) {
	i := skipWS(b, 0)
	if i < len(b) && b[i] != '{' {
		if kind := kindAt(b[i]); kind != "" {
			return nil, &SyntaxError{Offset: int64(i), Msg: "the top-level value must be an object, found " + kind}
		}
	}
	// Empty input, a byte-order mark or a byte that starts no value: let
	// the scanner say what is wrong.
	return Canonicalize(b)
}

// kindAt names the kind of value that the byte c starts, or "" when c
// starts none.
func kindAt(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return ""
}

// Marshal returns the canonical JSON encoding of v: v is encoded with
// encoding/json (HTML escaping off), and the result is canonicalized, so
// struct fields, map keys and escapes all end up in canonical form.
//
// encoding/json replaces invalid UTF-8 in Go strings (and in map keys) with
// U+FFFD, so two Go values that differ only in invalid bytes marshal to the
// same canonical text; callers that must not lose such bytes should refuse
// them first (utf8.ValidString). json.RawMessage values are checked by
// Canonicalize like any other text, so a lone surrogate escape in one is an
// error.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	// The encoder's trailing newline is insignificant whitespace.
	return Canonicalize(buf.Bytes())
}

// member is one object member while its object is being canonicalized. The
// decoded key is in[k0:k1] when the key has no escapes (decoded == raw), or
// keys[k0:k1] when it has; the member's canonical bytes ("key":value) are
// out[o0:o1].
type member struct {
	k0, k1 int
	esc    bool
	at     int // offset of the key's opening quote in the input
	o0, o1 int
}

// scanner holds the scratch space of one Canonicalize call; it is pooled so
// that a call allocates only its result.
type scanner struct {
	in      []byte
	out     []byte
	members []member // members of all open objects, innermost last
	keys    []byte   // decoded keys that had escapes, of all open objects
	tmp     []byte   // copy of an object's members while they are reordered
}

var scannerPool = sync.Pool{New: func() any { return new(scanner) }}

// Scratch buffers grown beyond these sizes are dropped rather than pooled,
// so that one huge input does not pin its memory.
const (
	pooledMaxMembers = 1 << 12
	pooledMaxBytes   = 1 << 16
)

func (s *scanner) release() {
	s.in, s.out = nil, nil
	s.members = s.members[:0]
	s.keys = s.keys[:0]
	s.tmp = s.tmp[:0]
	if cap(s.members) > pooledMaxMembers {
		s.members = nil
	}
	if cap(s.keys) > pooledMaxBytes {
		s.keys = nil
	}
	if cap(s.tmp) > pooledMaxBytes {
		s.tmp = nil
	}
	scannerPool.Put(s)
}

func (s *scanner) run(b []byte) ([]byte, *SyntaxError) {
	if len(b) == 0 {
		return nil, &SyntaxError{0, "empty input: expected a JSON value"}
	}
	i := skipWS(b, 0)
	if i == len(b) {
		return nil, &SyntaxError{int64(i), "the input holds only whitespace: expected a JSON value"}
	}
	s.in = b
	// The canonical form is never longer than the input: whitespace is
	// dropped, numbers are kept, and every escape the output writes was an
	// escape at least as long in the input. So one allocation suffices.
	s.out = make([]byte, 0, len(b))
	i, err := s.value(i, 0)
	if err != nil {
		return nil, err
	}
	if j := skipWS(b, i); j < len(b) {
		return nil, &SyntaxError{int64(j), "trailing data after the JSON value, which ends at byte " +
			strconv.Itoa(i-1) + ": found " + describe(b, j)}
	}
	return s.out, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value canonicalizes the value starting at in[i] (after whitespace) inside
// depth open containers and returns the offset just after it.
func (s *scanner) value(i, depth int) (int, *SyntaxError) {
	in := s.in
	if i >= len(in) {
		return i, s.eof("a JSON value")
	}
	switch c := in[i]; c {
	case '{':
		return s.object(i, depth+1)
	case '[':
		return s.array(i, depth+1)
	case '"':
		return s.stringValue(i)
	case 't':
		return s.literal(i, "true")
	case 'f':
		return s.literal(i, "false")
	case 'n':
		return s.literal(i, "null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return s.number(i)
	}
	return i, s.badValue(i)
}

func (s *scanner) eof(want string) *SyntaxError {
	return &SyntaxError{int64(len(s.in)), "unexpected end of input: expected " + want}
}

// badValue explains a byte that cannot start a value.
func (s *scanner) badValue(i int) *SyntaxError {
	if err := nanInf(s.in, i); err != nil {
		return err
	}
	rest := s.in[i:]
	switch rest[0] {
	case '+':
		return &SyntaxError{int64(i), "a JSON number may not start with '+'"}
	case '.':
		return &SyntaxError{int64(i), "a JSON number needs a digit before the decimal point"}
	case 0xEF:
		if bytes.HasPrefix(rest, []byte("\xEF\xBB\xBF")) {
			return &SyntaxError{int64(i), "byte order mark (EF BB BF): JSON text must not contain one"}
		}
	}
	return &SyntaxError{int64(i), "expected a JSON value, found " + describe(s.in, i)}
}

// nanInf refuses the non-numbers some encoders write, by name.
func nanInf(b []byte, i int) *SyntaxError {
	rest := b[i:]
	for _, w := range [...]string{"NaN", "Infinity", "-Infinity", "+Infinity", "-NaN", "+NaN"} {
		if bytes.HasPrefix(rest, []byte(w)) {
			return &SyntaxError{int64(i), w + " is not a JSON number (JSON has no NaN or Infinity)"}
		}
	}
	return nil
}

// describe names the byte (or character) at b[i] for an error message.
func describe(b []byte, i int) string {
	c := b[i]
	switch {
	case c >= 0x80:
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return "invalid UTF-8 byte 0x" + hex2(c)
		}
		if r == 0xFEFF {
			return "a byte order mark (U+FEFF)"
		}
		return "U+" + strconv.FormatInt(int64(r)+0x10000, 16)[1:] + " " + strconv.QuoteRune(r)
	case c < 0x20 || c == 0x7f:
		return "control byte 0x" + hex2(c)
	}
	return strconv.QuoteRune(rune(c))
}

func hex2(c byte) string {
	const hex = "0123456789abcdef"
	return string([]byte{hex[c>>4], hex[c&15]})
}

func (s *scanner) literal(i int, lit string) (int, *SyntaxError) {
	rest := s.in[i:]
	if len(rest) >= len(lit) && string(rest[:len(lit)]) == lit {
		s.out = append(s.out, lit...)
		return i + len(lit), nil
	}
	if len(rest) < len(lit) && string(rest) == lit[:len(rest)] {
		return i, s.eof("the rest of " + lit)
	}
	return i, &SyntaxError{int64(i), "invalid literal: JSON's literals are true, false and null (lowercase)"}
}

// number validates the RFC 8259 number at in[i] and copies it verbatim.
func (s *scanner) number(i int) (int, *SyntaxError) {
	in := s.in
	start := i
	if in[i] == '-' {
		i++
		if i < len(in) && (in[i] == 'I' || in[i] == 'N') {
			if err := nanInf(in, start); err != nil {
				return i, err
			}
		}
	}
	switch {
	case i >= len(in):
		return i, s.eof("a digit")
	case in[i] == '0':
		i++
		if i < len(in) && in[i] >= '0' && in[i] <= '9' {
			return i, &SyntaxError{int64(i - 1), "leading zeros are not allowed in JSON numbers"}
		}
	case in[i] >= '1' && in[i] <= '9':
		i++
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	default:
		return i, &SyntaxError{int64(i), "a digit must follow '-', found " + describe(in, i)}
	}
	if i < len(in) && in[i] == '.' {
		i++
		if i >= len(in) {
			return i, s.eof("a digit after the decimal point")
		}
		if in[i] < '0' || in[i] > '9' {
			return i, &SyntaxError{int64(i), "a digit must follow the decimal point, found " + describe(in, i)}
		}
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		if i >= len(in) {
			return i, s.eof("a digit in the exponent")
		}
		if in[i] < '0' || in[i] > '9' {
			return i, &SyntaxError{int64(i), "a digit must follow the exponent marker, found " + describe(in, i)}
		}
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	}
	s.out = append(s.out, in[start:i]...)
	return i, nil
}

// plain marks the bytes that stand for themselves inside a JSON string and
// need no escape on output: printable ASCII other than '"' and '\\'.
// Bytes from 0x80 are UTF-8 and checked separately.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanRaw skips the unescaped run starting at in[i] inside a string: plain
// ASCII and valid UTF-8 sequences. It stops at '"', '\\', a control
// character, invalid UTF-8 or the end of input, and returns where.
func scanRaw(in []byte, i int) int {
	for i < len(in) {
		// Skip eight plain ASCII bytes at a time.
		for i+8 <= len(in) {
			x := binary.LittleEndian.Uint64(in[i:])
			if x&highs != 0 || needsEscape8(x) {
				break
			}
			i += 8
		}
		if i >= len(in) {
			break
		}
		c := in[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return i
		}
		r, size := utf8.DecodeRune(in[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return i
}

// stringValue canonicalizes the string at in[i] (the opening quote).
func (s *scanner) stringValue(i int) (int, *SyntaxError) {
	in := s.in
	j := scanRaw(in, i+1)
	if j < len(in) && in[j] == '"' {
		// No escapes: the input is already canonical.
		s.out = append(s.out, in[i:j+1]...)
		return j + 1, nil
	}
	s.out = append(s.out, in[i:j]...)
	out, end, err := s.unescape(s.out, i, j, true)
	if err != nil {
		return end, err
	}
	s.out = append(out, '"')
	return end, nil
}

// key reads the object key at in[i] (the opening quote) into m, writes its
// canonical form to out, and returns the offset after the closing quote.
func (s *scanner) key(i int, m *member) (int, *SyntaxError) {
	in := s.in
	j := scanRaw(in, i+1)
	if j < len(in) && in[j] == '"' {
		m.k0, m.k1 = i+1, j
		s.out = append(s.out, in[i:j+1]...)
		return j + 1, nil
	}
	k0 := len(s.keys)
	keys := append(s.keys, in[i+1:j]...)
	keys, end, err := s.unescape(keys, i, j, false)
	if err != nil {
		return end, err
	}
	s.keys = keys
	m.k0, m.k1, m.esc = k0, len(keys), true
	s.out = AppendString(s.out, string(keys[k0:]))
	return end, nil
}

// unescape continues the string opened at in[open] from in[j], which is not
// part of a raw run, to its closing quote. It appends the string's content
// to dst: canonically escaped when escape is set, decoded otherwise. It
// returns dst and the offset after the closing quote.
func (s *scanner) unescape(dst []byte, open, j int, escape bool) ([]byte, int, *SyntaxError) {
	in := s.in
	for {
		if j >= len(in) {
			return dst, j, &SyntaxError{int64(len(in)), "unexpected end of input inside the string opened at byte " + strconv.Itoa(open)}
		}
		c := in[j]
		switch {
		case c == '"':
			return dst, j + 1, nil
		case c == '\\':
			r, n, err := s.escape(j)
			if err != nil {
				return dst, j, err
			}
			if escape {
				dst = appendRune(dst, r)
			} else {
				dst = utf8.AppendRune(dst, r)
			}
			j += n
		case c < 0x20:
			return dst, j, &SyntaxError{int64(j), "raw control character 0x" + hex2(c) +
				" in the string opened at byte " + strconv.Itoa(open) + ": it must be escaped"}
		default:
			// Not '"', '\\' or a control character, so scanRaw stopped here
			// because this is not valid UTF-8.
			return dst, j, &SyntaxError{int64(j), "invalid UTF-8 byte 0x" + hex2(c) +
				" in the string opened at byte " + strconv.Itoa(open)}
		}
		k := scanRaw(in, j)
		dst = append(dst, in[j:k]...)
		j = k
	}
}

// appendRune writes the decoded character r canonically escaped.
func appendRune(dst []byte, r rune) []byte {
	if r < utf8.RuneSelf {
		if escapeNeeded[r] {
			return appendEscaped(dst, byte(r))
		}
		return append(dst, byte(r))
	}
	return utf8.AppendRune(dst, r)
}

// escape decodes the escape whose backslash is at in[j]: the character and
// the number of input bytes it takes (12 for a surrogate pair).
func (s *scanner) escape(j int) (rune, int, *SyntaxError) {
	in := s.in
	if j+1 >= len(in) {
		return 0, 0, s.eof("an escape after '\\'")
	}
	switch e := in[j+1]; e {
	case '"', '\\', '/':
		return rune(e), 2, nil
	case 'b':
		return '\b', 2, nil
	case 'f':
		return '\f', 2, nil
	case 'n':
		return '\n', 2, nil
	case 'r':
		return '\r', 2, nil
	case 't':
		return '\t', 2, nil
	case 'u':
	default:
		return 0, 0, &SyntaxError{int64(j), "invalid escape '\\' followed by " + describe(in, j+1) +
			": JSON has only \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX"}
	}
	r, err := s.hex4(j)
	if err != nil {
		return 0, 0, err
	}
	switch {
	case r >= 0xD800 && r < 0xDC00:
		if j+7 < len(in) && in[j+6] == '\\' && in[j+7] == 'u' {
			lo, err := s.hex4(j + 6)
			if err != nil {
				return 0, 0, err
			}
			if lo >= 0xDC00 && lo < 0xE000 {
				return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12, nil
			}
		}
		return 0, 0, &SyntaxError{int64(j), "lone surrogate " + string(in[j:j+6]) +
			": a high surrogate escape must be followed by an escaped low surrogate (\\udc00-\\udfff)"}
	case r >= 0xDC00 && r < 0xE000:
		return 0, 0, &SyntaxError{int64(j), "lone surrogate " + string(in[j:j+6]) +
			": a low surrogate escape without a high surrogate before it"}
	}
	return r, 6, nil
}

// hex4 decodes the \uXXXX escape whose backslash is at in[j].
func (s *scanner) hex4(j int) (rune, *SyntaxError) {
	in := s.in
	var r rune
	for k := j + 2; k < j+6; k++ {
		if k >= len(in) {
			return 0, s.eof("four hex digits after \\u")
		}
		c := in[k]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, &SyntaxError{int64(j), "invalid \\u escape: \\u must be followed by four hex digits, found " + describe(in, k)}
		}
		r = r<<4 | rune(c)
	}
	return r, nil
}

func (s *scanner) array(i, depth int) (int, *SyntaxError) {
	if depth > MaxDepth {
		return i, s.tooDeep(i)
	}
	in := s.in
	s.out = append(s.out, '[')
	i = skipWS(in, i+1)
	if i < len(in) && in[i] == ']' {
		s.out = append(s.out, ']')
		return i + 1, nil
	}
	for {
		var err *SyntaxError
		if i, err = s.value(i, depth); err != nil {
			return i, err
		}
		i = skipWS(in, i)
		if i >= len(in) {
			return i, s.eof("',' or ']'")
		}
		switch in[i] {
		case ',':
			s.out = append(s.out, ',')
			comma := i
			i = skipWS(in, i+1)
			if i < len(in) && in[i] == ']' {
				return i, &SyntaxError{int64(comma), "trailing comma before ']'"}
			}
		case ']':
			s.out = append(s.out, ']')
			return i + 1, nil
		default:
			return i, &SyntaxError{int64(i), "expected ',' or ']' after an array element, found " + describe(in, i)}
		}
	}
}

func (s *scanner) tooDeep(i int) *SyntaxError {
	return &SyntaxError{int64(i), "nested deeper than " + strconv.Itoa(MaxDepth) + " levels"}
}

func (s *scanner) object(i, depth int) (int, *SyntaxError) {
	if depth > MaxDepth {
		return i, s.tooDeep(i)
	}
	in := s.in
	start := len(s.out)
	s.out = append(s.out, '{')
	i = skipWS(in, i+1)
	if i < len(in) && in[i] == '}' {
		s.out = append(s.out, '}')
		return i + 1, nil
	}
	base, keysBase := len(s.members), len(s.keys)
	for {
		if i >= len(in) {
			return i, s.eof("an object key")
		}
		if in[i] != '"' {
			return i, &SyntaxError{int64(i), "expected a double-quoted object key, found " + describe(in, i)}
		}
		m := member{at: i, o0: len(s.out)}
		var err *SyntaxError
		if i, err = s.key(i, &m); err != nil {
			return i, err
		}
		i = skipWS(in, i)
		if i >= len(in) {
			return i, s.eof("':'")
		}
		if in[i] != ':' {
			return i, &SyntaxError{int64(i), "expected ':' after an object key, found " + describe(in, i)}
		}
		s.out = append(s.out, ':')
		if i, err = s.value(skipWS(in, i+1), depth); err != nil {
			return i, err
		}
		m.o1 = len(s.out)
		s.members = append(s.members, m)
		i = skipWS(in, i)
		if i >= len(in) {
			return i, s.eof("',' or '}'")
		}
		if in[i] == '}' {
			i++
			break
		}
		if in[i] != ',' {
			return i, &SyntaxError{int64(i), "expected ',' or '}' after an object member, found " + describe(in, i)}
		}
		s.out = append(s.out, ',')
		comma := i
		i = skipWS(in, i+1)
		if i < len(in) && in[i] == '}' {
			return i, &SyntaxError{int64(comma), "trailing comma before '}'"}
		}
	}
	if err := s.sortMembers(start, base); err != nil {
		return i, err
	}
	s.out = append(s.out, '}')
	s.members = s.members[:base]
	s.keys = s.keys[:keysBase]
	return i, nil
}

func (s *scanner) keyOf(m *member) []byte {
	if m.esc {
		return s.keys[m.k0:m.k1]
	}
	return s.in[m.k0:m.k1]
}

// sortMembers puts the members of the object written at out[start:] (its
// '{' and members, without the '}') into key order, refusing duplicates.
// An object out of order is copied once to be reordered, so a byte of
// output is copied at most once per enclosing object: the work is bounded
// by MaxDepth times the input size, and is nothing for canonical input.
func (s *scanner) sortMembers(start, base int) *SyntaxError {
	ms := s.members[base:]
	inOrder := true
	for k := 1; k < len(ms); k++ {
		switch bytes.Compare(s.keyOf(&ms[k-1]), s.keyOf(&ms[k])) {
		case 0:
			return s.duplicate(&ms[k-1], &ms[k])
		case 1:
			inOrder = false
		}
	}
	if inOrder {
		// Usual for stored and re-checked canonical text: nothing to move.
		return nil
	}
	slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(s.keyOf(&a), s.keyOf(&b)) })
	for k := 1; k < len(ms); k++ {
		if bytes.Equal(s.keyOf(&ms[k-1]), s.keyOf(&ms[k])) {
			return s.duplicate(&ms[k-1], &ms[k])
		}
	}
	body := start + 1
	s.tmp = append(s.tmp[:0], s.out[body:]...)
	out := s.out[:body]
	for k := range ms {
		if k > 0 {
			out = append(out, ',')
		}
		out = append(out, s.tmp[ms[k].o0-body:ms[k].o1-body]...)
	}
	s.out = out
	return nil
}

func (s *scanner) duplicate(a, b *member) *SyntaxError {
	first, second := a, b
	if second.at < first.at {
		first, second = second, first
	}
	return &SyntaxError{int64(second.at), "duplicate key " + strconv.Quote(string(s.keyOf(second))) +
		" (first at byte " + strconv.Itoa(first.at) + "): JSON parsers disagree on which one wins"}
}
