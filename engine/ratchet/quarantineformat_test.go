package ratchet_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/review"
)

// TestQuarantineByReference: a batch's quarantine lines leave the bytes of
// records that are spans of the input out (actions.QuarantineByReference),
// and what project.Quarantined gives back from the input blob is exactly
// what the same batch written in format 1 holds, for every kind of
// quarantined record: a plugin's and the schema's rejects, bytes that are
// not UTF-8, CRLF lines after a BOM, quotes, backslashes, U+2028 and other
// non-ASCII text, a line that does not decode, one over max_record_bytes
// (whose line still says so), and CSV rows with a quoted line break. A
// replay of each format reproduces it.
func TestQuarantineByReference(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	p.Cfg.MaxRecordBytes = 1024
	csvJob := "name: csv-feed\nsource: test\nclassification: internal\nformat: csv\nschema: schemas/sensor-reading.json\n"
	if err := os.WriteFile(filepath.Join(p.Root, "jobs", "csv-feed.yaml"), []byte(csvJob), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := enginetest.PinAs(ctx, t, p, "tester", "records of at most 1 KiB; a CSV job"); err != nil {
		t.Fatal(err)
	}
	jsonl := "\xef\xbb\xbf" + goodRecord + "\r\n" +
		enginetest.HotReading + "\r\n" +
		`{"device_id":"ZZ-999999","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}` + "\r\n" + // registry's reject
		`{"device_id":"AB-12` + "\xff\xfe" + `3456"}` + "\n" +
		`{"device_id":"AB-1234\u00e9\u2028","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":"c\"el\\\\sius"}` + "\n" +
		"{\n" +
		`{"pad":"` + strings.Repeat("y", 2000) + `"}` + "\n" +
		goodRecord
	csv := "device_id,timestamp,value,unit\r\n" +
		"AB-123456,2026-11-24T10:00:00Z,21.5,celsius\r\n" +
		"AB-123456,2026-11-24T10:00:00Z,hot,celsius\r\n" +
		"\"AB-12\r\n3456\",2026-11-24T10:00:00Z,1,\"cel\"\"sius\"\r\n" +
		"AB-123456,2026-11-24T10:00:00Z,1,\xffcelsius\r\n" +
		"AB-123456,2026-11-24T10:00:00Z\r\n"
	for _, tc := range []struct{ job, input string }{{"sensor-feed", jsonl}, {"csv-feed", csv}} {
		t.Run(tc.job, func(t *testing.T) {
			in := enginetest.WriteInput(t, t.TempDir(), "in", []byte(tc.input))
			res, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: tc.job, Input: in, AsOf: enginetest.AsOf, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.Batch(ctx, res.BatchID)
			if err != nil {
				t.Fatal(err)
			}
			if b.QuarantineFormat != actions.QuarantineByReference || res.Quarantined < 4 {
				t.Fatalf("quarantine format %d, %d quarantined: want format %d and at least 4", b.QuarantineFormat, res.Quarantined, actions.QuarantineByReference)
			}
			// On disk, no line holds a buffered record's bytes.
			lines := enginetest.ReadLines(t, p.BatchFile(res.BatchID, actions.QuarantineFile))
			omitted := 0
			for _, l := range lines {
				if bytes.Contains(l, []byte(`"raw":`)) || bytes.Contains(l, []byte(`"raw_base64":`)) {
					t.Fatalf("a line of format 2 holds the record's bytes: %s", l)
				}
				if bytes.Contains(l, []byte(`"raw_omitted":`)) {
					omitted++
				}
			}
			if tc.job == "sensor-feed" && omitted != 1 {
				t.Fatalf("%d lines say why the bytes are not there; want the too-long record's", omitted)
			}
			got := enginetest.Quarantine(t, p, res.BatchID)

			// The same batch in format 1, by a replay of its record saying so.
			rec1 := b.BatchRecord
			rec1.QuarantineFormat = 0
			out := filepath.Join(t.TempDir(), "v1")
			again, err := ratchet.ReplayInto(ctx, p, &rec1, "tester", out)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(out, actions.QuarantineFile))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var want []*finding.QuarantineEntry
			if err := finding.ReadQuarantine(f, "format 1", func(q *finding.QuarantineEntry) bool { want = append(want, q); return true }); err != nil {
				t.Fatal(err)
			}
			for _, q := range want {
				if !q.HasBytes() {
					t.Fatalf("a format 1 entry without the record's bytes: %+v", q)
				}
			}
			if !reflect.DeepEqual(got, want) {
				for i := range min(len(got), len(want)) {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("entry %d read back from the input:\n%+v\nformat 1:\n%+v", i, got[i], want[i])
					}
				}
				t.Fatalf("%d entries read back, %d in format 1", len(got), len(want))
			}
			for _, q := range got {
				raw, err := q.RawBytes()
				if err != nil {
					t.Fatal(err)
				}
				if q.RawOmitted == "" && !bytes.Equal(raw, []byte(tc.input)[q.Offset:q.Offset+q.Length]) {
					t.Fatalf("record %d: %q, the input has %q", q.Ordinal, raw, tc.input[q.Offset:q.Offset+q.Length])
				}
			}
			// The formats differ in the quarantine (and so in the lineage)
			// only; the verified output is the same.
			if again.Outputs[actions.VerifiedFile].Hash != b.Outputs[actions.VerifiedFile].Hash ||
				again.Outputs[actions.QuarantineFile].Hash == b.Outputs[actions.QuarantineFile].Hash ||
				again.Outputs[actions.QuarantineFile].Bytes <= b.Outputs[actions.QuarantineFile].Bytes {
				t.Fatalf("format 1 outputs %+v, format 2 %+v", again.Outputs, b.Outputs)
			}
			// A replay of each format reproduces it.
			twice, err := ratchet.ReplayRecord(ctx, p, &rec1, "tester")
			if err != nil {
				t.Fatal(err)
			}
			if twice.Outputs[actions.QuarantineFile] != again.Outputs[actions.QuarantineFile] || twice.Lineage.Root != again.Lineage.Root || twice.QuarantineFormat != 0 {
				t.Fatalf("format 1 replayed twice: %+v then %+v", again.Outputs, twice.Outputs)
			}
			rep, err := ratchet.Replay(ctx, p, res.BatchID, "tester", "test")
			if err != nil || !rep.Match {
				t.Fatalf("replay of the batch: %+v, %v", rep, err)
			}
			// An audit export (and so the inspectors' package) carries the
			// quarantine as stored and, beside it, the records with their
			// bytes: the format 1 entries, in its SHA256SUMS.
			dir := filepath.Join(t.TempDir(), "export")
			exp, err := review.ExportAudit(ctx, p, dir, "html", "inspector", "")
			if err != nil {
				t.Fatal(err)
			}
			name := "quarantine/" + res.BatchID + review.RecordsSuffix
			rf, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil || exp.Files[name] == "" {
				t.Fatalf("the export has no %s (%v), files %v", name, err, exp.Files)
			}
			defer rf.Close()
			var exported []*finding.QuarantineEntry
			if err := finding.ReadQuarantine(rf, name, func(q *finding.QuarantineEntry) bool { exported = append(exported, q); return true }); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(exported, want) {
				t.Fatalf("the export's records with their bytes are not the format 1 entries:\n%+v\n%+v", exported, want)
			}
			stored, err := os.ReadFile(filepath.Join(dir, "quarantine", res.BatchID+".jsonl"))
			if err != nil || !bytes.Equal(stored, bytes.Join(append(lines, nil), []byte("\n"))) {
				t.Fatalf("the export's quarantine is not the stored file: %v", err)
			}
		})
	}
}

