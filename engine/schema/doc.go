// Package schema is pawl's contract stage: JSON Schema draft 2020-12 with
// format assertion on, built on github.com/santhosh-tekuri/jsonschema/v6.
//
// What it does: [Compile] turns a schema file into a [Schema]; [Schema.Validate]
// checks one decoded record against it and returns every failing leaf keyword
// as a [Violation] (instance pointer, keyword, schema path, English message),
// so that the quarantine can say exactly why a record was refused.
//
// Guarantees:
//
//   - Draft 2020-12 is the dialect when a schema has no "$schema"; other
//     drafts named by "$schema" are honoured.
//   - "format" is an assertion, not the annotation that draft 2020-12 makes it
//     by default: a "date-time" that is not an RFC 3339 date-time is a
//     violation. A format name pawl cannot check (a typo such as "date_time",
//     or idn-email / idn-hostname, which the library does not implement) is
//     refused at compile time instead of silently checking nothing.
//   - Content keywords (contentEncoding, contentMediaType, contentSchema) stay
//     annotations, as the draft 2020-12 specification says and as the library
//     defaults: they describe payloads that pawl does not decode, and
//     asserting them would make the verdict depend on decoders outside the
//     contract.
//   - Numbers are compared exactly: instances carry json.Number, compared as
//     decimals of up to 19 significant digits or else as big.Rat, so 1.0 is
//     an integer and 98249283749234923498293171823948729348710298301928331
//     keeps every digit.
//   - The verdict comes from a compiled path (compiled.go) built from the
//     library's compiled schema: each schema checks only its own keywords,
//     and a valid record costs no allocation. It gives the library's verdict
//     exactly (what it does not implement, the library checks); the
//     violations of an invalid record are always the library's. The official
//     suite and FuzzCompiledMatchesSanthosh run both paths and require the
//     same violations.
//   - Validate is safe for concurrent use: a compiled Schema is never written
//     after Compile returns.
//   - Violations are deterministic: sorted by Pointer, then Keyword, then
//     SchemaPath, then Message.
//   - A compiled schema says what it is made of: [Schema.Files] lists every
//     file read (the schema file and each file a reference reached) with the
//     sha256 of the bytes compiled, so that the caller can pin and check
//     the whole contract, not only its first file.
//
// Conformance: of JSON-Schema-Test-Suite's required draft 2020-12 tests,
// 1268 of 1299 pass in pawl's configuration; the 31 others are format.json
// cases that expect "format" to be an annotation or an unknown format to be
// ignored. suite_test.go lists each one with why, and fails when any other
// case fails or a listed one starts to pass.
//
// What it refuses:
//
//   - It never fetches anything from the network. A reference ($ref,
//     $dynamicRef or a custom "$schema") may resolve only to the built-in
//     JSON Schema metaschemas or to files under the schema file's own
//     directory; anything else (http, https, a file elsewhere, including via a
//     symlink) is a compile error that names the URL and says why.
//   - Schema files that are not UTF-8, not one JSON value, or that repeat an
//     object key are refused: a contract must mean one thing.
//   - Instance numbers whose decimal exponent is beyond ±[MaxExponent] are
//     reported as a violation (keyword "number") instead of being validated,
//     because exact comparison of such numbers costs unbounded time and memory
//     and the library cannot represent the largest of them at all.
package schema
