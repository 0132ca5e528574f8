package records

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// The rules of Parquet input. parquet.file and parquet.column refuse the
// whole input (nothing is read); parquet.invalid_utf8, parquet.value and
// parquet.too_long quarantine one row.
const (
	RuleParquetFile        = "parquet.file"         // not Parquet, truncated, a footer or page that cannot be read
	RuleParquetColumn      = "parquet.column"       // a column pawl cannot represent, or one the schema types otherwise
	RuleParquetInvalidUTF8 = "parquet.invalid_utf8" // a string value that is not UTF-8
	RuleParquetValue       = "parquet.value"        // NaN or infinity, JSON text that does not decode, a date out of range
	RuleParquetTooLong     = "parquet.too_long"     // a row whose canonical JSON is over the record limit
)

// maxParquetFooter bounds the footer (the file's metadata) pawl reads: a
// footer length is a number in the file, and an absurd one must not
// become an allocation.
const maxParquetFooter = 64 << 20

// parquetBatchRows is how many rows one read asks the row group for.
const parquetBatchRows = 256

type parquetKind uint8

const (
	pqBool parquetKind = iota
	pqInt
	pqUint
	pqDecimal
	pqFloat
	pqDouble
	pqString
	pqJSON
	pqDate
	pqTimestamp
	pqNull
)

// jsonKind is the JSON type a column's values take.
func (k parquetKind) jsonKind() string {
	switch k {
	case pqBool:
		return "boolean"
	case pqInt, pqUint:
		return "integer"
	case pqDecimal, pqFloat, pqDouble:
		return "number"
	case pqString, pqDate, pqTimestamp:
		return "string"
	case pqNull:
		return "null"
	}
	return "" // JSON text: any
}

type parquetColumn struct {
	name    string
	kind    parquetKind
	desc    string // the column's Parquet type, for messages
	scale   int32  // pqDecimal
	unit    int64  // pqTimestamp: nanoseconds per stored unit
	utc     bool   // pqTimestamp: adjusted to UTC (an instant) or local
	float32 bool   // pqFloat
}

// ParquetReader reads the rows of a flat Parquet file as records. It is
// the Reader returned by NewParquetReader.
//
// A row becomes a JSON object with one member per non-null column, typed
// from the column (ParquetTypes in the package documentation): the same
// object a JSON Lines record with the same values decodes to. The reader
// sets Record.Value and leaves Raw nil: the caller renders Raw, the
// record's bytes, as the canonical JSON of Value (records cannot import
// the canonical encoder). Ordinal and Line are the row's 1-based number in
// the file (across row groups), Offset the input offset of its row group's
// first page, Length zero until the caller sets it to len(Raw).
//
// A value that cannot be a JSON value (a string that is not UTF-8, NaN,
// JSON text that does not decode) sets Record.Err naming the row group, the
// row and the column; the row keeps every value, the bad one as the string
// it was, so that it is quarantined with its bytes.
type ParquetReader struct {
	f         *parquet.File
	readerAt  io.ReaderAt
	meta      *format.FileMetaData
	size      int64
	footerLen int64
	cols      []parquetColumn
	groups    []parquet.RowGroup
	rg        int          // current row group
	rows      parquet.Rows // of groups[rg], nil between groups
	inGroup   int64        // rows read from groups[rg]
	buf       []parquet.Row
	pi, pn    int
	ordinal   int64
	consumed  int64
}

