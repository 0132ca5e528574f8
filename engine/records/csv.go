package records

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Rule ids reported for CSV input.
const (
	RuleCSVSyntax      = "csv.syntax"
	RuleCSVRaggedRow   = "csv.ragged_row"
	RuleCSVTooLong     = "csv.too_long"
	RuleCSVType        = "csv.type"
	RuleCSVInvalidUTF8 = "csv.invalid_utf8"
	RuleCSVHeader      = "csv.header"
	RuleCSVBOM         = "csv.bom"
	RuleCSVEmpty       = "csv.empty"
)

// CSVReader reads RFC 4180 CSV: comma separators, optional double quotes
// around a cell, "" for a quote inside quotes, LF or CRLF row terminators,
// and line breaks inside quoted cells (kept byte for byte, CRLF included).
// It is the Reader returned by NewCSVReader; assert to it for BlankLines.
//
// A quote inside an unquoted cell, or anything but a separator or line end
// after a closing quote, is a csv.syntax error; so is a quote that is never
// closed. The row then ends at the end of the line holding the problem and
// reading resumes on the next line. Empty lines (zero bytes, or a lone CR)
// between rows are skipped and counted, like encoding/csv does.
type CSVReader struct {
	src     source
	max     int64
	line    int64
	ordinal int64
	blank   int64
	columns int // expected cells per row; 0 while reading the header
	spans   []cellSpan
	delim   byte // Options.Delimiter, ',' by default
	quote   byte // Options.Quote, '"' by default
}

type cellSpan struct {
	start, end int  // of the cell's content, relative to the row start
	quoteAt    int  // relative offset of the opening quote, or -1
	escaped    bool // content holds "" pairs to collapse
}

// NewCSVReader reads the header row of r and returns a Reader of the data
// rows and the column names. Data problems with the header (missing, empty
// or duplicate names, a byte order mark, a malformed row) are returned as
// *Error; other errors are I/O errors.
func NewCSVReader(r io.Reader, opt Options) (Reader, []string, error) {
	max := opt.maxRecord()
	cr := &CSVReader{src: newSource(r, max), max: max, line: 1, delim: ',', quote: '"'}
	if opt.Delimiter != 0 {
		cr.delim = opt.Delimiter
	}
	if opt.Quote != 0 {
		cr.quote = opt.Quote
	}
	if cr.delim == cr.quote || cr.delim == '\n' || cr.delim == '\r' || cr.quote == '\n' || cr.quote == '\r' {
		return nil, nil, errors.New("records: the CSV delimiter and quote must differ and not be line breaks")
	}
	if opt.Columns != nil {
		// No header row: the columns are named by the job.
		cr.columns = len(opt.Columns)
		return cr, slices.Clone(opt.Columns), nil
	}
	rec, err := cr.Next()
	if err == io.EOF {
		return nil, nil, &Error{Rule: RuleCSVEmpty, Message: "the input is empty: a CSV file must start with a header row naming its columns"}
	}
	if err != nil {
		return nil, nil, err
	}
	if rec.TooLong {
		return nil, nil, &Error{Rule: RuleCSVHeader, Offset: rec.Offset,
			Message: "the header row is " + strconv.FormatInt(rec.Length, 10) + " bytes long, over the record limit of " + strconv.FormatInt(max, 10) + ": is this really CSV?"}
	}
	if rec.Err != nil {
		return nil, nil, &Error{Rule: RuleCSVHeader, Offset: rec.Err.Offset, Message: "the header row is malformed: " + rec.Err.Message}
	}
	if bytes.HasPrefix(rec.Raw, []byte("\xEF\xBB\xBF")) {
		return nil, nil, &Error{Rule: RuleCSVBOM, Offset: rec.Offset,
			Message: "the input starts with a UTF-8 byte order mark (bytes EF BB BF), which would become part of the first column name: re-save the file as UTF-8 without BOM (in Excel: \"CSV (Comma delimited)\", not \"CSV UTF-8\")"}
	}
	seen := make(map[string]int, len(rec.Cells))
	for i, name := range rec.Cells {
		off := rec.CellOffsets[i]
		if !utf8.ValidString(name) {
			return nil, nil, &Error{Rule: RuleCSVHeader, Offset: off, Message: "column " + strconv.Itoa(i+1) + " name " + quoteEvidence(name) + " is not valid UTF-8: re-save the file as UTF-8"}
		}
		if name == "" {
			return nil, nil, &Error{Rule: RuleCSVHeader, Offset: off, Message: "column " + strconv.Itoa(i+1) + " of the header has an empty name: give every column a name"}
		}
		if first, dup := seen[name]; dup {
			return nil, nil, &Error{Rule: RuleCSVHeader, Offset: off,
				Message: "column name " + quoteEvidence(name) + " appears twice in the header (columns " + strconv.Itoa(first+1) + " and " + strconv.Itoa(i+1) + "): rename or remove one"}
		}
		seen[name] = i
	}
	cr.columns = len(rec.Cells)
	cr.ordinal = 0
	return cr, rec.Cells, nil
}

