package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// pqRow is a test row: column name → Go value (nil: null).
type pqRow map[string]any

// writePQ writes rows under the group's schema; Group orders its columns
// by name, so a row's values are laid out in that order. rowsPerGroup 0
// means one row group.
func writePQ(t testing.TB, group parquet.Group, rows []pqRow, rowsPerGroup int64) []byte {
	t.Helper()
	schema := parquet.NewSchema("test", group)
	var buf bytes.Buffer
	opts := []parquet.WriterOption{schema}
	if rowsPerGroup > 0 {
		opts = append(opts, parquet.MaxRowsPerRowGroup(rowsPerGroup))
	}
	w := parquet.NewWriter(&buf, opts...)
	names := make([]string, 0, len(group))
	for n := range group {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, r := range rows {
		row := make(parquet.Row, len(names))
		for i, n := range names {
			v, ok := r[n]
			if !ok || v == nil {
				row[i] = parquet.NullValue().Level(0, 0, i)
				continue
			}
			def := 0
			if group[n].Optional() {
				def = 1
			}
			var pv parquet.Value
			switch x := v.(type) {
			case string:
				pv = parquet.ByteArrayValue([]byte(x))
			default:
				pv = parquet.ValueOf(x)
			}
			row[i] = pv.Level(0, def, i)
		}
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readPQ(t testing.TB, b []byte, types map[string]string) ([]*Record, error) {
	t.Helper()
	pr, err := NewParquetReader(bytes.NewReader(b), int64(len(b)), types)
	if err != nil {
		return nil, err
	}
	var out []*Record
	for {
		rec, err := pr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func TestParquetTypes(t *testing.T) {
	group := parquet.Group{
		"b":   parquet.Optional(parquet.Leaf(parquet.BooleanType)),
		"i32": parquet.Optional(parquet.Int(32)),
		"i64": parquet.Leaf(parquet.Int64Type),
		"u64": parquet.Optional(parquet.Uint(64)),
		"dec": parquet.Optional(parquet.Decimal(3, 9, parquet.Int32Type)),
		"f32": parquet.Optional(parquet.Leaf(parquet.FloatType)),
		"f64": parquet.Optional(parquet.Leaf(parquet.DoubleType)),
		"s":   parquet.Optional(parquet.String()),
		"e":   parquet.Optional(parquet.Enum()),
		"j":   parquet.Optional(parquet.JSON()),
		"d":   parquet.Optional(parquet.Date()),
		"ts":  parquet.Optional(parquet.Timestamp(parquet.Microsecond)),
	}
	rows := []pqRow{
		{"b": true, "i32": int32(-7), "i64": int64(1) << 62, "u64": uint64(1<<64 - 1), "dec": int32(-5), "f32": float32(0.1), "f64": 9.5,
			"s": "héllo\n\"x\"", "e": "RED", "j": `{"k":[1,2.50,"x"]}`, "d": int32(19000), "ts": int64(1700000000123456)},
		{"i64": int64(0), "f64": 1e-7, "dec": int32(12345)},
	}
	b := writePQ(t, group, rows, 0)
	recs, err := readPQ(t, b, map[string]string{"i64": "number", "s": "string", "ts": "string", "j": "object"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	want0 := map[string]any{
		"b": true, "i32": json.Number("-7"), "i64": json.Number("4611686018427387904"), "u64": json.Number("18446744073709551615"),
		"dec": json.Number("-0.005"), "f32": json.Number("0.1"), "f64": json.Number("9.5"), "s": "héllo\n\"x\"", "e": "RED",
		"j": map[string]any{"k": []any{json.Number("1"), json.Number("2.50"), "x"}}, "d": "2022-01-08", "ts": "2023-11-14T22:13:20.123456Z",
	}
	if !reflect.DeepEqual(recs[0].Value, want0) {
		t.Errorf("row 1 = %#v\nwant %#v", recs[0].Value, want0)
	}
	// Nulls are left out, as an empty CSV cell is.
	want1 := map[string]any{"i64": json.Number("0"), "f64": json.Number("1e-7"), "dec": json.Number("12.345")}
	if !reflect.DeepEqual(recs[1].Value, want1) {
		t.Errorf("row 2 = %#v, want %#v", recs[1].Value, want1)
	}
	for i, r := range recs {
		if r.Ordinal != int64(i+1) || r.Line != int64(i+1) || r.Err != nil || r.Raw != nil || r.Offset < 4 {
			t.Errorf("record %d: %+v", i+1, r)
		}
	}
}

func TestParquetRowGroupsAndOrder(t *testing.T) {
	group := parquet.Group{"n": parquet.Leaf(parquet.Int64Type)}
	var rows []pqRow
	for i := 0; i < 1000; i++ {
		rows = append(rows, pqRow{"n": int64(i)})
	}
	b := writePQ(t, group, rows, 300)
	pr, err := NewParquetReader(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.meta.RowGroups) != 4 || pr.Rows() != 1000 {
		t.Fatalf("%d row groups, %d rows; want 4, 1000", len(pr.meta.RowGroups), pr.Rows())
	}
	prevOff := int64(0)
	for i := 0; ; i++ {
		rec, err := pr.Next()
		if err == io.EOF {
			if i != 1000 {
				t.Fatalf("EOF after %d rows", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Value["n"]; got != json.Number(strconv.Itoa(i)) {
			t.Fatalf("row %d holds %v", i, got)
		}
		if rec.Offset < prevOff {
			t.Fatalf("row %d offset %d before %d", i, rec.Offset, prevOff)
		}
		prevOff = rec.Offset
	}
	if pr.BytesRead() != int64(len(b)) {
		t.Errorf("BytesRead %d at EOF, want %d", pr.BytesRead(), len(b))
	}
}

// TestParquetRefusals: what pawl cannot represent is refused before any
// row is read, with the rule, the column and what to do.
func TestParquetRefusals(t *testing.T) {
	good := writePQ(t, parquet.Group{"a": parquet.String()}, []pqRow{{"a": "x"}, {"a": "y"}}, 0)
	tests := []struct {
		name  string
		file  []byte
		types map[string]string
		rule  string
		want  string
	}{
		{"empty", nil, nil, RuleParquetFile, "too short to be a Parquet file"},
		{"wrong magic", append([]byte("PAR2"), good[4:]...), nil, RuleParquetFile, "does not start with the Parquet magic bytes PAR1"},
		{"JSON lines", []byte(`{"a":"x"}` + "\n" + `{"a":"y"}` + "\n"), nil, RuleParquetFile, "not a Parquet file"},
		{"truncated", good[:len(good)-10], nil, RuleParquetFile, "truncated"},
		{"footer length absurd", append(append([]byte{}, good[:len(good)-8]...), 0xff, 0xff, 0xff, 0x7f, 'P', 'A', 'R', '1'), nil, RuleParquetFile, "does not fit"},
		{"INT96", writePQ(t, parquet.Group{"t": parquet.Leaf(parquet.Int96Type)}, nil, 0), nil, RuleParquetColumn, `column "t" is INT96`},
		{"binary", writePQ(t, parquet.Group{"blob": parquet.Leaf(parquet.ByteArrayType)}, nil, 0), nil, RuleParquetColumn, "without a STRING annotation"},
		{"nested group", writePQ(t, parquet.Group{"g": parquet.Group{"x": parquet.String()}}, nil, 0), nil, RuleParquetColumn, `column "g" is nested`},
		{"repeated", writePQ(t, parquet.Group{"l": parquet.Repeated(parquet.String())}, nil, 0), nil, RuleParquetColumn, `column "l" is repeated`},
		{"time of day", writePQ(t, parquet.Group{"tod": parquet.Time(parquet.Millisecond)}, nil, 0), nil, RuleParquetColumn, "TIME"},
		{"string where the schema says integer", good, map[string]string{"a": "integer"}, RuleParquetColumn, `column "a" is BYTE_ARRAY STRING, whose values are JSON strings, but the schema declares "a" as integer`},
		{"boolean where the schema says string", writePQ(t, parquet.Group{"ok": parquet.Leaf(parquet.BooleanType)}, nil, 0), map[string]string{"ok": "string"}, RuleParquetColumn, "declares \"ok\" as string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readPQ(t, tc.file, tc.types)
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want a *records.Error", err, err)
			}
			if re.Rule != tc.rule || !strings.Contains(re.Message, tc.want) {
				t.Fatalf("error %v\nwant rule %s and %q", re, tc.rule, tc.want)
			}
		})
	}
	// Integer columns fit number schemas and double columns integer ones:
	// the schema judges each value.
	if _, err := readPQ(t, writePQ(t, parquet.Group{"n": parquet.Leaf(parquet.DoubleType)}, nil, 0), map[string]string{"n": "integer"}); err != nil {
		t.Errorf("double column for an integer property: %v", err)
	}
}

// TestParquetBadValues: a value that cannot be JSON quarantines its row,
// named by row group, row and column, and keeps its bytes.
func TestParquetBadValues(t *testing.T) {
	group := parquet.Group{"s": parquet.Optional(parquet.String()), "f": parquet.Optional(parquet.Leaf(parquet.DoubleType)), "j": parquet.Optional(parquet.JSON())}
	nan := 0.0
	nan = nan / nan
	rows := []pqRow{{"s": "ok"}, {"s": "bad \xff here"}, {"f": nan}, {"j": `{"a":1,"a":2}`}, {"s": "fine", "f": 1.5}}
	b := writePQ(t, group, rows, 3)
	recs, err := readPQ(t, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ rule, msg string }{
		{"", ""},
		{RuleParquetInvalidUTF8, `row group 0, row 1 (row 2 of the file), column "s": the value holds byte 0xFF, which is not valid UTF-8, at byte 4`},
		{RuleParquetValue, `row group 0, row 2 (row 3 of the file), column "f": NaN is not a number JSON can hold`},
		{RuleParquetValue, `row group 1, row 0 (row 4 of the file), column "j": the JSON text does not decode`},
		{"", ""},
	}
	for i, w := range want {
		r := recs[i]
		switch {
		case w.rule == "" && r.Err != nil:
			t.Errorf("row %d: unexpected %v", i+1, r.Err)
		case w.rule != "" && (r.Err == nil || r.Err.Rule != w.rule || !strings.HasPrefix(r.Err.Message, w.msg)):
			t.Errorf("row %d: error %v\nwant %s %q", i+1, r.Err, w.rule, w.msg)
		}
	}
	if got := recs[1].Value["s"]; got != "bad \xff here" {
		t.Errorf("the bad string is kept as %q", got)
	}
	if got := recs[3].Value["j"]; got != `{"a":1,"a":2}` {
		t.Errorf("the bad JSON text is kept as %q", got)
	}
}

// TestParquetDamagedPages: a file whose pages are damaged but whose footer
// reads fails at the damaged row group with a parquet.file error, never a
// panic.
func TestParquetDamagedPages(t *testing.T) {
	var rows []pqRow
	for i := 0; i < 200; i++ {
		rows = append(rows, pqRow{"s": strings.Repeat("v", i%17)})
	}
	b := writePQ(t, parquet.Group{"s": parquet.String()}, rows, 50)
	pr, err := NewParquetReader(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the second row group's pages with garbage.
	start := pr.groupOffset(1)
	end := pr.groupOffset(2)
	bad := bytes.Clone(b)
	for i := start; i < end; i++ {
		bad[i] = 0xA5
	}
	recs, err := readPQ(t, bad, nil)
	var re *Error
	if !errors.As(err, &re) || re.Rule != RuleParquetFile || !strings.Contains(re.Message, "row group 1") {
		t.Fatalf("error %v, want parquet.file naming row group 1", err)
	}
	if len(recs) != 50 {
		t.Errorf("%d rows before the damage, want 50", len(recs))
	}
}

func TestDecimalText(t *testing.T) {
	for _, c := range []struct {
		n     int64
		scale int32
		want  string
	}{{0, 0, "0"}, {0, 2, "0.00"}, {12345, 2, "123.45"}, {-5, 3, "-0.005"}, {-9223372036854775808, 4, "-922337203685477.5808"}, {7, 0, "7"}} {
		if got := decimalText(c.n, c.scale); got != c.want {
			t.Errorf("decimalText(%d, %d) = %s, want %s", c.n, c.scale, got, c.want)
		}
		if _, err := DecodeJSON([]byte(decimalText(c.n, c.scale)), DecodeOptions{}); err != nil {
			t.Errorf("%s is not a JSON number: %v", decimalText(c.n, c.scale), err)
		}
	}
}