// NewParquetReader opens the Parquet file of size bytes in r. types maps a
// column name to the JSON Schema type declared for it (as for TypeCSV): a
// column whose values cannot be of the declared type is refused before
// any row is read. Every problem with the file itself is an *Error
// (parquet.file, parquet.column) naming what and where; nothing else is
// returned but I/O errors.
func NewParquetReader(r io.ReaderAt, size int64, types map[string]string) (pr *ParquetReader, err error) {
	if size < 12 {
		return nil, &Error{Rule: RuleParquetFile, Message: "the input is " + strconv.FormatInt(size, 10) + " bytes long, too short to be a Parquet file (PAR1, the data, a footer, its length and PAR1): is it really Parquet, and was it copied whole?"}
	}
	var head, tail [8]byte
	if _, err := r.ReadAt(head[:4], 0); err != nil {
		return nil, fmt.Errorf("reading the Parquet header: %w", err)
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return nil, fmt.Errorf("reading the Parquet footer: %w", err)
	}
	if string(head[:4]) != "PAR1" {
		msg := "the input does not start with the Parquet magic bytes PAR1 (it starts with " + strconv.Quote(string(head[:4])) + "): it is not a Parquet file"
		if string(head[:4]) == "PARE" {
			msg = "the input is an encrypted Parquet file (magic PARE): pawl reads unencrypted files; decrypt it first"
		}
		return nil, &Error{Rule: RuleParquetFile, Message: msg}
	}
	if string(tail[4:]) != "PAR1" {
		return nil, &Error{Rule: RuleParquetFile, Offset: size - 4, Message: "the input does not end with the Parquet magic bytes PAR1 (it ends with " + strconv.Quote(string(tail[4:])) + "): the file is truncated or still being written; copy it again"}
	}
	footer := int64(binary.LittleEndian.Uint32(tail[:4]))
	if footer > size-12 || footer > maxParquetFooter {
		return nil, &Error{Rule: RuleParquetFile, Offset: size - 8, Message: "the footer length " + strconv.FormatInt(footer, 10) + " at the end of the file does not fit in its " + strconv.FormatInt(size, 10) + " bytes (or is over 64 MiB): the file is truncated or damaged"}
	}
	defer func() {
		if p := recover(); p != nil {
			pr, err = nil, &Error{Rule: RuleParquetFile, Message: fmt.Sprintf("the Parquet metadata is damaged: the reader failed (%v): write the file again", p)}
		}
	}()
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(64<<10))
	if err != nil {
		return nil, &Error{Rule: RuleParquetFile, Offset: size - 8 - footer, Message: "the Parquet footer cannot be read: " + err.Error() + ": the file is damaged; write it again"}
	}
	pr = &ParquetReader{f: f, readerAt: r, meta: f.Metadata(), size: size, footerLen: footer, groups: f.RowGroups(), buf: make([]parquet.Row, parquetBatchRows)}
	if err := pr.columns(types); err != nil {
		return nil, err
	}
	for i, g := range pr.meta.RowGroups {
		if len(g.Columns) != len(pr.cols) {
			return nil, &Error{Rule: RuleParquetFile, Offset: pr.groupOffset(i), Message: fmt.Sprintf("row group %d has %d column chunks, the schema %d columns: the file is damaged", i, len(g.Columns), len(pr.cols))}
		}
		if g.NumRows < 0 {
			return nil, &Error{Rule: RuleParquetFile, Offset: pr.groupOffset(i), Message: fmt.Sprintf("row group %d claims %d rows: the file is damaged", i, g.NumRows)}
		}
	}
	var total int64
	for _, g := range pr.meta.RowGroups {
		total += g.NumRows
		if total < 0 {
			break
		}
	}
	if total != pr.meta.NumRows {
		return nil, &Error{Rule: RuleParquetFile, Offset: size - 8 - footer, Message: fmt.Sprintf("the footer says the file holds %d rows, its row groups %d: the file is damaged", pr.meta.NumRows, total)}
	}
	if len(pr.groups) != len(pr.meta.RowGroups) {
		return nil, &Error{Rule: RuleParquetFile, Message: "the row groups cannot be read: the file is damaged"}
	}
	return pr, nil
}

