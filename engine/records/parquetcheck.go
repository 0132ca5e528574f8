package records

import (
	"errors"
	"fmt"
	"io"
)

// Bounds on what a Parquet file's numbers may make the reader allocate.
// parquet-go trusts the lengths in a page header (a statistics value, the
// page sizes) and allocates them before reading: a 700-byte file can ask
// for 2 GiB (found by FuzzParquetReader). So every page header of a row
// group is walked here first, with lengths checked against the bytes
// there are, before parquet-go reads the group.
const (
	maxPageHeader       = 1 << 20   // a page header (thrift) holds sizes and statistics
	maxUncompressedPage = 256 << 20 // writers default to 1 MiB pages
	maxPageValues       = 1 << 24   // values (nulls included) in one page
)

// checkRowGroup walks the pages of every column chunk of row group g: each
// chunk lies within the file's data, each page header decodes within 1
// MiB and the chunk, each page lies within its chunk and decompresses to
// at most 256 MiB.
func (pr *ParquetReader) checkRowGroup(g int) error {
	dataEnd := pr.size - 8 - pr.footerLen
	for ci := range pr.meta.RowGroups[g].Columns {
		md := &pr.meta.RowGroups[g].Columns[ci].MetaData
		start := md.DataPageOffset
		if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
			start = md.DictionaryPageOffset
		}
		end := start + md.TotalCompressedSize
		name := "?"
		if ci < len(pr.cols) {
			name = pr.cols[ci].name
		}
		where := fmt.Sprintf("row group %d, column %q", g, name)
		if start < 4 || md.TotalCompressedSize < 0 || end > dataEnd || end < start {
			return &Error{Rule: RuleParquetFile, Offset: max(start, 0), Message: fmt.Sprintf("%s: its pages at bytes %d to %d lie outside the file's data (bytes 4 to %d): the file is damaged", where, start, end, dataEnd)}
		}
		var buf []byte
		for off := start; off < end; {
			n := min(int64(maxPageHeader), end-off)
			if int64(cap(buf)) < n {
				buf = make([]byte, n)
			}
			b := buf[:n]
			if _, err := pr.readerAt.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			hlen, uncompressed, compressed, values, err := scanPageHeader(b)
			if err != nil {
				return &Error{Rule: RuleParquetFile, Offset: off, Message: fmt.Sprintf("%s: the page header at byte %d cannot be read (%v): the file is damaged", where, off, err)}
			}
			if compressed < 0 || uncompressed < 0 || off+int64(hlen)+compressed > end {
				return &Error{Rule: RuleParquetFile, Offset: off, Message: fmt.Sprintf("%s: the page at byte %d claims %d bytes, beyond its column chunk (which ends at byte %d): the file is damaged", where, off, compressed, end)}
			}
			if uncompressed > maxUncompressedPage {
				return &Error{Rule: RuleParquetFile, Offset: off, Message: fmt.Sprintf("%s: the page at byte %d claims %d bytes uncompressed, over pawl's limit of %d: write the file with smaller pages (the usual size is 1 MiB)", where, off, uncompressed, maxUncompressedPage)}
			}
			if values > maxPageValues {
				return &Error{Rule: RuleParquetFile, Offset: off, Message: fmt.Sprintf("%s: the page at byte %d claims %d values, over pawl's limit of %d: write the file with smaller pages", where, off, values, maxPageValues)}
			}
			off += int64(hlen) + compressed
		}
	}
	return nil
}

