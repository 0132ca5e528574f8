package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pawl-dev/pawl/engine/records"
)

// TestVerifiedParquetColumns: one optional column per declared property in
// name order, typed from the schema; absent and null are null; the writer
// settings are the fixed ones; a verified record a column cannot hold
// fails with a message naming it, and leaves no file.
func TestVerifiedParquetColumns(t *testing.T) {
	dir := t.TempDir()
	types := map[string]string{"s": "string", "i": "integer", "n": "number", "b": "boolean", "o": "object", "any": ""}
	lines := `{"any":[1,"x"],"b":true,"i":-9007199254740993,"n":0.1,"o":{"k":null},"s":"héllo"}` + "\n" + `{"i":1e3,"s":null}` + "\n"
	in := filepath.Join(dir, "verified.jsonl")
	os.WriteFile(in, []byte(lines), 0o644)
	out := filepath.Join(dir, "verified.parquet")
	ref, err := writeVerifiedParquet(in, out, types)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if ref.Records != 2 || ref.Bytes != int64(len(b)) {
		t.Fatalf("ref %+v for %d bytes", ref, len(b))
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	if md.CreatedBy != parquetCreatedBy {
		t.Errorf("created_by %q", md.CreatedBy)
	}
	var names []string
	for _, el := range md.Schema[1:] {
		names = append(names, el.Name)
		if rep, _ := el.RepetitionType.Get(); rep != format.Optional {
			t.Errorf("column %s is not optional", el.Name)
		}
	}
	if strings.Join(names, ",") != "any,b,i,n,o,s" {
		t.Errorf("columns %v, want name order", names)
	}
	for _, g := range md.RowGroups {
		for _, c := range g.Columns {
			if c.MetaData.Codec != format.Uncompressed {
				t.Errorf("column %v compressed with %v", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
	rd, err := records.NewParquetReader(bytes.NewReader(b), int64(len(b)), types)
	if err != nil {
		t.Fatal(err)
	}
	r1, _ := rd.Next()
	r2, _ := rd.Next()
	got1 := r1.Value
	if fmt.Sprint(got1["i"]) != "-9007199254740993" || fmt.Sprint(got1["n"]) != "0.1" || fmt.Sprint(got1["o"]) != "map[k:<nil>]" || got1["s"] != "héllo" || got1["b"] != true {
		t.Errorf("row 1 read back %#v", got1)
	}
	if len(r2.Value) != 1 || fmt.Sprint(r2.Value["i"]) != "1000" {
		t.Errorf("row 2 read back %#v: 1e3 is the integer 1000, a null string is null", r2.Value)
	}

	for _, c := range []struct{ line, want string }{
		{`{"extra":1}`, `property "extra" is not declared by the schema`},
		{`{"i":1e30}`, "does not fit the column's 64-bit integers"},
		{`{"i":"7"}`, `property "i" holds "7", but its column is integer`},
		{`{"b":1}`, `property "b" holds 1, but its column is boolean`},
	} {
		os.WriteFile(in, []byte(lines+c.line+"\n"), 0o644)
		os.Remove(out)
		_, err := writeVerifiedParquet(in, out, types)
		if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "verified record 3") {
			t.Errorf("%s: error %v, want %q naming record 3", c.line, err, c.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: a partial verified.parquet was left", c.line)
		}
	}
}
