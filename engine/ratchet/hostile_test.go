package ratchet_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/review"
)

// useHostile pins a module of the sandbox's hostile suite and makes it the
// job's only validator.
func useHostile(t testing.TB, p *project.Project, module string) string {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "sandbox", "testdata", module+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m, _, _, err := p.AddPlugin(context.Background(), wasm, "tester", "hostile suite")
	if err != nil {
		t.Fatal(err)
	}
	// The plugins policy admits only approved hashes: approve it (the
	// containment is what these tests are about).
	if _, err := gate.ApprovePinned(context.Background(), p, []string{m.ID()}, "tester", "hostile suite"); err != nil {
		t.Fatal(err)
	}
	job := "name: sensor-feed\nsource: test\nclassification: internal\nformat: jsonl\nschema: schemas/sensor-reading.json\nvalidators:\n  - plugin: " + m.ID() + "\n"
	os.WriteFile(filepath.Join(p.Root, "jobs", "sensor-feed.yaml"), []byte(job), 0o644)
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", ""); err != nil {
		t.Fatal(err)
	}
	return m.ID()
}

func readings(values ...string) []byte {
	var b strings.Builder
	for _, v := range values {
		b.WriteString(`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":` + v + `,"unit":"celsius"}` + "\n")
	}
	return []byte(b.String())
}

// TestATrapQuarantinesTheRecordThatCausedIt: a plugin that traps on one
// record costs that record, found by bisection, not the batch.
func TestATrapQuarantinesTheRecordThatCausedIt(t *testing.T) {
	p := enginetest.NewProject(t)
	id := useHostile(t, p, "trap13")
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", readings("1", "2", "13", "4", "5"))
	res := enginetest.Run(t, p, in, 2)
	if res.RecordsIn != 5 || res.Verified != 4 || res.Quarantined != 1 {
		t.Fatalf("in %d verified %d quarantined %d", res.RecordsIn, res.Verified, res.Quarantined)
	}
	q := enginetest.Quarantine(t, p, res.BatchID)[0]
	if q.Ordinal != 3 || !strings.HasSuffix(q.Reasons[0].Rule, "plugin.trap") || !strings.Contains(q.Reasons[0].Message, id) {
		t.Fatalf("the trap's record: %+v", q)
	}
}

// TestReasonsPerRecordAreCapped: a plugin that gives every record 40
// reasons (a valid result) leaves 16 of them in the quarantine, and one
// more reason saying how many were not kept.
func TestReasonsPerRecordAreCapped(t *testing.T) {
	p := enginetest.NewProject(t)
	id := useHostile(t, p, "manyreasons")
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", readings("1", "2"))
	res := enginetest.Run(t, p, in, 1)
	if res.Quarantined != 2 {
		t.Fatalf("quarantined %d of 2", res.Quarantined)
	}
	for _, q := range enginetest.Quarantine(t, p, res.BatchID) {
		if len(q.Reasons) != finding.MaxPluginReasons+1 {
			t.Fatalf("record %d kept %d reasons, want %d and the cap's", q.Ordinal, len(q.Reasons), finding.MaxPluginReasons)
		}
		last := q.Reasons[finding.MaxPluginReasons]
		if !strings.HasSuffix(last.Rule, "reasons.capped") || !strings.Contains(last.Message, "24 more reasons of "+id) {
			t.Errorf("record %d: the cap's reason is %+v", q.Ordinal, last)
		}
	}
}

// TestARunawayPluginFailsTheBatch: an infinite loop is stopped at the call
// deadline; the batch fails, nothing is committed, the failure names the
// plugin and is on record.
func TestARunawayPluginFailsTheBatch(t *testing.T) {
	p := enginetest.NewProject(t)
	p.Cfg.PluginCallTimeout = 500 * time.Millisecond
	id := useHostile(t, p, "loop")
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", readings("1", "2"))
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	var ie *ratchet.InfraError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), id) {
		t.Fatalf("want the batch failed naming %s, got %v", id, err)
	}
	es, _ := p.Trail.Find(context.Background(), actions.BatchFailed, "batch:"+ie.BatchID)
	if len(es) != 1 || !strings.Contains(string(es[0].Details), id) {
		t.Fatalf("failure on record: %+v", es)
	}
	if bs, _ := p.Batches(context.Background()); len(bs) != 0 {
		t.Fatal("a batch was committed")
	}
	if pend, _ := os.ReadDir(filepath.Join(p.Data, "pending")); len(pend) != 0 {
		t.Fatalf("half-done work left behind: %v", pend)
	}
}

// TestAnUndeclaredImportIsRefused: a module importing what pawl does not
// provide is refused at load, naming the import, and the refusal is audited.
func TestAnUndeclaredImportIsRefused(t *testing.T) {
	p := enginetest.NewProject(t)
	id := useHostile(t, p, "network")
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", readings("1"))
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	if err == nil || !strings.Contains(err.Error(), "import") {
		t.Fatalf("want a refusal naming the import, got %v", err)
	}
	if es, _ := p.Trail.Find(context.Background(), actions.PluginRefused, "plugin:"+id); len(es) != 1 {
		t.Fatalf("refusal on record: %+v", es)
	}
}

// TestVerifyFindsASwappedStoreBlob: the input blob of a committed batch is
// replaced in the store; audit verify names the batch and the blob.
func TestVerifyFindsASwappedStoreBlob(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", readings("1", "2"))
	res := enginetest.Run(t, p, in, 1)
	path := p.Store.Path(res.Input)
	os.Chmod(path, 0o644)
	os.WriteFile(path, readings("1", "3"), 0o644)
	rep, err := review.Verify(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "input blob") {
		t.Fatalf("a swapped input blob verified: %+v", rep.Problems)
	}
}