// TestQuarantineWithoutItsInputBlob: with the input blob gone, reading a
// format 2 batch's quarantine with its records' bytes is an error naming
// the blob, not entries without bytes; reading the reasons alone still
// works.
func TestQuarantineWithoutItsInputBlob(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	res := enginetest.Run(t, p, enginetest.WriteInput(t, t.TempDir(), "in", []byte(enginetest.HotReading+"\n"+enginetest.HotReading+" \n")), 1)
	b, err := p.Batch(ctx, res.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	blob := p.Store.Path(b.Input)
	if err := os.Chmod(filepath.Dir(blob), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = p.Quarantined(ctx, res.BatchID, func(*finding.QuarantineEntry) bool { n++; return true })
	if err == nil || !strings.Contains(err.Error(), string(b.Input)) || n != 0 {
		t.Fatalf("with the input blob gone: %d entries, %v", n, err)
	}
	if _, err := p.QuarantineEntry(ctx, res.BatchID, 1); err == nil || !strings.Contains(err.Error(), string(b.Input)) {
		t.Fatalf("one entry with the input blob gone: %v", err)
	}
	err = p.QuarantinedAsStored(ctx, res.BatchID, func(q *finding.QuarantineEntry, _ func(*finding.QuarantineEntry) error) bool {
		n += len(q.Reasons)
		return true
	})
	if err != nil || n < 2 || p.IsQuarantined(ctx, res.BatchID, 2) != nil {
		t.Fatalf("the reasons alone: %d, %v", n, err)
	}
}

// TestUnknownQuarantineFormat: a record in a quarantine format this pawl
// does not write is not replayed as another.
func TestUnknownQuarantineFormat(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	res := enginetest.Run(t, p, enginetest.WriteInput(t, t.TempDir(), "in", []byte(enginetest.HotReading+"\n")), 1)
	b, err := p.Batch(ctx, res.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	rec := b.BatchRecord
	rec.QuarantineFormat = actions.QuarantineByReference + 1
	if _, err := ratchet.ReplayRecord(ctx, p, &rec, "tester"); err == nil || !strings.Contains(err.Error(), "quarantine format 3") {
		t.Fatalf("replay of a record in format 3: %v", err)
	}
}

// TestFormat1BatchesStillHold: a batch written in quarantine format 1 (as
// releases before format 2 wrote every batch) keeps its records' bytes in
// its lines, and this release still reads, traces, proves, verifies and
// replays it as it was.
func TestFormat1BatchesStillHold(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	*ratchet.NewQuarantineFormat = 0
	t.Cleanup(func() { *ratchet.NewQuarantineFormat = actions.QuarantineByReference })
	res := enginetest.Run(t, p, enginetest.WriteInput(t, t.TempDir(), "in", enginetest.GenInput(t, 200, 7)), 2)
	*ratchet.NewQuarantineFormat = actions.QuarantineByReference
	b, err := p.Batch(ctx, res.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if b.QuarantineFormat != 0 || res.Quarantined == 0 {
		t.Fatalf("quarantine format %d, %d quarantined: want a format 1 batch with quarantined records", b.QuarantineFormat, res.Quarantined)
	}
	for _, l := range enginetest.ReadLines(t, p.BatchFile(res.BatchID, actions.QuarantineFile)) {
		if !bytes.Contains(l, []byte(`"raw":`)) && !bytes.Contains(l, []byte(`"raw_base64":`)) {
			t.Fatalf("a format 1 line without the record's bytes: %s", l)
		}
	}
	for _, q := range enginetest.Quarantine(t, p, res.BatchID) {
		tr, err := review.Trace(ctx, p, res.BatchID, q.Ordinal)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Lineage.Problem != "" || tr.Lineage.Leaf != tr.Lineage.LeafOnRecord {
			t.Fatalf("record %d of a format 1 batch does not trace: %+v", q.Ordinal, tr.Lineage)
		}
	}
	if rep, err := review.Verify(ctx, p); err != nil || !rep.OK() {
		t.Fatalf("audit verify of a format 1 batch: %+v, %v", rep, err)
	}
	rep, err := ratchet.Replay(ctx, p, res.BatchID, "tester", "test")
	if err != nil || !rep.Match {
		t.Fatalf("replay of a format 1 batch: %+v, %v", rep, err)
	}
}
