package records

import (
	"encoding/json"
	"strconv"
	"sync"
	"unicode/utf8"
)

// DefaultMaxDepth is the nesting limit DecodeJSON applies when
// DecodeOptions.MaxDepth is zero or negative.
const DefaultMaxDepth = 1000

// DecodeOptions tunes DecodeJSON.
type DecodeOptions struct {
	// MaxDepth is the deepest nesting of objects and arrays accepted;
	// DefaultMaxDepth when zero or negative. The decoder keeps its own
	// stack, so any value is safe for the goroutine stack; the limit bounds
	// the work a hostile record can cause.
	MaxDepth int
	// RequireObject makes a top-level value other than an object an error
	// ("json.not_object").
	RequireObject bool
}

// Rule ids reported by DecodeJSON.
const (
	RuleJSONSyntax        = "json.syntax"
	RuleJSONEmpty         = "json.empty"
	RuleJSONBOM           = "json.bom"
	RuleJSONTruncated     = "json.truncated"
	RuleJSONInvalidUTF8   = "json.invalid_utf8"
	RuleJSONControlChar   = "json.control_char"
	RuleJSONInvalidEscape = "json.invalid_escape"
	RuleJSONLoneSurrogate = "json.lone_surrogate"
	RuleJSONDuplicateKey  = "json.duplicate_key"
	RuleJSONDepth         = "json.depth"
	RuleJSONNumberRange   = "json.number_range"
	RuleJSONNaN           = "json.nan"
	RuleJSONNotObject     = "json.not_object"
	RuleJSONTrailingData  = "json.trailing_data"
)

// DecodeJSON strictly decodes b, which must hold exactly one JSON text
// (RFC 8259), optionally surrounded by whitespace. Objects decode to
// map[string]any, arrays to []any, strings to string, numbers to json.Number
// holding the exact input text, and true, false, null to bool and nil.
//
// On failure it returns the first problem in byte order; Error.Offset is the
// offset within b and Error.Pointer the path of the value being read. It is
// safe for concurrent use.
func DecodeJSON(b []byte, opt DecodeOptions) (any, *Error) {
	d := decoderPool.Get().(*decoder)
	d.data = b
	d.pos = 0
	d.maxDepth = opt.MaxDepth
	if d.maxDepth <= 0 {
		d.maxDepth = DefaultMaxDepth
	}
	v, err := d.decode()
	d.release()
	if err == nil && opt.RequireObject {
		if _, ok := v.(map[string]any); !ok {
			start := skipWS(b, 0)
			return nil, &Error{Rule: RuleJSONNotObject, Offset: int64(start),
				Message: "record is a JSON " + kindOf(v) + ", not an object: each record must be one JSON object {...}"}
		}
	}
	return v, err
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}

var decoderPool = sync.Pool{New: func() any {
	return &decoder{intern: make(map[string]string)}
}}

// Interning bounds: records in one input repeat the same keys, so reusing
// the key strings saves an allocation per key; the bounds keep a hostile
// input from growing the cache without limit.
const (
	internMaxEntries = 4096
	internMaxLen     = 128
	// pooledMaxElems drops scratch stacks that a huge record grew, so one
	// outlier does not pin its memory in the pool forever.
	pooledMaxElems = 1 << 14
)

// decoder is an iterative JSON parser: containers under construction live on
// explicit stacks (frames, vals, keys) instead of the goroutine stack.
type decoder struct {
	data     []byte
	pos      int
	maxDepth int
	frames   []frame
	vals     []any      // completed elements of all open containers
	keys     []keyEntry // keys of all open objects
	scratch  []byte     // unescaping buffer
	intern   map[string]string
	// text is data as one string, made when the record's first string or
	// number is read: the strings and numbers without escapes are its
	// substrings, one allocation per record instead of one per value.
	text    string
	hasText bool
	// posKeys are the keys of the last top-level object read by this
	// decoder, by position: records of one input repeat them in the same
	// order, so a key is most often found by comparing its bytes with one
	// string, without hashing. keyPos is the position of the key being
	// read, -1 when it is not in the top-level object.
	posKeys [16]string
	keyPos  int
}

type frame struct {
	obj   bool
	start int // offset of '{' or '['
	vbase int // first index in vals belonging to this container
	kbase int // first index in keys belonging to this container
	// index maps key -> offset once an object has too many keys for a
	// linear duplicate scan to be cheap.
	index map[string]int
}

type keyEntry struct {
	key string
	off int
}

