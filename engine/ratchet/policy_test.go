package ratchet_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/policies"
)

func decisionsOn(t *testing.T, p *project.Project, object string) []actions.PolicyDecisionDetails {
	t.Helper()
	return enginetest.Details[actions.PolicyDecisionDetails](t, p.Trail, object)
}

// decisionRun returns what a run of batch put on record about its
// classification and its plugins' admission, in trail order, as
// "action object allow|deny", and whether those entries all share one time
// (one transaction reads the clock once: audit.Trail.AppendAll).
func decisionRun(t *testing.T, p *project.Project, batch string) ([]string, bool) {
	t.Helper()
	es, err := p.Trail.List(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var times []time.Time
	for _, e := range es {
		switch e.Action {
		case actions.PolicyDecision:
			d, err := actions.Decode[actions.PolicyDecisionDetails](e)
			if err != nil || d.BatchID != batch {
				continue
			}
			verdict := "deny"
			if d.Allow {
				verdict = "allow"
			}
			out = append(out, e.Action+" "+e.Object+" "+verdict)
			times = append(times, e.Time)
		case actions.PluginRefused:
			out = append(out, e.Action+" "+e.Object)
		}
	}
	same := len(times) > 0
	for _, tm := range times {
		same = same && tm.Equal(times[0])
	}
	return out, same
}

// reopen closes p and opens its project again with cfg, as a new process
// with another configuration would.
func reopen(t *testing.T, p *project.Project, cfg config.Config) *project.Project {
	t.Helper()
	root := p.Root
	p.Close()
	q, err := engine.Open(context.Background(), root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// editData rewrites the project's policies/data.json through fn.
func editData(t *testing.T, p *project.Project, fn func(map[string]any)) {
	t.Helper()
	path := filepath.Join(p.Root, "policies", "data.json")
	b, _ := os.ReadFile(path)
	var data map[string]any
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	fn(data)
	b, _ = json.MarshalIndent(data, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyWiredIntoRun: init writes the default bundle approving the
// first-party plugins, pins it, and a run records the bundle pin in the
// batch, keeps the bundle in the store, and puts every decision on record.
func TestPolicyWiredIntoRun(t *testing.T) {
	p := enginetest.NewProject(t)
	pins, _ := lockfile.Read(p.Root)
	want, err := policies.BundleDigest(filepath.Join(p.Root, "policies"))
	if err != nil || string(pins[project.PolicyPinKey]) != want {
		t.Fatalf("pawl.lock pins policies/ as %q, the bundle is %q (%v)", pins[project.PolicyPinKey], want, err)
	}
	res := enginetest.Run(t, p, enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 40, 1)), 2)
	if res.Pins[project.PolicyPinKey] != pins[project.PolicyPinKey] {
		t.Fatalf("batch pins: %v", res.Pins)
	}
	if err := p.Store.Verify(pins[project.PolicyPinKey]); err != nil {
		t.Fatalf("the bundle's file list is not in the store: %v", err)
	}
	if rep, err := review.Verify(context.Background(), p); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	for _, id := range []string{"range@1.1.0", "freshness@1.1.0", "registry@1.1.0", "zscore@2.1.0"} {
		ds := decisionsOn(t, p, "plugin:"+id)
		if len(ds) != 1 || !ds[0].Allow || ds[0].Kind != policies.KindPlugin || ds[0].BatchID != res.BatchID || ds[0].Bundle.SHA256 != want {
			t.Fatalf("%s: decisions on record %+v", id, ds)
		}
	}
	cs := decisionsOn(t, p, "batch:"+res.BatchID)
	if len(cs) != 1 || !cs[0].Allow || cs[0].Kind != policies.KindClassification || !strings.Contains(string(cs[0].Input), `"/device_id"`) {
		t.Fatalf("classification decisions: %+v", cs)
	}
	// The classification and the four admissions went on record together,
	// in the order they were asked, in one transaction.
	got, together := decisionRun(t, p, res.BatchID)
	want5 := []string{"policy.decision batch:" + res.BatchID + " allow", "policy.decision plugin:range@1.1.0 allow",
		"policy.decision plugin:freshness@1.1.0 allow", "policy.decision plugin:registry@1.1.0 allow", "policy.decision plugin:zscore@2.1.0 allow"}
	if strings.Join(got, "\n") != strings.Join(want5, "\n") || !together {
		t.Fatalf("the run's decisions on record (one time: %v):\n%s\nwant\n%s", together, strings.Join(got, "\n"), strings.Join(want5, "\n"))
	}
	// Another bundle is another batch: the pin feeds the batch id.
	editData(t, p, func(d map[string]any) { d["note"] = "changed" })
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 40, 1))
	_, err = ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	var pm *lockfile.MismatchError
	if !errors.As(err, &pm) || pm.File != project.PolicyPinKey || !strings.Contains(err.Error(), "pawl pin") {
		t.Fatalf("changed bundle: %v", err)
	}
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "note"); err != nil {
		t.Fatal(err)
	}
	if again := enginetest.Run(t, p, in, 1); again.BatchID == res.BatchID || again.Status != "committed" {
		t.Fatalf("same batch id under another bundle: %s %s", again.BatchID, again.Status)
	}
}

