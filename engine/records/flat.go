package records

// FlatMember is one member of a record that ScanFlat accepted.
type FlatMember struct {
	// Key is the member's name; in the text it is "Key", quotes around it.
	Key string
	// Value is the value's text as it is in the record: a string with its
	// quotes, a number, true, false or null.
	Value string
	Kind  FlatKind
}

// FlatKind is the JSON type of a flat member's value.
type FlatKind uint8

// The kinds of a flat member's value.
const (
	FlatNull FlatKind = iota + 1
	FlatBool
	FlatNumber
	FlatString
)

// MaxFlatMembers is the most members ScanFlat accepts in a record.
const MaxFlatMembers = 16

// ScanFlat reads the record text as the common, simple case of a record: one
// JSON object of at most MaxFlatMembers members with distinct keys, whose
// values are strings, numbers, true, false or null, where every key and
// string is printable ASCII (0x20–0x7E) without a backslash, and every number
// is written without an exponent and with at most 308 integer digits. It
// appends the members to ms, sorted by key (byte order), and returns them
// with true.
//
// For such a record DecodeJSON(text, RequireObject) gives a map with
// exactly these members, each string value being the text between its
// quotes, each number json.Number(Value), and the canonical JSON of that map
// (keys sorted by their bytes, numbers and strings verbatim) is AppendFlat's.
// Anything else — nested values, escapes, bytes outside printable ASCII,
// a duplicate key, a syntax error — returns false, and the caller takes the
// record through DecodeJSON, which decides and says what is wrong.
// FuzzScanFlat checks the two against each other.
func ScanFlat(text string, ms []FlatMember) ([]FlatMember, bool) {
	base := len(ms)
	i := skipWSString(text, 0)
	if i >= len(text) || text[i] != '{' {
		return ms, false
	}
	i = skipWSString(text, i+1)
	if i < len(text) && text[i] == '}' {
		return ms, skipWSString(text, i+1) == len(text)
	}
	for {
		if len(ms)-base == MaxFlatMembers {
			return ms, false
		}
		// "key"
		end, ok := plainString(text, i)
		if !ok {
			return ms, false
		}
		key := text[i+1 : end-1]
		i = skipWSString(text, end)
		if i >= len(text) || text[i] != ':' {
			return ms, false
		}
		i = skipWSString(text, i+1)
		if i >= len(text) {
			return ms, false
		}
		var kind FlatKind
		start := i
		switch c := text[i]; {
		case c == '"':
			if end, ok = plainString(text, i); !ok {
				return ms, false
			}
			kind = FlatString
		case c == '-' || c >= '0' && c <= '9':
			var rangeCheck bool
			var errAt int
			end, rangeCheck, _, errAt, _ = scanNumberKind(text, i)
			if errAt >= 0 || rangeCheck {
				return ms, false
			}
			kind = FlatNumber
		case c == 't' && hasLiteral(text, i, "true"), c == 'f' && hasLiteral(text, i, "false"):
			end = i + 4
			if c == 'f' {
				end++
			}
			kind = FlatBool
		case c == 'n' && hasLiteral(text, i, "null"):
			end = i + 4
			kind = FlatNull
		default:
			return ms, false
		}
		// Insert in key order; an equal key is a duplicate.
		m := FlatMember{Key: key, Value: text[start:end], Kind: kind}
		k := len(ms)
		ms = append(ms, m)
		for k > base && ms[k-1].Key >= key {
			if ms[k-1].Key == key {
				return ms, false
			}
			ms[k] = ms[k-1]
			k--
		}
		ms[k] = m
		i = skipWSString(text, end)
		if i >= len(text) {
			return ms, false
		}
		switch text[i] {
		case ',':
			i = skipWSString(text, i+1)
		case '}':
			return ms, skipWSString(text, i+1) == len(text)
		default:
			return ms, false
		}
	}
}

// AppendFlat appends the canonical JSON of the object of members ms, as
// ScanFlat returned them (sorted by key), to dst: what canonjson.Append
// writes for the decoded record.
func AppendFlat(dst []byte, ms []FlatMember) []byte {
	dst = append(dst, '{')
	for i := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, ms[i].Key...)
		dst = append(dst, '"', ':')
		dst = append(dst, ms[i].Value...)
	}
	return append(dst, '}')
}

// plainString returns the end (past the closing quote) of the string that
// starts with the quote at text[i], when every byte of it is printable ASCII
// other than a backslash.
func plainString(text string, i int) (int, bool) {
	if i >= len(text) || text[i] != '"' {
		return i, false
	}
	for j := i + 1; j < len(text); j++ {
		switch c := text[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20 || c > 0x7E || c == '\\':
			return j, false
		}
	}
	return len(text), false
}

func hasLiteral(text string, i int, lit string) bool {
	return len(text)-i >= len(lit) && text[i:i+len(lit)] == lit
}

func skipWSString(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
