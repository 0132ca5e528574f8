package ratchet_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/version"
)

func TestRunEndToEnd(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 8000, 1))
	res := enginetest.Run(t, p, in, 2)
	if res.Status != "committed" {
		t.Fatalf("status %q", res.Status)
	}
	if res.RecordsIn != 8000 || res.Verified+res.Quarantined != res.RecordsIn {
		t.Fatalf("counts: in %d verified %d quarantined %d", res.RecordsIn, res.Verified, res.Quarantined)
	}
	// 5% generated defects, plus the readings of the one decommissioned device (1%).
	if res.Quarantined < 300 || res.Quarantined > 800 {
		t.Fatalf("expected about 6%% quarantined, got %d of 8000", res.Quarantined)
	}
	// Verified output: canonical JSON, LF endings, valid UTF-8, in input order.
	lines := enginetest.ReadLines(t, filepath.Join(res.Dir, actions.VerifiedFile))
	if int64(len(lines)) != res.Verified {
		t.Fatalf("%d verified lines, summary says %d", len(lines), res.Verified)
	}
	for i, l := range lines {
		v, derr := records.DecodeJSON(l, records.DecodeOptions{RequireObject: true})
		if derr != nil {
			t.Fatalf("verified line %d does not decode: %v", i+1, derr)
		}
		if c := canonjson.Append(nil, v); !bytes.Equal(c, l) {
			t.Fatalf("verified line %d is not canonical:\n%s\n%s", i+1, l, c)
		}
	}
	// Quarantine: ordinals increase, each has a reason, bytes are the input's.
	input, _ := os.ReadFile(in)
	qs := enginetest.Quarantine(t, p, res.BatchID)
	if int64(len(qs)) != res.Quarantined {
		t.Fatalf("%d quarantine entries, summary says %d", len(qs), res.Quarantined)
	}
	var last int64
	for _, q := range qs {
		if q.Ordinal <= last {
			t.Fatalf("ordinal %d after %d", q.Ordinal, last)
		}
		last = q.Ordinal
		if len(q.Reasons) == 0 {
			t.Fatalf("record %d quarantined without a reason", q.Ordinal)
		}
		raw, err := q.RawBytes()
		if err != nil {
			t.Fatal(err)
		}
		if got := input[q.Offset : q.Offset+q.Length]; !bytes.Equal(got, raw) {
			t.Fatalf("record %d: offset %d length %d points at %q, entry holds %q", q.Ordinal, q.Offset, q.Length, got, raw)
		}
	}
	// Every defect class of the generator shows up with its rule.
	rules := map[string]bool{}
	for _, rc := range res.Rules {
		rules[rc.Stage+"/"+rc.Rule] = true
	}
	for _, want := range []string{"schema/type", "schema/additionalProperties", "schema/pattern", "schema/required", "schema/enum", "schema/format",
		"utf8/utf8.invalid", "normalize/unicode.zero_width", "normalize/unicode.bidi", "normalize/unicode.control", "decode/json.truncated",
		"validate/range/range.min", "validate/freshness/freshness.stale", "validate/zscore/zscore.outlier", "validate/registry/registry.unknown"} {
		if !rules[want] {
			t.Errorf("no record failed %s; rules seen: %v", want, rules)
		}
	}
	if res.Normalize.Normalized == 0 {
		t.Errorf("no record was normalized to NFC; stats %+v", res.Normalize)
	}
	chk, err := seal.VerifyFile(res.Signature, []ed25519.PublicKey{p.Key.Public})
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Outputs) != 2 || chk.Signature.Result.RecordsIn != 8000 || len(chk.Signature.Validators) != 4 {
		t.Fatalf("signature check: %+v", chk)
	}
	// The executable that ran it is on record (the test binary here).
	if sum, err := version.BinarySHA256(); err != nil || res.Binary == nil || res.Binary.SHA256 != "sha256:"+sum || res.Binary.Error != "" {
		t.Errorf("batch record's binary: %+v; want sha256:%s (%v)", res.Binary, sum, err)
	}
	rep, err := review.Verify(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("project does not verify: %+v %v", rep.Audit, rep.Problems)
	}
}

