package records

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

type wantRow struct {
	line, offset int64
	raw          string
	cells        []string
	cellOffsets  []int64
	errRule      string
	errOffset    int64
	tooLong      bool
}

func TestCSVReader(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		max    int64
		header []string
		rows   []wantRow
		blank  int64
	}{
		{"simple no trailing newline", "a,b\n1,2\n3,4", 0, []string{"a", "b"}, []wantRow{
			{2, 4, "1,2", []string{"1", "2"}, []int64{4, 6}, "", 0, false},
			{3, 8, "3,4", []string{"3", "4"}, []int64{8, 10}, "", 0, false},
		}, 0},
		{"CRLF", "a,b\r\n1,2\r\n,\r\n", 0, []string{"a", "b"}, []wantRow{
			{2, 5, "1,2", []string{"1", "2"}, []int64{5, 7}, "", 0, false},
			{3, 10, ",", []string{"", ""}, []int64{10, 11}, "", 0, false},
		}, 0},
		{"quoted cells with newlines and quotes", "a,b\n\"x\"\"y\",\"l1\nl2\"\n\"\",z\n", 0, []string{"a", "b"}, []wantRow{
			{2, 4, "\"x\"\"y\",\"l1\nl2\"", []string{"x\"y", "l1\nl2"}, []int64{4, 11}, "", 0, false},
			{4, 19, "\"\",z", []string{"", "z"}, []int64{19, 22}, "", 0, false},
		}, 0},
		{"CRLF inside quotes kept", "a\n\"x\r\ny\"\r\n", 0, []string{"a"}, []wantRow{
			{2, 2, "\"x\r\ny\"", []string{"x\r\ny"}, []int64{2}, "", 0, false},
		}, 0},
		{"ragged rows", "a,b,c,d\n1,2,3\n1,2,3,4,5\n", 0, []string{"a", "b", "c", "d"}, []wantRow{
			{2, 8, "1,2,3", []string{"1", "2", "3"}, []int64{8, 10, 12}, RuleCSVRaggedRow, 13, false},
			{3, 14, "1,2,3,4,5", []string{"1", "2", "3", "4", "5"}, []int64{14, 16, 18, 20, 22}, RuleCSVRaggedRow, 22, false},
		}, 0},
		{"bare quote then recovery", "a,b\n1,x\"y\n2,3\n", 0, []string{"a", "b"}, []wantRow{
			{2, 4, "1,x\"y", nil, nil, RuleCSVSyntax, 7, false},
			{3, 10, "2,3", []string{"2", "3"}, []int64{10, 12}, "", 0, false},
		}, 0},
		{"text after closing quote", "a,b\n\"1\"x,2\n3,4\n", 0, []string{"a", "b"}, []wantRow{
			{2, 4, "\"1\"x,2", nil, nil, RuleCSVSyntax, 7, false},
			{3, 11, "3,4", []string{"3", "4"}, []int64{11, 13}, "", 0, false},
		}, 0},
		{"unclosed quote resumes next line", "a,b\n1,\"oops\n2,3\n4,5\n", 0, []string{"a", "b"}, []wantRow{
			{2, 4, "1,\"oops", nil, nil, RuleCSVSyntax, 6, false},
			{3, 12, "2,3", []string{"2", "3"}, []int64{12, 14}, "", 0, false},
			{4, 16, "4,5", []string{"4", "5"}, []int64{16, 18}, "", 0, false},
		}, 0},
		{"blank lines skipped and counted", "a\n\n1\r\n\r\n2\n\r", 0, []string{"a"}, []wantRow{
			{3, 3, "1", []string{"1"}, []int64{3}, "", 0, false},
			{5, 8, "2", []string{"2"}, []int64{8}, "", 0, false},
		}, 3},
		{"too long row", "a,b\n1,2\n\"0123456789\",x\n3,4\n", 10, []string{"a", "b"}, []wantRow{
			{2, 4, "1,2", []string{"1", "2"}, []int64{4, 6}, "", 0, false},
			{3, 8, "", nil, nil, RuleCSVTooLong, 8, true},
			{4, 23, "3,4", []string{"3", "4"}, []int64{23, 25}, "", 0, false},
		}, 0},
		{"too long quoted row spanning lines", "a\n\"01234\n56789\nabc\"\n1\n", 10, []string{"a"}, []wantRow{
			{2, 2, "", nil, nil, RuleCSVTooLong, 2, true},
			{5, 20, "1", []string{"1"}, []int64{20}, "", 0, false},
		}, 0},
		{"CR at end after closing quote", "a\n\"1\"\r", 0, []string{"a"}, []wantRow{
			{2, 2, "\"1\"\r", nil, nil, RuleCSVSyntax, 5, false},
		}, 0},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			name := tt.name
			if chunked {
				name += "/one byte reads"
			}
			t.Run(name, func(t *testing.T) {
				var src io.Reader = strings.NewReader(tt.in)
				if chunked {
					src = iotest.OneByteReader(src)
				}
				r, header, err := NewCSVReader(src, Options{MaxRecordBytes: tt.max})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(header, tt.header) {
					t.Fatalf("header %q, want %q", header, tt.header)
				}
				recs := readAll(t, r)
				if len(recs) != len(tt.rows) {
					t.Fatalf("got %d rows, want %d", len(recs), len(tt.rows))
				}
				for i, w := range tt.rows {
					g := recs[i]
					if g.Ordinal != int64(i+1) || g.Line != w.line || g.Offset != w.offset || g.TooLong != w.tooLong {
						t.Errorf("row %d = {ord %d line %d off %d tooLong %v}, want {%d %d %d %v}", i, g.Ordinal, g.Line, g.Offset, g.TooLong, i+1, w.line, w.offset, w.tooLong)
					}
					if !w.tooLong && (string(g.Raw) != w.raw || g.Length != int64(len(w.raw))) {
						t.Errorf("row %d Raw %q Length %d, want %q", i, g.Raw, g.Length, w.raw)
					}
					if w.tooLong && (g.Raw != nil || g.Length <= tt.max) {
						t.Errorf("row %d TooLong with Raw %q Length %d", i, g.Raw, g.Length)
					}
					if !reflect.DeepEqual(g.Cells, w.cells) || !reflect.DeepEqual(g.CellOffsets, w.cellOffsets) {
						t.Errorf("row %d cells %q at %v, want %q at %v", i, g.Cells, g.CellOffsets, w.cells, w.cellOffsets)
					}
					switch {
					case w.errRule == "" && g.Err != nil:
						t.Errorf("row %d unexpected error %v", i, g.Err)
					case w.errRule != "" && g.Err == nil:
						t.Errorf("row %d: no error, want %s", i, w.errRule)
					case w.errRule != "" && (g.Err.Rule != w.errRule || g.Err.Offset != w.errOffset):
						t.Errorf("row %d error %v, want %s at %d", i, g.Err, w.errRule, w.errOffset)
					}
				}
				if b := r.(*CSVReader).BlankLines(); b != tt.blank {
					t.Errorf("BlankLines = %d, want %d", b, tt.blank)
				}
				if n := r.BytesRead(); n != int64(len(tt.in)) {
					t.Errorf("BytesRead = %d, want %d", n, len(tt.in))
				}
			})
		}
	}
}

