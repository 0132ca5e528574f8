package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
)

// TestContractDiffAndLog: a tightening pinned, a weakening in the working
// tree, each side of a comparison (pins in force, an entry's pins, a batch,
// the tree) rebuilt from the store, and the log of versions.
func TestContractDiffAndLog(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	kelvin := strings.Replace(good, "celsius", "kelvin", 1)
	extra := strings.Replace(good, `"unit":"celsius"`, `"unit":"celsius","site":"north"`, 1)
	os.WriteFile(in, []byte(good+"\n"+kelvin+"\n"+extra+"\n"), 0o644)
	var run map[string]any
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "--input", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")), &run)
	batch, _ := run["batch_id"].(string)
	if batch == "" || run["records_quarantined"] != 1.0 {
		t.Fatalf("the first batch: %v", run)
	}
	if out := mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed"); !strings.Contains(out, "no change") || !strings.Contains(out, "verdict: unchanged") {
		t.Errorf("an untouched project:\n%s", out)
	}

	schemaFile := filepath.Join(dir, "schemas", "sensor-reading.json")
	edit := func(old, new string) {
		t.Helper()
		b := mustRead(t, schemaFile)
		if !strings.Contains(string(b), old) {
			t.Fatalf("the schema has no %q:\n%s", old, b)
		}
		os.WriteFile(schemaFile, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
	}
	// A tightening: kelvin is no longer a unit.
	edit(`"enum": ["celsius", "fahrenheit", "kelvin"]`, `"enum": ["celsius", "fahrenheit"]`)
	out := mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed")
	for _, want := range []string{"the pins in force → the working tree", "tightening schema enum at /unit", `no longer allows "kelvin"`, "verdict: tightening"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff of a tightening lacks %q:\n%s", want, out)
		}
	}
	// Its impact on the past: the kelvin reading would be quarantined.
	out = mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed", "--empirical", "all")
	for _, want := range []string{"judged again the records of 1 batch(es): 3 records, 1 of them quarantined", "no quarantined record would now pass (of 1)",
		"would quarantine 1 of 2 past verified records:", "enum at /unit: 1", "verdict: tightening"} {
		if !strings.Contains(out, want) {
			t.Errorf("the empirical check of a tightening lacks %q:\n%s", want, out)
		}
	}
	mustPawl(t, "-C", dir, "pin", "--reason", "kelvin readings come from another feed")

	// A weakening in the working tree: other properties allowed.
	edit(`"additionalProperties": false`, `"additionalProperties": true`)
	var diff struct {
		From, To, Verdict string
		Changes           []struct{ Kind, Part, At, Keyword, Reason string }
	}
	if err := json.Unmarshal([]byte(mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed", "--output", "json")), &diff); err != nil {
		t.Fatal(err)
	}
	if diff.Verdict != "weakening" || len(diff.Changes) != 1 || diff.Changes[0].At != "/*" || diff.Changes[0].Keyword != "additionalProperties" || diff.Changes[0].Kind != "weakening" {
		t.Errorf("diff of a weakening: %+v", diff)
	}

	// The batch was judged by the contract before both: from it to the
	// tree is the tightening and the weakening; to the pins in force, the
	// tightening alone.
	out = mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed", "--from", batch, "--to", "pinned")
	if !strings.Contains(out, "batch "+batch+" → the pins in force") || !strings.Contains(out, "enum at /unit") || strings.Contains(out, "additionalProperties") {
		t.Errorf("batch → pinned:\n%s", out)
	}
	out = mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed", "--from", batch, "--to", "tree")
	if !strings.Contains(out, "enum at /unit") || !strings.Contains(out, "additionalProperties at /*") || !strings.Contains(out, "verdict: weakening (1 weakening, 1 tightening") {
		t.Errorf("batch → tree:\n%s", out)
	}

	// The empirical check proves the weakening: the record with an extra
	// property, quarantined by the batch, would now pass.
	var emp struct {
		Verdict  string
		Evidence []struct {
			Batch   string
			NowPass []struct {
				Ordinal int64
				Reasons []struct{ Rule, Pointer string }
			} `json:"now_pass"`
			NowFail []struct{ Ordinal int64 } `json:"now_fail"`
		}
	}
	if err := json.Unmarshal([]byte(mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed", "--from", batch, "--empirical", "1", "--output", "json")), &emp); err != nil {
		t.Fatal(err)
	}
	if len(emp.Evidence) != 1 || emp.Evidence[0].Batch != batch || len(emp.Evidence[0].NowPass) != 1 || emp.Evidence[0].NowPass[0].Ordinal != 3 ||
		len(emp.Evidence[0].NowPass[0].Reasons) == 0 || len(emp.Evidence[0].NowFail) != 1 || emp.Evidence[0].NowFail[0].Ordinal != 2 || emp.Verdict != "weakening" {
		t.Errorf("the empirical check of batch → tree: %+v", emp)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "contract", "diff", "sensor-feed", "--empirical", "some"); code != 2 || !strings.Contains(errs, "--empirical") {
		t.Errorf("--empirical some: exit %d %s", code, errs)
	}

	// The log: the first version, then the tightening with who and why.
	out = mustPawl(t, "-C", dir, "contract", "log", "sensor-feed")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "first") || !strings.Contains(out, "tightening: kelvin readings come from another feed") || !strings.Contains(out, "enum at /unit") {
		t.Errorf("contract log:\n%s", out)
	}
	// An entry of the log is a side of a diff.
	var log struct {
		Versions []struct {
			Entry   int64
			Verdict string
		}
	}
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "contract", "log", "sensor-feed", "--output", "json")), &log)
	if len(log.Versions) != 2 || log.Versions[1].Verdict != "tightening" {
		t.Fatalf("contract log json: %+v", log)
	}
	first := log.Versions[0].Entry
	out = mustPawl(t, "-C", dir, "contract", "diff", "sensor-feed", "--from", strconv.FormatInt(first, 10), "--to", "pinned")
	if !strings.Contains(out, "the pins of audit entry "+strconv.FormatInt(first, 10)) || !strings.Contains(out, "verdict: tightening") {
		t.Errorf("entry → pinned:\n%s", out)
	}

	// Sides that do not exist say what they are.
	for _, tc := range []struct{ args, want string }{
		{"--from 1", "audit entry 1 wrote no pins"},
		{"--from 0123456789abcdef0123456789abcdef", "a committed batch id"},
		{"--to nonsense", "--to nonsense"},
	} {
		code, _, errs := pawl(t, "", append([]string{"-C", dir, "contract", "diff", "sensor-feed"}, strings.Fields(tc.args)...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, %s", tc.args, code, errs)
		}
	}
	// A schema that does not compile is a clear error, not a diff.
	os.WriteFile(schemaFile, []byte(`{"type": 12}`), 0o644)
	if code, _, errs := pawl(t, "", "-C", dir, "contract", "diff", "sensor-feed"); code == 0 || !strings.Contains(errs, "sensor-reading.json") {
		t.Errorf("a broken schema: exit %d, %s", code, errs)
	}
}

