package ratchet_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/store"
)

// reading is a SensorReading of device dev that passes every check but
// zscore's; i makes its timestamp (and so the input) unique.
func reading(dev string, v float64, i int) string {
	return fmt.Sprintf(`{"device_id":%q,"timestamp":"2026-11-24T%02d:%02d:%02dZ","value":%v,"unit":"celsius"}`, dev, 10+i/3600, i/60%60, i%60, v)
}

// steady is n readings of dev alternating 20 and 22 (mean 21, sd 1),
// timestamps from i0.
func steady(dev string, n, i0 int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, reading(dev, []float64{20, 22}[i%2], i0+i))
	}
	return out
}

func rules(t *testing.T, p *project.Project, id string) map[int64]string {
	out := map[int64]string{}
	for _, q := range enginetest.Quarantine(t, p, id) {
		var rs []string
		for _, r := range q.Reasons {
			rs = append(rs, r.Rule)
		}
		out[q.Ordinal] = strings.Join(rs, ",")
	}
	return out
}

// TestStateCarriedAcrossThreeBatches: the example job's zscore (warm-up
// 30) keeps each device's statistics in the job's state. Batches 1 and 2
// hold 15 ordinary readings of a device each, which are not judged; in
// batch 3 the device's outlier is caught because of them — the same batch
// in a project without that history lets it pass (and is another batch).
// Each batch starts from the state the one before produced; a rerun of a
// committed batch changes nothing; replay and resubmission start from the
// recorded state and reproduce it.
func TestStateCarriedAcrossThreeBatches(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	dev := "AB-123456"
	r1 := enginetest.Batch(t, p, steady(dev, 15, 0)...)
	r2 := enginetest.Batch(t, p, steady(dev, 15, 100)...)
	b3 := []string{reading(dev, 21.5, 200), reading(dev, 60, 201)}
	r3 := enginetest.Batch(t, p, b3...)

	if r1.State == nil || r2.State == nil || r3.State == nil {
		t.Fatalf("a batch of a job that keeps state has no state on record: %+v %+v %+v", r1.State, r2.State, r3.State)
	}
	if r1.State.In != store.Digest(plugstate.EmptyDigest) || r2.State.In != r1.State.Out || r3.State.In != r2.State.Out {
		t.Fatalf("the states do not chain: 1 %+v, 2 %+v, 3 %+v", r1.State, r2.State, r3.State)
	}
	if r1.State.Keys != 1 || r1.State.Out == r2.State.Out {
		t.Fatalf("state: %+v then %+v", r1.State, r2.State)
	}
	if got := rules(t, p, r1.BatchID); len(got) != 0 {
		t.Fatalf("batch 1 quarantined %v", got)
	}
	if got := rules(t, p, r3.BatchID); len(got) != 1 || got[2] != "zscore/zscore.outlier" {
		t.Fatalf("batch 3: want record 2 quarantined as zscore.outlier, got %v", got)
	}
	if cur, by, err := ratchet.JobState(ctx, p, "sensor-feed"); err != nil || cur != r3.State.Out || by != r3.BatchID {
		t.Fatalf("the job's state %s (by %s, %v), want batch 3's %s", cur, by, err, r3.State.Out)
	}

	// Without the history the outlier is not judged: still in warm-up.
	fresh := enginetest.NewProject(t)
	f3 := enginetest.Batch(t, fresh, b3...)
	if got := rules(t, fresh, f3.BatchID); len(got) != 0 {
		t.Fatalf("a project without batches 1-2 quarantined %v", got)
	}
	if f3.BatchID == r3.BatchID || f3.State.Base != r3.State.Base {
		t.Fatalf("the same input against another history: ids %s and %s, bases %s and %s", f3.BatchID, r3.BatchID, f3.State.Base, r3.State.Base)
	}

	// A rerun of batch 2 is answered from the record and changes nothing.
	again := enginetest.Batch(t, p, steady(dev, 15, 100)...)
	if again.Status != ratchet.StatusAlreadyCommitted || again.BatchID != r2.BatchID {
		t.Fatalf("rerun of batch 2: %s %s, want already_committed %s", again.Status, again.BatchID, r2.BatchID)
	}
	if cur, _, _ := ratchet.JobState(ctx, p, "sensor-feed"); cur != r3.State.Out {
		t.Fatalf("a rerun moved the job's state to %s", cur)
	}

	// Replay reads state_in from the store and reproduces state_out.
	rep, err := ratchet.Replay(ctx, p, r3.BatchID, "inspector", "review")
	if err != nil || !rep.Match {
		t.Fatalf("replay of batch 3: %v %+v", err, rep)
	}
	var sawState bool
	for _, a := range rep.Artifacts {
		if a.Name == "state_out" {
			sawState = a.Match && a.Replayed == string(r3.State.Out)
		}
	}
	if !sawState {
		t.Fatalf("the replay did not reproduce state_out: %+v", rep.Artifacts)
	}
	// A record whose state_out was altered does not replay.
	rec := r3.BatchRecord
	st := *rec.State
	st.Out = store.Digest(plugstate.EmptyDigest)
	rec.State = &st
	bad, err := ratchet.ReplayRecord(ctx, p, &rec, "inspector")
	if err != nil || bad.State == nil || bad.State.Out != r3.State.Out {
		t.Fatalf("replay of an altered record: %v %+v", err, bad)
	}

	// A resubmission is judged against its original's state and advances
	// nothing: the corrected value of the outlier passes.
	res, err := ratchet.Resubmit(ctx, p, r3.BatchID, 2, []byte(reading(dev, 21, 201)), "tester", "transcription error")
	if err != nil {
		t.Fatal(err)
	}
	if res.State == nil || res.State.In != r3.State.In || res.Verified != 1 {
		t.Fatalf("resubmission: state %+v, verified %d", res.State, res.Verified)
	}
	if cur, _, _ := ratchet.JobState(ctx, p, "sensor-feed"); cur != r3.State.Out {
		t.Fatalf("a resubmission moved the job's state to %s", cur)
	}
	// Its state_out replays too.
	if rep, err := ratchet.Replay(ctx, p, res.BatchID, "inspector", "review"); err != nil || !rep.Match {
		t.Fatalf("replay of the resubmission: %v %+v", err, rep)
	}

	// The job's state is found through the state index: current, it
	// reads no entry of the trail; removed, it is rebuilt from the trail
	// (the four batch.committed entries), the same bytes; wrong, audit
	// verify says so and the next reader puts it right.
	if cur, _, err := ratchet.JobState(ctx, p, "sensor-feed"); err != nil || cur != r3.State.Out || p.StateIndexRead() != 0 {
		t.Fatalf("through a current index: %s (%v), %d trail entries read", cur, err, p.StateIndexRead())
	}
	idx := filepath.Join(p.Data, "state-index")
	heads, err := os.ReadFile(filepath.Join(idx, "heads.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(idx)
	if cur, by, err := ratchet.JobState(ctx, p, "sensor-feed"); err != nil || cur != r3.State.Out || by != r3.BatchID || p.StateIndexRead() != 4 {
		t.Fatalf("without the index: %s by %s (%v), %d trail entries read, want 4", cur, by, err, p.StateIndexRead())
	}
	if again, _ := os.ReadFile(filepath.Join(idx, "heads.json")); string(again) != string(heads) {
		t.Fatalf("the index rebuilt differs:\n%s\nwas\n%s", again, heads)
	}
	if bases, _ := os.ReadDir(filepath.Join(idx, "bases")); len(bases) != 3 {
		t.Fatalf("%d base ids in the index, want the 3 batches'", len(bases))
	}
	again = enginetest.Batch(t, p, steady(dev, 15, 0)...) // batch 1's input, through the index
	if again.Status != ratchet.StatusAlreadyCommitted || again.BatchID != r1.BatchID || p.StateIndexRead() != 0 {
		t.Fatalf("rerun of batch 1 through the index: %s %s, %d trail entries read", again.Status, again.BatchID, p.StateIndexRead())
	}
	// heads.json is not fsynced: what a crash can leave of it (an empty
	// file, or zeros) is no fault, and the next reader rebuilds it.
	for _, left := range [][]byte{nil, make([]byte, len(heads))} {
		os.WriteFile(filepath.Join(idx, "heads.json"), left, 0o600)
		if rep, err := review.Verify(ctx, p); err != nil || !rep.OK() {
			t.Fatalf("audit verify of the index a crash left (%d bytes): %v %v", len(left), err, rep.Problems)
		}
		if cur, by, err := ratchet.JobState(ctx, p, "sensor-feed"); err != nil || cur != r3.State.Out || by != r3.BatchID || p.StateIndexRead() == 0 {
			t.Fatalf("through the index a crash left: %s by %s (%v), %d trail entries read", cur, by, err, p.StateIndexRead())
		}
		if again, _ := os.ReadFile(filepath.Join(idx, "heads.json")); string(again) != string(heads) {
			t.Fatalf("the index rebuilt after a crash differs:\n%s\nwas\n%s", again, heads)
		}
	}
	os.WriteFile(filepath.Join(idx, "heads.json"), []byte(strings.ReplaceAll(string(heads), string(r3.State.Out), string(r2.State.Out))), 0o600)
	if rep, err := review.Verify(ctx, p); err != nil || rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "the state index says job sensor-feed's state is") {
		t.Fatalf("audit verify of a wrong index: %v %v", err, rep.Problems)
	}
	if cur, _, err := ratchet.JobState(ctx, p, "sensor-feed"); err != nil || cur != r3.State.Out {
		t.Fatalf("through a wrong index: %s (%v), want %s", cur, err, r3.State.Out)
	}
	if rep, err := review.Verify(ctx, p); err != nil || !rep.OK() {
		t.Fatalf("audit verify after the index was put right: %v %v", err, rep.Problems)
	}
}

// TestStaleStateRefused: a batch judged against a state that another batch
// of the job replaced before its commit point is refused — on record as
// batch.failed, nothing committed, the job's state the other batch's.
func TestStaleStateRefused(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	first := enginetest.Batch(t, p, steady("AB-123456", 4, 0)...)
	inner := enginetest.WriteInput(t, t.TempDir(), "inner.jsonl", []byte(strings.Join(steady("AB-123456", 4, 300), "\n")+"\n"))
	outer := enginetest.WriteInput(t, t.TempDir(), "outer.jsonl", []byte(strings.Join(steady("AB-123456", 4, 600), "\n")+"\n"))
	var innerRes *ratchet.Result
	started := false
	*ratchet.TestHook = func(s string) error {
		if s != "run.before-audit" || started {
			return nil
		}
		started = true
		// Another run of the job commits while this one is between its
		// plan and its commit point.
		r, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: inner, AsOf: enginetest.AsOf})
		innerRes = r
		return err
	}
	defer func() { *ratchet.TestHook = nil }()
	_, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: outer, AsOf: enginetest.AsOf})
	if !errors.Is(err, ratchet.ErrStaleState) {
		t.Fatalf("want the stale batch refused, got %v", err)
	}
	if innerRes == nil || innerRes.State.In != first.State.Out {
		t.Fatalf("the inner batch: %+v", innerRes)
	}
	for _, want := range []string{"was judged against the job's state " + string(first.State.Out), "batch " + innerRes.BatchID + " has changed it since", "run it again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not say %q", err, want)
		}
	}
	var failed []actions.BatchFailedDetails
	for _, e := range enginetest.Entries(t, p.Trail, actions.BatchFailed, "") {
		d, _ := actions.Decode[actions.BatchFailedDetails](e)
		failed = append(failed, d)
	}
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "stale state") {
		t.Fatalf("the refusal is not on record: %+v", failed)
	}
	if _, ok, _ := p.CommittedEntry(ctx, failed[0].BatchID); ok {
		t.Fatal("the stale batch was committed")
	}
	if _, err := os.Stat(p.PendingBatch(failed[0].BatchID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the stale batch's pending folder is still there: %v", err)
	}
	if cur, _, _ := ratchet.JobState(ctx, p, "sensor-feed"); cur != innerRes.State.Out {
		t.Fatalf("the job's state is %s, want the inner batch's %s", cur, innerRes.State.Out)
	}
	// Run again, it is judged against the new state and commits.
	*ratchet.TestHook = nil
	r, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: outer, AsOf: enginetest.AsOf})
	if err != nil || r.State.In != innerRes.State.Out {
		t.Fatalf("the rerun: %v %+v", err, r)
	}
}