func TestUnapprovedPluginIsDenied(t *testing.T) {
	p := enginetest.NewProject(t)
	pins, _ := lockfile.Read(p.Root)
	editData(t, p, func(d map[string]any) {
		delete(d["plugins"].(map[string]any)["approved"].(map[string]any), string(pins["plugin:zscore@2.1.0"]))
	})
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "revoke zscore"); err != nil {
		t.Fatal(err)
	}
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 20, 2))
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	if !errors.Is(err, gate.ErrDenied) || !strings.Contains(err.Error(), "plugins.not_approved") || !strings.Contains(err.Error(), "approve-plugin zscore@2.1.0") {
		t.Fatalf("want a denial naming the rule and what to do, got %v", err)
	}
	ds := decisionsOn(t, p, "plugin:zscore@2.1.0")
	if len(ds) != 1 || ds[0].Allow || len(ds[0].Deny) == 0 {
		t.Fatalf("denial on record: %+v", ds)
	}
	if es, _ := p.Trail.Find(context.Background(), actions.PluginRefused, "plugin:zscore@2.1.0"); len(es) != 1 {
		t.Fatal("refusal not on record")
	}
	if bs, _ := p.Batches(context.Background()); len(bs) != 0 {
		t.Fatal("a batch was committed with a plugin the policy denied")
	}
	// On record as if each decision had been recorded when asked: the
	// classification and the plugins admitted before the denial, the
	// denial, then the refusal.
	got, _ := decisionRun(t, p, ds[0].BatchID)
	want := []string{"policy.decision batch:" + ds[0].BatchID + " allow", "policy.decision plugin:range@1.1.0 allow",
		"policy.decision plugin:freshness@1.1.0 allow", "policy.decision plugin:registry@1.1.0 allow",
		"policy.decision plugin:zscore@2.1.0 deny", "plugin.refused plugin:zscore@2.1.0"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("on record after the denial:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// approve-plugin puts it back.
	if _, err := gate.ApprovePinned(context.Background(), p, []string{"zscore@2.1.0"}, "tester", "re-approved"); err != nil {
		t.Fatal(err)
	}
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "approve zscore"); err != nil {
		t.Fatal(err)
	}
	enginetest.Run(t, p, in, 1)
}