// scanPageHeader reads a PageHeader in thrift's compact protocol from the
// start of b without allocating: its length in bytes and its
// uncompressed_page_size (field 2) and compressed_page_size (field 3).
// Every length inside is checked against b.
func scanPageHeader(b []byte) (n int, uncompressed, compressed, values int64, err error) {
	s := &thriftScan{b: b}
	uncompressed, compressed = -1, -1
	var last int16
	for {
		h, err := s.byte()
		if err != nil {
			return 0, 0, 0, 0, err
		}
		if h == 0 {
			break
		}
		typ := h & 0x0f
		id := last + int16(h>>4)
		if h>>4 == 0 {
			v, err := s.varint()
			if err != nil {
				return 0, 0, 0, 0, err
			}
			id = int16(zigzag(v))
		}
		last = id
		if (id == 2 || id == 3) && typ == 5 {
			v, err := s.varint()
			if err != nil {
				return 0, 0, 0, 0, err
			}
			if id == 2 {
				uncompressed = zigzag(v)
			} else {
				compressed = zigzag(v)
			}
			continue
		}
		if (id == 5 || id == 7 || id == 8) && typ == 12 {
			// data_page_header, dictionary_page_header,
			// data_page_header_v2: field 1 is num_values.
			v, err := s.structField1()
			if err != nil {
				return 0, 0, 0, 0, err
			}
			values = max(values, v)
			continue
		}
		if err := s.skip(typ, 0); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	if uncompressed < 0 || compressed < 0 {
		return 0, 0, 0, 0, errors.New("it lacks its page sizes")
	}
	return s.i, uncompressed, compressed, values, nil
}

// structField1 passes over a struct and returns its field 1 when that is
// an i32 (0 otherwise).
func (s *thriftScan) structField1() (int64, error) {
	var last int16
	var v1 int64
	for {
		h, err := s.byte()
		if err != nil {
			return 0, err
		}
		if h == 0 {
			return v1, nil
		}
		if h>>4 == 0 {
			v, err := s.varint()
			if err != nil {
				return 0, err
			}
			last = int16(zigzag(v))
		} else {
			last += int16(h >> 4)
		}
		if last == 1 && h&0x0f == 5 {
			v, err := s.varint()
			if err != nil {
				return 0, err
			}
			v1 = zigzag(v)
			continue
		}
		if err := s.skip(h&0x0f, 1); err != nil {
			return 0, err
		}
	}
}

type thriftScan struct {
	b []byte
	i int
}

var errThriftShort = errors.New("it ends early")

func (s *thriftScan) byte() (byte, error) {
	if s.i >= len(s.b) {
		return 0, errThriftShort
	}
	s.i++
	return s.b[s.i-1], nil
}

func (s *thriftScan) varint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		c, err := s.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("a varint is too long")
}

func zigzag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

func (s *thriftScan) advance(n uint64) error {
	if n > uint64(len(s.b)-s.i) {
		return errThriftShort
	}
	s.i += int(n)
	return nil
}

// skip passes over one value of compact type typ.
func (s *thriftScan) skip(typ byte, depth int) error {
	if depth > 32 {
		return errors.New("it nests too deep")
	}
	switch typ {
	case 1, 2: // a boolean in a field header
		return nil
	case 3:
		return s.advance(1)
	case 4, 5, 6:
		_, err := s.varint()
		return err
	case 7:
		return s.advance(8)
	case 8:
		n, err := s.varint()
		if err != nil {
			return err
		}
		return s.advance(n)
	case 9, 10:
		h, err := s.byte()
		if err != nil {
			return err
		}
		size := uint64(h >> 4)
		if size == 15 {
			if size, err = s.varint(); err != nil {
				return err
			}
		}
		et := h & 0x0f
		if size > uint64(len(s.b)-s.i) {
			return errThriftShort // every element takes at least a byte
		}
		for range size {
			if et == 1 || et == 2 {
				if err := s.advance(1); err != nil {
					return err
				}
				continue
			}
			if err := s.skip(et, depth+1); err != nil {
				return err
			}
		}
		return nil
	case 11:
		size, err := s.varint()
		if err != nil {
			return err
		}
		if size == 0 {
			return nil
		}
		kv, err := s.byte()
		if err != nil {
			return err
		}
		if size > uint64(len(s.b)-s.i) {
			return errThriftShort
		}
		for range size {
			for _, t := range []byte{kv >> 4, kv & 0x0f} {
				if t == 1 || t == 2 {
					if err := s.advance(1); err != nil {
						return err
					}
				} else if err := s.skip(t, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	case 12:
		var last int16
		for {
			h, err := s.byte()
			if err != nil {
				return err
			}
			if h == 0 {
				return nil
			}
			if h>>4 == 0 {
				v, err := s.varint()
				if err != nil {
					return err
				}
				last = int16(zigzag(v))
			} else {
				last += int16(h >> 4)
			}
			if err := s.skip(h&0x0f, depth+1); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("it holds an unknown thrift type %d", typ)
}
