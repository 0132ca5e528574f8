package records

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/parquet-go/parquet-go"
	"github.com/pawl-dev/pawl/audit/canonjson"
)

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeJSON(b, DecodeOptions{MaxDepth: 64})
		if err != nil {
			if v != nil {
				t.Fatalf("value alongside error %v", err)
			}
			if err.Rule == "" || err.Message == "" || err.Offset < 0 || err.Offset > int64(len(b)) {
				t.Fatalf("malformed error %+v", err)
			}
			crossCheck(t, b)
			return
		}
		crossCheck(t, b)
		canon := canonjson.Append(nil, v)
		v2, err := DecodeJSON(canon, DecodeOptions{MaxDepth: 64})
		if err != nil {
			t.Fatalf("canonical %q of %q does not decode: %v", canon, b, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("canonical %q decodes to %#v, want %#v", canon, v2, v)
		}
		if c2 := canonjson.Append(nil, v2); !bytes.Equal(canon, c2) {
			t.Fatalf("canonical form not idempotent: %q then %q", canon, c2)
		}
	})
}

// jsonlModel frames input the simple way, as the reference for the reader.
func jsonlModel(in []byte, max int64) (recs []wantRec, blank int64) {
	off := int64(0)
	lines := bytes.Split(in, []byte("\n"))
	for i, l := range lines {
		last := i == len(lines)-1
		if last && len(l) == 0 {
			break
		}
		term := int64(1)
		if last {
			term = 0
		}
		size := int64(len(l))
		if !last && len(l) > 0 && l[len(l)-1] == '\r' {
			l = l[:len(l)-1]
		}
		if len(l) == 0 || last && string(l) == "\r" {
			blank++
		} else {
			recs = append(recs, wantRec{ordinal: int64(len(recs) + 1), line: int64(i + 1), offset: off, length: int64(len(l)), raw: string(l), tooLong: int64(len(l)) > max})
		}
		off += size + term
	}
	return recs, blank
}

func FuzzJSONLReader(f *testing.F) {
	f.Add([]byte("{}\n{\"a\":1}\r\n\n\r\nxx"), uint8(3), uint8(0))
	f.Add([]byte("\xEF\xBB\xBF{}\r"), uint8(1), uint8(1))
	f.Add([]byte("0123456789\r\n\r\r\n"), uint8(10), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, max uint8, mode uint8) {
		limit := int64(max%32) + 1
		var src io.Reader = bytes.NewReader(in)
		switch mode % 3 {
		case 1:
			src = iotest.OneByteReader(src)
		case 2:
			src = iotest.HalfReader(src)
		}
		r := NewJSONLReader(src, Options{MaxRecordBytes: limit})
		want, blank := jsonlModel(in, limit)
		var got []*Record
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rec)
			if len(got) > len(in)+1 {
				t.Fatal("more records than bytes")
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d records, model has %d", len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.Ordinal != w.ordinal || g.Line != w.line || g.Offset != w.offset || g.Length != w.length || g.TooLong != w.tooLong {
				t.Fatalf("record %d = %+v, model %+v", i, g, w)
			}
			if !w.tooLong && string(g.Raw) != w.raw || w.tooLong && g.Raw != nil {
				t.Fatalf("record %d Raw %q, model %q", i, g.Raw, w.raw)
			}
			if !g.TooLong && !bytes.Equal(in[g.Offset:g.Offset+g.Length], g.Raw) {
				t.Fatalf("record %d does not tile the input", i)
			}
			if g.Text != string(g.Raw) {
				t.Fatalf("record %d Text %q, Raw %q", i, g.Text, g.Raw)
			}
		}
		if r.(*JSONLReader).BlankLines() != blank || r.BytesRead() != int64(len(in)) {
			t.Fatalf("blank %d (model %d), BytesRead %d of %d", r.(*JSONLReader).BlankLines(), blank, r.BytesRead(), len(in))
		}
	})
}

