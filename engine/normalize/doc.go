// Package normalize is pawl's Unicode boundary: every string of every record
// (object keys included) crosses it after strict UTF-8 decoding and before
// anything else reads it.
//
// What it guarantees of a value it passes on:
//
//   - it is valid UTF-8: an ill-formed sequence (overlong, encoded
//     surrogate, truncated, stray continuation byte, beyond U+10FFFF) is
//     rejected with its byte offset and its bytes in hex, never replaced by
//     U+FFFD;
//   - it is in the field's normalization form (NFC, or NFKC where the
//     profile says so), and every span that changed is reported;
//   - it is a fixed point: running it through the boundary again changes
//     nothing and rejects nothing;
//   - it holds no NUL or other C0/C1 control (TAB and LF aside), no bidi
//     embedding or override, no unbalanced bidi isolate, no byte order mark,
//     no run of more than 30 combining marks, and no zero-width or other
//     invisible default-ignorable character unless the profile lets a free
//     field keep them (a ZWJ inside an emoji sequence is part of the emoji);
//   - CR and CRLF have become LF (line breaks are refused in single-line and
//     identifier fields), soft hyphens are gone;
//   - in identifier fields: no tab, emoji, Turkic dotted/dotless i or bidi
//     control, only UTS #39 Identifier_Status=Allowed characters outside
//     ASCII, scripts mixed no further than the restriction level (Highly
//     Restrictive by default), and no value whose UTS #39 skeleton equals
//     that of a different reference value.
//
// Every action names the JSON pointer, the byte offset within the original
// value, the code point with its Unicode name, the rule and what was done
// (reject, strip, normalize or flag); per-class actions are configurable
// (Config, docs/unicode.md). The boundary never case-folds: a field is
// lower-cased only when the profile lists it and names the language.
//
// The UTS #39, script, emoji and default-ignorable tables are generated
// (go generate) from the Unicode data in testdata/unicode-15.0.0, the
// version of x/text's normalization tables; a test fails when they differ.
//
// Records whose strings are all printable ASCII take a fast path (eight
// bytes at a time) that allocates nothing.
package normalize