func TestCSVRaggedMessage(t *testing.T) {
	r, _, err := NewCSVReader(strings.NewReader("a,b,c,d\n1,2,3\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := r.Next()
	if rec.Err == nil || !strings.Contains(rec.Err.Message, "row has 3 cells, header has 4") {
		t.Fatalf("got %v", rec.Err)
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	tests := []struct {
		name, in, rule, msgHas string
	}{
		{"empty file", "", RuleCSVEmpty, "header row"},
		{"only blank lines", "\n\r\n", RuleCSVEmpty, "header row"},
		{"empty column name", "a,,c\n", RuleCSVHeader, "column 2"},
		{"duplicate column", "id,value,id\n", RuleCSVHeader, `"id" appears twice in the header (columns 1 and 3)`},
		{"bom", "\xEF\xBB\xBFid,value\n", RuleCSVBOM, "byte order mark"},
		{"malformed header", "a,\"b\n", RuleCSVHeader, "never closed"},
		{"invalid utf8 name", "a,b\xFF\n", RuleCSVHeader, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, h, err := NewCSVReader(strings.NewReader(tt.in), Options{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got reader %v header %q err %v, want *Error %s", r, h, err, tt.rule)
			}
			if e.Rule != tt.rule || !strings.Contains(e.Message, tt.msgHas) {
				t.Errorf("got %v, want %s containing %q", e, tt.rule, tt.msgHas)
			}
		})
	}
}

func TestCSVReaderIOError(t *testing.T) {
	boom := errors.New("nfs went away")
	_, _, err := NewCSVReader(iotest.ErrReader(boom), Options{})
	if !errors.Is(err, boom) {
		t.Fatalf("want the I/O error, got %v", err)
	}
	r, _, err := NewCSVReader(io.MultiReader(strings.NewReader("a\n1\n\"2"), iotest.ErrReader(boom)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := r.Next(); err != nil || rec.Cells[0] != "1" {
		t.Fatalf("row 1: %v %v", rec, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("want the I/O error, got %v", err)
	}
}

func TestTypeCSV(t *testing.T) {
	header := []string{"id", "value", "count", "ok", "nothing", "tags", "meta", "a/b~c"}
	types := map[string]string{"value": "number", "count": "integer", "ok": "boolean", "nothing": "null", "tags": "array", "meta": "object"}
	offs := []int64{100, 200, 300, 400, 500, 600, 700, 800}
	tests := []struct {
		name  string
		cells []string
		want  map[string]any
		errs  []Error // Rule, Offset, Pointer, and a message fragment in Message
	}{
		{"all valid", []string{"x", "21.5", "-3", "true", "", `["a"]`, `{"k":1}`, ""},
			map[string]any{"id": "x", "value": json.Number("21.5"), "count": json.Number("-3"), "ok": true, "nothing": nil,
				"tags": []any{"a"}, "meta": map[string]any{"k": json.Number("1")}, "a/b~c": ""}, nil},
		{"empty cells are absent for typed columns", []string{"", "", "", "", "null", "", "", ""},
			map[string]any{"id": "", "nothing": nil, "a/b~c": ""}, nil},
		{"not a number", []string{"x", "hot", "1", "false", "", "", "", "z"},
			map[string]any{"id": "x", "count": json.Number("1"), "ok": false, "nothing": nil, "a/b~c": "z"},
			[]Error{{RuleCSVType, 200, "/value", `cell "hot" in column "value" is not a number`}}},
		{"untrimmed and malformed numbers", []string{"x", " 1", "1.0", "yes", "0", "{}", "[]", "\xFF"},
			map[string]any{"id": "x"},
			[]Error{
				{RuleCSVType, 200, "/value", "remove the spaces"},
				{RuleCSVType, 300, "/count", "not an integer"},
				{RuleCSVType, 400, "/ok", "exactly true or false"},
				{RuleCSVType, 500, "/nothing", "not null"},
				{RuleCSVType, 600, "/tags", "is a JSON object, not an array"},
				{RuleCSVType, 700, "/meta", "is a JSON array, not an object"},
				{RuleCSVInvalidUTF8, 800, "/a~1b~0c", "0xFF"},
			}},
		{"number edge cases", []string{"x", "1e400", "01", "", "", "", "", ""},
			map[string]any{"id": "x", "nothing": nil, "a/b~c": ""},
			[]Error{
				{RuleCSVType, 200, "/value", "float64"},
				{RuleCSVType, 300, "/count", "leading zeros"},
			}},
		{"short row keeps what is there", []string{"x"}, map[string]any{"id": "x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := TypeCSV(header, tt.cells, offs, types)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("object %#v, want %#v", got, tt.want)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors %v, want %d", errs, len(tt.errs))
			}
			for i, w := range tt.errs {
				g := errs[i]
				if g.Rule != w.Rule || g.Offset != w.Offset || g.Pointer != w.Pointer || !strings.Contains(g.Message, w.Message) {
					t.Errorf("error %d = %v, want %s at %d %s containing %q", i, g, w.Rule, w.Offset, w.Pointer, w.Message)
				}
			}
		})
	}
	_, errs := TypeCSV([]string{"x"}, []string{"1"}, []int64{0}, map[string]string{"x": "decimal"})
	if len(errs) != 1 || errs[0].Rule != RuleCSVType || !strings.Contains(errs[0].Message, `"decimal"`) {
		t.Errorf("unknown type: %v", errs)
	}
}

// TestCSVDialect: an EU export (semicolons, decimal commas inside quotes
// or not), apostrophe quotes, and a file without a header.
func TestCSVDialect(t *testing.T) {
	in := "id;name;score\n1;\"Müller; Anna\";9,5\n2;'x';\"a \"\"b\"\"\"\n"
	r, hdr, err := NewCSVReader(strings.NewReader(in), Options{Delimiter: ';'})
	if err != nil || !reflect.DeepEqual(hdr, []string{"id", "name", "score"}) {
		t.Fatalf("header %q, %v", hdr, err)
	}
	var got [][]string
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil || rec.Err != nil {
			t.Fatalf("%v %v", err, rec.Err)
		}
		got = append(got, rec.Cells)
	}
	want := [][]string{{"1", "Müller; Anna", "9,5"}, {"2", "'x'", `a "b"`}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cells %q, want %q", got, want)
	}

	r, hdr, err = NewCSVReader(strings.NewReader("1|'a|b'\n2|'it''s'\n3|\"q\"\n"), Options{Delimiter: '|', Quote: '\'', Columns: []string{"n", "s"}})
	if err != nil || !reflect.DeepEqual(hdr, []string{"n", "s"}) {
		t.Fatalf("header %q, %v", hdr, err)
	}
	var rows []*Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		rows = append(rows, rec)
	}
	if len(rows) != 3 || rows[0].Line != 1 || !reflect.DeepEqual(rows[0].Cells, []string{"1", "a|b"}) || !reflect.DeepEqual(rows[1].Cells, []string{"2", "it's"}) {
		t.Fatalf("rows %+v", rows)
	}
	// With apostrophes as the quote, a double quote is data.
	if rows[2].Err != nil || !reflect.DeepEqual(rows[2].Cells, []string{"3", `"q"`}) {
		t.Fatalf("row 3 %+v", rows[2])
	}
	// Misquoting in the dialect is reported with the dialect's delimiter.
	r, _, _ = NewCSVReader(strings.NewReader("a;b\n'1'x;2\n"), Options{Delimiter: ';', Quote: '\''})
	rec, _ := r.Next()
	if rec.Err == nil || rec.Err.Rule != RuleCSVSyntax || !strings.Contains(rec.Err.Message, "expected ';' or a line end") {
		t.Fatalf("error %v", rec.Err)
	}
	if _, _, err := NewCSVReader(strings.NewReader("a\n"), Options{Delimiter: '\n'}); err == nil {
		t.Fatal("a line feed delimiter was accepted")
	}
}