// columns checks the file's schema: a root of flat, non-repeated scalar
// columns of types pawl can represent, each compatible with the schema's
// declared type.
func (pr *ParquetReader) columns(types map[string]string) error {
	els := pr.meta.Schema
	if len(els) == 0 {
		return &Error{Rule: RuleParquetFile, Message: "the Parquet schema is empty: the file is damaged"}
	}
	seen := map[string]bool{}
	for i := 1; i < len(els); i++ {
		el := &els[i]
		name := el.Name
		where := "column " + strconv.Quote(name)
		if n, ok := el.NumChildren.Get(); ok && n > 0 || !el.Type.Valid {
			return &Error{Rule: RuleParquetColumn, Pointer: PointerToken(name), Message: where + " is nested (a group, list or map): pawl reads flat files, one scalar column per top-level property; flatten it, or write it as a JSON string column"}
		}
		if rep, ok := el.RepetitionType.Get(); ok && rep == format.Repeated {
			return &Error{Rule: RuleParquetColumn, Pointer: PointerToken(name), Message: where + " is repeated (a list): pawl reads flat files, one scalar column per top-level property; write it as a JSON string column"}
		}
		if !utf8.ValidString(name) || name == "" {
			return &Error{Rule: RuleParquetColumn, Message: "column " + strconv.Itoa(i) + " has the name " + quoteEvidence(name) + ", which is empty or not UTF-8: rename it"}
		}
		if seen[name] {
			return &Error{Rule: RuleParquetColumn, Pointer: PointerToken(name), Message: "the column name " + strconv.Quote(name) + " appears twice: rename one"}
		}
		seen[name] = true
		c, err := parquetColumnOf(el)
		if err != nil {
			return &Error{Rule: RuleParquetColumn, Pointer: PointerToken(name), Message: where + " " + err.Error()}
		}
		if decl := types[name]; !kindFits(decl, c.kind) {
			return &Error{Rule: RuleParquetColumn, Pointer: PointerToken(name), Message: where + " is " + c.desc + ", whose values are JSON " + c.kind.jsonKind() + "s, but the schema declares " + strconv.Quote(name) + " as " + decl + ": fix the column's type in the file, or the schema"}
		}
		pr.cols = append(pr.cols, c)
	}
	return nil
}

func kindFits(declared string, k parquetKind) bool {
	got := k.jsonKind()
	switch {
	case declared == "" || got == "" || got == "null" || declared == got:
		return true
	case declared == "number" && got == "integer", declared == "integer" && got == "number":
		// The schema judges each value: 3.0 is an integer, 3.5 is not.
		return true
	}
	return false
}

// parquetColumnOf maps a leaf's physical and logical type to how its
// values become JSON, or says why it cannot.
func parquetColumnOf(el *format.SchemaElement) (parquetColumn, error) {
	c := parquetColumn{name: el.Name}
	phys := el.Type.V
	lt := el.LogicalType.Value
	conv, hasConv := el.ConvertedType.Get()
	c.desc = phys.String()
	if lt != nil {
		c.desc += " " + el.LogicalType.String()
	} else if hasConv {
		c.desc += " " + convertedName(conv)
	}
	switch phys {
	case format.Boolean:
		c.kind = pqBool
		return c, nil
	case format.Int96:
		return c, fmt.Errorf("is INT96, a legacy timestamp encoding: write the file with INT64 timestamps (pyarrow: use_deprecated_int96_timestamps=False; Spark: spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS)")
	case format.Float, format.Double:
		if lt != nil {
			return c, fmt.Errorf("is %s, an annotation pawl does not read on floating point", c.desc)
		}
		c.kind, c.float32 = pqDouble, phys == format.Float
		return c, nil
	case format.FixedLenByteArray:
		return c, fmt.Errorf("is %s (fixed-length bytes: a UUID, float16 or a wide decimal), which pawl does not read: write it as a string, an integer or a double", c.desc)
	case format.Int32, format.Int64:
		switch t := lt.(type) {
		case nil:
			switch {
			case !hasConv:
				c.kind = pqInt
			case conv == deprecated.Uint8 || conv == deprecated.Uint16 || conv == deprecated.Uint32 || conv == deprecated.Uint64:
				c.kind = pqUint
			case conv == deprecated.Int8 || conv == deprecated.Int16 || conv == deprecated.Int32 || conv == deprecated.Int64:
				c.kind = pqInt
			case conv == deprecated.Decimal:
				c.kind, c.scale = pqDecimal, el.Scale.V
			case conv == deprecated.Date && phys == format.Int32:
				c.kind = pqDate
			case conv == deprecated.TimestampMillis && phys == format.Int64:
				c.kind, c.unit, c.utc = pqTimestamp, 1e6, true
			case conv == deprecated.TimestampMicros && phys == format.Int64:
				c.kind, c.unit, c.utc = pqTimestamp, 1e3, true
			default:
				return c, fmt.Errorf("is %s, which pawl does not read", c.desc)
			}
		case *format.IntType:
			c.kind = pqInt
			if !t.IsSigned {
				c.kind = pqUint
			}
		case *format.DecimalType:
			c.kind, c.scale = pqDecimal, t.Scale
		case *format.DateType:
			if phys != format.Int32 {
				return c, fmt.Errorf("is %s: a DATE is stored as INT32; the file is damaged", c.desc)
			}
			c.kind = pqDate
		case *format.TimestampType:
			if phys != format.Int64 {
				return c, fmt.Errorf("is %s: a TIMESTAMP is stored as INT64; the file is damaged", c.desc)
			}
			c.kind, c.utc = pqTimestamp, t.IsAdjustedToUTC
			switch t.Unit.Value.(type) {
			case *format.MilliSeconds:
				c.unit = 1e6
			case *format.MicroSeconds:
				c.unit = 1e3
			case *format.NanoSeconds:
				c.unit = 1
			default:
				return c, fmt.Errorf("is %s, a timestamp without a unit: the file is damaged", c.desc)
			}
		case *format.NullType:
			c.kind = pqNull
		default:
			return c, fmt.Errorf("is %s, which pawl does not read (a TIME of day has no JSON Schema type): write it as a string", c.desc)
		}
		if c.kind == pqDecimal && (c.scale < 0 || c.scale > 38) {
			return c, fmt.Errorf("is %s with scale %d, outside 0 to 38: the file is damaged", c.desc, c.scale)
		}
		return c, nil
	case format.ByteArray:
		switch lt.(type) {
		case *format.StringType, *format.EnumType:
			c.kind = pqString
		case *format.JsonType:
			c.kind = pqJSON
		case *format.NullType:
			c.kind = pqNull
		case nil:
			switch {
			case hasConv && (conv == deprecated.UTF8 || conv == deprecated.Enum):
				c.kind = pqString
			case hasConv && conv == deprecated.Json:
				c.kind = pqJSON
			case !hasConv:
				return c, fmt.Errorf("is BYTE_ARRAY without a STRING annotation (binary data): pawl reads text; write it as a string column (pyarrow: pa.string(), not pa.binary())")
			default:
				return c, fmt.Errorf("is %s, which pawl does not read", c.desc)
			}
		default:
			return c, fmt.Errorf("is %s, which pawl does not read: write it as a string, or as JSON text", c.desc)
		}
		return c, nil
	}
	return c, fmt.Errorf("has the physical type %s, which pawl does not read", c.desc)
}

