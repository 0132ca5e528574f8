// Package records frames input records (JSONL, CSV in a dialect, Parquet)
// with exact byte offsets, strictly decodes them, and encodes verified
// records canonically.
//
// # What it guarantees
//
// Every record handed out carries its ordinal, starting line, byte offset
// and length in the input, and its exact input bytes (Record.Raw), so that a
// rejection can always name the record, the byte and the rule. Offsets and
// lengths are exact: for JSONL the records, their terminators and the
// skipped blank lines tile the input with no gap. Memory is bounded by
// Options.MaxRecordBytes whatever the input size: a longer record is reported
// as TooLong with its true length, and its bytes are skipped, never buffered.
// Nothing is dropped silently: blank lines are counted, malformed CSV rows
// are records with Err set, and readers never loop forever.
//
// DecodeJSON accepts exactly RFC 8259 JSON text and returns an *Error with a
// stable rule id, the byte offset in the record and the JSON pointer of the
// value concerned. It never recurses, so hostile nesting cannot exhaust the
// stack; it never substitutes U+FFFD for invalid UTF-8.
//
// Decoded values are what audit/canonjson.Append writes in canonical form
// (the one canonical JSON of pawl: keys in byte order, numbers verbatim as
// they appeared in the input, strings escaped minimally); decoding canonical
// output gives back an equal value.
//
// # What it refuses
//
// DecodeJSON rejects, each with its own rule: empty or whitespace-only
// records (json.empty), a leading byte order mark (json.bom), invalid UTF-8
// anywhere (json.invalid_utf8), NaN and Infinity (json.nan), numbers outside
// the float64 range such as 1e400 (json.number_range), duplicate object keys
// compared after unescaping (json.duplicate_key), lone UTF-16 surrogate
// escapes such as "\ud800" (json.lone_surrogate: they denote no character and
// cannot be written as UTF-8), unescaped control characters in strings
// (json.control_char), unknown escapes (json.invalid_escape), nesting deeper
// than DecodeOptions.MaxDepth (json.depth), records cut short
// (json.truncated), data after the value (json.trailing_data), a top-level
// value that is not an object when one is required (json.not_object), and
// everything else that is not JSON — leading zeros, a leading '+', trailing
// commas, single quotes, comments — as json.syntax.
//
// CSV dialects (Options.Delimiter, Options.Quote, Options.Columns for a
// file without a header row) run the same state machine: FuzzCSVDialect
// holds that any dialect reads a file as the default dialect reads the
// file with the characters swapped.
//
// # Parquet
//
// NewParquetReader reads flat Parquet files: one scalar column per
// top-level property. A row is an object with a member per non-null column
// (a null is left out, as an empty CSV cell is): BOOLEAN a boolean;
// INT32/INT64, signed or unsigned, a number as its exact decimal text;
// DECIMAL on INT32/INT64 its exact text with the scale's digits after the
// point; FLOAT and DOUBLE the shortest text that reads back to the value
// (as the canonical JSON writes a float); STRING and ENUM a string; JSON
// the value its text decodes to (strictly); DATE "YYYY-MM-DD"; TIMESTAMP
// RFC 3339 text, with Z when adjusted to UTC and without a zone otherwise.
// The record's bytes are the canonical JSON of that object: what its
// lineage leaf hashes, what a quarantine entry holds and what a correction
// resubmits. Refused before any row is read (parquet.file, parquet.column):
// a file that is not Parquet, truncated, encrypted or damaged; nested,
// repeated, INT96, fixed-length, binary (unannotated BYTE_ARRAY), TIME and
// other logical types; a column whose values cannot be of the type the
// schema declares. A value that cannot be JSON — a string that is not
// UTF-8, NaN, JSON text that does not decode — quarantines its row, named
// by row group, row and column. Page headers are checked before parquet-go
// reads a row group, so a small file cannot make it allocate gigabytes.
//
// The readers do not interpret encodings: a byte order mark at the start of a
// JSONL input stays part of record 1's bytes, to be reported by a later
// stage. A CSV header starting with one is refused by NewCSVReader, because
// it would silently become part of the first column's name.
package records