func TestRerunIsAnsweredFromTheRecord(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 500, 2))
	first := enginetest.Run(t, p, in, 1)
	sig1, _ := os.ReadFile(first.Signature)
	head1, _ := p.Trail.Head(context.Background())
	again, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, Workers: 3, AsOf: enginetest.AsOf.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != "already_committed" || again.BatchID != first.BatchID {
		t.Fatalf("rerun: status %q id %s (first %s)", again.Status, again.BatchID, first.BatchID)
	}
	if again.Verified != first.Verified || again.AsOf != first.AsOf {
		t.Fatalf("rerun answered %+v, first was %+v", again.BatchRecord, first.BatchRecord)
	}
	sig2, _ := os.ReadFile(first.Signature)
	head2, _ := p.Trail.Head(context.Background())
	if !bytes.Equal(sig1, sig2) || head1.Seq != head2.Seq {
		t.Fatalf("rerun changed something: signature equal %v, audit head %d -> %d", bytes.Equal(sig1, sig2), head1.Seq, head2.Seq)
	}
}

func TestOutputDoesNotDependOnWorkers(t *testing.T) {
	input := enginetest.GenInput(t, 4000, 3)
	var results []*ratchet.Result
	for _, w := range []int{1, 4} {
		p := enginetest.NewProject(t)
		in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", input)
		results = append(results, enginetest.Run(t, p, in, w))
	}
	a, b := results[0], results[1]
	if a.BatchID != b.BatchID {
		t.Fatalf("batch ids differ: %s %s", a.BatchID, b.BatchID)
	}
	for _, name := range []string{actions.VerifiedFile, actions.QuarantineFile} {
		if a.Outputs[name] != b.Outputs[name] {
			t.Errorf("%s differs between 1 and 4 workers: %+v vs %+v", name, a.Outputs[name], b.Outputs[name])
		}
	}
	aj, _ := json.Marshal(a.Rules)
	bj, _ := json.Marshal(b.Rules)
	if !bytes.Equal(aj, bj) {
		t.Errorf("rule counts differ:\n%s\n%s", aj, bj)
	}
}

func TestPinsAreEnforced(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 10, 4))
	schemaPath := filepath.Join(p.Root, "schemas", "sensor-reading.json")
	b, _ := os.ReadFile(schemaPath)
	if err := os.WriteFile(schemaPath, bytes.Replace(b, []byte(`-273.15`), []byte(`-300`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in})
	var pm *lockfile.MismatchError
	if !errors.As(err, &pm) || pm.File != "schemas/sensor-reading.json" || pm.Pinned == pm.Actual || pm.Actual == "" {
		t.Fatalf("want a pin mismatch naming the schema, got %v", err)
	}
	if !strings.Contains(err.Error(), "pawl pin") {
		t.Fatalf("the error does not say what to do: %v", err)
	}
	pr, err := enginetest.PinAs(context.Background(), t, p, "tester", "relax minimum")
	if err != nil || len(pr.Changes) != 1 || pr.Changes[0].File != "schemas/sensor-reading.json" {
		t.Fatalf("pin: %v %+v", err, pr)
	}
	es, err := p.Trail.Find(context.Background(), actions.PinChanged, "file:"+project.LockFile)
	if err != nil || len(es) != 2 || es[1].Reason != "relax minimum" {
		t.Fatalf("pin changes on record: %v %+v", err, es)
	}
	if res := enginetest.Run(t, p, in, 1); res.Status != "committed" {
		t.Fatal(res.Status)
	}
	// An unknown key in the job spec is refused, naming key and file.
	job := filepath.Join(p.Root, "jobs", "sensor-feed.yaml")
	jb, _ := os.ReadFile(job)
	os.WriteFile(job, append(jb, []byte("colour: red\n")...), 0o644)
	_, err = enginetest.PinAs(context.Background(), t, p, "tester", "")
	if err == nil || !strings.Contains(err.Error(), "colour") || !strings.Contains(err.Error(), "jobs/sensor-feed.yaml") {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestRecoveryAfterCrashBetweenSteps stops a run at each step of the commit
// protocol and opens the project again: work that never reached the trail is
// discarded; a batch with its batch.committed entry is finished, whether its
// folder was still pending (run.after-audit) or already moved
// (commit.after-rename).
func TestRecoveryAfterCrashBetweenSteps(t *testing.T) {
	for _, step := range []string{"run.before-audit", "run.after-audit", "commit.after-rename"} {
		t.Run(step, func(t *testing.T) {
			p := enginetest.NewProject(t)
			in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 200, 5))
			crash := errors.New("simulated crash")
			*ratchet.TestHook = func(s string) error {
				if s == step {
					return crash
				}
				return nil
			}
			_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
			*ratchet.TestHook = nil
			if !errors.Is(err, crash) {
				t.Fatalf("want the simulated crash, got %v", err)
			}
			root := p.Root
			p.Close()
			q, err := engine.Open(context.Background(), root, enginetest.Config())
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			pend, _ := os.ReadDir(filepath.Join(q.Data, "pending"))
			if len(pend) != 0 {
				t.Fatalf("pending work left after recovery: %v", pend)
			}
			bs, _ := q.Batches(context.Background())
			if step == "run.before-audit" {
				if len(bs) != 0 {
					t.Fatalf("a batch that never reached the trail was committed: %v", bs)
				}
			} else {
				if len(bs) != 1 {
					t.Fatalf("the audited batch was not rolled forward: %d batches", len(bs))
				}
				if _, err := seal.VerifyFile(bs[0].Signature, []ed25519.PublicKey{q.Key.Public}); err != nil {
					t.Fatalf("rolled-forward signature: %v", err)
				}
			}
			res, err := ratchet.Run(context.Background(), q, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"run.before-audit": "committed", "run.after-audit": "already_committed", "commit.after-rename": "already_committed"}[step]
			if res.Status != want || res.Verified+res.Quarantined != 200 {
				t.Fatalf("rerun: %s %d+%d", res.Status, res.Verified, res.Quarantined)
			}
			rep, err := review.Verify(context.Background(), q)
			if err != nil || !rep.OK() {
				t.Fatalf("verify: %v %+v", err, rep)
			}
		})
	}
}

