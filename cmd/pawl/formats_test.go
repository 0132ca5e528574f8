package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestParquetAndDialectsFromTheCLI: a Parquet job runs from the command
// line, its summary names verified.parquet, the signature and the trail
// verify with it; a file that is not Parquet is refused in one line with
// exit 1; a mistaken CSV dialect is refused when the job is loaded.
func TestParquetAndDialectsFromTheCLI(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice")
	spec, err := os.ReadFile(filepath.Join(dir, "jobs", "sensor-feed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pq := strings.Replace(strings.Replace(string(spec), "name: sensor-feed", "name: sensor-pq", 1), "format: jsonl\n", "format: parquet\noutputs: [parquet]\n", 1)
	os.WriteFile(filepath.Join(dir, "jobs", "sensor-pq.yaml"), []byte(pq), 0o644)
	mustPawl(t, "-C", dir, "pin", "--reason", "parquet job")

	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, parquet.NewSchema("s", parquet.Group{
		"device_id": parquet.String(), "timestamp": parquet.String(), "unit": parquet.String(), "value": parquet.Leaf(parquet.DoubleType),
	}))
	for _, v := range []float64{21.5, -300} {
		w.WriteRows([]parquet.Row{{parquet.ByteArrayValue([]byte("AB-123456")).Level(0, 0, 0), parquet.ByteArrayValue([]byte("2026-11-24T10:00:00Z")).Level(0, 0, 1),
			parquet.ByteArrayValue([]byte("celsius")).Level(0, 0, 2), parquet.DoubleValue(v).Level(0, 0, 3)}})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "readings.parquet")
	os.WriteFile(in, buf.Bytes(), 0o644)
	out := mustPawl(t, "-C", dir, "run", "sensor-pq", "--input", in, "--as-of", "2026-11-25T00:00:00Z")
	for _, want := range []string{"2 in, 1 verified, 1 quarantined", "verified.parquet  sha256:", "verified.jsonl  sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	var res struct {
		BatchID string `json:"batch_id"`
		Outputs map[string]struct {
			Path    string `json:"path"`
			Records int64  `json:"records"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-pq", "--input", in, "--output", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if o := res.Outputs["verified.parquet"]; o.Records != 1 || o.Path == "" {
		t.Fatalf("--output json outputs: %+v", res.Outputs)
	}
	sig := mustPawl(t, "-C", dir, "verify-signature", filepath.Join(dir, ".pawl", "batches", res.BatchID, "signature.json"))
	if !strings.HasPrefix(sig, "OK") || !strings.Contains(sig, "verified.parquet") {
		t.Errorf("verify-signature does not check verified.parquet:\n%s", sig)
	}
	show := mustPawl(t, "-C", dir, "quarantine", "show", res.BatchID, "2")
	if !strings.Contains(show, `\"value\":-300`) || !strings.Contains(show, "row 2 of the Parquet file") {
		t.Errorf("quarantine show of a Parquet row lacks its JSON bytes:\n%s", show)
	}
	if ver := mustPawl(t, "-C", dir, "audit", "verify"); !strings.Contains(ver, "everything verifies") {
		t.Errorf("audit verify:\n%s", ver)
	}

	notPQ := filepath.Join(t.TempDir(), "readings.parquet")
	os.WriteFile(notPQ, []byte(good+"\n"), 0o644)
	code, _, errs := pawl(t, "", "-C", dir, "run", "sensor-pq", "--input", notPQ)
	if code != 1 || !strings.Contains(errs, "does not start with the Parquet magic bytes PAR1") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Errorf("JSON Lines given to a Parquet job: exit %d\n%s", code, errs)
	}

	eu := strings.Replace(strings.Replace(string(spec), "name: sensor-feed", "name: sensor-eu", 1), "format: jsonl\n", "format: csv\ncsv: {delimiter: \";;\"}\n", 1)
	os.WriteFile(filepath.Join(dir, "jobs", "sensor-eu.yaml"), []byte(eu), 0o644)
	code, _, errs = pawl(t, "", "-C", dir, "pin", "--reason", "eu job")
	if code == 0 || !strings.Contains(errs, `jobs/sensor-eu.yaml: csv: delimiter ";;" must be one ASCII character`) {
		t.Errorf("a two-character delimiter: exit %d\n%s", code, errs)
	}
}

// TestExportCarriesVerifiedParquet: an export of a batch that wrote
// verified.parquet sends it with verified.jsonl, checked against its hash
// on record, and the signature verifies it at the destination.
func TestExportCarriesVerifiedParquet(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice", "--role", "approver=policy_admin")
	spec, _ := os.ReadFile(filepath.Join(dir, "jobs", "sensor-feed.yaml"))
	os.WriteFile(filepath.Join(dir, "jobs", "sensor-feed.yaml"), []byte(strings.Replace(string(spec), "format: jsonl\n", "format: jsonl\noutputs: [parquet]\n", 1)), 0o644)
	mustPawl(t, "-C", dir, "pin", "--reason", "verified records as Parquet too")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	var r map[string]any
	if err := json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "--input", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")), &r); err != nil {
		t.Fatal(err)
	}
	id := r["batch_id"].(string)
	outbox := t.TempDir()
	whitelist(t, dir, "outbox", "file://"+outbox+"/", "internal")
	grant(t, dir, "bob", "operator")
	mustPawl(t, "-C", dir, "export", id, "--to", "file://"+outbox+"/b/", "--purpose", "test", "--operator", "bob")
	got, err := os.ReadFile(filepath.Join(outbox, "b", "verified.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, ".pawl", "batches", id, "verified.parquet"))
	if !bytes.Equal(got, want) || len(got) == 0 {
		t.Fatal("verified.parquet at the destination differs from the batch's")
	}
	sig := mustPawl(t, "verify-signature", filepath.Join(outbox, "b", "signature.json"), "--key", filepath.Join(dir, ".pawl", "keys", "engine.pub"))
	if !strings.HasPrefix(sig, "OK") || !strings.Contains(sig, "verified.parquet") {
		t.Errorf("verify-signature at the destination:\n%s", sig)
	}
}
