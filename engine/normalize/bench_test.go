package normalize

import (
	"strings"
	"testing"
)

// BenchmarkPlainASCII measures the SWAR fast path on a 4 KiB ASCII field;
// the target is at least 1 GB/s.
func BenchmarkPlainASCII(b *testing.B) {
	s := strings.Repeat("AB-123456 reading from the north roof, celsius; ", 100)[:4096]
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if !plainString(s) {
			b.Fatal("not plain")
		}
	}
}

// BenchmarkRecordPlain is a whole plain record through Record.
func BenchmarkRecordPlain(b *testing.B) {
	rec := map[string]any{"device_id": "AB-123456", "timestamp": "2026-11-24T10:00:00Z", "value": 21.5, "unit": "celsius",
		"note": strings.Repeat("nominal reading, no maintenance due; ", 20)}
	n := 0
	for k, v := range rec {
		n += len(k)
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	var st Stats
	for b.Loop() {
		Record(rec, &st)
	}
}

// BenchmarkRecordNonASCII is the slow path: a record with accented text
// that is already NFC.
func BenchmarkRecordNonASCII(b *testing.B) {
	rec := map[string]any{"device_id": "AB-123456", "site": "Zürich Süd", "note": "température nominale, révision à prévoir"}
	b.ReportAllocs()
	var st Stats
	for b.Loop() {
		Record(rec, &st)
	}
}

// BenchmarkIdentifierChecks: an identifier with reference values, not in
// the list, so the skeleton is computed.
func BenchmarkIdentifierChecks(b *testing.B) {
	p, err := NewProfile(Config{Identifiers: []string{"/device_id"}, References: map[string]string{"/device_id": "d.txt"}},
		map[string][]string{"/device_id": {"AB-123456", "CD-654321"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Field("/device_id", "EF-111111")
	}
}