// linearDupLimit: up to this many keys, a linear scan beats hashing.
const linearDupLimit = 16

func (d *decoder) release() {
	// Drop references so pooled stacks do not keep decoded values alive.
	clear(d.vals)
	d.vals = d.vals[:0]
	clear(d.keys)
	d.keys = d.keys[:0]
	clear(d.frames)
	d.frames = d.frames[:0]
	if cap(d.vals) > pooledMaxElems || cap(d.keys) > pooledMaxElems || cap(d.frames) > pooledMaxElems {
		d.vals, d.keys, d.frames = nil, nil, nil
	}
	if cap(d.scratch) > 1<<16 {
		d.scratch = nil
	}
	d.data = nil
	d.text, d.hasText = "", false
	decoderPool.Put(d)
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

func (d *decoder) decode() (any, *Error) {
	data := d.data
	d.pos = skipWS(data, 0)
	if d.pos >= len(data) {
		if len(data) == 0 {
			return nil, &Error{Rule: RuleJSONEmpty, Message: "record is empty: expected a JSON value"}
		}
		return nil, &Error{Rule: RuleJSONEmpty, Message: "record holds only whitespace (" + strconv.Itoa(len(data)) + " bytes): expected a JSON value"}
	}
	if len(data)-d.pos >= 3 && data[d.pos] == 0xEF && data[d.pos+1] == 0xBB && data[d.pos+2] == 0xBF {
		return nil, &Error{Rule: RuleJSONBOM, Offset: int64(d.pos),
			Message: "record starts with a UTF-8 byte order mark (bytes EF BB BF), which JSON does not allow: re-save the input as UTF-8 without BOM"}
	}
	var v any
	var err *Error
	for {
		// Value position.
		d.pos = skipWS(data, d.pos)
		if d.pos >= len(data) {
			return nil, d.truncated("a value")
		}
		switch c := data[d.pos]; c {
		case '{', '[':
			if len(d.frames) >= d.maxDepth {
				return nil, d.errPending(RuleJSONDepth, d.pos,
					"nesting deeper than "+strconv.Itoa(d.maxDepth)+" levels at byte "+strconv.Itoa(d.pos)+
						": the limit protects the pipeline from hostile input; flatten the record")
			}
			d.frames = append(d.frames, frame{obj: c == '{', start: d.pos, vbase: len(d.vals), kbase: len(d.keys)})
			d.pos = skipWS(data, d.pos+1)
			end := byte(']')
			if c == '{' {
				end = '}'
			}
			if d.pos < len(data) && data[d.pos] == end {
				d.pos++
				v = d.pop()
				break
			}
			if c == '{' {
				if err = d.key(); err != nil {
					return nil, err
				}
			}
			continue
		case '"':
			v, err = d.stringValue()
		case 't':
			v, err = d.literal("true", true)
		case 'f':
			v, err = d.literal("false", false)
		case 'n':
			v, err = d.literal("null", nil)
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			v, err = d.number()
		default:
			return nil, d.badValue()
		}
		if err != nil {
			return nil, err
		}
		// After a complete value: attach it to its container, then close
		// containers or move to the next element.
		for {
			if len(d.frames) == 0 {
				if err := d.trailing(); err != nil {
					return nil, err
				}
				return v, nil
			}
			f := &d.frames[len(d.frames)-1]
			d.vals = append(d.vals, v)
			d.pos = skipWS(data, d.pos)
			if d.pos >= len(data) {
				return nil, d.truncated("',' or '" + closer(f) + "'")
			}
			c := data[d.pos]
			if c == ',' {
				comma := d.pos
				d.pos = skipWS(data, d.pos+1)
				if f.obj {
					if d.pos < len(data) && data[d.pos] == '}' {
						return nil, d.errAt(RuleJSONSyntax, comma, "trailing comma before '}' at byte "+strconv.Itoa(comma)+": remove it", false)
					}
					if err = d.key(); err != nil {
						return nil, err
					}
				} else if d.pos < len(data) && data[d.pos] == ']' {
					return nil, d.errAt(RuleJSONSyntax, comma, "trailing comma before ']' at byte "+strconv.Itoa(comma)+": remove it", false)
				}
				break
			}
			if c == closer(f)[0] {
				d.pos++
				v = d.pop()
				continue
			}
			return nil, d.unexpected(d.pos, "',' or '"+closer(f)+"'", false)
		}
	}
}

func closer(f *frame) string {
	if f.obj {
		return "}"
	}
	return "]"
}

// pop closes the innermost container, building it at its exact size.
func (d *decoder) pop() any {
	f := &d.frames[len(d.frames)-1]
	elems := d.vals[f.vbase:]
	var v any
	if f.obj {
		m := make(map[string]any, len(elems))
		keys := d.keys[f.kbase:]
		for i, e := range elems {
			m[keys[i].key] = e
		}
		clear(keys)
		d.keys = d.keys[:f.kbase]
		v = m
	} else {
		a := make([]any, len(elems))
		copy(a, elems)
		v = a
	}
	clear(elems)
	d.vals = d.vals[:f.vbase]
	f.index = nil
	d.frames = d.frames[:len(d.frames)-1]
	return v
}

// key reads `"name" :` at d.pos inside the innermost object.
func (d *decoder) key() *Error {
	data := d.data
	if d.pos >= len(data) {
		return d.truncated("an object key")
	}
	if data[d.pos] != '"' {
		switch c := data[d.pos]; {
		case c == '\'':
			return d.errAt(RuleJSONSyntax, d.pos, "single quote at byte "+strconv.Itoa(d.pos)+": JSON object keys must be in double quotes", false)
		case c == '/':
			return d.errAt(RuleJSONSyntax, d.pos, "'/' at byte "+strconv.Itoa(d.pos)+": JSON does not allow comments", false)
		case isWordByte(c):
			return d.errAt(RuleJSONSyntax, d.pos, "unquoted key "+quoteEvidence(word(data, d.pos))+" at byte "+strconv.Itoa(d.pos)+": JSON object keys must be in double quotes", false)
		}
		return d.unexpected(d.pos, "a double-quoted object key", false)
	}
	off := d.pos
	f := &d.frames[len(d.frames)-1]
	d.keyPos = -1
	if len(d.frames) == 1 {
		d.keyPos = len(d.keys) - f.kbase
	}
	k, err := d.str(true)
	if err != nil {
		return err
	}
	d.keys = append(d.keys, keyEntry{key: k, off: off})
	if first, dup := d.seen(f, k, off); dup {
		return d.errPending(RuleJSONDuplicateKey, off, "duplicate key "+quoteEvidence(k)+" at byte "+strconv.Itoa(off)+
			" (first at byte "+strconv.Itoa(first)+"): JSON parsers disagree on which one wins, remove one")
	}
	d.pos = skipWS(data, d.pos)
	if d.pos >= len(data) {
		return d.truncated("':'")
	}
	if data[d.pos] != ':' {
		return d.unexpected(d.pos, "':' after object key", true)
	}
	d.pos++
	return nil
}

// seen reports whether k (just appended at the end of d.keys) already
// occurs in object f, and where.
func (d *decoder) seen(f *frame, k string, off int) (int, bool) {
	keys := d.keys[f.kbase : len(d.keys)-1]
	if f.index == nil {
		if len(keys) < linearDupLimit {
			for _, e := range keys {
				if e.key == k {
					return e.off, true
				}
			}
			return 0, false
		}
		f.index = make(map[string]int, 2*len(keys))
		for _, e := range keys {
			f.index[e.key] = e.off
		}
	}
	if first, ok := f.index[k]; ok {
		return first, true
	}
	f.index[k] = off
	return 0, false
}

func (d *decoder) literal(lit string, v any) (any, *Error) {
	rest := d.data[d.pos:]
	if len(rest) >= len(lit) && string(rest[:len(lit)]) == lit {
		d.pos += len(lit)
		return v, nil
	}
	if len(rest) < len(lit) && string(rest) == lit[:len(rest)] {
		d.pos = len(d.data)
		return nil, d.truncated("the rest of '" + lit + "'")
	}
	return nil, d.badValue()
}

// badValue explains a byte that cannot start a value.
func (d *decoder) badValue() *Error {
	data, p := d.data, d.pos
	at := " at byte " + strconv.Itoa(p)
	rest := data[p:]
	hasPrefix := func(s string) bool { return len(rest) >= len(s) && string(rest[:len(s)]) == s }
	switch {
	case hasPrefix("NaN"), hasPrefix("Infinity"), hasPrefix("-Infinity"), hasPrefix("+Infinity"), hasPrefix("-NaN"), hasPrefix("+NaN"):
		w := word(data, p)
		if rest[0] == '-' || rest[0] == '+' {
			w = string(rest[0]) + word(data, p+1)
		}
		return d.errPending(RuleJSONNaN, p, quoteEvidence(w)+at+" is not a JSON number: JSON has no NaN or Infinity; use null or a string, or fix the producer")
	case rest[0] == '+':
		return d.errPending(RuleJSONSyntax, p, "leading '+'"+at+": JSON numbers may not start with '+'; remove it")
	case rest[0] == '.':
		return d.errPending(RuleJSONSyntax, p, "number starts with '.'"+at+": JSON requires a digit before the decimal point (0.5, not .5)")
	case rest[0] == '\'':
		return d.errPending(RuleJSONSyntax, p, "single quote"+at+": JSON strings must be in double quotes")
	case rest[0] == '/':
		return d.errPending(RuleJSONSyntax, p, "'/'"+at+": JSON does not allow comments")
	case isWordByte(rest[0]):
		return d.errPending(RuleJSONSyntax, p, "unexpected word "+quoteEvidence(word(data, p))+at+": JSON literals are true, false and null (lowercase); strings need double quotes")
	}
	return d.unexpected(p, "a JSON value", true)
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= '0' && c <= '9'
}

func word(b []byte, i int) string {
	j := i
	for j < len(b) && j-i < maxQuoted && isWordByte(b[j]) {
		j++
	}
	return string(b[i:j])
}

func (d *decoder) trailing() *Error {
	p := skipWS(d.data, d.pos)
	if p >= len(d.data) {
		return nil
	}
	desc, ok := describeByte(d.data, p)
	if !ok {
		return d.errAt(RuleJSONInvalidUTF8, p, desc+" at byte "+strconv.Itoa(p), false)
	}
	msg := "unexpected " + desc + " at byte " + strconv.Itoa(p) + " after the JSON value, which ends at byte " + strconv.Itoa(d.pos-1)
	switch c := d.data[p]; {
	case c == '{' || c == '[' || c == '"' || c == '-' || c >= '0' && c <= '9':
		msg += ": a second value starts here, but a record must hold exactly one JSON value"
	default:
		msg += ": a record must hold exactly one JSON value"
	}
	return &Error{Rule: RuleJSONTrailingData, Offset: int64(p), Message: msg}
}

// unexpected reports the byte at p where `want` was expected, as invalid
// UTF-8 when it is not valid UTF-8.
func (d *decoder) unexpected(p int, want string, pending bool) *Error {
	desc, ok := describeByte(d.data, p)
	if !ok {
		return d.errAt(RuleJSONInvalidUTF8, p, desc+" at byte "+strconv.Itoa(p), pending)
	}
	return d.errAt(RuleJSONSyntax, p, "expected "+want+" at byte "+strconv.Itoa(p)+", found "+desc, pending)
}

func (d *decoder) truncated(want string) *Error {
	msg := "record ends at byte " + strconv.Itoa(len(d.data)) + " while " + want + " was expected"
	if n := len(d.frames); n > 0 {
		f := &d.frames[n-1]
		kind := "array"
		if f.obj {
			kind = "object"
		}
		msg += " (inside the " + kind + " opened at byte " + strconv.Itoa(f.start) + ")"
	}
	msg += ": the record is incomplete, was the line cut short?"
	return d.errAt(RuleJSONTruncated, len(d.data), msg, true)
}

// errPending reports a problem with the value being read at the current
// element position.
func (d *decoder) errPending(rule string, off int, msg string) *Error {
	return d.errAt(rule, off, msg, true)
}

// errAt builds an Error. pending says whether the problem concerns the
// element at the current position of the innermost container (its key or
// index goes into the pointer) or the container itself.
func (d *decoder) errAt(rule string, off int, msg string, pending bool) *Error {
	return &Error{Rule: rule, Offset: int64(off), Pointer: d.pointer(pending), Message: msg}
}

func (d *decoder) pointer(pending bool) string {
	var b []byte
	for i := range d.frames {
		f := &d.frames[i]
		last := i == len(d.frames)-1
		var nv, nk int
		if last {
			nv, nk = len(d.vals)-f.vbase, len(d.keys)-f.kbase
			if !pending {
				break
			}
		} else {
			nv, nk = d.frames[i+1].vbase-f.vbase, d.frames[i+1].kbase-f.kbase
		}
		if f.obj {
			if nk > nv {
				b = append(b, '/')
				b = appendPointerToken(b, d.keys[f.kbase+nk-1].key)
			}
		} else {
			b = append(b, '/')
			b = strconv.AppendInt(b, int64(nv), 10)
		}
	}
	return string(b)
}

func (d *decoder) stringValue() (any, *Error) {
	s, err := d.str(false)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// strSafe marks bytes that stand for themselves inside a JSON string.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string whose opening quote is at d.pos.
func (d *decoder) str(isKey bool) (string, *Error) {
	data := d.data
	start := d.pos + 1
	i := start
	for {
		for i < len(data) && strSafe[data[i]] {
			i++
		}
		if i >= len(data) {
			return "", d.unterminated(start - 1)
		}
		c := data[i]
		if c == '"' {
			d.pos = i + 1
			seg := data[start:i]
			if isKey {
				return d.internKey(seg), nil
			}
			return d.sub(start, i), nil
		}
		if c == '\\' {
			return d.strSlow(start, i, isKey)
		}
		if c < 0x20 {
			return "", d.controlChar(i)
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return "", d.errPending(RuleJSONInvalidUTF8, i, "byte 0x"+hex2(c)+" at byte "+strconv.Itoa(i)+" is not valid UTF-8 (in the string starting at byte "+strconv.Itoa(start-1)+")")
		}
		i += size
	}
}

// sub returns data[i:j] as a string, a substring of the record's text.
func (d *decoder) sub(i, j int) string {
	if !d.hasText {
		d.text, d.hasText = string(d.data), true
	}
	return d.text[i:j]
}

func (d *decoder) internKey(seg []byte) string {
	p := d.keyPos
	if p >= 0 && p < len(d.posKeys) && d.posKeys[p] == string(seg) {
		return d.posKeys[p]
	}
	s, ok := d.intern[string(seg)]
	if !ok {
		s = string(seg)
		if len(seg) <= internMaxLen && len(d.intern) < internMaxEntries {
			d.intern[s] = s
		}
	}
	if p >= 0 && p < len(d.posKeys) && len(s) <= internMaxLen {
		d.posKeys[p] = s
	}
	return s
}

func (d *decoder) unterminated(open int) *Error {
	return d.errPending(RuleJSONTruncated, len(d.data), "string opened at byte "+strconv.Itoa(open)+" is not closed before the record ends at byte "+strconv.Itoa(len(d.data))+": was the line cut short?")
}

func (d *decoder) controlChar(i int) *Error {
	desc, _ := describeByte(d.data, i)
	return d.errPending(RuleJSONControlChar, i, "raw "+desc+" inside a string at byte "+strconv.Itoa(i)+
		": control characters must be escaped in JSON strings (\\n, \\t, \\u0000 ...)")
}

// strSlow finishes a string that contains escapes; data[start:i] is already
// known to be plain and data[i] is the first backslash.
func (d *decoder) strSlow(start, i int, isKey bool) (string, *Error) {
	data := d.data
	buf := append(d.scratch[:0], data[start:i]...)
	defer func() { d.scratch = buf[:0] }()
	for {
		j := i
		for j < len(data) && strSafe[data[j]] {
			j++
		}
		buf = append(buf, data[i:j]...)
		i = j
		if i >= len(data) {
			return "", d.unterminated(start - 1)
		}
		c := data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			if isKey {
				return d.internKey(buf), nil
			}
			return string(buf), nil
		case c == '\\':
			if i+1 >= len(data) {
				return "", d.unterminated(start - 1)
			}
			var r rune
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
				i += 2
				continue
			case 'b':
				buf = append(buf, '\b')
				i += 2
				continue
			case 'f':
				buf = append(buf, '\f')
				i += 2
				continue
			case 'n':
				buf = append(buf, '\n')
				i += 2
				continue
			case 'r':
				buf = append(buf, '\r')
				i += 2
				continue
			case 't':
				buf = append(buf, '\t')
				i += 2
				continue
			case 'u':
				var err *Error
				if r, err = d.hex4(i); err != nil {
					return "", err
				}
			default:
				desc, ok := describeByte(data, i+1)
				if !ok {
					return "", d.errPending(RuleJSONInvalidUTF8, i+1, desc+" at byte "+strconv.Itoa(i+1))
				}
				return "", d.errPending(RuleJSONInvalidEscape, i, "invalid escape '\\' followed by "+desc+" at byte "+strconv.Itoa(i)+
					": JSON allows only \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX")
			}
			if r >= 0xD800 && r < 0xDC00 {
				// A high surrogate must be followed by an escaped low one.
				if i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
					lo, err := d.hex4(i + 6)
					if err != nil {
						return "", err
					}
					if lo >= 0xDC00 && lo < 0xE000 {
						buf = utf8.AppendRune(buf, 0x10000+(r-0xD800)<<10+(lo-0xDC00))
						i += 12
						continue
					}
				}
				return "", d.loneSurrogate(i)
			}
			if r >= 0xDC00 && r < 0xE000 {
				return "", d.loneSurrogate(i)
			}
			buf = utf8.AppendRune(buf, r)
			i += 6
		case c < 0x20:
			return "", d.controlChar(i)
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				return "", d.errPending(RuleJSONInvalidUTF8, i, "byte 0x"+hex2(c)+" at byte "+strconv.Itoa(i)+" is not valid UTF-8 (in the string starting at byte "+strconv.Itoa(start-1)+")")
			}
			buf = append(buf, data[i:i+size]...)
			i += size
		}
	}
}

