package records

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/pawl-dev/pawl/audit/canonjson"
)

var benchRecord = []byte(`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`)

func BenchmarkDecodeJSON(b *testing.B) {
	b.SetBytes(int64(len(benchRecord)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeJSON(benchRecord, DecodeOptions{RequireObject: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeJSONStdlib is the encoding/json baseline for comparison.
func BenchmarkDecodeJSONStdlib(b *testing.B) {
	b.SetBytes(int64(len(benchRecord)))
	b.ReportAllocs()
	for b.Loop() {
		dec := json.NewDecoder(bytes.NewReader(benchRecord))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSONEscapedNested(b *testing.B) {
	rec := []byte(`{"id":"x\u00e9\n","tags":["a","b","c"],"pos":{"lat":52.1,"lon":-4.25e0},"ok":true,"n":null}`)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeJSON(rec, DecodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func jsonlInput(n int) []byte {
	var buf bytes.Buffer
	for i := range n {
		fmt.Fprintf(&buf, `{"device_id":"AB-%06d","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`+"\n", i)
	}
	return buf.Bytes()
}

func BenchmarkJSONLReader(b *testing.B) {
	in := jsonlInput(10000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewJSONLReader(bytes.NewReader(in), Options{})
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkJSONLPipeline frames, decodes and canonicalises: the per-record
// hot path.
func BenchmarkJSONLPipeline(b *testing.B) {
	in := jsonlInput(10000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		r := NewJSONLReader(bytes.NewReader(in), Options{})
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			v, derr := DecodeJSON(rec.Raw, DecodeOptions{RequireObject: true})
			if derr != nil {
				b.Fatal(derr)
			}
			out = canonjson.Append(out[:0], v)
		}
	}
}

func BenchmarkCSVReaderTypeCSV(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("device_id,timestamp,value,unit\n")
	for i := range 10000 {
		fmt.Fprintf(&buf, "AB-%06d,2026-11-24T10:00:00Z,21.5,\"celsius\"\n", i)
	}
	in := buf.Bytes()
	types := map[string]string{"value": "number"}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r, header, err := NewCSVReader(bytes.NewReader(in), Options{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if _, errs := TypeCSV(header, rec.Cells, rec.CellOffsets, types); errs != nil {
				b.Fatal(errs)
			}
		}
	}
}

// BenchmarkParquetReader reads 100,000 sensor readings from a Parquet file
// (four columns, row groups of 65,536 rows): the rows as typed objects, as
// the pipeline's frame and decode stages see them.
func BenchmarkParquetReader(b *testing.B) {
	group := parquet.Group{"device_id": parquet.String(), "timestamp": parquet.String(), "unit": parquet.String(), "value": parquet.Leaf(parquet.DoubleType)}
	rows := make([]pqRow, 100_000)
	for i := range rows {
		rows[i] = pqRow{"device_id": "AB-123456", "timestamp": "2026-11-24T10:00:00Z", "unit": "celsius", "value": 21.5 + float64(i%100)/10}
	}
	file := writePQ(b, group, rows, 1<<16)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		pr, err := NewParquetReader(bytes.NewReader(file), int64(len(file)), nil)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := pr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != len(rows) {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