func FuzzCSVReader(f *testing.F) {
	f.Add([]byte("a,b\n1,2\r\n\"x\"\"y\",\"l1\nl2\"\n"), uint8(40), "number")
	f.Add([]byte("a,b\n1,\"oops\n2,3\n"), uint8(5), "integer")
	f.Add([]byte("a\n\"1\"\r\n\"2\"x\n3\"\n\r"), uint8(3), "boolean")
	f.Add([]byte("a,b,c\n1,2\n1,2,3,4\n"), uint8(8), "null")
	f.Fuzz(func(t *testing.T, in []byte, max uint8, typ string) {
		limit := int64(max%64) + 1
		r, header, err := NewCSVReader(bytes.NewReader(in), Options{MaxRecordBytes: limit})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("non-data error from a bytes.Reader: %v", err)
			}
			return
		}
		types := map[string]string{header[0]: typ}
		prevEnd := int64(0)
		rows := 0
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if rows++; rows > len(in)+1 {
				t.Fatal("more rows than bytes")
			}
			if rec.Offset < prevEnd || rec.Offset+rec.Length > int64(len(in)) {
				t.Fatalf("row %d at %d+%d overlaps or overruns (previous end %d)", rows, rec.Offset, rec.Length, prevEnd)
			}
			prevEnd = rec.Offset + rec.Length
			if rec.TooLong {
				if rec.Raw != nil || rec.Length <= limit || rec.Err == nil {
					t.Fatalf("bad TooLong row %+v", rec)
				}
				continue
			}
			if !bytes.Equal(in[rec.Offset:rec.Offset+rec.Length], rec.Raw) {
				t.Fatalf("Raw %q is not input[%d:+%d]", rec.Raw, rec.Offset, rec.Length)
			}
			if rec.Err != nil && rec.Err.Rule == RuleCSVSyntax {
				if rec.Cells != nil || rec.Err.Offset < rec.Offset || rec.Err.Offset > rec.Offset+rec.Length {
					t.Fatalf("syntax error %v outside its row %+v", rec.Err, rec)
				}
				continue
			}
			if len(rec.Cells) != len(rec.CellOffsets) || (rec.Err == nil) != (len(rec.Cells) == len(header)) {
				t.Fatalf("cells %q offsets %v err %v for %d columns", rec.Cells, rec.CellOffsets, rec.Err, len(header))
			}
			for _, o := range rec.CellOffsets {
				if o < rec.Offset || o > rec.Offset+rec.Length {
					t.Fatalf("cell offset %d outside row %d+%d", o, rec.Offset, rec.Length)
				}
			}
			// encoding/csv must read the same cells from Raw; it rewrites
			// CRLF inside quotes and treats CR specially, so skip those.
			if !bytes.ContainsRune(rec.Raw, '\r') {
				cr := csv.NewReader(bytes.NewReader(rec.Raw))
				cr.FieldsPerRecord = -1
				std, err := cr.Read()
				if err != nil {
					t.Fatalf("encoding/csv rejects row %q that we accept: %v", rec.Raw, err)
				}
				if !reflect.DeepEqual(std, rec.Cells) && !(len(rec.Cells) == 1 && rec.Cells[0] == "") {
					t.Fatalf("cells %q, encoding/csv %q", rec.Cells, std)
				}
			}
			obj, errs := TypeCSV(header, rec.Cells, rec.CellOffsets, types)
			for _, e := range errs {
				if e.Offset < rec.Offset || e.Offset > rec.Offset+rec.Length || !strings.HasPrefix(e.Pointer, "/") {
					t.Fatalf("TypeCSV error %v outside row", e)
				}
			}
			if len(errs) == 0 {
				canon := canonjson.Append(nil, obj)
				back, derr := DecodeJSON(canon, DecodeOptions{RequireObject: true})
				if derr != nil || !reflect.DeepEqual(back, any(obj)) {
					t.Fatalf("typed row %q canonical %q re-decodes to %#v (%v)", rec.Raw, canon, back, derr)
				}
			}
		}
		if r.BytesRead() != int64(len(in)) {
			t.Fatalf("BytesRead %d of %d", r.BytesRead(), len(in))
		}
	})
}