// TestTheArbiter: a tightening is pinned at once with its classification on
// record; a weakening is refused without --weaken, proposed with it (the
// classified changes and the lines that differ on record), not in force
// until a second person approves — the author's own approval is refused —
// and then in force: a record the old contract quarantined verifies.
func TestTheArbiter(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "admin", "--role", "alice=policy_admin,operator", "--role", "bob=policy_admin")
	const alicePass = "copper kettle winter sonnet"
	mustPawl(t, "-C", dir, "operator", "add", "alice", "--name", "Alice Example", "--reason", "data lead", "--passphrase-fd", passFD(t, alicePass))
	mustPawl(t, "-C", dir, "operator", "add", "bob", "--name", "Bob Example", "--reason", "QA", "--passphrase-fd", passFD(t, approverPass))
	schemaFile := filepath.Join(dir, "schemas", "sensor-reading.json")
	edit := func(old, new string) {
		t.Helper()
		b := string(mustRead(t, schemaFile))
		if !strings.Contains(b, old) {
			t.Fatalf("the schema has no %q", old)
		}
		os.WriteFile(schemaFile, []byte(strings.Replace(b, old, new, 1)), 0o644)
	}

	// A tightening pins freely, classified on record.
	edit(`"minimum": -273.15`, `"minimum": -100`)
	out := mustPawl(t, "-C", dir, "pin", "--operator", "alice", "--reason", "the freezer never goes below -100")
	if !strings.Contains(out, "contract of job sensor-feed: tightening") || !strings.Contains(out, "minimum at /value") || strings.Contains(out, "NOT in force") {
		t.Fatalf("pin of a tightening:\n%s", out)
	}
	pinned := enginetest.TrailEntries(t, dir, actions.PinChanged, "")
	d, err := actions.Decode[actions.PinChangedDetails](pinned[len(pinned)-1])
	if err != nil || len(d.Contract) != 1 || d.Contract[0].Verdict != "tightening" || d.Contract[0].Changes[0].At != "/value" {
		t.Fatalf("the tightening on record: %+v %v", d.Contract, err)
	}

	// A weakening: refused without --weaken, and nothing written.
	lock := string(mustRead(t, filepath.Join(dir, "pawl.lock")))
	edit(`"additionalProperties": false`, `"additionalProperties": true`)
	code, _, errs := pawl(t, "", "-C", dir, "pin", "--operator", "alice", "--reason", "partner adds a field")
	if code != 1 || !strings.Contains(errs, "the contract of job sensor-feed gets weaker") || !strings.Contains(errs, "additionalProperties at /*") || !strings.Contains(errs, "--weaken") {
		t.Fatalf("pin of a weakening without --weaken: exit %d %s", code, errs)
	}
	if string(mustRead(t, filepath.Join(dir, "pawl.lock"))) != lock {
		t.Fatal("a refused weakening changed pawl.lock")
	}
	if code, _, errs := pawl(t, "", "-C", dir, "pin", "--weaken"); code != 2 || !strings.Contains(errs, "--reason") {
		t.Fatalf("--weaken without a reason: exit %d %s", code, errs)
	}

	// With --weaken: proposed, not in force.
	out = mustPawl(t, "-C", dir, "pin", "--operator", "alice", "--weaken", "--reason", "partner adds a field")
	m := changeIDRe.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "NOT in force") || !strings.Contains(out, "contract of job sensor-feed: weakening") {
		t.Fatalf("pin --weaken:\n%s", out)
	}
	id := m[1]
	extra := `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius","site":"north"}`
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(extra+"\n"), 0o644)
	if code, _, errs := pawl(t, "", "-C", dir, "run", "sensor-feed", "-i", in); code != 1 || !strings.Contains(errs, "sensor-reading.json") {
		t.Fatalf("a run under a weakening nobody approved: exit %d %s", code, errs)
	}
	show := mustPawl(t, "-C", dir, "change", "show", id)
	for _, want := range []string{"pending", "schemas/sensor-reading.json", `+  "additionalProperties": true`} {
		if !strings.Contains(show, want) {
			t.Errorf("change show lacks %q:\n%s", want, show)
		}
	}
	proposed := enginetest.TrailEntries(t, dir, actions.ChangeProposed, "change:"+id)
	pd, err := actions.Decode[actions.ChangeProposedDetails](proposed[0])
	if err != nil || len(pd.Contract) != 1 || pd.Contract[0].Verdict != "weakening" || pd.Contract[0].Changes[0].Keyword != "additionalProperties" {
		t.Fatalf("the weakening on record: %+v %v", pd.Contract, err)
	}

	// Its author cannot approve it; another person can, and then it is in force.
	if code, _, errs := pawl(t, "", "-C", dir, "change", "approve", id, "--operator", "alice", "--reason", "mine", "--passphrase-fd", passFD(t, alicePass)); code != 3 || !strings.Contains(errs, "two-person rule") {
		t.Fatalf("own approval: exit %d %s", code, errs)
	}
	mustPawl(t, "-C", dir, "change", "approve", id, "--operator", "bob", "--reason", "the partner's site field is harmless", "--passphrase-fd", passFD(t, approverPass))
	if out := mustPawl(t, "-C", dir, "change", "apply", id); !strings.Contains(out, id) {
		t.Fatalf("apply:\n%s", out)
	}
	var res map[string]any
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--operator", "alice", "--output", "json", "--as-of", "2026-11-25T00:00:00Z")), &res)
	if res["records_verified"] != 1.0 {
		t.Fatalf("the record with an extra field after the approved weakening: %v", res)
	}
	log := mustPawl(t, "-C", dir, "contract", "log", "sensor-feed")
	if !strings.Contains(log, "weakening: ") || !strings.Contains(log, "tightening: the freezer never goes below -100") {
		t.Errorf("contract log:\n%s", log)
	}
}