// groupOffset is the input offset of row group i's first page.
func (pr *ParquetReader) groupOffset(i int) int64 {
	if i >= len(pr.meta.RowGroups) {
		return pr.size
	}
	g := &pr.meta.RowGroups[i]
	if g.FileOffset > 0 {
		return g.FileOffset
	}
	if len(g.Columns) > 0 {
		md := &g.Columns[0].MetaData
		if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < md.DataPageOffset {
			return md.DictionaryPageOffset
		}
		return md.DataPageOffset
	}
	return 0
}

// Columns are the file's column names, in file order.
func (pr *ParquetReader) Columns() []string {
	out := make([]string, len(pr.cols))
	for i, c := range pr.cols {
		out[i] = c.name
	}
	return out
}

// Rows is the number of rows the footer declares.
func (pr *ParquetReader) Rows() int64 { return pr.meta.NumRows }

// BytesRead is the input offset reached: the start of the row group being
// read, or the input's size at the end.
func (pr *ParquetReader) BytesRead() int64 { return pr.consumed }

// Next returns the next row, or io.EOF.
func (pr *ParquetReader) Next() (rec *Record, err error) {
	for pr.pi >= pr.pn {
		if err := pr.fill(); err != nil {
			if err == io.EOF {
				pr.consumed = pr.size
			}
			return nil, err
		}
	}
	row := pr.buf[pr.pi]
	pr.pi++
	pr.ordinal++
	pr.inGroup++
	return pr.record(row), nil
}

