// Package openlineage describes each batch as OpenLineage run events: a
// START when the records begin to flow, then a COMPLETE when the batch
// commits or a FAIL when it does not, so that a lineage service (Marquez,
// or anything that reads the OpenLineage specification 2-0-2) sees every
// batch of every job, what it read, what it wrote, and how each check went.
//
// The events are a view of what the trail holds, not a record: the trail
// stays the only record. They are appended to a JSON Lines file (one event
// per line, the file pawl.yaml's openlineage.file names) and can be sent on
// from there.
//
// An event holds no record bytes: the input's name, digest and size, the
// schema's top-level field names and types, counts per stage and per rule.
package openlineage

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
)

// The schema URLs of the specification and of the facets pawl writes,
// each the $id of its document with the pointer to its definition.
const (
	SpecURL              = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
	RunEventURL          = SpecURL + "#/$defs/RunEvent"
	schemaFacetURL       = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
	assertionsFacetURL   = "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet"
	versionFacetURL      = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
	outputStatsFacetURL  = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"
	jobTypeFacetURL      = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
	errorMessageFacetURL = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
	// BatchFacetURL is the schema of pawl's own run facet, pawl_batch
	// (docs/openlineage/PawlBatchRunFacet.json).
	BatchFacetURL = "https://github.com/pawl-dev/pawl/blob/main/docs/openlineage/PawlBatchRunFacet.json"
	// Producer names pawl as the producer of the events and facets.
	Producer = "https://github.com/pawl-dev/pawl"
)

// The event types pawl writes.
const (
	Start    = "START"
	Complete = "COMPLETE"
	Fail     = "FAIL"
)

// Event is an OpenLineage RunEvent.
type Event struct {
	EventType string    `json:"eventType"`
	EventTime string    `json:"eventTime"`
	Producer  string    `json:"producer"`
	SchemaURL string    `json:"schemaURL"`
	Run       Run       `json:"run"`
	Job       Job       `json:"job"`
	Inputs    []Dataset `json:"inputs"`
	Outputs   []Dataset `json:"outputs"`
}

// Run is the run an event is about: one attempt at one batch.
type Run struct {
	RunID  string         `json:"runId"`
	Facets map[string]any `json:"facets,omitempty"`
}

// Job is the pawl job, in the configured namespace.
type Job struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Facets    map[string]any `json:"facets,omitempty"`
}

// Dataset is an input or an output of a run. InputFacets is written only
// on inputs, OutputFacets only on outputs.
type Dataset struct {
	Namespace    string         `json:"namespace"`
	Name         string         `json:"name"`
	Facets       map[string]any `json:"facets,omitempty"`
	InputFacets  map[string]any `json:"inputFacets,omitempty"`
	OutputFacets map[string]any `json:"outputFacets,omitempty"`
}

// base is the two fields every facet carries.
type base struct {
	Producer  string `json:"_producer"`
	SchemaURL string `json:"_schemaURL"`
}

func facetBase(url string) base { return base{Producer: Producer, SchemaURL: url} }

// Field is a top-level field of the job's schema, as the schema facet
// lists it.
type Field struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

type schemaFacet struct {
	base
	Fields []Field `json:"fields"`
}

type versionFacet struct {
	base
	DatasetVersion string `json:"datasetVersion"`
}

// Assertion is one check of a batch and how it went.
type Assertion struct {
	Assertion   string         `json:"assertion"`
	Success     bool           `json:"success"`
	Name        string         `json:"name,omitempty"`
	Description string         `json:"description,omitempty"`
	Severity    string         `json:"severity,omitempty"`
	Expected    string         `json:"expected,omitempty"`
	Actual      string         `json:"actual,omitempty"`
	Params      map[string]any `json:"params,omitempty"`
}

type assertionsFacet struct {
	base
	Assertions []Assertion `json:"assertions"`
}

type outputStatsFacet struct {
	base
	RowCount int64 `json:"rowCount"`
	Size     int64 `json:"size"`
}

type jobTypeFacet struct {
	base
	ProcessingType string `json:"processingType"`
	Integration    string `json:"integration"`
	JobType        string `json:"jobType"`
}

type errorMessageFacet struct {
	base
	Message             string `json:"message"`
	ProgrammingLanguage string `json:"programmingLanguage"`
}

// BatchFacet is pawl's own run facet: which batch the run was and what it
// was bound to, so an event leads back to the trail.
type BatchFacet struct {
	base
	BatchID        string `json:"batchId"`
	Job            string `json:"job"`
	Classification string `json:"classification"`
	Input          string `json:"input"`
	InputName      string `json:"inputName"`
	InputBytes     int64  `json:"inputBytes"`
	Schema         string `json:"schema"`
	PinsDigest     string `json:"pinsDigest,omitempty"`
	AsOf           string `json:"asOf"`
	AuditSeq       int64  `json:"auditSeq,omitempty"`
	Status         string `json:"status,omitempty"`
	PawlVersion    string `json:"pawlVersion,omitempty"`
}

// Batch is what the events of one attempt at a batch are made from.
type Batch struct {
	RunID     string // NewRunID: the same for the START and its ending
	Namespace string
	// Record is the batch as bound (START, FAIL) or as committed
	// (COMPLETE): its id, job, input, schema and, once committed, its
	// counts and outputs.
	Record *actions.BatchRecord
	Fields []Field // the schema's top-level fields
	// AuditSeq is the batch.committed or batch.failed entry, once written.
	AuditSeq int64
}

// NewRunID is a fresh run id: a UUID, time-ordered (version 7), as the
// specification recommends.
func NewRunID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("openlineage: run id: %w", err)
	}
	return u.String(), nil
}

