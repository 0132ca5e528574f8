package ratchet_test

import (
	"slices"
	"testing"

	"github.com/pawl-dev/pawl/engine/enginetest"
)

// TestEveryValidatorGivesItsReasons: a record is shown to every validator of
// the job, and its quarantine entry holds the reasons of each one that
// rejected it, in the job's order — not only the first validator's.
func TestEveryValidatorGivesItsReasons(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", []byte(
		// Below absolute zero (in kelvin), four days old and from an unknown device.
		`{"device_id":"ZZ-999999","timestamp":"2026-11-21T10:00:00Z","value":-5,"unit":"kelvin"}`+"\n"+
			// Only from an unknown device.
			`{"device_id":"ZZ-999999","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`+"\n"+
			goodRecord+"\n"))
	res := enginetest.Run(t, p, in, 1)
	if res.RecordsIn != 3 || res.Verified != 1 || res.Quarantined != 2 {
		t.Fatalf("in %d verified %d quarantined %d, want 3, 1, 2", res.RecordsIn, res.Verified, res.Quarantined)
	}
	want := map[int64][]string{
		1: {"range/range.min", "freshness/freshness.stale", "registry/registry.unknown"},
		2: {"registry/registry.unknown"},
	}
	qs := enginetest.Quarantine(t, p, res.BatchID)
	if len(qs) != 2 {
		t.Fatalf("%d quarantine entries, want 2", len(qs))
	}
	for _, q := range qs {
		var got []string
		for _, r := range q.Reasons {
			if r.Stage != "validate" {
				t.Errorf("record %d: reason %s/%s from stage %q, want validate", q.Ordinal, r.Rule, r.Message, r.Stage)
			}
			got = append(got, r.Rule)
		}
		if !slices.Equal(got, want[q.Ordinal]) {
			t.Errorf("record %d: reasons %v, want %v", q.Ordinal, got, want[q.Ordinal])
		}
	}
}