// hex4 decodes the \uXXXX escape whose backslash is at i.
func (d *decoder) hex4(i int) (rune, *Error) {
	data := d.data
	var r rune
	for k := i + 2; k < i+6; k++ {
		if k >= len(data) {
			return 0, d.errPending(RuleJSONTruncated, len(data), "record ends inside the \\u escape at byte "+strconv.Itoa(i)+": was the line cut short?")
		}
		c := data[k]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, d.errPending(RuleJSONInvalidEscape, i, "invalid \\u escape at byte "+strconv.Itoa(i)+": \\u must be followed by four hex digits")
		}
		r = r<<4 | rune(v)
	}
	return r, nil
}

func (d *decoder) loneSurrogate(i int) *Error {
	return d.errPending(RuleJSONLoneSurrogate, i, "escape "+quoteEvidence(string(d.data[i:i+6]))+" at byte "+strconv.Itoa(i)+
		" is a lone UTF-16 surrogate: it encodes no character and cannot be stored as UTF-8; fix the producer")
}

func (d *decoder) number() (any, *Error) {
	start := d.pos
	end, rangeCheck, errAt, why := scanNumber(d.data, start)
	if errAt >= 0 {
		if errAt >= len(d.data) {
			return nil, d.errPending(RuleJSONTruncated, errAt, "record ends inside the number starting at byte "+strconv.Itoa(start)+" ("+why+"): was the line cut short?")
		}
		if d.data[start] == '-' && errAt == start+1 && (d.data[errAt] == 'I' || d.data[errAt] == 'N') {
			return nil, d.badValue()
		}
		return nil, d.errPending(RuleJSONSyntax, errAt, "invalid number at byte "+strconv.Itoa(start)+": "+why)
	}
	d.pos = end
	s := d.sub(start, end)
	if rangeCheck {
		if e := checkRange(s); e != "" {
			return nil, d.errPending(RuleJSONNumberRange, start, "number "+quoteEvidence(s)+" at byte "+strconv.Itoa(start)+" "+e)
		}
	}
	return json.Number(s), nil
}

