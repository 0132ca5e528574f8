package finding

import (
	"testing"
)

// BenchmarkQuarantineLine is the quarantine line of a record that one
// plugin rejected, as the pipeline writes it (AppendQuarantineRecord into
// a reused buffer).
func BenchmarkQuarantineLine(b *testing.B) {
	raw := []byte(`{"device_id":"GH-100000","timestamp":"2026-11-24T07:35:46Z","value":23.39,"unit":"celsius"}`)
	q := QuarantineEntry{Ordinal: 123456, Line: 123456, Offset: 12345678, Length: int64(len(raw)),
		Reasons: []Finding{{Stage: StageValidate, Rule: "registry/registry.unknown", Pointer: "/device_id",
			Message: `device "GH-100000" is not in the registry (registry@1.1.0)`}}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendQuarantineRecord(buf[:0], &q, raw)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkQuarantineLineString is BenchmarkQuarantineLine with the
// record's bytes in Raw.
func BenchmarkQuarantineLineString(b *testing.B) {
	raw := `{"device_id":"GH-100000","timestamp":"2026-11-24T07:35:46Z","value":23.39,"unit":"celsius"}`
	q := QuarantineEntry{Ordinal: 123456, Line: 123456, Offset: 12345678, Length: int64(len(raw)), Raw: raw,
		Reasons: []Finding{{Stage: StageValidate, Rule: "registry/registry.unknown", Pointer: "/device_id",
			Message: `device "GH-100000" is not in the registry (registry@1.1.0)`}}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendQuarantineLine(buf[:0], &q)
	}
	b.SetBytes(int64(len(buf)))
}
