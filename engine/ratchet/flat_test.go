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
			s := &stages{format: "jsonl", schema: sch, norm: prof, maxRecord: records.DefaultMaxRecordBytes}
			var flat, verified int
			fullTree, fastTree := audit.NewLineageTree(), audit.NewLineageTree()
			for first := 0; first < len(lines); first += chunkRecords {
				recs := lines[first:min(first+chunkRecords, len(lines))]
				full, fast := chunkOf(recs, first), chunkOf(recs, first)
				skipFlat = true
				s.runChunk(context.Background(), full, nil, nil, true)
				skipFlat = false
				s.runChunk(context.Background(), fast, nil, nil, true)
				what := fmt.Sprintf("schema %s, profile %s, chunk at %d", sn, pn, first)
				for i := range fast.items {
					a, b := &full.items[i], &fast.items[i]
					if !bytes.Equal(a.verified, b.verified) || !bytes.Equal(a.quar, b.quar) || !bytes.Equal(a.actLine, b.actLine) || a.leaf != b.leaf || a.stage != b.stage || !reflect.DeepEqual(a.reasons, b.reasons) {
						t.Fatalf("%s: record %q\nfull path: %q %q %q\nflat path: %q %q %q", what, recs[i], a.verified, a.quar, a.actLine, b.verified, b.quar, b.actLine)
					}
					if b.verified != nil {
						verified++
					}
					var buf []byte
					if s.flat(&item{rec: &records.Record{Raw: recs[i]}}, newStats(), &buf) {
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
				t.Errorf("schema %s, profile %s: lineage roots differ", sn, pn)
			}
			// The flat path takes most records where it applies, and
			// none where it does not; the full path has records of its own.
			applies := sn != "not-flat-root" && pn != "lowercase"
			if applies && (flat < 500 || flat == verified) || !applies && flat != 0 || verified < 500 {
				t.Errorf("schema %s, profile %s: of %d records %d verified, %d by the flat path", sn, pn, len(lines), verified, flat)
			}
		}
	}
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