// checkRange returns why s does not fit a finite float64, or "".
func checkRange(s string) string {
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return "is beyond the float64 range (±1.8e308): most JSON consumers cannot represent it; send it as a string"
	}
	return ""
}

// scanNumber scans the JSON number grammar at b[i:]. errAt is -1 on success,
// else the offset of the offending byte (len(b) when input ends early) and
// why says what is wrong. rangeCheck is set when the value could exceed the
// float64 range: only numbers with an exponent or with more than 308 integer
// digits can, so the costly parse is skipped for everything else.
func scanNumber(b []byte, i int) (end int, rangeCheck bool, errAt int, why string) {
	end, rangeCheck, _, errAt, why = scanNumberKind(b, i)
	return
}

func scanNumberKind[T string | []byte](b T, i int) (end int, rangeCheck, integral bool, errAt int, why string) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false, false, i, "'-' must be followed by digits"
	}
	intStart := i
	switch c := b[i]; {
	case c == '0':
		i++
		if i < len(b) && b[i] >= '0' && b[i] <= '9' {
			return i, false, false, i - 1, "leading zeros are not allowed in JSON numbers"
		}
	case c >= '1' && c <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, false, false, i, "a digit must follow '-'"
	}
	rangeCheck = i-intStart > 308
	integral = true
	if i < len(b) && b[i] == '.' {
		integral = false
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, false, false, i, "a digit must follow the decimal point"
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integral = false
		rangeCheck = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, false, false, i, "a digit must follow the exponent marker"
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i, rangeCheck, integral, -1, ""
}
