package ratchet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/normalize"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/schema"
)

// TestFlatPathMatchesFullPath: a chunk's outputs — verified and quarantine
// lines, actions, lineage leaves and the tile over them, the stage and
// rule counts and the boundary's statistics — are the same whether the
// flat path takes the records it can or every record goes through the
// decoder, normalization and the schema as values. The records: generated
// readings with every defect the generator knows (Unicode ones included),
// the Big List of Naughty Strings as values and as keys, both escaped and
// raw, and the canonical-JSON vectors; under schemas the flat path decides
// and one it leaves to the full path, and profiles with and without work
// on ASCII values.
//
// In a job with validators the flat path keeps a record's members instead
// of writing its line: the record's value made from them is the decoded
// one, the plugins' columns built from them (fields of every type, at
// members, the whole record, below a member and nowhere) are those built
// from the decoded value, and the lines finalize writes are the same.
func TestFlatPathMatchesFullPath(t *testing.T) {
	var lines [][]byte
	var gen bytes.Buffer
	if err := demo.GenerateSensorReadings(&gen, demo.GenOptions{Records: 1000, Seed: 7, AsOf: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), FailureRate: 0.3, Unicode: true}); err != nil {
		t.Fatal(err)
	}
	lines = append(lines, bytes.Split(bytes.TrimSuffix(gen.Bytes(), []byte("\n")), []byte("\n"))...)
	var naughty []string
	readJSON(t, filepath.Join("..", "..", "testdata", "naughty-strings", "blns.json"), &naughty)
	for _, s := range naughty {
		q, _ := json.Marshal(s)
		for _, lit := range []string{string(q), `"` + s + `"`} {
			lines = append(lines,
				[]byte(`{"device_id":`+lit+`,"timestamp":"2026-11-24T10:00:00Z","value":1,"unit":"kelvin"}`),
				[]byte(`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":`+lit+`}`),
				[]byte(`{`+lit+`:"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":"kelvin"}`))
		}
	}
	// Records the full path verifies and the flat one does not take.
	lines = append(lines,
		[]byte(`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":"\u006belvin"}`),
		[]byte(`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1e2,"unit":"kelvin"}`),
		[]byte(`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1,"u\u006eit":"kelvin"}`),
		[]byte(`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":"kelvin","unit":"kelvin"}`))
	// Members of every kind, for the plugins' columns.
	for _, m := range []string{`true`, `false`, `null`, `"true"`, `-0`, `0.1000`, `123456789012345678901234567890`, `1e400`, `-0.0000000000000000000000000000000000000000000000000000000000001`} {
		lines = append(lines,
			[]byte(`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":"kelvin","flag":`+m+`}`),
			[]byte(`{"flag":`+m+`,"value":`+m+`,"unit":"kelvin"}`))
	}
	var vectors struct{ Vectors []struct{ Input string } }
	readJSON(t, filepath.Join("..", "..", "testdata", "canonical-json", "vectors.json"), &vectors)
	for _, v := range vectors.Vectors {
		lines = append(lines, []byte(v.Input))
	}

	schemas := map[string]string{
		"sensor-reading": filepath.Join("..", "project", "scaffold", "sensor-reading.json"),
		"open":           writeFile(t, "open.json", `{"type":"object","properties":{"value":{"type":["number","string"],"maxLength":3},"unit":{"enum":["kelvin",1]}},"required":["unit"]}`),
		"not-flat-root":  writeFile(t, "allof.json", `{"allOf":[{"type":"object"}],"properties":{"unit":{"type":"string"}}}`),
	}
	profiles := map[string]normalize.Config{
		"identifiers": {Form: "NFC", Identifiers: []string{"/device_id"}},
		"lowercase":   {Form: "NFC", Lowercase: []string{"/unit"}, Language: "en"},
	}
	for sn, path := range schemas {
		sch, err := schema.Compile(path)
		if err != nil {
			t.Fatal(err)
		}
		for pn, cfg := range profiles {
			if pn == "lowercase" && sn != "sensor-reading" {
				continue // (the profile alone turns the flat path off)
			}
			prof, err := normalize.NewProfile(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, validators := range []bool{false, true} {
				if validators && pn == "lowercase" {
					continue // (not-flat-root has a job the flat path does not take)
				}
				s := &stages{format: "jsonl", schema: sch, norm: prof, maxRecord: records.DefaultMaxRecordBytes, validators: validators}
				var flat, verified, kept, present int
				probe := &flatSink{lines: new([]byte)} // (one, for its member slab)
				fullTree, fastTree := audit.NewLineageTree(), audit.NewLineageTree()
				for first := 0; first < len(lines); first += chunkRecords {
					recs := lines[first:min(first+chunkRecords, len(lines))]
					full, fast := chunkOf(recs, first), chunkOf(recs, first)
					what := fmt.Sprintf("schema %s, profile %s, validators %v, chunk at %d", sn, pn, validators, first)
					skipFlat = true
					s.runChunk(context.Background(), full, nil, nil, !validators)
					skipFlat = false
					s.runChunk(context.Background(), fast, nil, nil, !validators)
					if validators {
						k, p := compareKept(t, what, recs, full, fast)
						s.finalizeChunk(full)
						s.finalizeChunk(fast)
						for i := range fast.items {
							if fast.items[i].flat != nil {
								t.Fatalf("%s: record %q keeps its members after finalize", what, recs[i])
							}
						}
						kept += k
						present += p
					}
					for i := range fast.items {
						a, b := &full.items[i], &fast.items[i]
						if !bytes.Equal(a.verified, b.verified) || !bytes.Equal(a.quar, b.quar) || !bytes.Equal(a.actLine, b.actLine) || a.leaf != b.leaf || a.stage != b.stage || !reflect.DeepEqual(a.reasons, b.reasons) {
							t.Fatalf("%s: record %q\nfull path: %q %q %q\nflat path: %q %q %q", what, recs[i], a.verified, a.quar, a.actLine, b.verified, b.quar, b.actLine)
						}
						if b.verified != nil {
							verified++
						}
						probe.members, *probe.lines = probe.members[:0], (*probe.lines)[:0]
						if s.flat(&item{rec: &records.Record{Raw: recs[i]}}, newStats(), probe) {
							flat++
						}
					}
					if err := errors.Join(fullTree.AppendSegment(full.tree), fastTree.AppendSegment(fast.tree)); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(full.st, fast.st) {
						t.Fatalf("%s: statistics differ\nfull: %+v\nflat: %+v", what, full.st, fast.st)
					}
				}
				if !bytes.Equal(fullTree.Root(), fastTree.Root()) {
					t.Errorf("schema %s, profile %s, validators %v: lineage roots differ", sn, pn, validators)
				}
				// The flat path takes most records where it applies, and
				// none where it does not; the full path has records of its own.
				applies := sn != "not-flat-root" && pn != "lowercase"
				if applies && (flat < 500 || flat == verified) || !applies && flat != 0 || verified < 500 {
					t.Errorf("schema %s, profile %s: of %d records %d verified, %d by the flat path", sn, pn, len(lines), verified, flat)
				}
				// In a job with validators the flat path keeps the members of
				// the records it takes, and the columns have values.
				if validators && (kept != flat || present < verified) {
					t.Errorf("schema %s, profile %s: the flat path takes %d records and kept the members of %d; %d values in the columns of %d verified records", sn, pn, flat, kept, present, verified)
				}
			}
		}
	}
}

