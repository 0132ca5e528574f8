package records

import (
	"io"
)

// DefaultMaxRecordBytes is the record size limit when Options.MaxRecordBytes
// is zero or negative.
const DefaultMaxRecordBytes = 64 << 20

// Record is one record of the input, with where it came from.
type Record struct {
	Ordinal int64 // 1-based position among the records of the input (CSV: the header is not counted)
	Line    int64 // 1-based line number where the record starts (Parquet: the row's number in the file)
	Offset  int64 // byte offset in the input of the record's first byte (Parquet: of its row group)
	Length  int64 // number of input bytes of the record, excluding its line terminator (Parquet: set with Raw)
	// Raw holds the record's exact input bytes without the terminator (LF or
	// CRLF); nil when TooLong. It is owned by the caller and never reused.
	Raw []byte
	// Text is Raw as a string, when the reader has it at no cost (the
	// JSONL reader cuts it from a block shared by a few hundred records);
	// "" otherwise. It is for readers of the record's text that need a
	// string (ScanFlat), so that they need not allocate one per record.
	Text string
	// TooLong is set when the record exceeded MaxRecordBytes: its bytes were
	// skipped without buffering, Raw is nil and Length is the true length.
	TooLong bool
	// Cells are the parsed cells of a CSV row (nil for JSONL, for TooLong
	// rows and for rows with a csv.syntax error).
	Cells []string
	// CellOffsets are the input offsets of each cell's first byte (the
	// opening quote of a quoted cell).
	CellOffsets []int64
	// Err is a CSV framing problem with this row (csv.syntax,
	// csv.ragged_row, csv.too_long); the row is still a Record so that it
	// can be quarantined with its bytes.
	Err *Error
	// Value is a Parquet row, typed (ParquetReader): the caller renders Raw,
	// the record's bytes, as its canonical JSON. nil for JSONL and CSV.
	Value map[string]any
}

// Options tunes the readers.
type Options struct {
	// MaxRecordBytes bounds the bytes of one record, and so the reader's
	// memory; DefaultMaxRecordBytes (64 MiB) when zero or negative.
	MaxRecordBytes int64
	// Delimiter and Quote are the CSV dialect's separator and quote
	// characters (',' and '"' when zero); they must differ and not be CR
	// or LF.
	Delimiter, Quote byte
	// Columns, when not nil, names the columns of CSV input without a
	// header row: every row is data.
	Columns []string
}

func (o Options) maxRecord() int64 {
	if o.MaxRecordBytes <= 0 {
		return DefaultMaxRecordBytes
	}
	return o.MaxRecordBytes
}

// Reader yields records one at a time, streaming: memory is bounded by
// MaxRecordBytes whatever the input size.
type Reader interface {
	// Next returns the next record, or io.EOF at the end of the input. Any
	// other error is an I/O error (infrastructure, not data); it is sticky.
	Next() (*Record, error)
	// BytesRead is the number of input bytes consumed so far, up to the end
	// of the last record returned (for a progress bar).
	BytesRead() int64
}

const (
	initialBufSize = 64 << 10
	minReadSize    = 32 << 10
	// maxEmptyReads guards against an io.Reader that returns (0, nil)
	// forever, which would otherwise spin the reader.
	maxEmptyReads = 100
)

// source is a growable window onto the input: buf[lo:hi] holds unconsumed
// bytes, and off is the input offset of buf[lo].
type source struct {
	r      io.Reader
	buf    []byte
	lo, hi int
	off    int64
	err    error // sticky; io.EOF once the input is exhausted
	limit  int   // the buffer never needs to grow beyond this
}

func newSource(r io.Reader, maxRecord int64) source {
	// A record plus its CRLF and one read must fit; beyond that the readers
	// switch to skipping. Guard the conversion on 32-bit platforms.
	limit := maxRecord + 2 + minReadSize
	if limit > int64(int(^uint(0)>>1)) || limit < 0 {
		limit = int64(int(^uint(0) >> 1))
	}
	return source{r: r, limit: int(limit)}
}

// fill reads more input into the buffer, compacting or growing it as
// needed. It returns false once s.err is set and no more bytes can come.
func (s *source) fill() bool {
	if s.err != nil {
		return false
	}
	if s.lo > 0 && (s.hi == len(s.buf) || s.lo >= len(s.buf)/2) {
		n := copy(s.buf, s.buf[s.lo:s.hi])
		s.hi = n
		s.lo = 0
	}
	if len(s.buf)-s.hi < minReadSize {
		size := 2 * len(s.buf)
		if size < initialBufSize {
			size = initialBufSize
		}
		if size > s.limit {
			size = s.limit
		}
		if size < s.hi+minReadSize {
			size = s.hi + minReadSize
		}
		nb := make([]byte, size)
		copy(nb, s.buf[s.lo:s.hi])
		s.hi -= s.lo
		s.lo = 0
		s.buf = nb
	}
	for range maxEmptyReads {
		n, err := s.r.Read(s.buf[s.hi:])
		if n < 0 || n > len(s.buf)-s.hi {
			s.err = io.ErrShortBuffer
			return false
		}
		s.hi += n
		if err != nil {
			s.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.err = io.ErrNoProgress
	return false
}

// discard drops all buffered bytes (they belong to a record being skipped).
func (s *source) discard() {
	s.off += int64(s.hi - s.lo)
	s.lo, s.hi = 0, 0
}
