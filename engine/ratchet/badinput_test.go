package ratchet_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

const goodRecord = `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`

// TestBadInput runs every kind of hostile input through a real batch: no
// panic, no hang, every record accounted for, a precise reason.
func TestBadInput(t *testing.T) {
	big := `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius","pad":"` + strings.Repeat("x", 20<<20) + `"}`
	cases := []struct {
		name     string
		format   string
		input    string
		in, ok   int64
		rule     string // stage/rule of the first quarantined record, "" when none
		offset   int64  // expected input offset of the first reason, -1 to skip
		contains string // in the first reason's message
	}{
		{name: "empty file", input: "", in: 0, ok: 0, offset: -1},
		{name: "no trailing newline", input: goodRecord + "\n" + goodRecord, in: 2, ok: 2, offset: -1},
		{name: "CRLF lines", input: goodRecord + "\r\n" + goodRecord + "\r\n", in: 2, ok: 2, offset: -1},
		{name: "blank lines", input: "\n" + goodRecord + "\n\r\n\n" + goodRecord + "\n", in: 2, ok: 2, offset: -1},
		{name: "20 MB line", input: big + "\n" + goodRecord + "\n", in: 2, ok: 1, rule: "schema/additionalProperties", offset: -1, contains: "pad"},
		{name: "invalid UTF-8", input: goodRecord + "\n" + `{"device_id":"AB-12` + "\xff\xfe" + `3456"}` + "\n", in: 2, ok: 1,
			rule: "utf8/utf8.invalid", offset: int64(len(goodRecord)) + 1 + 19, contains: "0xFF"},
		{name: "overlong encoding", input: `{"device_id":"` + "\xc0\xaf" + `"}` + "\n", in: 1, ok: 0, rule: "utf8/utf8.invalid", offset: 14, contains: "0xC0"},
		{name: "raw NUL in a string", input: `{"device_id":"AB-1` + "\x00" + `23456","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":"celsius"}` + "\n", in: 1, ok: 0, rule: "decode/", offset: 18},
		{name: "raw NUL line", input: "\x00\x00\x00\n" + goodRecord + "\n", in: 2, ok: 1, rule: "decode/", offset: 0},
		{name: "escaped NUL", input: `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":"celsius\u0000"}` + "\n", in: 1, ok: 0, rule: "normalize/unicode.control", offset: -1, contains: "U+0000"},
		{name: "BOM at start", input: "\xef\xbb\xbf" + goodRecord + "\n" + goodRecord + "\n", in: 2, ok: 2, offset: -1},
		{name: "truncated JSON", input: goodRecord[:40] + "\n", in: 1, ok: 0, rule: "decode/", offset: -1},
		{name: "not an object", input: "[1,2,3]\n\"text\"\n42\n", in: 3, ok: 0, rule: "decode/json.not_object", offset: -1},
		{name: "duplicate keys", input: `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1,"value":2,"unit":"celsius"}` + "\n", in: 1, ok: 0, rule: "decode/json.duplicate_key", offset: -1, contains: "value"},
		{name: "NaN", input: `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":NaN,"unit":"celsius"}` + "\n", in: 1, ok: 0, rule: "decode/", offset: 68, contains: "NaN"},
		{name: "Infinity", input: `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":-Infinity,"unit":"celsius"}` + "\n", in: 1, ok: 0, rule: "decode/", offset: -1, contains: "Infinity"},
		{name: "number beyond float64", input: `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1e400,"unit":"celsius"}` + "\n", in: 1, ok: 0, rule: "decode/json.number_range", offset: -1, contains: "1e400"},
		{name: "nesting 100000 deep", input: strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000) + "\n", in: 1, ok: 0, rule: "decode/json.depth", offset: -1},
		{name: "CSV ragged row", format: "csv", input: "device_id,timestamp,value,unit\nAB-123456,2026-11-24T10:00:00Z,21.5,celsius\nAB-123456,2026-11-24T10:00:00Z,21.5\n",
			in: 2, ok: 1, rule: "frame/csv.ragged_row", offset: -1},
		{name: "CSV untypable cell", format: "csv", input: "device_id,timestamp,value,unit\r\nAB-123456,2026-11-24T10:00:00Z,hot,celsius\r\nAB-123456,2026-11-24T10:00:00Z,-1.5e1,celsius\r\n",
			in: 2, ok: 1, rule: "decode/csv.type", offset: 31 + 32, contains: "hot"},
		{name: "CSV with BOM and quotes", format: "csv", input: "\xef\xbb\xbfdevice_id,timestamp,value,unit\n\"AB-123456\",\"2026-11-24T10:00:00Z\",\"21.5\",celsius\n",
			in: 1, ok: 1, offset: -1},
	}
	p := enginetest.NewProject(t)
	csvJob := "name: csv-feed\nsource: test\nclassification: internal\nformat: csv\nschema: schemas/sensor-reading.json\n"
	if err := os.WriteFile(filepath.Join(p.Root, "jobs", "csv-feed.yaml"), []byte(csvJob), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "csv job"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := "sensor-feed"
			if tc.format == "csv" {
				job = "csv-feed"
			}
			in := enginetest.WriteInput(t, t.TempDir(), "in", []byte(tc.input))
			res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: job, Input: in, AsOf: enginetest.AsOf, Workers: 2})
			if err != nil {
				t.Fatalf("run failed: %v", err)
			}
			if res.RecordsIn != tc.in || res.Verified != tc.ok || res.Verified+res.Quarantined != res.RecordsIn {
				t.Fatalf("in %d verified %d quarantined %d; want in %d verified %d", res.RecordsIn, res.Verified, res.Quarantined, tc.in, tc.ok)
			}
			qs := enginetest.Quarantine(t, p, res.BatchID)
			if tc.rule == "" {
				if len(qs) != 0 {
					t.Fatalf("unexpected quarantine: %+v", qs[0].Reasons)
				}
				return
			}
			r := qs[0].Reasons[0]
			if got := r.Stage + "/" + r.Rule; !strings.HasPrefix(got, tc.rule) {
				t.Fatalf("first reason %s (%s), want %s", got, r.Message, tc.rule)
			}
			if tc.offset >= 0 && (r.Offset == nil || *r.Offset != tc.offset) {
				t.Fatalf("reason offset %v, want %d (%s)", r.Offset, tc.offset, r.Message)
			}
			if !strings.Contains(r.Message, tc.contains) {
				t.Fatalf("reason %q does not mention %q", r.Message, tc.contains)
			}
			raw, _ := qs[0].RawBytes()
			input := []byte(tc.input)
			if !bytes.Equal(raw, input[qs[0].Offset:qs[0].Offset+qs[0].Length]) {
				t.Fatalf("quarantined bytes %q are not the input's at %d", raw, qs[0].Offset)
			}
		})
	}
}