// FieldsOf lists a schema's top-level property types (as
// schema.PropertyTypes gives them) in name order.
func FieldsOf(types map[string]string) []Field {
	out := make([]Field, 0, len(types))
	for n, t := range types {
		out = append(out, Field{Name: n, Type: t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// StartEvent is the event written when a batch's records begin to flow.
func StartEvent(b Batch, at time.Time) Event {
	e := b.event(Start, at, "")
	e.Outputs = []Dataset{}
	return e
}

// CompleteEvent is the event written when a batch has committed: its
// counts, the assertions (one per stage, one per rule that quarantined
// records) and its outputs.
func CompleteEvent(b Batch, at time.Time) Event {
	e := b.event(Complete, at, "committed")
	br := b.Record
	e.Inputs[0].InputFacets = map[string]any{"dataQualityAssertions": assertionsFacet{base: facetBase(assertionsFacetURL), Assertions: Assertions(br)}}
	e.Outputs = []Dataset{}
	for _, o := range []struct{ name, file string }{{"verified", actions.VerifiedFile}, {"quarantine", actions.QuarantineFile}} {
		ref, ok := br.Outputs[o.file]
		if !ok {
			continue
		}
		d := Dataset{Namespace: b.Namespace, Name: br.Job + "/" + o.name,
			Facets:       map[string]any{"version": versionFacet{base: facetBase(versionFacetURL), DatasetVersion: string(ref.Hash)}},
			OutputFacets: map[string]any{"outputStatistics": outputStatsFacet{base: facetBase(outputStatsFacetURL), RowCount: ref.Records, Size: ref.Bytes}}}
		if o.name == "verified" {
			d.Facets["schema"] = schemaFacet{base: facetBase(schemaFacetURL), Fields: b.Fields}
		}
		e.Outputs = append(e.Outputs, d)
	}
	return e
}

// FailEvent is the event written when a batch failed and nothing of it was
// committed; msg is the failure as the batch.failed entry gives it.
func FailEvent(b Batch, at time.Time, msg string) Event {
	e := b.event(Fail, at, "failed")
	e.Run.Facets["errorMessage"] = errorMessageFacet{base: facetBase(errorMessageFacetURL), Message: msg, ProgrammingLanguage: "Go"}
	e.Outputs = []Dataset{}
	return e
}

func (b Batch) event(kind string, at time.Time, status string) Event {
	br := b.Record
	bf := BatchFacet{base: facetBase(BatchFacetURL), BatchID: br.BatchID, Job: br.Job, Classification: br.Classification,
		Input: string(br.Input), InputName: br.InputName, InputBytes: br.InputBytes, Schema: br.Schema.Name + "@" + br.Schema.Version,
		PinsDigest: string(br.PinsDigest), AsOf: br.AsOf, AuditSeq: b.AuditSeq, Status: status, PawlVersion: br.PawlVersion}
	return Event{
		EventType: kind,
		EventTime: at.UTC().Format(time.RFC3339Nano),
		Producer:  Producer,
		SchemaURL: RunEventURL,
		Run:       Run{RunID: b.RunID, Facets: map[string]any{"pawl_batch": bf}},
		Job: Job{Namespace: b.Namespace, Name: br.Job, Facets: map[string]any{
			"jobType": jobTypeFacet{base: facetBase(jobTypeFacetURL), ProcessingType: "BATCH", Integration: "PAWL", JobType: "JOB"}}},
		Inputs: []Dataset{{Namespace: b.Namespace, Name: br.Job + "/input", Facets: map[string]any{
			"schema":  schemaFacet{base: facetBase(schemaFacetURL), Fields: b.Fields},
			"version": versionFacet{base: facetBase(versionFacetURL), DatasetVersion: string(br.Input)},
		}}},
	}
}

// Assertions are the checks of a committed batch: one per stage (passed
// when the stage quarantined nothing), then one per rule that quarantined
// records (failed, with the count), in the record's order.
func Assertions(br *actions.BatchRecord) []Assertion {
	out := make([]Assertion, 0, len(br.Stages)+len(br.Rules))
	for _, s := range br.Stages {
		out = append(out, Assertion{
			Assertion: "stage", Name: s.Stage, Success: s.Rejected == 0, Severity: "quarantine",
			Description: "records the " + s.Stage + " stage let through",
			Expected:    "0", Actual: strconv.FormatInt(s.Rejected, 10),
			Params: map[string]any{"records_in": s.In, "records_quarantined": s.Rejected},
		})
	}
	for _, r := range br.Rules {
		out = append(out, Assertion{
			Assertion: "rule", Name: r.Stage + "/" + r.Rule, Success: r.Records == 0, Severity: "quarantine",
			Description: "records quarantined by rule " + r.Rule + " at the " + r.Stage + " stage",
			Expected:    "0", Actual: strconv.FormatInt(r.Records, 10),
			Params: map[string]any{"stage": r.Stage, "rule": r.Rule, "records_quarantined": r.Records},
		})
	}
	return out
}

// Append writes events to the JSON Lines file at path, one line each, in
// one write, and syncs it. The file is created (0600: the data directory is private to the account that owns it) when missing.
func Append(path string, events ...Event) error {
	var buf []byte
	for _, e := range events {
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("openlineage: encode %s event: %w", e.EventType, err)
		}
		buf = append(append(buf, line...), '\n')
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("openlineage: %w", err)
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("openlineage: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return fmt.Errorf("openlineage: append to %s: %w", path, err)
	}
	if err := durable.Finish(f); err != nil {
		return fmt.Errorf("openlineage: %w", err)
	}
	if os.IsNotExist(statErr) { // created: make its name durable too
		return durable.SyncDir(filepath.Dir(path))
	}
	return nil
}