// TestHighCardinalityState: every reading from its own device — the case
// that exhausted zscore@1.0.0's memory in its instance — commits, with one
// key per device in the state, which stays out of guest memory and, past
// the host's buffer (made small here), out of the host's memory too: the
// changes spill to sorted runs on disk, which are gone after the batch.
// BenchmarkHighCardinality (state_bench_test.go) runs 1,000,000 and
// replays it; engine/plugstate's TestSpilledTableMatchesModel shows that
// spilling changes nothing in the file and TestMemoryBoundedByBuffer
// bounds the heap.
func TestHighCardinalityState(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 3000
	}
	p := enginetest.NewProject(t)
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s\n", reading(fmt.Sprintf("ZZ-%06d", i), 21, i%3600))
	}
	in := enginetest.WriteInput(t, t.TempDir(), "many.jsonl", []byte(b.String()))
	*ratchet.StateBuffer = 16 << 10 // a few hundred keys: dozens of spills, merged
	res := enginetest.Run(t, p, in, 2)
	*ratchet.StateBuffer = 0
	if res.RecordsIn != int64(n) || res.State == nil || res.State.Keys != int64(n) {
		t.Fatalf("%d records, state %+v", res.RecordsIn, res.State)
	}
	if left, _ := filepath.Glob(filepath.Join(p.PendingDir(), ".state-*")); len(left) != 0 {
		t.Fatalf("the batch left its spilled state behind: %v", left)
	}
}