// csvTypes are the column types TypeCSV reads, picked per column by the
// fuzzer.
var csvTypes = []string{"string", "number", "integer", "boolean", "null", "object", "array"}

// writeCSV writes rows with encoding/csv, except a row of one empty cell,
// which encoding/csv writes as an empty line (a blank line to every CSV
// reader): it is written as "" instead.
func writeCSV(rows [][]string) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for _, row := range rows {
		if len(row) == 1 && row[0] == "" {
			w.Flush()
			buf.WriteString("\"\"\n")
			continue
		}
		w.Write(row)
	}
	w.Flush()
	return buf.Bytes()
}

// cellText writes a typed value back as the cell TypeCSV reads it from.
func cellText(v any, present bool) string {
	switch x := v.(type) {
	case nil:
		if present {
			return "null"
		}
		return ""
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return string(canonjson.Append(nil, v))
}

// FuzzCSVWriteBack: for any input the CSV reader accepts (a header and
// rows),
//   - every row's offset and length point at its bytes in the input, and
//     every cell's offset at the cell: its text, or for a quoted cell the
//     quote that opens it, its content with quotes doubled, and the quote
//     that closes it;
//   - the header and the cells written back with encoding/csv read back as
//     the same header and cells, row for row;
//   - a row TypeCSV types without error, its values written back as cells,
//     types to the same object.
func FuzzCSVWriteBack(f *testing.F) {
	f.Add([]byte("id,name,score,ok\n1,\"Doe, Jane\",9.5,true\r\n2,\"say \"\"hi\"\"\",,false\n"), "ssnb")
	f.Add([]byte("a,b\n\"l1\nl2\",\" x\"\n\"\",\n\"\"\n"), "so")
	f.Add([]byte("v\n\"\"\n\n\"\\.\"\n\"x\r\"\n{\"k\":[1,2]}\n"), "o")
	f.Add([]byte("n,i,z\n-0,00,null\n1e400,1.0,\n"), "niz")
	f.Add([]byte("a,b,c\n1,2\n1,2,3,4\n\"bad\"x,y,z\n"), "aaa")
	f.Fuzz(func(t *testing.T, in []byte, typs string) {
		r, header, err := NewCSVReader(bytes.NewReader(in), Options{MaxRecordBytes: 1 << 16})
		if err != nil {
			return
		}
		types := map[string]string{}
		for i, name := range header {
			if typs != "" {
				types[name] = csvTypes[int(typs[i%len(typs)])%len(csvTypes)]
			}
		}
		var rows [][]string
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.TooLong {
				continue
			}
			if rec.Offset < 0 || rec.Offset+rec.Length > int64(len(in)) || !bytes.Equal(in[rec.Offset:rec.Offset+rec.Length], rec.Raw) {
				t.Fatalf("row %d at %d+%d is not its bytes %q", rec.Ordinal, rec.Offset, rec.Length, rec.Raw)
			}
			if rec.Cells == nil {
				continue // a syntax error: no cells to write back
			}
			for i, cell := range rec.Cells {
				off := rec.CellOffsets[i]
				text := cell
				if off < int64(len(in)) && in[off] == '"' {
					text = `"` + strings.ReplaceAll(cell, `"`, `""`) + `"`
				}
				if off+int64(len(text)) > rec.Offset+rec.Length || string(in[off:off+int64(len(text))]) != text {
					t.Fatalf("row %d cell %d %q: offset %d does not point at %q", rec.Ordinal, i, cell, off, text)
				}
			}
			rows = append(rows, rec.Cells)
			if rec.Err != nil {
				continue
			}
			obj, errs := TypeCSV(header, rec.Cells, rec.CellOffsets, types)
			if len(errs) > 0 {
				continue
			}
			back := make([]string, len(header))
			for i, name := range header {
				v, present := obj[name]
				back[i] = cellText(v, present)
			}
			obj2, errs := TypeCSV(header, back, nil, types)
			if len(errs) > 0 || !reflect.DeepEqual(obj, obj2) {
				t.Fatalf("row %d %q typed %v, written back as %q typed %v %v", rec.Ordinal, rec.Cells, obj, back, obj2, errs)
			}
		}

		out := writeCSV(append([][]string{header}, rows...))
		r2, header2, err := NewCSVReader(bytes.NewReader(out), Options{MaxRecordBytes: 1 << 20})
		if err != nil || !reflect.DeepEqual(header, header2) {
			t.Fatalf("header %q written back as %q reads as %q (%v)", header, out, header2, err)
		}
		for i := 0; ; i++ {
			rec, err := r2.Next()
			if err == io.EOF {
				if i != len(rows) {
					t.Fatalf("%d rows written back, %d read:\n%q", len(rows), i, out)
				}
				break
			}
			var want []string
			if i < len(rows) {
				want = rows[i]
			}
			if err != nil || want == nil || !reflect.DeepEqual(rec.Cells, want) {
				t.Fatalf("row %d %q written back reads as %+v (%v):\n%q", i+1, want, rec, err, out)
			}
		}
	})
}