func TestUnderDeclaredClassificationIsRefused(t *testing.T) {
	p := enginetest.NewProject(t)
	path := filepath.Join(p.Root, "schemas", "sensor-reading.json")
	b, _ := os.ReadFile(path)
	var s map[string]any
	json.Unmarshal(b, &s)
	s["properties"].(map[string]any)["patient_id"] = map[string]any{"type": "string"}
	b, _ = json.MarshalIndent(s, "", "  ")
	os.WriteFile(path, b, 0o644)
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "schema with a patient id"); err != nil {
		t.Fatal(err)
	}
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 20, 3))
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	if !errors.Is(err, gate.ErrDenied) || !strings.Contains(err.Error(), `classification.under_declared: field "/patient_id"`) {
		t.Fatalf("want the classification denial, got %v", err)
	}
	if bs, _ := p.Batches(context.Background()); len(bs) != 0 {
		t.Fatal("committed")
	}
	ds := decisionsOn(t, p, "")
	last := ds[len(ds)-1]
	if last.Kind != policies.KindClassification || last.Allow {
		t.Fatalf("last decision on record: %+v", last)
	}
	if ds := decisionsOn(t, p, "plugin:range@1.1.0"); len(ds) != 0 {
		t.Fatal("plugins were admitted after the classification was refused")
	}
}

// TestRequireSignature: with policy.require_signature, an unsigned or
// tampered bundle is refused before the input is read; a signed one runs.
// The settings themselves are pinned: a run under settings that are not
// the pinned ones is refused, and `pawl pin` refuses to pin an unsigned
// bundle under them.
func TestRequireSignature(t *testing.T) {
	p := enginetest.NewProject(t)
	priv, pub, err := policies.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	keyDir := t.TempDir()
	os.WriteFile(filepath.Join(keyDir, "policy.pub"), pub, 0o644)
	cfg := p.Cfg
	cfg.PolicyRequireSignature = true
	cfg.PolicyPublicKey = filepath.Join(keyDir, "policy.pub")
	p = reopen(t, p, cfg)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 20, 4))
	_, err = ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	var pm *lockfile.MismatchError
	if !errors.As(err, &pm) || pm.File != project.PolicySettingsPinKey || !strings.Contains(err.Error(), "policy.require_signature true") {
		t.Fatalf("settings not pinned: %v", err)
	}
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "require signatures"); err == nil || !strings.Contains(err.Error(), "require_signature") || !strings.Contains(err.Error(), "unsigned") {
		t.Fatalf("pin of an unsigned bundle under require_signature: %v", err)
	}
	if ds := decisionsOn(t, p, ""); len(ds) != 0 {
		t.Fatalf("decisions were made with an unsigned bundle: %d", len(ds))
	}
	if bs, _ := p.Batches(context.Background()); len(bs) != 0 {
		t.Fatal("committed with an unsigned bundle")
	}
	dir := filepath.Join(p.Root, "policies")
	if err := project.SignBundle(dir, priv, ""); err != nil {
		t.Fatal(err)
	}
	p = reopen(t, p, cfg)
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", "require signatures"); err != nil {
		t.Fatal(err)
	}
	enginetest.Run(t, p, in, 1)

	os.WriteFile(filepath.Join(dir, "pawl", "backdoor.rego"), []byte("package pawl.backdoor\n"), 0o644)
	_, err = ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: enginetest.WriteInput(t, t.TempDir(), "in2.jsonl", enginetest.GenInput(t, 20, 5)), AsOf: enginetest.AsOf})
	if err == nil || !strings.Contains(err.Error(), "backdoor.rego") {
		t.Fatalf("tampered bundle: %v", err)
	}
	// pawl pin refuses to pin it too.
	if _, err := enginetest.PinAs(context.Background(), t, p, "tester", ""); err == nil || !strings.Contains(err.Error(), "backdoor.rego") {
		t.Fatalf("pin of a tampered bundle: %v", err)
	}
}

// TestApprovalsNeedAReason: approving a plugin changes what may run; the
// audit trail must say why, so pawl refuses an approval without a reason
// and leaves the policy data as it was.
func TestApprovalsNeedAReason(t *testing.T) {
	p := enginetest.NewProject(t)
	data := filepath.Join(p.Root, "policies", "data.json")
	before, _ := os.ReadFile(data)
	if _, err := gate.ApprovePinned(context.Background(), p, []string{"range@1.1.0"}, "tester", " "); err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Fatalf("an approval without a reason: %v", err)
	}
	if after, _ := os.ReadFile(data); string(after) != string(before) {
		t.Fatal("a refused approval changed the policy data")
	}
}