// TestStateViolationFailsTheBatch: a plugin that breaks its declared state
// — a key over max_key_bytes, a key it did not declare, a value over
// max_value_bytes — fails the batch with the named reason: nothing
// committed, the failure on record, the job's state as it was.
func TestStateViolationFailsTheBatch(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	useHostile(t, p, "stateprobe")
	ok := enginetest.Run(t, p, enginetest.WriteInput(t, t.TempDir(), "ok.jsonl", readings("1", "1")), 1)
	if ok.State == nil || ok.State.Keys != 2 {
		t.Fatalf("the first batch's state: %+v", ok.State)
	}
	for i, c := range []struct{ value, want string }{
		{"2", "a key of 33 bytes; its manifest declares max_key_bytes 32"},
		{"4", `state_put of key "other", which it did not declare`},
		{"3", "a value of 65 bytes; its manifest declares max_value_bytes 64"},
	} {
		in := enginetest.WriteInput(t, t.TempDir(), fmt.Sprintf("bad%d.jsonl", i), readings("1", c.value))
		_, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
		var ie *ratchet.InfraError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "stateprobe@0.0.1") || !strings.Contains(err.Error(), "broke its declared state") || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("value %s: want the batch failed naming the breach, got %v", c.value, err)
		}
		if _, committed, _ := p.CommittedEntry(ctx, ie.BatchID); committed {
			t.Fatalf("value %s: the batch was committed", c.value)
		}
		if cur, _, _ := ratchet.JobState(ctx, p, "sensor-feed"); cur != ok.State.Out {
			t.Fatalf("value %s: the job's state moved to %s", c.value, cur)
		}
	}
	if n := len(enginetest.Entries(t, p.Trail, actions.BatchFailed, "")); n != 3 {
		t.Fatalf("%d batch.failed entries, want 3", n)
	}
	rep, err := review.Verify(ctx, p)
	if err != nil || !rep.OK() {
		t.Fatalf("audit verify: %v %+v", err, rep)
	}
	t.Run("format change", func(t *testing.T) { stateFormatChange(t, p, ok) })
}