// parquetSeeds are small valid files of every column kind pawl reads, and
// of some it refuses, for FuzzParquetReader to mutate.
func parquetSeeds(t testing.TB) [][]byte {
	nan := 0.0
	nan /= nan
	return [][]byte{
		writePQ(t, parquet.Group{"a": parquet.String(), "n": parquet.Optional(parquet.Int(32))}, []pqRow{{"a": "x", "n": int32(1)}, {"a": "\xff"}}, 1),
		writePQ(t, parquet.Group{"f": parquet.Optional(parquet.Leaf(parquet.DoubleType)), "j": parquet.Optional(parquet.JSON()), "b": parquet.Optional(parquet.Leaf(parquet.BooleanType))},
			[]pqRow{{"f": nan, "j": `[1,{"k":"v"}]`, "b": true}, {"j": `{"a":1,"a":2}`}}, 0),
		writePQ(t, parquet.Group{"d": parquet.Optional(parquet.Date()), "ts": parquet.Optional(parquet.Timestamp(parquet.Nanosecond)), "dec": parquet.Optional(parquet.Decimal(2, 18, parquet.Int64Type))},
			[]pqRow{{"d": int32(-800000), "ts": int64(-1), "dec": int64(-101)}}, 0),
		writePQ(t, parquet.Group{"g": parquet.Group{"x": parquet.String()}}, nil, 0),
	}
}

// FuzzParquetReader: whatever the bytes, the reader returns a *Error or
// rows, never panics; a row without Err is an object whose canonical JSON
// decodes back to it (so its bytes are meaningful); a row with Err names
// its row group, row and column; the rows never outnumber the footer's
// count, and ordinals count from 1.
func FuzzParquetReader(f *testing.F) {
	for _, s := range parquetSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		pr, err := NewParquetReader(bytes.NewReader(in), int64(len(in)), map[string]string{"a": "string", "n": "integer"})
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.Message == "" || !strings.HasPrefix(re.Rule, "parquet.") {
				t.Fatalf("error %v (%T), want a parquet.* *Error", err, err)
			}
			return
		}
		for n := int64(1); ; n++ {
			rec, err := pr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var re *Error
				if !errors.As(err, &re) || re.Rule != RuleParquetFile {
					t.Fatalf("row %d: error %v (%T), want parquet.file", n, err, err)
				}
				return
			}
			if n > pr.Rows() || rec.Ordinal != n || rec.Value == nil {
				t.Fatalf("row %d of %d: %+v", n, pr.Rows(), rec)
			}
			if rec.Err != nil {
				if !strings.Contains(rec.Err.Message, "row group ") || !strings.Contains(rec.Err.Message, "column ") || rec.Err.Pointer == "" {
					t.Fatalf("row %d: error %v does not say where", n, rec.Err)
				}
				continue
			}
			canon := canonjson.Append(nil, rec.Value)
			back, derr := DecodeJSON(canon, DecodeOptions{RequireObject: true})
			if derr != nil || !reflect.DeepEqual(back, any(rec.Value)) {
				t.Fatalf("row %d %#v: canonical %q decodes to %#v (%v)", n, rec.Value, canon, back, derr)
			}
		}
	})
}

