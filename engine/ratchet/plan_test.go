package ratchet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/store"
)

// TestReplayWhateverTheConfigurationToday: a batch committed under the
// defaults replays bit for bit after the configuration changed every limit
// that could change its outcome (max_record_bytes below the length of its
// records, a plugin call timeout no plugin could meet) and after the
// project's job, schema and policy bundle were edited: the replay runs the
// plan on record, rebuilt from the store. The same input run again under
// today's limits is another batch, with another id.
func TestReplayWhateverTheConfigurationToday(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 600, 11))
	res := enginetest.Run(t, p, in, 2)
	if res.Limits == nil || res.Limits.MaxRecordBytes != 64<<20 || res.Limits.PluginCallTimeoutMS != 30000 {
		t.Fatalf("limits on record: %+v", res.Limits)
	}
	q := enginetest.Quarantine(t, p, res.BatchID)
	if len(q) == 0 {
		t.Fatal("the batch quarantined nothing; the test needs a quarantined record to resubmit")
	}

	// Today: tighter limits, and the project's files edited without
	// `pawl pin` (a run would refuse them; a replay must not read them).
	for _, f := range []string{"schemas/sensor-reading.json", "jobs/sensor-feed.yaml", "policies/data.json"} {
		path := filepath.Join(p.Root, filepath.FromSlash(f))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, ' '), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := p.Cfg
	cfg.MaxRecordBytes = 50
	cfg.PluginCallTimeout = time.Nanosecond
	p = reopen(t, p, cfg)

	rep, err := ratchet.Replay(ctx, p, res.BatchID, "inspector", "configuration changed")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Match || rep.Failure != "" {
		t.Fatalf("the replay depends on today's configuration: %+v", rep)
	}

	// A resubmission runs under the original batch's plan too: its limits,
	// its pins, its policy bundle.
	fixed := []byte(enginetest.GoodReading)
	if int64(len(fixed)) <= cfg.MaxRecordBytes {
		t.Fatalf("the corrected record (%d bytes) must be longer than today's max_record_bytes", len(fixed))
	}
	rs, err := ratchet.Resubmit(ctx, p, res.BatchID, q[0].Ordinal, fixed, "tester", "corrected at the source")
	if err != nil {
		t.Fatal(err)
	}
	if rs.Verified != 1 || *rs.Limits != *res.Limits || rs.Pins.Digest() != res.Pins.Digest() {
		t.Fatalf("resubmission: %d verified, limits %+v (original %+v)", rs.Verified, rs.Limits, res.Limits)
	}

	// Today's run of the same input, once the files are pinned again, is
	// another batch: the limits feed the id, and every record is now over
	// the size limit.
	cfg.PluginCallTimeout = 30 * time.Second
	p = reopen(t, p, cfg)
	if _, err := enginetest.PinAs(ctx, t, p, "tester", "accept the edits"); err != nil {
		t.Fatal(err)
	}
	again, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	if err != nil {
		t.Fatal(err)
	}
	if again.BatchID == res.BatchID || again.Limits.MaxRecordBytes != 50 {
		t.Fatalf("a run under other limits answered from the record: %s (first %s), limits %+v", again.BatchID, res.BatchID, again.Limits)
	}
	b, _ := os.ReadFile(in)
	long := int64(0)
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if int64(len(l)) > cfg.MaxRecordBytes {
			long++
		}
	}
	tooLong := int64(0)
	for _, rc := range again.Rules {
		if rc.Stage == finding.StageFrame && rc.Rule == "frame.too_long" {
			tooLong = rc.Records
		}
	}
	if again.Verified != 0 || tooLong != long || long < 590 {
		t.Fatalf("under 50 bytes: %d verified, %d too long of %d longer lines; rules %+v", again.Verified, tooLong, long, again.Rules)
	}
}

// TestBatchIDCoversTheLimits: the same job, input and pins under another
// max_record_bytes is another batch id; under the same, the same.
func TestBatchIDCoversTheLimits(t *testing.T) {
	p := enginetest.NewProject(t)
	pl, err := ratchet.PlanRun(context.Background(), p, "sensor-feed")
	if err != nil {
		t.Fatal(err)
	}
	input := store.Digest("sha256:" + strings.Repeat("ab", 32))
	pl.Bind("in.jsonl", input, 10, enginetest.AsOf)
	id := pl.BatchID
	pl.Bind("in.jsonl", input, 10, enginetest.AsOf.Add(time.Hour))
	if pl.BatchID != id {
		t.Fatal("the as-of time changed the batch id")
	}
	pl.Limits.MaxRecordBytes--
	pl.Bind("in.jsonl", input, 10, enginetest.AsOf)
	if pl.BatchID == id {
		t.Fatal("max_record_bytes does not feed the batch id")
	}
	pl.Limits.MaxRecordBytes++
	pl.Limits.PluginMemoryPages /= 2
	pl.Bind("in.jsonl", input, 10, enginetest.AsOf)
	if pl.BatchID == id {
		t.Fatal("the plugin memory limit does not feed the batch id")
	}
	pl.Limits.PluginMemoryPages *= 2
	pl.Limits.PluginCallTimeoutMS = 1
	pl.Bind("in.jsonl", input, 10, enginetest.AsOf)
	if pl.BatchID != id {
		t.Fatal("the call timeout (which never changes a committed batch's verdicts) changed the batch id")
	}
}