func TestRecordOverTheSizeLimit(t *testing.T) {
	p := enginetest.NewProject(t)
	p.Cfg.MaxRecordBytes = 1024
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "records of at most 1 KiB"); err != nil {
		t.Fatal(err)
	}
	in := enginetest.WriteInput(t, t.TempDir(), "in", []byte(goodRecord+"\n"+`{"pad":"`+strings.Repeat("y", 5000)+`"}`+"\n"+goodRecord))
	res := enginetest.Run(t, p, in, 2)
	if res.RecordsIn != 3 || res.Verified != 2 {
		t.Fatalf("in %d verified %d", res.RecordsIn, res.Verified)
	}
	qs := enginetest.Quarantine(t, p, res.BatchID)
	if qs[0].Reasons[0].Rule != "frame.too_long" || qs[0].RawOmitted == "" || qs[0].Length != 5010 || qs[0].Offset != int64(len(goodRecord))+1 {
		t.Fatalf("too-long record: %+v", qs[0])
	}
}

func TestMissingInputAndUnknownJob(t *testing.T) {
	p := enginetest.NewProject(t)
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "nope", Input: "x"})
	if err == nil || !strings.Contains(err.Error(), "unknown job") || !strings.Contains(err.Error(), "sensor-feed") {
		t.Fatalf("unknown job: %v", err)
	}
	_, err = ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: filepath.Join(t.TempDir(), "missing.jsonl")})
	if err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Fatalf("missing input: %v", err)
	}
	os.Remove(filepath.Join(p.Root, "schemas", "sensor-reading.json"))
	_, err = ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: "x"})
	if err == nil || !strings.Contains(err.Error(), "schemas/sensor-reading.json") {
		t.Fatalf("missing schema: %v", err)
	}
}