// csvDialects are the delimiter and quote pairs FuzzCSVDialect picks from.
var csvDialects = [][2]byte{{';', '"'}, {'\t', '"'}, {'|', '\''}, {';', '\''}, {',', '\''}, {'"', ','}}

// FuzzCSVDialect: the reader is the same state machine whatever the
// dialect. Reading input X with delimiter d and quote q gives the rows,
// offsets, cells (mapped back) and error rules that the default dialect
// gives on X with the bytes d and ',' swapped and q and '"' swapped.
func FuzzCSVDialect(f *testing.F) {
	f.Add([]byte("a;b\n1;'x;y'\n'it''s';2\n"), uint8(3), false)
	f.Add([]byte("a\tb\n\"1\t2\"\t3\r\n4\t\"oops\n"), uint8(1), true)
	f.Add([]byte("x|y\n'a\nb'|c\n|\n"), uint8(2), false)
	f.Fuzz(func(t *testing.T, in []byte, pick uint8, noHeader bool) {
		dq := csvDialects[int(pick)%len(csvDialects)]
		d, q := dq[0], dq[1]
		swap := func(c byte) byte {
			switch c {
			case d:
				return ','
			case ',':
				return d
			}
			switch c {
			case q:
				return '"'
			case '"':
				return q
			}
			return c
		}
		if d == '"' && q == ',' {
			// The pair swaps the two roles outright.
			swap = func(c byte) byte {
				switch c {
				case '"':
					return ','
				case ',':
					return '"'
				}
				return c
			}
		}
		std := make([]byte, len(in))
		for i, c := range in {
			std[i] = swap(c)
		}
		back := func(s string) string {
			b := []byte(s)
			for i, c := range b {
				b[i] = swap(c)
			}
			return string(b)
		}
		opt := Options{MaxRecordBytes: 1 << 16, Delimiter: d, Quote: q}
		stdOpt := Options{MaxRecordBytes: 1 << 16}
		if noHeader {
			opt.Columns = []string{"a", "b"}
			stdOpt.Columns = opt.Columns
		}
		r1, h1, err1 := NewCSVReader(bytes.NewReader(in), opt)
		r2, h2, err2 := NewCSVReader(bytes.NewReader(std), stdOpt)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("dialect %q %q: error %v, default %v", d, q, err1, err2)
		}
		if err1 != nil {
			if err1.(*Error).Rule != err2.(*Error).Rule || err1.(*Error).Offset != err2.(*Error).Offset {
				t.Fatalf("dialect error %v, default %v", err1, err2)
			}
			return
		}
		for i := range h2 {
			h2[i] = back(h2[i])
		}
		if !reflect.DeepEqual(h1, h2) {
			t.Fatalf("header %q, default %q", h1, h2)
		}
		for {
			a, e1 := r1.Next()
			b, e2 := r2.Next()
			if e1 != nil || e2 != nil {
				if e1 != e2 {
					t.Fatalf("end %v, default %v", e1, e2)
				}
				return
			}
			for i := range b.Cells {
				b.Cells[i] = back(b.Cells[i])
			}
			if b.Raw != nil {
				b.Raw = []byte(back(string(b.Raw)))
			}
			if a.Ordinal != b.Ordinal || a.Line != b.Line || a.Offset != b.Offset || a.Length != b.Length || !bytes.Equal(a.Raw, b.Raw) ||
				!reflect.DeepEqual(a.Cells, b.Cells) || !reflect.DeepEqual(a.CellOffsets, b.CellOffsets) || (a.Err == nil) != (b.Err == nil) ||
				a.Err != nil && (a.Err.Rule != b.Err.Rule || a.Err.Offset != b.Err.Offset) {
				t.Fatalf("row %+v\ndefault %+v", a, b)
			}
		}
	})
}
