package openlineage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/egress"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/openlineage"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

// spec compiles the official OpenLineage schemas in testdata/spec (each
// under its own $id) into a validator per document: the RunEvent, and
// each facet pawl writes, keyed by the facet's name in an event.
type spec struct {
	event  *jsonschema.Schema
	facets map[string]*jsonschema.Schema // "schema", "dataQualityAssertions", …
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	ids := map[string]string{}
	files, err := filepath.Glob(filepath.Join("testdata", "spec", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join("testdata", "spec", "facets", "*.json"))
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		id := doc.(map[string]any)["$id"].(string)
		if err := c.AddResource(id, doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ids[strings.TrimSuffix(filepath.Base(f), ".json")] = id
	}
	s := &spec{facets: map[string]*jsonschema.Schema{}}
	if s.event, err = c.Compile(ids["OpenLineage"]); err != nil {
		t.Fatal(err)
	}
	// Each facet document validates an object of facets by their names:
	// {"schema": {...}}, {"dataQualityAssertions": {...}}.
	for name, facet := range map[string]string{
		"SchemaDatasetFacet": "schema", "DataQualityAssertionsDatasetFacet": "dataQualityAssertions",
		"DatasetVersionDatasetFacet": "version", "OutputStatisticsOutputDatasetFacet": "outputStatistics",
		"JobTypeJobFacet": "jobType", "ErrorMessageRunFacet": "errorMessage",
	} {
		if s.facets[facet], err = c.Compile(ids[name]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// check validates one event line: the whole event against RunEvent, and
// every facet pawl writes against its own document. It returns the
// problems, so that a test can also show that a broken event fails.
func (s *spec) check(line []byte) []string {
	var problems []string
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return []string{err.Error()}
	}
	if err := s.event.Validate(v); err != nil {
		problems = append(problems, "event: "+err.Error())
	}
	ev := v.(map[string]any)
	facetsOf := func(where string, m any, key string) {
		obj, _ := m.(map[string]any)
		fs, _ := obj[key].(map[string]any)
		for name, f := range fs {
			if name == "pawl_batch" {
				continue // pawl's own: checked against docs/openlineage below
			}
			sch, ok := s.facets[name]
			if !ok {
				problems = append(problems, where+": facet "+name+" has no schema in testdata/spec")
				continue
			}
			if err := sch.Validate(map[string]any{name: f}); err != nil {
				problems = append(problems, where+" facet "+name+": "+err.Error())
			}
		}
	}
	facetsOf("run", ev["run"], "facets")
	facetsOf("job", ev["job"], "facets")
	for _, k := range []string{"inputs", "outputs"} {
		ds, _ := ev[k].([]any)
		for _, d := range ds {
			facetsOf(k, d, "facets")
			facetsOf(k, d, "inputFacets")
			facetsOf(k, d, "outputFacets")
		}
	}
	return problems
}

// batchFacet is pawl's own facet, validated against the schema the
// documentation publishes for it.
func batchFacetSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "openlineage", "PawlBatchRunFacet.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(openlineage.BatchFacetURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(openlineage.BatchFacetURL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type event struct {
	EventType string `json:"eventType"`
	Run       struct {
		RunID  string `json:"runId"`
		Facets struct {
			Batch        map[string]any `json:"pawl_batch"`
			ErrorMessage struct {
				Message string `json:"message"`
			} `json:"errorMessage"`
		} `json:"facets"`
	} `json:"run"`
	Job struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"job"`
	Inputs []struct {
		Name        string `json:"name"`
		InputFacets struct {
			Assertions struct {
				Assertions []openlineage.Assertion `json:"assertions"`
			} `json:"dataQualityAssertions"`
		} `json:"inputFacets"`
	} `json:"inputs"`
	Outputs []struct {
		Name         string `json:"name"`
		OutputFacets struct {
			Stats struct {
				RowCount int64 `json:"rowCount"`
			} `json:"outputStatistics"`
		} `json:"outputFacets"`
	} `json:"outputs"`
}

// TestEventsOfRealBatchesAreValid runs a batch with quarantined records, a
// rerun of it, and a batch that fails (cancelled while its records flow),
// then validates every event the project wrote against the official
// OpenLineage schemas and checks what they say against the trail.
func TestEventsOfRealBatchesAreValid(t *testing.T) {
	s := loadSpec(t)
	own := batchFacetSchema(t)
	p := enginetest.NewProject(t)
	p.Cfg.OpenLineageNamespace = "site-a"

	in := enginetest.WriteInput(t, t.TempDir(), "readings.jsonl", enginetest.GenInput(t, 400, 7))
	res := enginetest.Run(t, p, in, 2)
	if res.Quarantined == 0 || len(res.Warnings) != 0 {
		t.Fatalf("the test needs quarantined records and no warnings: %d quarantined, warnings %q", res.Quarantined, res.Warnings)
	}
	again := enginetest.Run(t, p, in, 2) // answered from the record: no run, no events
	if again.Status != ratchet.StatusAlreadyCommitted {
		t.Fatalf("rerun: %s", again.Status)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in2 := enginetest.WriteInput(t, t.TempDir(), "more.jsonl", enginetest.GenInput(t, 5000, 8))
	_, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: in2, AsOf: enginetest.AsOf, Workers: 1, Reason: "test",
		Progress: func(ratchet.Progress) { cancel() }})
	var infra *ratchet.InfraError
	if !errors.As(err, &infra) {
		t.Fatalf("the cancelled batch: %v, want it failed", err)
	}

	lines := enginetest.ReadLines(t, filepath.Join(p.Data, "openlineage.jsonl"))
	if len(lines) != 4 {
		t.Fatalf("%d events, want START and COMPLETE of the first batch, START and FAIL of the second:\n%s", len(lines), bytes.Join(lines, []byte("\n")))
	}
	var evs []event
	for i, l := range lines {
		if problems := s.check(l); len(problems) > 0 {
			t.Errorf("event %d does not conform to the OpenLineage schemas:\n  %s\n%s", i+1, strings.Join(problems, "\n  "), l)
		}
		var e event
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatal(err)
		}
		if err := own.Validate(anyOf(t, e.Run.Facets.Batch)); err != nil {
			t.Errorf("event %d: pawl_batch does not conform to docs/openlineage/PawlBatchRunFacet.json: %v", i+1, err)
		}
		evs = append(evs, e)
	}
	if got := []string{evs[0].EventType, evs[1].EventType, evs[2].EventType, evs[3].EventType}; strings.Join(got, " ") != "START COMPLETE START FAIL" {
		t.Fatalf("event types %v", got)
	}
	if evs[0].Run.RunID != evs[1].Run.RunID || evs[2].Run.RunID != evs[3].Run.RunID || evs[0].Run.RunID == evs[2].Run.RunID {
		t.Errorf("run ids: a START and its ending share one, two attempts do not: %s %s %s %s", evs[0].Run.RunID, evs[1].Run.RunID, evs[2].Run.RunID, evs[3].Run.RunID)
	}
	done := evs[1]
	if done.Job.Namespace != "site-a" || done.Job.Name != "sensor-feed" || done.Run.Facets.Batch["batchId"] != res.BatchID ||
		done.Run.Facets.Batch["auditSeq"] != float64(res.AuditSeq) {
		t.Errorf("COMPLETE names job %s/%s, batch %v (entry %v); want site-a/sensor-feed, %s (entry %d)",
			done.Job.Namespace, done.Job.Name, done.Run.Facets.Batch["batchId"], done.Run.Facets.Batch["auditSeq"], res.BatchID, res.AuditSeq)
	}
	// One assertion per stage, then one per rule, agreeing with the record.
	as := done.Inputs[0].InputFacets.Assertions.Assertions
	if len(as) != len(res.Stages)+len(res.Rules) {
		t.Fatalf("%d assertions, want %d stages + %d rules", len(as), len(res.Stages), len(res.Rules))
	}
	for i, st := range res.Stages {
		if as[i].Name != st.Stage || as[i].Success != (st.Rejected == 0) || as[i].Actual != itoa(st.Rejected) {
			t.Errorf("assertion %d %+v, want stage %+v", i, as[i], st)
		}
	}
	for i, r := range res.Rules {
		a := as[len(res.Stages)+i]
		if a.Name != r.Stage+"/"+r.Rule || a.Success || a.Actual != itoa(r.Records) {
			t.Errorf("assertion %+v, want rule %+v", a, r)
		}
	}
	rows := map[string]int64{}
	for _, o := range done.Outputs {
		rows[o.Name] = o.OutputFacets.Stats.RowCount
	}
	if rows["sensor-feed/verified"] != res.Verified || rows["sensor-feed/quarantine"] != res.Quarantined {
		t.Errorf("output row counts %v, want %d verified and %d quarantined", rows, res.Verified, res.Quarantined)
	}
	// The FAIL carries the failure as the batch.failed entry has it.
	failed := enginetest.Details[actions.BatchFailedDetails](t, p.Trail, "batch:"+infra.BatchID)
	if len(failed) != 1 || evs[3].Run.Facets.ErrorMessage.Message != failed[0].Error {
		t.Errorf("FAIL message %q, want the batch.failed entry's %+v", evs[3].Run.Facets.ErrorMessage.Message, failed)
	}
	// No record bytes travel: nothing of the input's lines is in any event.
	for _, rec := range enginetest.ReadLines(t, in)[:20] {
		if bytes.Contains(bytes.Join(lines, nil), rec) {
			t.Errorf("an event holds a record's bytes: %s", rec)
		}
	}
}

// TestTheCheckRejectsABrokenEvent: the schema check above can fail.
func TestTheCheckRejectsABrokenEvent(t *testing.T) {
	s := loadSpec(t)
	br := &actions.BatchRecord{BatchID: "b1", Job: "j", Input: "sha256:00", Stages: []actions.StageStat{{Stage: "schema", In: 2, Rejected: 1}},
		Rules:   []actions.RuleCount{{Stage: "schema", Rule: "required", Records: 1}},
		Outputs: map[string]actions.OutputRef{actions.VerifiedFile: {Hash: "sha256:11", Bytes: 3, Records: 1}}}
	id, err := openlineage.NewRunID()
	if err != nil {
		t.Fatal(err)
	}
	good, err := json.Marshal(openlineage.CompleteEvent(openlineage.Batch{RunID: id, Namespace: "n", Record: br,
		Fields: openlineage.FieldsOf(map[string]string{"a": "string"})}, enginetest.AsOf))
	if err != nil {
		t.Fatal(err)
	}
	if p := s.check(good); len(p) != 0 {
		t.Fatalf("a well-formed event fails: %v\n%s", p, good)
	}
	for name, edit := range map[string][2]string{
		"a run id that is no UUID":        {`"runId":"` + id + `"`, `"runId":"batch-b1"`},
		"an unknown event type":           {`"eventType":"COMPLETE"`, `"eventType":"DONE"`},
		"an assertion without success":    {`"success":false,`, ``},
		"a facet without _producer":       {`"_producer":"https://github.com/pawl-dev/pawl","_schemaURL":"https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json`, `"_schemaURL":"https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json`},
		"a row count that is not integer": {`"rowCount":1`, `"rowCount":"1"`},
	} {
		bad := strings.Replace(string(good), edit[0], edit[1], 1)
		if bad == string(good) {
			t.Fatalf("%s: the edit %q did not apply to\n%s", name, edit[0], good)
		}
		if p := s.check([]byte(bad)); len(p) == 0 {
			t.Errorf("%s passes the schema check", name)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func anyOf(t *testing.T, m map[string]any) any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAnEventThatCannotBeWrittenIsAWarning: the events are a view of the
// trail; a file that cannot be written never fails the batch.
func TestAnEventThatCannotBeWrittenIsAWarning(t *testing.T) {
	p := enginetest.NewProject(t)
	blocker := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p.Cfg.OpenLineageFile = filepath.Join(blocker, "events.jsonl") // its parent is a file
	res := enginetest.Batch(t, p, `{"device_id":"d1","timestamp":"2026-01-01T00:00:00Z","value":1,"unit":"C"}`)
	if res.Status != ratchet.StatusCommitted {
		t.Fatalf("status %s", res.Status)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "OpenLineage events") || !strings.Contains(res.Warnings[0], "a-file") {
		t.Errorf("warnings %q, want the START and the COMPLETE that could not be written, naming the file", res.Warnings)
	}
	p.Cfg.OpenLineageEnabled = false
	p.Cfg.OpenLineageFile = ""
	enginetest.Batch(t, p, `{"device_id":"d2","timestamp":"2026-01-01T00:00:00Z","value":1,"unit":"C"}`)
	if _, err := os.Stat(filepath.Join(p.Data, "openlineage.jsonl")); !os.IsNotExist(err) {
		t.Errorf("openlineage.enabled: false still wrote events (%v)", err)
	}
}

// lineageService is a loopback OpenLineage HTTP endpoint: it answers 503
// while down and keeps each event POSTed to api/v1/lineage.
type lineageService struct {
	srv    *httptest.Server
	mu     sync.Mutex
	down   bool
	events [][]byte
}

func newLineageService(t *testing.T) *lineageService {
	l := &lineageService{down: true}
	l.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/"+egress.LineageAPI || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "not the OpenLineage endpoint", http.StatusNotFound)
			return
		}
		if l.down {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		l.events = append(l.events, b)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

func (l *lineageService) received() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// TestEventsGoToTheLineageService: with openlineage.url set, each batch's
// events go through egress (kind lineage), a decision on record per batch:
// to a lineage service that is down they stay pending and wait out a
// pause, then arrive, each valid against the official schema; to a
// destination the policy does not allow they are skipped, denied on
// record; to a file:// outbox they arrive as one file per batch.
func TestEventsGoToTheLineageService(t *testing.T) {
	s := loadSpec(t)
	svc := newLineageService(t)
	p := enginetest.NewProject(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: svc.srv.Certificate().Raw}), 0o644)
	p.Cfg.ExportCAFile = ca
	drop := t.TempDir()
	enginetest.AddDestinations(t, p, map[string]map[string]any{
		"marquez":      {"url": svc.srv.URL + "/", "classifications": []string{"internal"}, "purposes": []string{"lineage"}},
		"lineage-drop": {"url": "file://" + drop + "/", "classifications": []string{"internal"}, "purposes": []string{"lineage"}},
	})
	enginetest.Pin(t, p, "tester", "the lineage service is a destination")
	reading := `{"device_id":"AB-123456","timestamp":"2026-01-01T00:00:00Z","value":21.5,"unit":"celsius"}`
	decisions := func(id string) []string {
		var out []string
		for _, e := range enginetest.Entries(t, p.Trail, actions.PolicyDecision, "batch:"+id) {
			if bytes.Contains(e.Details, []byte(`"kind":"lineage"`)) {
				out = append(out, map[bool]string{true: "allow", false: "deny"}[bytes.Contains(e.Details, []byte(`"allow":true`))])
			}
		}
		return out
	}

	p.Cfg.OpenLineageURL = svc.srv.URL + "/"
	b1 := enginetest.Batch(t, p, reading)
	t0 := time.Now()
	res, err := egress.SendLineage(t.Context(), p, egress.LineageOptions{Now: t0})
	if err == nil || !strings.Contains(err.Error(), "503") || res.Sent != 0 || res.Pending != 2 || len(svc.received()) != 0 {
		t.Fatalf("to a service that is down: %+v %v", res, err)
	}
	if res, err := egress.SendLineage(t.Context(), p, egress.LineageOptions{Now: t0.Add(time.Second)}); err != nil || !res.Waiting || res.Pending != 2 {
		t.Fatalf("within the pause: %+v %v", res, err)
	}
	if got := decisions(b1.BatchID); !slices.Equal(got, []string{"allow"}) {
		t.Errorf("decisions on record %v: one, none asked within the pause", got)
	}
	svc.mu.Lock()
	svc.down = false
	svc.mu.Unlock()
	if res, err := egress.SendLineage(t.Context(), p, egress.LineageOptions{Now: t0.Add(6 * time.Second)}); err != nil || res.Sent != 2 || res.Pending != 0 {
		t.Fatalf("after the pause: %+v %v", res, err)
	}
	got := svc.received()
	if len(got) != 2 {
		t.Fatalf("the service received %d events, want START and COMPLETE", len(got))
	}
	for i, ev := range got {
		if problems := s.check(ev); len(problems) > 0 {
			t.Errorf("event %d as received does not conform: %v", i, problems)
		}
		if !bytes.Contains(ev, []byte(b1.BatchID)) {
			t.Errorf("event %d does not name batch %s", i, b1.BatchID)
		}
	}
	if res, err := egress.SendLineage(t.Context(), p, egress.LineageOptions{}); err != nil || res.Sent != 0 || len(svc.received()) != 2 {
		t.Fatalf("nothing is sent twice: %+v %v", res, err)
	}

	// A destination nobody whitelisted: denied on record, skipped.
	p.Cfg.OpenLineageURL = "https://lineage.elsewhere.example/"
	b2 := enginetest.Batch(t, p, strings.Replace(reading, "21.5", "22.5", 1))
	if res, err := egress.SendLineage(t.Context(), p, egress.LineageOptions{}); err != nil || res.Denied != 2 || res.Sent != 0 || res.Pending != 0 {
		t.Fatalf("to a destination the policy does not allow: %+v %v", res, err)
	}
	if got := decisions(b2.BatchID); !slices.Equal(got, []string{"deny"}) {
		t.Errorf("decisions on record %v, want one deny", got)
	}

	// A file:// outbox (an air gap): one file of the batch's events.
	p.Cfg.OpenLineageURL = "file://" + drop + "/"
	b3 := enginetest.Batch(t, p, strings.Replace(reading, "21.5", "23.5", 1))
	if res, err := egress.SendLineage(t.Context(), p, egress.LineageOptions{}); err != nil || res.Sent != 2 {
		t.Fatalf("to an outbox: %+v %v", res, err)
	}
	files, _ := filepath.Glob(filepath.Join(drop, b3.BatchID+"-*.openlineage.jsonl"))
	if len(files) != 1 {
		t.Fatalf("the outbox holds %v, want one file of batch %s", files, b3.BatchID)
	}
	lines := enginetest.ReadLines(t, files[0])
	if len(lines) != 2 {
		t.Fatalf("the outbox file holds %d events", len(lines))
	}
	for _, l := range lines {
		if problems := s.check(l); len(problems) > 0 {
			t.Errorf("an event in the outbox does not conform: %v", problems)
		}
	}
}