// TestRecoverFinishesEveryCommittedBatch: several batches cut short after
// their batch.committed entry — two still pending (run.after-audit), two
// already moved but unsigned (commit.after-rename) — are all finished by one
// recovery, not only the first of each kind.
func TestRecoverFinishesEveryCommittedBatch(t *testing.T) {
	p := enginetest.NewProject(t)
	crash := errors.New("simulated crash")
	for i, step := range []string{"run.after-audit", "run.after-audit", "commit.after-rename", "commit.after-rename"} {
		in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 50, uint64(20+i)))
		*ratchet.TestHook = func(s string) error {
			if s == step {
				return crash
			}
			return nil
		}
		_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
		*ratchet.TestHook = nil
		if !errors.Is(err, crash) {
			t.Fatalf("run %d: want the simulated crash at %s, got %v", i, step, err)
		}
	}
	var ids []string
	for _, e := range enginetest.Entries(t, p.Trail, actions.BatchCommitted, "") {
		ids = append(ids, strings.TrimPrefix(e.Object, "batch:"))
	}
	if len(ids) != 4 {
		t.Fatalf("%d batch.committed entries, want 4", len(ids))
	}
	if pend, _ := os.ReadDir(filepath.Join(p.Data, "pending")); len(pend) != 2 {
		t.Fatalf("before recovery: %d pending, want 2", len(pend))
	}
	root := p.Root
	p.Close()
	q, err := engine.Open(context.Background(), root, enginetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if pend, _ := os.ReadDir(filepath.Join(q.Data, "pending")); len(pend) != 0 {
		t.Fatalf("pending work left after recovery: %v", pend)
	}
	for _, id := range ids {
		if _, err := seal.VerifyFile(q.SignaturePath(id), []ed25519.PublicKey{q.Key.Public}); err != nil {
			t.Errorf("batch %s after recovery: %v", id, err)
		}
	}
	if rep, err := review.Verify(context.Background(), q); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestInfrastructureFailureCommitsNothing: when the batch cannot be written,
// the run fails, nothing is committed, and the failure is on record.
func TestInfrastructureFailureCommitsNothing(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 100, 7))
	pending := filepath.Join(p.Data, "pending")
	os.RemoveAll(pending)
	if err := os.WriteFile(pending, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf, Reason: "nightly"})
	var ie *ratchet.InfraError
	if !errors.As(err, &ie) || ie.BatchID == "" || !strings.Contains(err.Error(), "nothing committed") {
		t.Fatalf("want an infrastructure error naming the batch, got %v", err)
	}
	es, _ := p.Trail.Find(context.Background(), actions.BatchFailed, "batch:"+ie.BatchID)
	if len(es) != 1 || es[0].Reason != "nightly" || !strings.Contains(string(es[0].Details), "pending") {
		t.Fatalf("failure on record: %+v", es)
	}
	if bs, _ := p.Batches(context.Background()); len(bs) != 0 {
		t.Fatalf("a failed batch was committed: %v", bs)
	}
	os.Remove(pending)
	os.Mkdir(pending, 0o700)
	if res := enginetest.Run(t, p, in, 2); res.Status != "committed" || res.BatchID != ie.BatchID {
		t.Fatalf("rerun after the fault: %s %s", res.Status, res.BatchID)
	}
}