// compareKept compares a chunk's records after the per-record stages of a
// job with validators: the full path's (full) with the flat path's (fast).
// It returns how many records the flat path kept as members, and how many
// values the columns hold.
func compareKept(t *testing.T, what string, recs [][]byte, full, fast *chunk) (kept, present int) {
	t.Helper()
	var idx []int
	for i := range fast.items {
		a, b := &full.items[i], &fast.items[i]
		if a.stage != b.stage || !reflect.DeepEqual(a.reasons, b.reasons) || !reflect.DeepEqual(a.actions, b.actions) {
			t.Fatalf("%s: record %q\nfull path: %q %v\nflat path: %q %v", what, recs[i], a.stage, a.reasons, b.stage, b.reasons)
		}
		if b.flat != nil {
			kept++
			if b.v != nil || a.v == nil {
				t.Fatalf("%s: record %q: the flat path kept its members and a value (%v), or the full path rejected it", what, recs[i], b.v)
			}
			if v := flatValue(b.flat); !reflect.DeepEqual(v, a.v) {
				t.Fatalf("%s: record %q\nfull path's value: %#v\nflat members' value: %#v", what, recs[i], a.v, v)
			}
		}
		if a.stage == "" {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return kept, 0
	}
	var fields []sandbox.Field
	var ptrs []string
	for _, ptr := range []string{"/value", "/unit", "/device_id", "/flag", "", "/value/0", "/missing", "/unit~1"} {
		for _, ty := range []sandbox.FieldType{sandbox.TypeNumber, sandbox.TypeString, sandbox.TypeBool} {
			fields = append(fields, sandbox.Field{Name: fmt.Sprintf("f%d", len(fields)), Pointer: ptr, Type: ty})
			ptrs = append(ptrs, ptr)
		}
	}
	want, got := columns(fields, ptrs, full.items, idx, nil), columns(fields, ptrs, fast.items, idx, nil)
	for f := range fields {
		for j := range idx {
			if want.Columns[f].Present[j] {
				present++
			}
		}
		if !reflect.DeepEqual(want.Columns[f], got.Columns[f]) {
			t.Fatalf("%s: field %s (%s at %q): the columns differ\nfrom the values: %+v\nfrom the members: %+v", what, fields[f].Name, fields[f].Type, ptrs[f], want.Columns[f], got.Columns[f])
		}
	}
	return kept, present
}

func chunkOf(recs [][]byte, first int) *chunk {
	c := &chunk{first: int64(first)}
	for i, r := range recs {
		c.items = append(c.items, item{rec: &records.Record{Ordinal: int64(first + i + 1), Line: int64(first + i + 1), Offset: int64(first * 100), Length: int64(len(r)), Raw: r}})
	}
	return c
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
