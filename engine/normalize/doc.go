// Package normalize is pawl's Unicode boundary: every string of every record
// crosses it after strict UTF-8 decoding and before anything else reads it.
//
// This is the stage's first version. It guarantees that what it passes on is
// valid UTF-8 in Normalization Form C, and it rejects the characters that
// silently break pipelines and that no legitimate field needs: NUL and the
// other C0/C1 controls (TAB, LF and CR excepted), the bidi embedding,
// override and isolate controls, zero-width characters and a byte order mark
// inside a value. Every rejection and every change names the JSON pointer,
// the byte offset within the value and the code point.
//
// It never substitutes U+FFFD and never case-folds. Per-field classes
// (identifier, text, free), NFKC for identifiers, UTS #39 confusables and
// mixed-script detection come with the full Unicode boundary.
package normalize
