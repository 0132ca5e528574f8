package finding

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// SeekQuarantine finds record ordinal in a quarantine file (r, of size
// bytes) by bisecting it: its lines are in ascending order of ordinal, as
// a batch writes them, so O(log n) lines are read instead of every line
// before the record. It returns the record's line (LF included, nil when
// the record is not in the file) and at, the offset of the first line
// whose ordinal is not below ordinal (size when there is none): the lines
// before at are the quarantined records before it. name says which file,
// for errors; a line that is not an entry is an error naming its offset.
//
// A file out of order (edited) may hide a record from the search; what
// is read is still checked where it matters (a record's lineage leaf
// covers its line).
func SeekQuarantine(r io.ReaderAt, size int64, name string, ordinal int64) (line []byte, at int64, err error) {
	lo, hi := int64(0), size // every line starting before lo is of a record before ordinal; every line starting at hi or after, not
	for lo < hi {
		mid := lo + (hi-lo)/2
		s, err := lineStartFrom(r, size, mid)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		if s >= hi { // no line starts in [mid, hi)
			hi = mid
			continue
		}
		l, ord, err := lineAt(r, size, name, s)
		if err != nil {
			return nil, 0, err
		}
		if ord < ordinal {
			lo = s + int64(len(l))
		} else {
			hi = s
		}
	}
	if lo >= size {
		return nil, size, nil
	}
	l, ord, err := lineAt(r, size, name, lo)
	if err != nil || ord != ordinal {
		return nil, lo, err
	}
	return l, lo, nil
}

// SeekQuarantineEntry is SeekQuarantine with the record's line decoded:
// its entry and its line (both nil when the record is not in the file).
func SeekQuarantineEntry(r io.ReaderAt, size int64, name string, ordinal int64) (q *QuarantineEntry, line []byte, at int64, err error) {
	line, at, err = SeekQuarantine(r, size, name, ordinal)
	if err != nil || line == nil {
		return nil, nil, at, err
	}
	q = new(QuarantineEntry)
	if err := json.Unmarshal(line, q); err != nil {
		return nil, nil, at, fmt.Errorf("%s: the line at byte %d is damaged: %v: run `pawl audit verify`", name, at, err)
	}
	return q, line, at, nil
}

// seekChunk is how much SeekQuarantine reads at a time.
const seekChunk = 4 << 10

// lineStartFrom is the offset of the first line that starts at off or
// after (size when none does): off itself when the byte before it ends a
// line.
func lineStartFrom(r io.ReaderAt, size, off int64) (int64, error) {
	if off == 0 {
		return 0, nil
	}
	buf := make([]byte, seekChunk)
	for at := off - 1; at < size; at += seekChunk {
		n, err := r.ReadAt(buf[:min(seekChunk, size-at)], at)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return at + int64(i) + 1, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
	}
	return size, nil
}

// lineAt reads the line starting at off (to its LF, or to the end of the
// file) and the ordinal of its entry.
func lineAt(r io.ReaderAt, size int64, name string, off int64) ([]byte, int64, error) {
	var line []byte
	buf := make([]byte, seekChunk)
	for at := off; at < size; at += seekChunk {
		n, err := r.ReadAt(buf[:min(seekChunk, size-at)], at)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			line = append(line, buf[:i+1]...)
			break
		}
		line = append(line, buf[:n]...)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		if n == 0 {
			break
		}
	}
	var head struct {
		Ordinal *int64 `json:"ordinal"`
	}
	if err := json.Unmarshal(line, &head); err != nil || head.Ordinal == nil {
		why := "no ordinal"
		if err != nil {
			why = err.Error()
		}
		return nil, 0, fmt.Errorf("%s: the line at byte %d is damaged: %s: run `pawl audit verify`", name, off, why)
	}
	return line, *head.Ordinal, nil
}