// TestEveryHostileModuleFailsCleanly runs the rest of the sandbox's
// hostile suite through a real batch: pawl survives, the error names the
// plugin and what it did, the event is on record, and nothing half-done is
// committed. (A module refused when it is pinned never gets that far; that
// refusal is checked instead.)
func TestEveryHostileModuleFailsCleanly(t *testing.T) {
	for _, tc := range []struct{ module, what string }{
		{"membomb", "memory"},
		{"recursion", "stack"},
		{"bigresult", "result"},
		{"malformed", "result"},
		{"wrongabi", "ABI"},
		{"badimport", "import"},
		{"importmem", "import"},
	} {
		t.Run(tc.module, func(t *testing.T) {
			p := enginetest.NewProject(t)
			// Each module must be stopped by its own limit (memory, stack,
			// result size), however loaded the machine is: a deadline it
			// never reaches.
			p.Cfg.PluginCallTimeout = 10 * time.Minute
			wasm, err := os.ReadFile(filepath.Join("..", "sandbox", "testdata", tc.module+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := p.AddPlugin(context.Background(), wasm, "tester", "hostile suite"); err != nil {
				if !strings.Contains(err.Error(), tc.what) {
					t.Fatalf("refused when pinned, but the error does not say why (%s): %v", tc.what, err)
				}
				return
			}
			id := useHostile(t, p, tc.module)
			in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", readings("1", "2", "3"))
			_, err = ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
			if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.what)) {
				t.Fatalf("want a failure naming %s and %q, got %v", id, tc.what, err)
			}
			failed, _ := p.Trail.List(context.Background(), audit.Filter{Action: actions.BatchFailed})
			refused, _ := p.Trail.Find(context.Background(), actions.PluginRefused, "plugin:"+id)
			if len(failed)+len(refused) != 1 {
				t.Fatalf("the event is not on record once: %d batch.failed, %d plugin.refused", len(failed), len(refused))
			}
			if bs, _ := p.Batches(context.Background()); len(bs) != 0 {
				t.Fatal("a batch was committed")
			}
			if pend, _ := os.ReadDir(filepath.Join(p.Data, "pending")); len(pend) != 0 {
				t.Fatalf("half-done work left behind: %v", pend)
			}
		})
	}
}

// BenchmarkATrapStormFailsFast: a plugin that traps on every one of
// 200,000 records fails the batch after SameTrapLimit traps in its first
// call instead of bisecting every record (issue 16: under 10 s).
func BenchmarkATrapStormFailsFast(b *testing.B) {
	p := enginetest.NewProject(b)
	useHostile(b, p, "trap13")
	vals := make([]string, 200000)
	for i := range vals {
		vals[i] = "13"
	}
	in := enginetest.WriteInput(b, b.TempDir(), "in.jsonl", readings(vals...))
	b.ResetTimer()
	for range b.N {
		_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf, Reason: "bench"})
		if err == nil || !strings.Contains(err.Error(), "traps on every record") {
			b.Fatalf("want the batch failed by a trap storm, got %v", err)
		}
	}
}

// TestABatchPastItsTimeBudgetFails: with batch.timeout pinned, a batch that
// runs longer fails naming the limit, on record, and nothing is committed.
func TestABatchPastItsTimeBudgetFails(t *testing.T) {
	p := enginetest.NewProject(t)
	p.Cfg.BatchTimeout = time.Millisecond
	enginetest.Pin(t, p, "tester", "a 1 ms budget")
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 20000, 7))
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	if !errors.Is(err, ratchet.ErrBatchTimeout) || !strings.Contains(err.Error(), "batch.timeout 1ms") {
		t.Fatalf("want the batch failed by its budget, got %v", err)
	}
	if bs, _ := p.Batches(context.Background()); len(bs) != 0 {
		t.Fatal("a batch past its budget was committed")
	}
	failed := enginetest.Entries(t, p.Trail, actions.BatchFailed, "")
	if len(failed) != 1 || !strings.Contains(string(failed[0].Details), "time budget") {
		t.Fatalf("the failure on record: %v", failed)
	}
}

// TestAQuarantineFloodFailsTheBatch: 5,000 empty objects (15 KB) would make
// a quarantine of 1.5 MB, each with four reasons; with
// batch.max_quarantine_growth 2 the batch fails naming the limit, and
// nothing is committed.
func TestAQuarantineFloodFailsTheBatch(t *testing.T) {
	p := enginetest.NewProject(t)
	p.Cfg.BatchMaxQuarantineGrowth = 2
	enginetest.Pin(t, p, "tester", "a tight quarantine bound")
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", []byte(strings.Repeat("{}\n", 5000)))
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	if !errors.Is(err, ratchet.ErrQuarantineGrowth) || !strings.Contains(err.Error(), "batch.max_quarantine_growth") {
		t.Fatalf("want the batch failed by its quarantine bound, got %v", err)
	}
	if bs, _ := p.Batches(context.Background()); len(bs) != 0 {
		t.Fatal("a flooded batch was committed")
	}
	// The default bound (32 times, plus 1 MiB) stops the same flood (its
	// quarantine is about 100 times the input) and lets ordinary data,
	// 5% of it defective, through.
	p.Cfg.BatchMaxQuarantineGrowth = 32
	enginetest.Pin(t, p, "tester", "the default bound")
	if _, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf}); !errors.Is(err, ratchet.ErrQuarantineGrowth) {
		t.Fatalf("the flood under the default bound: %v", err)
	}
	ordinary := enginetest.WriteInput(t, t.TempDir(), "ordinary.jsonl", enginetest.GenInput(t, 5000, 11))
	if res := enginetest.Run(t, p, ordinary, 1); res.Status != "committed" || res.Quarantined == 0 {
		t.Fatalf("ordinary data under the default bound: %+v", res)
	}
}
