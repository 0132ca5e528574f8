package records

import (
	"bytes"
	"io"
	"strings"
)

// JSONLReader frames JSON Lines input. It is the Reader returned by
// NewJSONLReader; assert to it for BlankLines.
//
// Records are separated by LF; a CR just before the LF is part of the
// terminator. The last line is a record even without a trailing LF (a CR
// at the very end of the input is then data, not a terminator). Lines that
// are completely empty, or hold only a CR, are not records: they are
// counted by BlankLines. A line of spaces is a record (DecodeJSON reports
// it as json.empty), since it is not empty.
type JSONLReader struct {
	src     source
	max     int64
	line    int64 // line number of the next line
	ordinal int64
	blank   int64
	scanned int // bytes at the start of buf[lo:hi] known to hold no LF
	// recs and raw are blocks the records and their bytes are cut from,
	// a few allocations per block instead of two per record. A block is
	// never reused: a record owns its part of it.
	recs []Record
	raw  []byte
	// text is the block Record.Text is cut from: a strings.Builder's
	// String() shares its bytes, which are never written again.
	text strings.Builder
}

// Block sizes: the records and bytes of a few hundred typical lines. A line
// longer than rawBlockMax gets an allocation of its own.
const (
	recBlock    = 256
	rawBlock    = 64 << 10
	rawBlockMax = 4 << 10
)

// newRecord returns a zeroed Record from the current block.
func (r *JSONLReader) newRecord() *Record {
	if len(r.recs) == 0 {
		r.recs = make([]Record, recBlock)
	}
	rec := &r.recs[0]
	r.recs = r.recs[1:]
	return rec
}

// clone copies line into the current block of bytes; the copy's capacity
// is its length, so that appending to it cannot reach the next record's.
func (r *JSONLReader) clone(line []byte) []byte {
	if len(line) > rawBlockMax {
		return bytes.Clone(line)
	}
	if len(line) > cap(r.raw)-len(r.raw) {
		r.raw = make([]byte, 0, rawBlock)
	}
	n := len(r.raw)
	r.raw = append(r.raw, line...)
	return r.raw[n:len(r.raw):len(r.raw)]
}

// textOf copies line into the current block of text and returns it as a
// string; "" for a line too long for a block.
func (r *JSONLReader) textOf(line []byte) string {
	if len(line) > rawBlockMax {
		return ""
	}
	if len(line) > r.text.Cap()-r.text.Len() {
		r.text = strings.Builder{}
		r.text.Grow(rawBlock)
	}
	n := r.text.Len()
	r.text.Write(line)
	return r.text.String()[n:]
}

// NewJSONLReader returns a Reader of the JSON Lines in r.
func NewJSONLReader(r io.Reader, opt Options) Reader {
	max := opt.maxRecord()
	return &JSONLReader{src: newSource(r, max), max: max, line: 1}
}

// BlankLines is the number of empty lines skipped so far.
func (r *JSONLReader) BlankLines() int64 { return r.blank }

// BytesRead is the number of input bytes consumed so far.
func (r *JSONLReader) BytesRead() int64 { return r.src.off }

// Next returns the next record, or io.EOF.
func (r *JSONLReader) Next() (*Record, error) {
	s := &r.src
	for {
		if i := bytes.IndexByte(s.buf[s.lo+r.scanned:s.hi], '\n'); i >= 0 {
			end := s.lo + r.scanned + i
			r.scanned = 0
			if rec := r.emit(s.buf[s.lo:end], 1); rec != nil {
				return rec, nil
			}
			continue
		}
		r.scanned = s.hi - s.lo
		if s.err != nil {
			if s.err == io.EOF && s.lo < s.hi {
				r.scanned = 0
				if rec := r.emit(s.buf[s.lo:s.hi], 0); rec != nil {
					return rec, nil
				}
				continue
			}
			// A partial line before an I/O error is not known to be a
			// whole record, so it is not handed out.
			return nil, s.err
		}
		if int64(s.hi-s.lo) > r.max+1 {
			return r.skipLong()
		}
		s.fill()
	}
}

// emit consumes line plus a terminator of termLen bytes (1 for LF, 0 at the
// end of input) and returns its record, or nil for a blank line.
func (r *JSONLReader) emit(line []byte, termLen int) *Record {
	s := &r.src
	consumed := int64(len(line) + termLen)
	if termLen == 1 && len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	lineNo := r.line
	off := s.off
	s.lo += int(consumed)
	s.off += consumed
	r.line++
	if len(line) == 0 || (termLen == 0 && len(line) == 1 && line[0] == '\r') {
		r.blank++
		return nil
	}
	r.ordinal++
	rec := r.newRecord()
	*rec = Record{Ordinal: r.ordinal, Line: lineNo, Offset: off, Length: int64(len(line))}
	if rec.Length > r.max {
		rec.TooLong = true
	} else {
		rec.Raw = r.clone(line)
		rec.Text = r.textOf(line)
	}
	return rec
}

// skipLong consumes a line known to exceed the limit, reading it in chunks
// and keeping none of it, so a huge line costs no memory.
func (r *JSONLReader) skipLong() (*Record, error) {
	s := &r.src
	r.ordinal++
	rec := &Record{Ordinal: r.ordinal, Line: r.line, Offset: s.off, TooLong: true}
	length := int64(0)
	lastCR := false
	for {
		if s.hi > s.lo {
			chunk := s.buf[s.lo:s.hi]
			if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
				if i > 0 {
					lastCR = chunk[i-1] == '\r'
				}
				length += int64(i)
				rec.Length = length
				if lastCR {
					rec.Length--
				}
				s.lo += i + 1
				s.off = rec.Offset + length + 1
				r.line++
				r.scanned = 0
				return rec, nil
			}
			lastCR = chunk[len(chunk)-1] == '\r'
			length += int64(len(chunk))
			s.discard()
		}
		if !s.fill() && s.lo == s.hi {
			if s.err == io.EOF {
				rec.Length = length
				r.line++
				r.scanned = 0
				return rec, nil
			}
			return nil, s.err
		}
	}
}