// TestThePinsEmpiricalCheck: a change no static rule decides (a plugin's
// configuration) is judged on past quarantined records at `pawl pin`: one
// that would now pass proves a weakening, which is refused without
// --weaken; a change none of at least change.contract_evidence records
// would pass under is pinned, its evidence on record; with fewer records
// judged it is held.
func TestThePinsEmpiricalCheck(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--single-person")
	cfg := filepath.Join(dir, "pawl.yaml")
	os.WriteFile(cfg, []byte(strings.Replace(string(mustRead(t, cfg)), "  two_person: false", "  two_person: false\n  contract_evidence: 1", 1)), 0o644)
	if out := mustPawl(t, "-C", dir, "pin", "--reason", "one record of evidence is enough here"); !strings.Contains(out, "pawl.yaml#change") {
		t.Fatalf("pin of change.contract_evidence:\n%s", out)
	}
	job := filepath.Join(dir, "jobs", "sensor-feed.yaml")
	edit := func(old, new string) {
		t.Helper()
		b := string(mustRead(t, job))
		if !strings.Contains(b, old) {
			t.Fatalf("the job has no %q", old)
		}
		os.WriteFile(job, []byte(strings.Replace(b, old, new, 1)), 0o644)
	}
	// No batch yet: nothing to judge, so a configuration change is held.
	edit("celsius: {min: -273.15}", "celsius: {min: -273}")
	code, _, errs := pawl(t, "", "-C", dir, "pin", "--reason", "celsius from -273")
	if code != 1 || !strings.Contains(errs, "no static rule decides") || !strings.Contains(errs, "judged 0 past quarantined records") {
		t.Fatalf("an unknown change with no evidence: exit %d %s", code, errs)
	}
	edit("celsius: {min: -273}", "celsius: {min: -273.15}")

	// A batch with a kelvin reading below zero, quarantined by range.
	cold := strings.Replace(strings.Replace(good, "celsius", "kelvin", 1), `"value":21.5`, `"value":-5`, 1)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"+cold+"\n"), 0o644)
	var run map[string]any
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "--input", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")), &run)
	if run["records_quarantined"] != 1.0 {
		t.Fatalf("the batch: %v", run)
	}

	// Kelvin down to -10: the quarantined reading would now pass.
	edit("kelvin: {min: 0}", "kelvin: {min: -10}")
	code, _, errs = pawl(t, "", "-C", dir, "pin", "--reason", "negative kelvin")
	if code != 1 || !strings.Contains(errs, "the empirical check proves it: 1 of 1 past quarantined records (1 batch(es)) would now pass") || !strings.Contains(errs, "--weaken") {
		t.Fatalf("a proven weakening: exit %d %s", code, errs)
	}
	// Celsius from -273: none of the quarantined records would pass, and
	// one record is the evidence asked for: pinned, its evidence on record.
	edit("kelvin: {min: -10}", "kelvin: {min: 0}")
	edit("celsius: {min: -273.15}", "celsius: {min: -273}")
	out := mustPawl(t, "-C", dir, "pin", "--reason", "celsius from -273")
	if !strings.Contains(out, "contract of job sensor-feed: unknown") || !strings.Contains(out, "the empirical check cleared it: none of 1 past quarantined records") || strings.Contains(out, "waived") {
		t.Fatalf("a cleared change:\n%s", out)
	}
	pinned := enginetest.TrailEntries(t, dir, actions.PinChanged, "")
	d, _ := actions.Decode[actions.PinChangedDetails](pinned[len(pinned)-1])
	if len(d.Contract) != 1 || d.Contract[0].Evidence == nil || !d.Contract[0].Evidence.Cleared || d.Contract[0].Evidence.Quarantined != 1 {
		t.Fatalf("the evidence on record: %+v", d.Contract)
	}
}
