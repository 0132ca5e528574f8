package ratchet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/seal"
)

// addJob writes jobs/<name>.yaml as the example job (sensor-feed) with
// its name changed and extra lines after `format:`, and pins it.
func addJob(t testing.TB, p *project.Project, name, format string, extra string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.Root, "jobs", "sensor-feed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "name: sensor-feed", "name: "+name, 1)
	s = strings.Replace(s, "format: jsonl\n", "format: "+format+"\n"+extra, 1)
	if err := os.WriteFile(filepath.Join(p.Root, "jobs", name+".yaml"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "add "+name); err != nil {
		t.Fatal(err)
	}
}

// sensorRow is a sensor reading both as a JSON line and as a Parquet row.
type sensorRow struct {
	DeviceID, Timestamp, Unit string
	Value                     float64
	Has                       [4]bool // device_id, timestamp, unit, value present
}

// sensorRows picks, from the demo generator's readings, those a Parquet
// file with the schema's four columns can hold (objects with those keys
// only, strings and a number, no nulls): the defects that remain are the
// schema's, the normalizer's and the plugins' to find.
func sensorRows(t testing.TB, n int, seed uint64) (jsonl []byte, rows []sensorRow) {
	t.Helper()
	var buf bytes.Buffer
	for _, line := range bytes.Split(enginetest.GenInput(t, n, seed), []byte("\n")) {
		v, err := records.DecodeJSON(line, records.DecodeOptions{RequireObject: true})
		if err != nil {
			continue
		}
		obj := v.(map[string]any)
		var r sensorRow
		ok := true
		for k, x := range obj {
			switch k {
			case "device_id", "timestamp", "unit":
				s, isStr := x.(string)
				ok = ok && isStr
				switch k {
				case "device_id":
					r.DeviceID, r.Has[0] = s, true
				case "timestamp":
					r.Timestamp, r.Has[1] = s, true
				default:
					r.Unit, r.Has[2] = s, true
				}
			case "value":
				num, isNum := x.(json.Number)
				f, err := strconv.ParseFloat(string(num), 64)
				ok = ok && isNum && err == nil
				r.Value, r.Has[3] = f, true
				// The JSON line holds the number as a DOUBLE column reads back.
				obj[k] = json.Number(records.FormatFloat(f, 64))
			default:
				ok = false
			}
		}
		if !ok {
			continue
		}
		buf.Write(canonjson.Append(nil, obj))
		buf.WriteByte('\n')
		rows = append(rows, r)
	}
	return buf.Bytes(), rows
}

// sensorParquet writes rows as a Parquet file with rowsPerGroup rows per
// row group.
func sensorParquet(t testing.TB, rows []sensorRow, rowsPerGroup int64) []byte {
	t.Helper()
	group := parquet.Group{
		"device_id": parquet.Optional(parquet.String()),
		"timestamp": parquet.Optional(parquet.String()),
		"unit":      parquet.Optional(parquet.String()),
		"value":     parquet.Optional(parquet.Leaf(parquet.DoubleType)),
	}
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, parquet.NewSchema("sensor", group), parquet.MaxRowsPerRowGroup(rowsPerGroup))
	batch := make([]parquet.Row, 0, 1024)
	for _, r := range rows {
		// Columns in name order: device_id, timestamp, unit, value.
		row := parquet.Row{parquet.NullValue().Level(0, 0, 0), parquet.NullValue().Level(0, 0, 1), parquet.NullValue().Level(0, 0, 2), parquet.NullValue().Level(0, 0, 3)}
		for i, s := range []string{r.DeviceID, r.Timestamp, r.Unit} {
			if r.Has[i] {
				row[i] = parquet.ByteArrayValue([]byte(s)).Level(0, 1, i)
			}
		}
		if r.Has[3] {
			row[3] = parquet.DoubleValue(r.Value).Level(0, 1, 3)
		}
		if batch = append(batch, row); len(batch) == cap(batch) {
			if _, err := w.WriteRows(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if _, err := w.WriteRows(batch); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// verdicts is each record's outcome: "verified", or its quarantine reasons
// (stage, rule, pointer, message: the input offsets differ between formats).
func verdicts(t testing.TB, p *project.Project, res *ratchet.Result) []string {
	t.Helper()
	out := make([]string, res.RecordsIn)
	for i := range out {
		out[i] = "verified"
	}
	for _, q := range enginetest.Quarantine(t, p, res.BatchID) {
		var s []string
		for _, r := range q.Reasons {
			s = append(s, r.Stage+"/"+r.Rule+" "+r.Pointer+": "+r.Message)
		}
		out[q.Ordinal-1] = strings.Join(s, "; ")
	}
	return out
}

// TestParquetRoundTrip: the same readings as JSON Lines and as Parquet
// (several row groups) get the same verdicts and reasons from every
// stage, plugins included, and the same verified.jsonl byte for byte; the
// Parquet output holds exactly the verified records.
func TestParquetRoundTrip(t *testing.T) {
	roundTrip(t, 3000, 700)
}

// BenchmarkParquetRoundTripMillion is the million-record round
// trip (TestParquetRoundTrip's checks on 1,000,000 readings): minutes on
// two cores, so a benchmark, run by hand and recorded in BENCHMARKS.md:
//
//	go test ./engine/ratchet -run '^$' -bench ParquetRoundTripMillion -benchtime 1x -timeout 30m
func BenchmarkParquetRoundTripMillion(b *testing.B) {
	for range b.N {
		roundTrip(b, 1_000_000, 1<<16)
	}
}

func roundTrip(t testing.TB, n int, rowsPerGroup int64) {
	p := enginetest.NewProject(t)
	addJob(t, p, "sensor-pq", "parquet", "outputs: [parquet]\n")
	addJob(t, p, "sensor-jl", "jsonl", "outputs: [parquet]\n")
	jl, rows := sensorRows(t, n, 11)
	dir := t.TempDir()
	jlRes, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-jl", Input: enginetest.WriteInput(t, dir, "in.jsonl", jl), AsOf: enginetest.AsOf, Workers: 2, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	pqRes, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-pq", Input: enginetest.WriteInput(t, dir, "in.parquet", sensorParquet(t, rows, rowsPerGroup)), AsOf: enginetest.AsOf, Workers: 2, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if pqRes.Format != "parquet" || pqRes.RecordsIn != int64(len(rows)) || pqRes.RecordsIn != jlRes.RecordsIn {
		t.Fatalf("parquet: format %s, %d records in; JSON Lines %d; rows %d", pqRes.Format, pqRes.RecordsIn, jlRes.RecordsIn, len(rows))
	}
	if jlRes.Quarantined == 0 || jlRes.Verified == 0 {
		t.Fatalf("the readings should hold both outcomes: %d verified, %d quarantined", jlRes.Verified, jlRes.Quarantined)
	}
	a, b := verdicts(t, p, jlRes), verdicts(t, p, pqRes)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("record %d: JSON Lines %q, Parquet %q", i+1, a[i], b[i])
		}
	}
	for _, name := range []string{actions.VerifiedFile, actions.VerifiedParquetFile} {
		if jlRes.Outputs[name] != pqRes.Outputs[name] {
			t.Errorf("%s differs: JSON Lines %+v, Parquet %+v", name, jlRes.Outputs[name], pqRes.Outputs[name])
		}
	}
	// verified.parquet read back is verified.jsonl, row for row.
	verified := enginetest.ReadLines(t, filepath.Join(p.BatchDir(pqRes.BatchID), actions.VerifiedFile))
	pqOut, err := os.ReadFile(filepath.Join(p.BatchDir(pqRes.BatchID), actions.VerifiedParquetFile))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := records.NewParquetReader(bytes.NewReader(pqOut), int64(len(pqOut)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		rec, err := rd.Next()
		if err == io.EOF {
			if i != len(verified) {
				t.Fatalf("verified.parquet holds %d rows, verified.jsonl %d", i, len(verified))
			}
			break
		}
		if err != nil || rec.Err != nil {
			t.Fatalf("verified.parquet row %d: %v %v", i+1, err, rec.Err)
		}
		if got := canonjson.Append(nil, rec.Value); !bytes.Equal(got, verified[i]) {
			t.Fatalf("verified.parquet row %d is %s, verified.jsonl %s", i+1, got, verified[i])
		}
	}
	// A quarantined row holds its bytes: its canonical JSON, which is the
	// JSON line it came from.
	lines := bytes.Split(jl, []byte("\n"))
	for _, q := range enginetest.Quarantine(t, p, pqRes.BatchID)[:3] {
		if q.Raw != string(lines[q.Ordinal-1]) || q.Line != q.Ordinal || q.Length != int64(len(q.Raw)) {
			t.Errorf("quarantined row %d: line %d, length %d, raw %s; want the line %s", q.Ordinal, q.Line, q.Length, q.Raw, lines[q.Ordinal-1])
		}
	}
}

// TestParquetOutputDeterministic: the same input gives verified.parquet
// byte for byte, whatever the worker count, and a replay of the batch
// reproduces its hash (and every other) from the store.
func TestParquetOutputDeterministic(t *testing.T) {
	_, rows := sensorRows(t, 1500, 5)
	input := sensorParquet(t, rows, 400)
	var results []*ratchet.Result
	var projects []*project.Project
	for _, w := range []int{1, 4} {
		p := enginetest.NewProject(t)
		addJob(t, p, "sensor-pq", "parquet", "outputs: [parquet]\n")
		res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-pq", Input: enginetest.WriteInput(t, t.TempDir(), "in.parquet", input), AsOf: enginetest.AsOf, Workers: w, Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		results, projects = append(results, res), append(projects, p)
	}
	a, b := results[0], results[1]
	pa, ok := a.Outputs[actions.VerifiedParquetFile]
	if !ok || pa.Records != a.Verified || pa.Bytes == 0 {
		t.Fatalf("no verified.parquet on record: %+v", a.Outputs)
	}
	if pa != b.Outputs[actions.VerifiedParquetFile] || a.Outputs[actions.VerifiedFile] != b.Outputs[actions.VerifiedFile] || a.BatchID != b.BatchID {
		t.Fatalf("1 and 4 workers differ:\n%+v\n%+v", a.Outputs, b.Outputs)
	}
	// The file is what the record says, and says who wrote it.
	f, err := os.ReadFile(filepath.Join(projects[0].BatchDir(a.BatchID), actions.VerifiedParquetFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(f, []byte("pawl verified-parquet v1")) {
		t.Error("created_by is not pawl's fixed string")
	}
	rep, err := ratchet.Replay(context.Background(), projects[1], a.BatchID, "tester", "replay test")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Match {
		t.Fatalf("replay does not match: %+v (%s)", rep.Artifacts, rep.Failure)
	}
	found := false
	for _, art := range rep.Artifacts {
		found = found || art.Name == actions.VerifiedParquetFile && art.Match && art.Recorded == string(pa.Hash)
	}
	if !found {
		t.Errorf("the replay did not compare verified.parquet: %+v", rep.Artifacts)
	}
	// The signature covers verified.parquet: it verifies with the file as
	// written, and not once one bit of it changes.
	sigPath := filepath.Join(projects[1].BatchDir(a.BatchID), actions.SignatureFile)
	chk, err := seal.VerifyFile(sigPath, nil)
	if err != nil || !slices.Contains(chk.Outputs, actions.VerifiedParquetFile) {
		t.Fatalf("signature check %+v, %v: want verified.parquet among the outputs checked", chk, err)
	}
	path := filepath.Join(projects[1].BatchDir(a.BatchID), actions.VerifiedParquetFile)
	os.Chmod(path, 0o644)
	g := bytes.Clone(f)
	g[len(g)/2] ^= 1
	if err := os.WriteFile(path, g, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.VerifyFile(sigPath, nil); err == nil || !strings.Contains(err.Error(), actions.VerifiedParquetFile) {
		t.Fatalf("a changed verified.parquet passes the signature check (%v)", err)
	}
}

// TestBadParquetInput: a file that is not (whole) Parquet, or whose
// columns the schema types otherwise, fails the batch with a clear error
// before any record is read: a batch.failed entry, nothing committed, the
// input kept in the store.
func TestBadParquetInput(t *testing.T) {
	p := enginetest.NewProject(t)
	addJob(t, p, "sensor-pq", "parquet", "")
	_, rows := sensorRows(t, 50, 2)
	good := sensorParquet(t, rows, 1000)
	wrongType := func() []byte {
		var buf bytes.Buffer
		w := parquet.NewWriter(&buf, parquet.NewSchema("s", parquet.Group{"device_id": parquet.String(), "value": parquet.String()}))
		w.WriteRows([]parquet.Row{{parquet.ByteArrayValue([]byte("AB-123456")).Level(0, 0, 0), parquet.ByteArrayValue([]byte("hot")).Level(0, 0, 1)}})
		w.Close()
		return buf.Bytes()
	}()
	cases := []struct {
		name, want string
		in         []byte
	}{
		{"truncated", "parquet.file at byte", good[:len(good)/2]},
		{"wrong magic", "does not start with the Parquet magic bytes PAR1", append([]byte("PAR0"), good[4:]...)},
		{"JSON Lines given to a Parquet job", "it is not a Parquet file", []byte(enginetest.GoodReading + "\n")},
		{"a column of the wrong type", `column "value" is BYTE_ARRAY STRING, whose values are JSON strings, but the schema declares "value" as number`, wrongType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(enginetest.Entries(t, p.Trail, "batch.failed", ""))
			_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-pq", Input: enginetest.WriteInput(t, t.TempDir(), "in.parquet", tc.in), AsOf: enginetest.AsOf, Workers: 2, Reason: "test"})
			if err == nil || !errors.Is(err, ratchet.ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant bad input with %q", err, tc.want)
			}
			failed := enginetest.Details[actions.BatchFailedDetails](t, p.Trail, "")
			if len(failed) != before+1 || !strings.Contains(failed[len(failed)-1].Error, tc.want) {
				t.Fatalf("no batch.failed entry naming the problem: %+v", failed)
			}
			if _, err := p.Store.Open(failed[len(failed)-1].Input); err != nil {
				t.Errorf("the input is not kept in the store: %v", err)
			}
			if ents := enginetest.Entries(t, p.Trail, "batch.committed", ""); len(ents) != 0 {
				t.Errorf("%d batches committed", len(ents))
			}
		})
	}
}

// TestParquetResubmit: a quarantined Parquet row is corrected as the JSON
// object its bytes are, and the correction runs under the batch's plan.
func TestParquetResubmit(t *testing.T) {
	p := enginetest.NewProject(t)
	addJob(t, p, "sensor-pq", "parquet", "outputs: [parquet]\n")
	rows := []sensorRow{
		{DeviceID: "AB-123456", Timestamp: "2026-11-24T10:00:00Z", Unit: "celsius", Value: 21.5, Has: [4]bool{true, true, true, true}},
		{DeviceID: "AB-123456", Timestamp: "2026-11-24T10:00:00Z", Unit: "celsius", Has: [4]bool{true, true, true, false}},
	}
	res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-pq", Input: enginetest.WriteInput(t, t.TempDir(), "in.parquet", sensorParquet(t, rows, 10)), AsOf: enginetest.AsOf, Workers: 1, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	qs := enginetest.Quarantine(t, p, res.BatchID)
	if res.Verified != 1 || len(qs) != 1 || qs[0].Reasons[0].Stage != finding.StageSchema || !strings.Contains(qs[0].Reasons[0].Message, "value") {
		t.Fatalf("verified %d, quarantine %+v", res.Verified, qs)
	}
	fixed := strings.Replace(qs[0].Raw, `"unit":"celsius"`, `"unit":"celsius","value":20.25`, 1)
	cor, err := ratchet.Resubmit(context.Background(), p, res.BatchID, 2, []byte(fixed), "tester", "value was missing from the export")
	if err != nil {
		t.Fatal(err)
	}
	if cor.Verified != 1 || cor.Outputs[actions.VerifiedParquetFile].Records != 1 {
		t.Fatalf("correction: %+v", cor.Batch)
	}
}

// TestCSVDialectRun: an EU export (semicolons) and a file without a
// header run through the pipeline as the same readings in RFC 4180 do:
// the same verdicts and the same verified.jsonl.
func TestCSVDialectRun(t *testing.T) {
	p := enginetest.NewProject(t)
	addJob(t, p, "sensor-csv", "csv", "")
	addJob(t, p, "sensor-eu", "csv", "csv:\n  delimiter: \";\"\n")
	addJob(t, p, "sensor-nohdr", "csv", "csv: {delimiter: \"\\t\", quote: \"'\", header: false, columns: [device_id, timestamp, value, unit]}\n")
	std := "device_id,timestamp,value,unit\nAB-123456,2026-11-24T10:00:00Z,21.5,celsius\n\"AB-123456\",2026-11-24T10:00:00Z,hot,celsius\nAB-123456,\"2026-11-24T10:00:00Z\",-1.5e1,\"cel,sius\"\n"
	eu := strings.ReplaceAll(std, ",", ";")
	nohdr := strings.ReplaceAll(strings.ReplaceAll(strings.SplitN(std, "\n", 2)[1], ",", "\t"), `"`, "'")
	var res []*ratchet.Result
	for _, c := range []struct{ job, in string }{{"sensor-csv", std}, {"sensor-eu", eu}, {"sensor-nohdr", nohdr}} {
		r, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: c.job, Input: enginetest.WriteInput(t, t.TempDir(), "in.csv", []byte(c.in)), AsOf: enginetest.AsOf, Workers: 1, Reason: "test"})
		if err != nil {
			t.Fatalf("%s: %v", c.job, err)
		}
		res = append(res, r)
	}
	want := verdicts(t, p, res[0])
	if res[0].Verified != 1 || res[0].RecordsIn != 3 || !strings.Contains(want[1], "csv.type") || !strings.Contains(want[2], "unit") {
		t.Fatalf("RFC 4180: %d of %d verified, %q", res[0].Verified, res[0].RecordsIn, want)
	}
	for i, r := range res[1:] {
		// The quoted delimiter is data: "cel,sius" there is "cel;sius" here.
		got := strings.NewReplacer(`cel;sius`, `cel,sius`, `cel\tsius`, `cel,sius`).Replace(strings.Join(verdicts(t, p, r), "|"))
		if got != strings.Join(want, "|") || r.Outputs[actions.VerifiedFile].Hash != res[0].Outputs[actions.VerifiedFile].Hash {
			t.Errorf("dialect %d: %q, want %q", i+1, got, want)
		}
	}
	// A dialect that does not match the file is the file's problem, named.
	r, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-eu", Input: enginetest.WriteInput(t, t.TempDir(), "in.csv", []byte(std)), AsOf: enginetest.AsOf, Workers: 1, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verified != 0 || !strings.Contains(verdicts(t, p, r)[0], "csv.ragged_row") && !strings.Contains(verdicts(t, p, r)[0], "required") {
		t.Errorf("comma file read as semicolons: %d verified, %q", r.Verified, verdicts(t, p, r))
	}
}

// TestParquetTrace: a Parquet batch's records trace to their lineage
// leaves, verified and quarantined alike: their bytes are read again.
func TestParquetTrace(t *testing.T) {
	p := enginetest.NewProject(t)
	addJob(t, p, "sensor-pq", "parquet", "")
	_, rows := sensorRows(t, 300, 9)
	res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-pq", Input: enginetest.WriteInput(t, t.TempDir(), "in.parquet", sensorParquet(t, rows, 100)), AsOf: enginetest.AsOf, Workers: 2, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	q := enginetest.Quarantine(t, p, res.BatchID)[0].Ordinal
	v := int64(1)
	if v == q {
		v = 2
	}
	for _, ord := range []int64{v, q, res.RecordsIn} {
		tr, err := review.Trace(context.Background(), p, res.BatchID, ord)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Lineage.Problem != "" || !tr.Lineage.Proved || tr.Lineage.Leaf != tr.Lineage.LeafOnRecord {
			t.Errorf("record %d (%s): lineage %+v", ord, tr.Record.Outcome, tr.Lineage)
		}
	}
}

// TestParquetRowOverTheSizeLimit: a row whose canonical JSON is over
// max_record_bytes is quarantined (parquet.too_long) with its bytes; the
// rows around it are not affected.
func TestParquetRowOverTheSizeLimit(t *testing.T) {
	p := enginetest.NewProject(t)
	p.Cfg.MaxRecordBytes = 1024
	addJob(t, p, "sensor-pq", "parquet", "")
	good := sensorRow{DeviceID: "AB-123456", Timestamp: "2026-11-24T10:00:00Z", Unit: "celsius", Value: 21.5, Has: [4]bool{true, true, true, true}}
	long := good
	long.Unit = strings.Repeat("y", 5000)
	res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-pq", Input: enginetest.WriteInput(t, t.TempDir(), "in.parquet", sensorParquet(t, []sensorRow{good, long, good}, 10)), AsOf: enginetest.AsOf, Workers: 2, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	qs := enginetest.Quarantine(t, p, res.BatchID)
	if res.RecordsIn != 3 || res.Verified != 2 || len(qs) != 1 {
		t.Fatalf("in %d verified %d quarantine %d", res.RecordsIn, res.Verified, len(qs))
	}
	q := qs[0]
	if q.Ordinal != 2 || q.Reasons[0].Stage != finding.StageFrame || q.Reasons[0].Rule != records.RuleParquetTooLong || q.Length != int64(len(q.Raw)) || q.Length <= 5000 ||
		!strings.Contains(q.Reasons[0].Message, "over max_record_bytes (1024)") {
		t.Fatalf("too-long row: %+v", q)
	}
}