// fill reads the next batch of rows, moving to the next row group when one
// is done; io.EOF after the last.
func (pr *ParquetReader) fill() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = pr.pageError(fmt.Sprint(p))
		}
	}()
	if pr.rows == nil {
		if pr.rg >= len(pr.groups) {
			return io.EOF
		}
		pr.consumed = pr.groupOffset(pr.rg)
		if err := pr.checkRowGroup(pr.rg); err != nil {
			return err
		}
		pr.rows, pr.inGroup = pr.groups[pr.rg].Rows(), 0
	}
	want := pr.meta.RowGroups[pr.rg].NumRows - pr.inGroup
	n, rerr := 0, error(nil)
	if want > 0 {
		n, rerr = pr.rows.ReadRows(pr.buf[:min(int64(len(pr.buf)), want)])
	}
	pr.pi, pr.pn = 0, n
	for _, row := range pr.buf[:n] {
		if len(row) != len(pr.cols) {
			return pr.pageError(fmt.Sprintf("a row has %d values for %d columns", len(row), len(pr.cols)))
		}
	}
	if n == 0 && rerr == nil && want > 0 {
		rerr = io.ErrNoProgress
	}
	switch {
	case rerr == io.EOF || rerr == nil && int64(n) == want:
		if pr.inGroup+int64(n) != pr.meta.RowGroups[pr.rg].NumRows {
			return pr.pageError(fmt.Sprintf("it holds %d rows, its metadata says %d", pr.inGroup+int64(n), pr.meta.RowGroups[pr.rg].NumRows))
		}
		pr.rows.Close()
		pr.rows = nil
		pr.rg++
		if n == 0 {
			return pr.fill()
		}
	case rerr != nil:
		return pr.pageError(rerr.Error())
	}
	return nil
}

func (pr *ParquetReader) pageError(why string) error {
	return &Error{Rule: RuleParquetFile, Offset: pr.groupOffset(pr.rg),
		Message: fmt.Sprintf("row group %d cannot be read after its first %d rows (row %d of the file): %s: the file is damaged; write it again", pr.rg, pr.inGroup, pr.ordinal+1, why)}
}

// record turns one row into a record. The row's byte arrays belong to the
// page buffers, so everything is copied.
func (pr *ParquetReader) record(row parquet.Row) *Record {
	rec := &Record{Ordinal: pr.ordinal, Line: pr.ordinal, Offset: pr.groupOffset(pr.rg)}
	if pr.rows == nil {
		// The group was finished by the fill that read this row.
		rec.Offset = pr.groupOffset(pr.rg - 1)
	}
	obj := make(map[string]any, len(row))
	for _, v := range row {
		ci := v.Column()
		if ci < 0 || ci >= len(pr.cols) || v.IsNull() {
			continue
		}
		c := &pr.cols[ci]
		val, rule, why := c.value(v)
		obj[c.name] = val
		if rule != "" && rec.Err == nil {
			group, inGroup := pr.rg, pr.inGroup
			if pr.rows == nil {
				group--
			}
			rec.Err = &Error{Rule: rule, Offset: rec.Offset, Pointer: PointerToken(c.name),
				Message: fmt.Sprintf("row group %d, row %d (row %d of the file), column %s: %s", group, inGroup-1, pr.ordinal, strconv.Quote(c.name), why)}
		}
	}
	rec.Value = obj
	return rec
}