// BlankLines is the number of empty lines skipped so far.
func (r *CSVReader) BlankLines() int64 { return r.blank }

// BytesRead is the number of input bytes consumed so far.
func (r *CSVReader) BytesRead() int64 { return r.src.off }

const (
	stFieldStart = iota
	stUnquoted
	stQuoted
	stAfterQuote   // a quote inside a quoted cell: closing, or the first of ""
	stCRAfterQuote // a CR after a closing quote: must be followed by LF
	stSkipLine     // after a syntax error: skip to the end of the line
)

// Next returns the next row, or io.EOF.
func (r *CSVReader) Next() (*Record, error) {
	for {
		rec, blank, err := r.row()
		if err != nil || !blank {
			return rec, err
		}
	}
}

// row scans one row. Positions are relative to the row start (recOff); the
// byte at relative p is at buf[lo + p - (off - recOff)], where off-recOff
// is nonzero only once an overlong row has had bytes discarded.
func (r *CSVReader) row() (rec *Record, blank bool, err error) {
	s := &r.src
	d, q := r.delim, r.quote
	recOff := s.off
	lineNo := r.line
	spans := r.spans[:0]
	state := stFieldStart
	p := 0 // next relative position to scan
	cellStart := 0
	quoteAt := -1
	closeAt := 0
	escaped := false
	errAt := -1
	var errMsg string
	lines := int64(0) // LFs inside the row
	tooLong := false
	lastCR := false
	dropped := 0 // relative bytes discarded (overlong rows only)

	endCell := func(end int) {
		if tooLong {
			return
		}
		if quoteAt >= 0 {
			spans = append(spans, cellSpan{start: quoteAt + 1, end: closeAt, quoteAt: quoteAt, escaped: escaped})
		} else {
			spans = append(spans, cellSpan{start: cellStart, end: end, quoteAt: -1})
		}
	}
	fail := func(at int, msg string) {
		if errAt < 0 {
			errAt, errMsg = at, msg
		}
		state = stSkipLine
	}

	termEnd := -1 // relative position of the terminating LF, or of EOF
	termLen := 0
scan:
	for {
		buf := s.buf[s.lo:s.hi]
		for i := p - dropped; i < len(buf); i++ {
			c := buf[i]
			p = i + dropped
			switch state {
			case stFieldStart:
				switch c {
				case q:
					state, quoteAt, escaped = stQuoted, p, false
				case d:
					cellStart, quoteAt = p, -1
					endCell(p)
					cellStart = p + 1
				case '\n':
					quoteAt = -1
					termEnd, termLen = p, 1
					break scan
				default:
					state, quoteAt = stUnquoted, -1
				}
			case stUnquoted:
				switch c {
				case d:
					endCell(p)
					state, cellStart = stFieldStart, p+1
				case '\n':
					termEnd, termLen = p, 1
					break scan
				case q:
					fail(p, "quote at byte "+strconv.FormatInt(recOff+int64(p), 10)+" inside an unquoted cell: a cell containing quotes must be quoted as a whole, with inner quotes doubled (\"a \"\"b\"\"\")")
				}
			case stQuoted:
				switch c {
				case q:
					state, closeAt = stAfterQuote, p
				case '\n':
					lines++
				}
			case stAfterQuote:
				switch c {
				case q:
					state, escaped = stQuoted, true
				case d:
					endCell(p)
					state, cellStart = stFieldStart, p+1
				case '\n':
					termEnd, termLen = p, 1
					break scan
				case '\r':
					state = stCRAfterQuote
				default:
					desc, _ := describeByte(buf, i)
					fail(p, desc+" at byte "+strconv.FormatInt(recOff+int64(p), 10)+" after the closing quote of the cell opened at byte "+strconv.FormatInt(recOff+int64(quoteAt), 10)+": expected "+strconv.QuoteRune(rune(d))+" or a line end (a quote inside a quoted cell must be doubled)")
				}
			case stCRAfterQuote:
				if c == '\n' {
					termEnd, termLen = p, 1
					break scan
				}
				fail(p-1, "CR at byte "+strconv.FormatInt(recOff+int64(p-1), 10)+" after the closing quote of the cell opened at byte "+strconv.FormatInt(recOff+int64(quoteAt), 10)+" is not followed by LF")
			case stSkipLine:
				if c == '\n' {
					termEnd, termLen = p, 1
					break scan
				}
			}
			lastCR = c == '\r'
		}
		p = dropped + len(buf)
		if s.err != nil {
			if s.err != io.EOF {
				return nil, false, s.err
			}
			if p == 0 {
				return nil, false, io.EOF
			}
			termEnd, termLen = p, 0
			break
		}
		if !tooLong && int64(p) > r.max+1 {
			// Row too long to buffer: keep scanning for its end without
			// keeping its bytes.
			tooLong = true
			spans = spans[:0]
		}
		if tooLong {
			dropped += s.hi - s.lo
			s.discard()
		}
		s.fill()
	}

	if termLen == 0 && state == stCRAfterQuote {
		errAt, errMsg = termEnd-1, "CR at byte "+strconv.FormatInt(recOff+int64(termEnd-1), 10)+" after the closing quote of the cell opened at byte "+strconv.FormatInt(recOff+int64(quoteAt), 10)+" is not followed by LF"
		state = stSkipLine
	}
	if termLen == 0 && state == stQuoted {
		// A quote never closed swallowed the rest of the input. Report it on
		// the line where it was opened and resume on the next line, so one
		// stray quote does not hide every following row.
		if !tooLong {
			buf := s.buf[s.lo:s.hi]
			if i := bytes.IndexByte(buf[quoteAt:], '\n'); i >= 0 {
				termEnd, termLen = quoteAt+i, 1
				lines = int64(bytes.Count(buf[:termEnd], []byte{'\n'}))
				lastCR = termEnd > 0 && buf[termEnd-1] == '\r'
			}
		}
		errAt, errMsg = quoteAt, "quote opened at byte "+strconv.FormatInt(recOff+int64(quoteAt), 10)+" is never closed: the rest of the input would be one cell; close it or double it (\"\")"
		state = stSkipLine
	}
	contentEnd := termEnd
	if termLen == 1 && lastCR {
		contentEnd--
	}
	consumed := termEnd + termLen
	// Move past the row.
	if tooLong {
		s.lo += consumed - dropped
		s.off = recOff + int64(consumed)
	} else {
		s.lo += consumed
		s.off += int64(consumed)
	}
	r.line += lines + int64(termLen)
	if termLen == 0 {
		r.line++
	}

	if !tooLong && (contentEnd == 0 || termLen == 0 && contentEnd == 1 && lastCR) {
		r.blank++
		return nil, true, nil
	}

	r.ordinal++
	rec = &Record{Ordinal: r.ordinal, Line: lineNo, Offset: recOff, Length: int64(contentEnd)}
	if tooLong || int64(contentEnd) > r.max {
		rec.TooLong = true
		msg := "row of " + strconv.Itoa(contentEnd) + " bytes exceeds the record limit of " + strconv.FormatInt(r.max, 10) + " bytes"
		if errAt >= 0 {
			msg += "; " + errMsg
		}
		rec.Err = &Error{Rule: RuleCSVTooLong, Offset: recOff, Message: msg}
		r.spans = spans
		return rec, false, nil
	}
	raw := s.buf[s.lo-consumed : s.lo-consumed+contentEnd]
	rec.Raw = bytes.Clone(raw)
	if errAt >= 0 {
		rec.Err = &Error{Rule: RuleCSVSyntax, Offset: recOff + int64(errAt), Message: errMsg}
		r.spans = spans
		return rec, false, nil
	}
	// The last cell ends at the content end.
	if quoteAt >= 0 && (state == stAfterQuote || state == stCRAfterQuote) {
		endCell(contentEnd)
	} else {
		quoteAt = -1
		endCell(contentEnd)
	}
	r.spans = spans
	// One string backs all cells without escaped quotes.
	str := string(raw)
	rec.Cells = make([]string, len(spans))
	rec.CellOffsets = make([]int64, len(spans))
	for i, sp := range spans {
		cell := str[sp.start:sp.end]
		if sp.escaped {
			cell = strings.ReplaceAll(cell, string([]byte{q, q}), string(q))
		}
		rec.Cells[i] = cell
		first := sp.start
		if sp.quoteAt >= 0 {
			first = sp.quoteAt
		}
		rec.CellOffsets[i] = recOff + int64(first)
	}
	if r.columns > 0 && len(spans) != r.columns {
		at := recOff + int64(contentEnd)
		if len(spans) > r.columns {
			at = rec.CellOffsets[r.columns]
		}
		rec.Err = &Error{Rule: RuleCSVRaggedRow, Offset: at,
			Message: "row has " + strconv.Itoa(len(spans)) + " cells, header has " + strconv.Itoa(r.columns) + ": every row needs one cell per column (check for unquoted delimiters or missing cells)"}
	}
	return rec, false, nil
}
