package ratchet

import (
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/openlineage"
	"github.com/pawl-dev/pawl/engine/project"
)

// lineageEvents writes the OpenLineage events of one attempt at a batch
// (openlineage.enabled): START when its records begin to flow, then
// COMPLETE or FAIL. The events are a view of the trail, not a record, so a
// failure to write one never fails the batch: it is kept as a warning the
// run reports.
type lineageEvents struct {
	path     string
	batch    openlineage.Batch
	warnings []string
}

// newLineageEvents is nil when the project writes no events.
func newLineageEvents(p *project.Project, pl *Plan, br *actions.BatchRecord) *lineageEvents {
	if !p.Cfg.OpenLineageEnabled {
		return nil
	}
	l := &lineageEvents{path: p.OpenLineageFile(), batch: openlineage.Batch{Namespace: p.Cfg.OpenLineageNamespace, Record: br}}
	if pl.Schema != nil {
		l.batch.Fields = openlineage.FieldsOf(pl.Schema.PropertyTypes())
	}
	id, err := openlineage.NewRunID()
	if err != nil {
		l.warn(err)
		return nil
	}
	l.batch.RunID = id
	return l
}

func (l *lineageEvents) warn(err error) {
	l.warnings = append(l.warnings, "OpenLineage events: "+err.Error()+" (the batch is not affected; the trail holds what the events would have said)")
}

func (l *lineageEvents) write(e openlineage.Event) {
	if l == nil {
		return
	}
	if err := openlineage.Append(l.path, e); err != nil {
		l.warn(err)
	}
}

func (l *lineageEvents) start() {
	if l != nil {
		l.write(openlineage.StartEvent(l.batch, time.Now()))
	}
}

// complete is written once the batch is committed, from its record.
func (l *lineageEvents) complete(br *actions.BatchRecord, seq int64) {
	if l != nil {
		l.batch.Record, l.batch.AuditSeq = br, seq
		l.write(openlineage.CompleteEvent(l.batch, time.Now()))
	}
}

// fail is written when the batch failed; seq is its batch.failed entry,
// when it was written.
func (l *lineageEvents) fail(seq int64, msg string) {
	if l != nil {
		l.batch.AuditSeq = seq
		l.write(openlineage.FailEvent(l.batch, time.Now(), msg))
	}
}

// Warnings are what could not be written.
func (l *lineageEvents) Warnings() []string {
	if l == nil {
		return nil
	}
	return l.warnings
}
