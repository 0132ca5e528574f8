// Package canonjson is pawl's one canonical JSON encoding: the form in which
// everything that is hashed or signed (audit entries and their details,
// verified records, policy inputs, e-signature manifests) is written, so
// that one value has exactly one byte sequence and therefore one hash.
//
// This comment is the normative specification. docs/audit-format.md
// ("Canonical JSON") restates it for readers without Go, and the vectors in
// testdata/canonical-json/vectors.json (checked by this package's tests and
// by build/verify-trail.py --vectors) pin it down byte for byte.
//
// # The canonical form
//
// The input is one JSON text as defined by RFC 8259, in UTF-8. Its
// canonical form is the same value written as follows.
//
//   - No insignificant whitespace: the four JSON whitespace bytes (space,
//     tab, LF, CR) between tokens are dropped. Nothing else counts as
//     whitespace.
//   - Objects: members sorted by key, comparing the keys' UTF-8 bytes after
//     their escapes are decoded. For valid UTF-8 this is the same as
//     comparing code points. Members are separated by ',' and keys from
//     values by ':'.
//   - Arrays: elements in their input order, separated by ','.
//   - Strings: escapes in the input are decoded first (\" \\ \/ \b \f \n \r
//     \t and \uXXXX, a \uXXXX high surrogate and the \uXXXX low surrogate
//     right after it taken together as one character), so "\u0041" and "A"
//     are the same string. The string is then written with only these
//     escapes: \" and \\, \b \f \n \r \t, and \u00xx (lowercase hex) for the
//     other characters below U+0020. Every other character is written as
//     its UTF-8 bytes, including '/', '<', '>', '&', DEL (U+007F), U+2028,
//     U+2029 and U+FFFD.
//   - Numbers: exactly as written in the input, after checking them against
//     the RFC 8259 number grammar. 1.0, 1E+3, 1e400, -0, -0.0 and a 30-digit
//     integer all stay as written.
//   - true, false and null as themselves.
//
// Any JSON value may be the top level ([Canonicalize]); [CanonicalizeObject]
// requires an object, as audit details must be.
//
// # What is refused
//
// A text with no canonical form is refused with a [*SyntaxError] giving the
// byte offset and the reason; nothing is guessed or repaired:
//
//   - empty input, input holding only whitespace, and data after the value;
//   - a byte-order mark, and any other byte outside the JSON grammar
//     (including other Unicode whitespace such as U+00A0 or a vertical tab);
//   - invalid UTF-8 anywhere: overlong forms, truncated sequences, surrogate
//     code points encoded in UTF-8 (ED A0 80), bytes C0, C1 and F5-FF;
//   - raw control characters (below U+0020) inside strings, and escapes
//     other than the ones listed above;
//   - lone surrogates: a \uD800-\uDBFF escape not immediately followed by a
//     \uDC00-\uDFFF escape, and a \uDC00-\uDFFF escape not preceded by one;
//   - duplicate keys in one object, compared after decoding escapes, so
//     {"a":1,"\u0061":2} is refused;
//   - numbers outside the grammar: NaN, Infinity, leading zeros (01), a
//     leading '+' or '.', a trailing '.' (1.), an empty exponent (1e);
//   - nesting of objects and arrays deeper than [MaxDepth] (1000) levels.
//
// # Why
//
// Keys are ordered by UTF-8 bytes, not by UTF-16 code units as RFC 8785
// (JCS) orders them. The two orders differ only between characters above
// U+FFFF and characters from U+E000 to U+FFFF: UTF-16 puts "😀" (stored as
// the surrogates D83D DE00) before U+E000, code point order puts it after.
// pawl's data, its trail and its verifier are UTF-8 throughout (Go strings,
// SQLite TEXT, Python str compare by code point), so byte order needs no
// conversion to compute and is what the existing trails were hashed with.
//
// Numbers are kept verbatim rather than re-formatted (RFC 8785 re-formats
// them as IEEE 754 doubles). Re-formatting would tie every hash to one
// float-formatting algorithm, would lose precision in integers above 2^53
// and in numbers beyond the float64 range, and would erase distinctions
// (1.0 against 1, -0 against 0) that may matter to whoever wrote them. The
// price is that 1.0 and 1 are different canonical texts; a producer that
// wants them equal must write them equally.
//
// Lone surrogates are refused rather than replaced by U+FFFD (as
// encoding/json does): they encode no character, cannot be stored as UTF-8,
// and replacing them would let two different inputs share one canonical
// form, hence one hash. Duplicate keys are refused because JSON parsers
// disagree on which one wins, so the stored meaning would be ambiguous.
//
// Only the escapes JSON requires are written, and every other character
// raw, so that the form does not depend on any one encoder's choices (HTML
// escaping, escaping of U+2028/U+2029, upper- or lowercase hex); the
// escaping is written out here rather than borrowed from encoding/json so
// that a change in Go's encoder cannot change a hash.
//
// # API
//
// [Canonicalize] and [CanonicalizeObject] check and canonicalize JSON text
// with their own strict scanner (encoding/json's decoder would turn lone
// surrogates into U+FFFD). [Marshal] encodes a Go value. [Append] and
// [AppendString] are the allocation-free path for values that a strict
// decoder has already produced; they do not re-check them.
//
// Canonicalizing a canonical text returns it unchanged, so checking that
// stored text is canonical is Canonicalize(b) == b.
package canonjson
