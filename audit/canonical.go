package audit

import "github.com/pawl-dev/pawl/audit/canonjson"

// canonicalDetails returns the form in which details are stored and
// hashed: the canonical JSON of one object (package canonjson, the one
// canonical encoding of everything pawl hashes or signs). Empty details are
// the empty object.
func canonicalDetails(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return []byte("{}"), nil
	}
	return canonjson.CanonicalizeObject(raw)
}

// appendString writes s as a canonical JSON string: only '"', '\\' and
// control characters are escaped; everything else, including '<', '>',
// '&' and U+2028/U+2029, is written as UTF-8.
func appendString(out []byte, s string) []byte { return canonjson.AppendString(out, s) }