// value converts one non-null value. A value that cannot be JSON is
// returned as a string of what it was, with the rule it broke.
func (c *parquetColumn) value(v parquet.Value) (out any, rule, why string) {
	switch c.kind {
	case pqBool:
		return v.Boolean(), "", ""
	case pqInt:
		if v.Kind() == parquet.Int32 {
			return json.Number(strconv.FormatInt(int64(v.Int32()), 10)), "", ""
		}
		return json.Number(strconv.FormatInt(v.Int64(), 10)), "", ""
	case pqUint:
		if v.Kind() == parquet.Int32 {
			return json.Number(strconv.FormatUint(uint64(v.Uint32()), 10)), "", ""
		}
		return json.Number(strconv.FormatUint(v.Uint64(), 10)), "", ""
	case pqDecimal:
		n := v.Int64()
		if v.Kind() == parquet.Int32 {
			n = int64(v.Int32())
		}
		return json.Number(decimalText(n, c.scale)), "", ""
	case pqDouble:
		f := v.Double()
		bits := 64
		if c.float32 {
			f, bits = float64(v.Float()), 32
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			s := strconv.FormatFloat(f, 'g', -1, bits)
			return s, RuleParquetValue, s + " is not a number JSON can hold: write null (leave it out) instead"
		}
		return json.Number(FormatFloat(f, bits)), "", ""
	case pqString:
		s := string(v.ByteArray())
		if !utf8.ValidString(s) {
			at := invalidAt(s)
			return s, RuleParquetInvalidUTF8, "the value holds byte 0x" + hex2(s[at]) + ", which is not valid UTF-8, at byte " + strconv.Itoa(at) + " of its value: write the file with UTF-8 strings"
		}
		return s, "", ""
	case pqJSON:
		s := string(v.ByteArray())
		if !utf8.ValidString(s) {
			at := invalidAt(s)
			return s, RuleParquetInvalidUTF8, "the JSON text holds byte 0x" + hex2(s[at]) + ", which is not valid UTF-8, at byte " + strconv.Itoa(at) + ": write the file with UTF-8 text"
		}
		dv, err := DecodeJSON([]byte(s), DecodeOptions{})
		if err != nil {
			return s, RuleParquetValue, "the JSON text does not decode (offsets count from its first byte): " + err.Error()
		}
		return dv, "", ""
	case pqDate:
		t := time.Unix(int64(v.Int32())*86400, 0).UTC()
		if t.Year() < 0 || t.Year() > 9999 {
			return strconv.FormatInt(int64(v.Int32()), 10), RuleParquetValue, "the date " + strconv.FormatInt(int64(v.Int32()), 10) + " days from 1970-01-01 is outside the years 0000 to 9999"
		}
		return t.Format("2006-01-02"), "", ""
	case pqTimestamp:
		n := v.Int64()
		sec, rem := n/(1e9/c.unit), n%(1e9/c.unit)
		if rem < 0 {
			sec, rem = sec-1, rem+1e9/c.unit
		}
		t := time.Unix(sec, rem*c.unit).UTC()
		if t.Year() < 0 || t.Year() > 9999 {
			return strconv.FormatInt(n, 10), RuleParquetValue, "the timestamp " + strconv.FormatInt(n, 10) + " is outside the years 0000 to 9999"
		}
		layout := "2006-01-02T15:04:05.999999999"
		if c.utc {
			layout += "Z07:00"
		}
		return t.Format(layout), "", ""
	}
	return nil, "", ""
}

func invalidAt(s string) int {
	at := 0
	for at < len(s) {
		r, size := utf8.DecodeRuneInString(s[at:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		at += size
	}
	return at
}

// decimalText writes the unscaled integer n with scale digits after the
// point, exactly: 12345 at scale 2 is 123.45, -5 at scale 3 is -0.005.
func decimalText(n int64, scale int32) string {
	digits := strconv.FormatUint(uint64(n), 10)
	neg := n < 0
	if neg {
		digits = strconv.FormatUint(uint64(-(n+1))+1, 10)
	}
	if scale > 0 {
		if len(digits) <= int(scale) {
			digits = strings.Repeat("0", int(scale)-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-int(scale)] + "." + digits[len(digits)-int(scale):]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// FormatFloat writes f as encoding/json and the canonical JSON do (ES6
// number-to-string) at the given precision (32 for a FLOAT column, so that
// 0.1f is 0.1): the text a JSON Lines record with the same number holds
// after canonicalization.
func FormatFloat(f float64, bits int) string {
	abs := math.Abs(f)
	fmtc := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		fmtc = 'e'
	}
	b := strconv.AppendFloat(nil, f, fmtc, -1, bits)
	if fmtc == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}

var convertedNames = [...]string{"UTF8", "MAP", "MAP_KEY_VALUE", "LIST", "ENUM", "DECIMAL", "DATE", "TIME_MILLIS", "TIME_MICROS",
	"TIMESTAMP_MILLIS", "TIMESTAMP_MICROS", "UINT_8", "UINT_16", "UINT_32", "UINT_64", "INT_8", "INT_16", "INT_32", "INT_64", "JSON", "BSON", "INTERVAL"}

func convertedName(c deprecated.ConvertedType) string {
	if c >= 0 && int(c) < len(convertedNames) {
		return convertedNames[c]
	}
	return "converted type " + strconv.Itoa(int(c))
}