// stateFormatChange: a version of a plugin that declares another state
// format and cannot migrate (stateprobe@0.0.2, format 2) does not run
// against a job state holding the plugin's keys in format 1: the batch
// fails on record naming both formats and the way out, the state as it
// was. A version that migrates (stateprobe@0.0.3, WAT, format 2) is given
// every key of format 1 before the first record: state_out holds them in
// format 2 as it rewrote them and nothing of format 1, the record says
// what was migrated, and a replay reproduces it. The same for a Go version
// (stateprobe@0.0.4, plugins/pdk/state/migrate, format 3): it refuses a
// format-1 key, failing the batch in its words with nothing kept, and
// migrates the format-2 keys.
func stateFormatChange(t *testing.T, p *project.Project, first *ratchet.Result) {
	ctx := context.Background()
	failed := len(enginetest.Entries(t, p.Trail, actions.BatchFailed, ""))
	run := func(name string, values ...string) (*ratchet.Result, error) {
		in := enginetest.WriteInput(t, t.TempDir(), name, readings(values...))
		return ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	}
	useHostile(t, p, "stateprobe2")
	_, err := run("two.jsonl", "1")
	if !errors.Is(err, ratchet.ErrStateFormat) || !strings.Contains(err.Error(), "stateprobe@0.0.2 keeps its state in format 2, but the state") ||
		!strings.Contains(err.Error(), "holds 2 keys of stateprobe in format 1, which this version does not read and cannot migrate") || !strings.Contains(err.Error(), "pawl state reset sensor-feed") {
		t.Fatalf("want the batch refused for its state format, got %v", err)
	}
	if cur, _, _ := ratchet.JobState(ctx, p, "sensor-feed"); cur != first.State.Out {
		t.Fatalf("a refused batch moved the job's state to %s", cur)
	}
	if n := len(enginetest.Entries(t, p.Trail, actions.BatchFailed, "")); n != failed+1 {
		t.Fatalf("%d batch.failed entries, want %d: the refusal on record", n, failed+1)
	}

	// stateprobe@0.0.4 (Go, plugins/pdk/state/migrate, format 3) refuses
	// the format-1 key k/1, after it migrated k/0: the batch fails with its
	// words, nothing of the migration kept.
	useHostile(t, p, "stategomigrate")
	_, err = run("gorefused.jsonl", "1")
	var ie *ratchet.InfraError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "stateprobe@0.0.4") ||
		!strings.Contains(err.Error(), `refused to migrate key "k/1" from format 1: k/1 of format 1 has no format-3 form; reset the state`) ||
		!strings.Contains(err.Error(), "refused to migrate its state") || strings.Contains(err.Error(), "broke its declared state") {
		t.Fatalf("want the batch failed with the Go plugin's refusal, got %v", err)
	}
	if _, committed, _ := p.CommittedEntry(ctx, ie.BatchID); committed {
		t.Fatal("the batch whose migration was refused was committed")
	}
	if cur, _, _ := ratchet.JobState(ctx, p, "sensor-feed"); cur != first.State.Out {
		t.Fatalf("a refused migration moved the job's state to %s", cur)
	}
	if fs := enginetest.Details[actions.BatchFailedDetails](t, p.Trail, ""); len(fs) != failed+2 || fs[len(fs)-1].BatchID != ie.BatchID ||
		!strings.Contains(fs[len(fs)-1].Error, "k/1 of format 1 has no format-3 form") {
		t.Fatalf("want the refusal on record as batch.failed %d, in the plugin's words: %+v", failed+2, fs)
	}

	useHostile(t, p, "statemigrate")
	res, err := run("three.jsonl", "1")
	if err != nil {
		t.Fatal(err)
	}
	want := []actions.StateMigration{{Plugin: "stateprobe@0.0.3", From: "1", To: "2", Keys: 2}}
	if res.State == nil || res.State.In != first.State.Out || !slices.Equal(res.State.Migrated, want) {
		t.Fatalf("the migrating batch's state: %+v, want from %s with %+v", res.State, first.State.Out, want)
	}
	if got := stateEntries(t, p, res.State.Out); got != `"stateprobe.2\x00k/0"="M2345678" "stateprobe.2\x00k/1"="M2345678"` {
		t.Fatalf("state_out after the migration: %s", got)
	}
	if rep, err := ratchet.Replay(ctx, p, res.BatchID, "inspector", "review"); err != nil || !rep.Match {
		t.Fatalf("replay of the migrating batch: %v %+v", err, rep)
	}

	// stateprobe@0.0.4 again, now that the state is in format 2: it
	// migrates every key into format 3.
	useHostile(t, p, "stategomigrate")
	gores, err := run("gomigrated.jsonl", "1")
	if err != nil {
		t.Fatal(err)
	}
	want = []actions.StateMigration{{Plugin: "stateprobe@0.0.4", From: "2", To: "3", Keys: 2}}
	if gores.State == nil || gores.State.In != res.State.Out || !slices.Equal(gores.State.Migrated, want) {
		t.Fatalf("the Go plugin's migrating batch's state: %+v, want from %s with %+v", gores.State, res.State.Out, want)
	}
	if got := stateEntries(t, p, gores.State.Out); got != `"stateprobe.3\x00k/0"="go3:M2345678" "stateprobe.3\x00k/1"="go3:M2345678"` {
		t.Fatalf("state_out after the Go plugin's migration: %s", got)
	}
	if rep, err := ratchet.Replay(ctx, p, gores.BatchID, "inspector", "review"); err != nil || !rep.Match {
		t.Fatalf("replay of the Go plugin's migrating batch: %v %+v", err, rep)
	}
	if rep, err := review.Verify(ctx, p); err != nil || !rep.OK() {
		t.Fatalf("audit verify: %v %v", err, rep.Problems)
	}
}

// stateEntries is a state's entries, `"key"="value"` in key order.
func stateEntries(t *testing.T, p *project.Project, digest store.Digest) string {
	t.Helper()
	data, err := p.ReadBlob(digest)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := plugstate.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	var entries []string
	tb.Each(func(k, v []byte) error {
		entries = append(entries, fmt.Sprintf("%q=%q", k, v))
		return nil
	})
	return strings.Join(entries, " ")
}
