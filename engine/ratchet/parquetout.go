package ratchet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/records"
)

// The verified records as Parquet (a job's `outputs: [parquet]`): a second
// rendering of verified.jsonl, byte for byte a function of it and of the
// schema's property types, so that a replay reproduces its hash. Every
// setting that shapes the bytes is fixed here; changing any of them
// changes the hash of every batch written since, so they are a format
// version (parquetCreatedBy) and change only with it.
const (
	parquetCreatedBy    = "pawl verified-parquet v1"
	parquetRowGroupRows = 64 << 10
	parquetPageBytes    = 1 << 20
)

type createdByOption string

func (c createdByOption) ConfigureWriter(w *parquet.WriterConfig) { w.CreatedBy = string(c) }

// parquetOutColumn is one column of verified.parquet: a property the
// schema declares, in name order.
type parquetOutColumn struct {
	name string
	typ  string // the schema's type: string, integer, number, boolean; anything else is JSON text
}

// parquetOutColumns are the columns for a schema's property types: one per
// declared property, sorted by name (as parquet.Group orders them).
func parquetOutColumns(types map[string]string) ([]parquetOutColumn, parquet.Group) {
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	slices.Sort(names)
	cols := make([]parquetOutColumn, len(names))
	group := parquet.Group{}
	for i, n := range names {
		t := types[n]
		var node parquet.Node
		switch t {
		case "string":
			node = parquet.String()
		case "integer":
			node = parquet.Int(64)
		case "number":
			node = parquet.Leaf(parquet.DoubleType)
		case "boolean":
			node = parquet.Leaf(parquet.BooleanType)
		default:
			t = "json"
			node = parquet.JSON()
		}
		cols[i] = parquetOutColumn{name: n, typ: t}
		group[n] = parquet.Encoded(parquet.Optional(node), &parquet.Plain)
	}
	return cols, group
}

// writeVerifiedParquet renders the verified records of verifiedPath (one
// canonical JSON object a line) as the Parquet file outPath. A verified
// record that a column cannot hold — a property the schema does not
// declare, a value of another type than the one declared first, an
// integer beyond int64 — fails the batch with a message naming it: the
// file would otherwise lose or change what was verified.
func writeVerifiedParquet(verifiedPath, outPath string, types map[string]string) (actions.OutputRef, error) {
	if len(types) == 0 {
		return actions.OutputRef{}, fmt.Errorf("%w: the job asks for a Parquet output, but its schema declares no properties: a Parquet file needs one column per property", ErrBadInput)
	}
	in, err := os.Open(verifiedPath)
	if err != nil {
		return actions.OutputRef{}, err
	}
	defer in.Close()
	out, err := createOut(outPath)
	if err != nil {
		return actions.OutputRef{}, err
	}
	cols, group := parquetOutColumns(types)
	index := make(map[string]int, len(cols))
	for i, c := range cols {
		index[c.name] = i
	}
	w := parquet.NewWriter(out.w,
		parquet.NewSchema("pawl_verified", group),
		parquet.Compression(&uncompressed.Codec{}),
		createdByOption(parquetCreatedBy),
		parquet.MaxRowsPerRowGroup(parquetRowGroupRows),
		parquet.PageBufferSize(parquetPageBytes),
		parquet.DataPageVersion(2),
		parquet.DataPageStatistics(true),
	)
	fail := func(err error) (actions.OutputRef, error) {
		out.f.Abort()
		return actions.OutputRef{}, err
	}
	rd := bufio.NewReaderSize(in, 1<<20)
	batch := make([]parquet.Row, 0, 512)
	flush := func() error {
		if _, err := w.WriteRows(batch); err != nil {
			return fmt.Errorf("writing %s: %w", actions.VerifiedParquetFile, err)
		}
		batch = batch[:0]
		return nil
	}
	var n int64
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 {
			n++
			v, derr := records.DecodeJSON(line[:len(line)-1], records.DecodeOptions{RequireObject: true})
			if derr != nil {
				return fail(fmt.Errorf("%s line %d does not decode: %v", actions.VerifiedFile, n, derr))
			}
			row, rerr := parquetRow(cols, index, v.(map[string]any))
			if rerr != nil {
				return fail(fmt.Errorf("%w: verified record %d (line %d of %s) cannot be written to %s: %v", ErrBadInput, n, n, actions.VerifiedFile, actions.VerifiedParquetFile, rerr))
			}
			if batch = append(batch, row); len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return fail(err)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := flush(); err != nil {
		return fail(err)
	}
	if err := w.Close(); err != nil {
		return fail(fmt.Errorf("writing %s: %w", actions.VerifiedParquetFile, err))
	}
	out.records = n
	out.bytes = 0
	if err := out.w.Flush(); err != nil {
		return fail(err)
	}
	out.bytes = out.f.Size()
	if err := out.close(); err != nil {
		return actions.OutputRef{}, err
	}
	return out.ref(), nil
}

// parquetRow is one verified object as a row: a value per column, null
// where the property is absent or null.
func parquetRow(cols []parquetOutColumn, index map[string]int, obj map[string]any) (parquet.Row, error) {
	row := make(parquet.Row, len(cols))
	for i := range row {
		row[i] = parquet.NullValue().Level(0, 0, i)
	}
	for name, v := range obj {
		i, ok := index[name]
		if !ok {
			return nil, fmt.Errorf("property %s is not declared by the schema, and a Parquet file has a column only for each declared property: declare it in the schema (or forbid it with additionalProperties: false)", strconv.Quote(name))
		}
		if v == nil {
			continue
		}
		c := cols[i]
		var pv parquet.Value
		bad := func() error {
			return fmt.Errorf("property %s holds %s, but its column is %s (the schema's first declared type): give the property one type, or drop parquet from the job's outputs", strconv.Quote(name), canonjson.Append(nil, v), c.typ)
		}
		switch c.typ {
		case "string":
			s, ok := v.(string)
			if !ok {
				return nil, bad()
			}
			pv = parquet.ByteArrayValue([]byte(s))
		case "boolean":
			b, ok := v.(bool)
			if !ok {
				return nil, bad()
			}
			pv = parquet.BooleanValue(b)
		case "integer":
			num, ok := v.(json.Number)
			if !ok {
				return nil, bad()
			}
			k, err := strconv.ParseInt(string(num), 10, 64)
			if err != nil {
				f, ferr := strconv.ParseFloat(string(num), 64)
				if ferr != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
					return nil, fmt.Errorf("property %s holds %s, which does not fit the column's 64-bit integers: bound it in the schema (minimum, maximum)", strconv.Quote(name), num)
				}
				k = int64(f)
			}
			pv = parquet.Int64Value(k)
		case "number":
			num, ok := v.(json.Number)
			if !ok {
				return nil, bad()
			}
			f, err := strconv.ParseFloat(string(num), 64)
			if err != nil {
				return nil, fmt.Errorf("property %s holds %s, which is not a 64-bit floating point number", strconv.Quote(name), num)
			}
			pv = parquet.DoubleValue(f)
		default:
			pv = parquet.ByteArrayValue(canonjson.Append(nil, v))
		}
		row[i] = pv.Level(0, 1, i)
	}
	return row, nil
}
