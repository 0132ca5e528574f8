package ratchet_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

// TestJobNormalizeProfile: the job spec's normalize profile reaches the
// boundary — identifier fields are strict, text fields flag and let through,
// and reference values (pinned like every input) catch homoglyphs.
func TestJobNormalizeProfile(t *testing.T) {
	p := enginetest.NewProject(t)
	os.WriteFile(filepath.Join(p.Root, "devices.txt"), []byte("AB-123456\nCD-654321\n"), 0o644)
	job := `name: sensor-feed
source: test
classification: internal
format: jsonl
schema: schemas/sensor-reading.json
normalize:
  form: NFC
  identifiers: [/device_id]
  references: {/device_id: devices.txt}
`
	os.WriteFile(filepath.Join(p.Root, "jobs", "sensor-feed.yaml"), []byte(job), 0o644)
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "profile"); err != nil {
		t.Fatal(err)
	}
	pins, _ := lockfile.Read(p.Root)
	if _, ok := pins["devices.txt"]; !ok {
		t.Fatalf("the reference file is not pinned: %v", pins)
	}
	rec := func(dev, unit string) string {
		return `{"device_id":"` + dev + `","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":"` + unit + `"}` + "\n"
	}
	input := rec("AB-123456", "celsius") + // fine
		rec(`AB-123456\t`, "celsius") + // a tab in an identifier: rejected
		rec("\u0410\u0412-123456", "celsius") + // Cyrillic А В: a homoglyph of a reference id
		rec("AB-123456", "celsius\u00ad") // a soft hyphen in text: stripped, reported, verified
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", []byte(input))
	res := enginetest.Run(t, p, in, 2)
	if res.RecordsIn != 4 || res.Verified != 2 {
		t.Fatalf("in %d verified %d", res.RecordsIn, res.Verified)
	}
	qs := enginetest.Quarantine(t, p, res.BatchID)
	if len(qs) != 2 || qs[0].Ordinal != 2 || qs[1].Ordinal != 3 {
		t.Fatalf("quarantine: %+v", qs)
	}
	if r := qs[0].Reasons[0]; r.Pointer != "/device_id" || !strings.Contains(r.Message, "U+0009") {
		t.Errorf("tab in identifier: %+v", r)
	}
	found := false
	for _, r := range qs[1].Reasons {
		if strings.Contains(r.Message, "AB-123456") {
			found = true
		}
	}
	if !found {
		t.Errorf("the homoglyph is not reported as colliding with AB-123456: %+v", qs[1].Reasons)
	}
	acts := enginetest.ReadLines(t, filepath.Join(res.Dir, actions.ActionsFile))
	if len(acts) != 1 || !strings.Contains(string(acts[0]), `"ordinal":4`) || !strings.Contains(string(acts[0]), "U+00AD") {
		t.Fatalf("the soft hyphen's removal is not on record: %q", acts)
	}
	// The reference file is pinned: editing it refuses the next run.
	os.WriteFile(filepath.Join(p.Root, "devices.txt"), []byte("AB-123456\n"), 0o644)
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in})
	var pm *lockfile.MismatchError
	if !errors.As(err, &pm) || pm.File != "devices.txt" {
		t.Fatalf("edited reference file: %v", err)
	}
}
