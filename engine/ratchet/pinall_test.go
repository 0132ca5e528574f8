package ratchet_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/plugins"
	"github.com/pawl-dev/pawl/policies"
)

// writeFile writes a file of the project (rel, slash-separated).
func writeFile(t *testing.T, p *project.Project, rel, data string) string {
	t.Helper()
	path := p.File(rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// reload opens the project again with the configuration pawl.yaml gives,
// as the next pawl process would.
func reload(t *testing.T, p *project.Project) *project.Project {
	t.Helper()
	cfg, err := config.Load(p.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Operator = "tester"
	return reopen(t, p, cfg)
}

// runErr runs the example job over one good reading and returns the error.
func runErr(t *testing.T, p *project.Project) error {
	t.Helper()
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", []byte(enginetest.GoodReading+"\n"))
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf, Reason: "test"})
	return err
}

// TestPolicySettingsArePinnedAndOnRecord: pawl.yaml's trust settings for the
// policy bundle are pinned in pawl.lock (pawl.yaml#policy, with the public
// key file's content), their change is on record with the new values, and
// every decision names the key that verified the bundle. The attacks that
// worked before — PAWL_POLICY_REQUIRE_SIGNATURE=false, or a public key of
// the attacker's with a bundle signed by it, in the environment or in
// pawl.yaml, or the key file swapped in place — are refused; the one way
// left, `pawl pin`, puts the attacker's key on record and in every
// decision.
func TestPolicySettingsArePinnedAndOnRecord(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	priv, pub, err := policies.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := policies.KeyFingerprint(pub)
	writeFile(t, p, "keys/policy.pub", string(pub))
	bundleDir := p.PolicyBundleDir()
	if err := project.SignBundle(bundleDir, priv, ""); err != nil {
		t.Fatal(err)
	}
	yaml, _ := os.ReadFile(p.ConfigPath())
	signedYAML := string(yaml) + "policy:\n  require_signature: true\n  public_key: keys/policy.pub\n"
	writeFile(t, p, config.File, signedYAML)
	p = reload(t, p)
	if err := runErr(t, p); !isMismatch(err, project.PolicySettingsPinKey) || !strings.Contains(err.Error(), "policy.require_signature true") {
		t.Fatalf("settings changed in pawl.yaml, not pinned: %v", err)
	}
	pr, err := enginetest.PinAs(ctx, t, p, "compliance", "bundles are signed from now on")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Policy == nil || !pr.Policy.RequireSignature || pr.Policy.PublicKey != "keys/policy.pub" || pr.Policy.PublicKeyFingerprint != fp ||
		pr.Policy.PublicKeySHA256 != store.HashBytes(pub) || pr.Limits != nil {
		t.Fatalf("pin result: %+v", pr)
	}
	pcs := enginetest.Details[actions.PinChangedDetails](t, p.Trail, "")
	last := pcs[len(pcs)-1]
	if last.Policy == nil || last.Policy.PublicKeyFingerprint != fp || !last.Policy.RequireSignature {
		t.Fatalf("pin.changed does not record the settings: %+v", last)
	}
	pins, _ := lockfile.Read(p.Root)
	settings, err := p.ReadBlob(pins[project.PolicySettingsPinKey])
	if err != nil || !strings.Contains(string(settings), fp) {
		t.Fatalf("the pinned settings are not in the store: %s %v", settings, err)
	}
	res := enginetest.Batch(t, p, enginetest.GoodReading)
	if res.Pins[project.PolicySettingsPinKey] != pins[project.PolicySettingsPinKey] {
		t.Fatalf("the batch does not pin the settings it ran under: %v", res.Pins)
	}
	for _, d := range decisionsOn(t, p, "") {
		if d.BatchID == res.BatchID && (!d.Bundle.SignatureVerified || d.Bundle.KeyFingerprint != fp) {
			t.Fatalf("a decision does not name the key that verified its bundle: %+v", d.Bundle)
		}
	}

	// The attacker's key, and the bundle tampered with and signed by it.
	attackerPriv, attackerPub, _ := policies.GenerateSigningKey()
	attackerFP, _ := policies.KeyFingerprint(attackerPub)
	attackerKey := filepath.Join(t.TempDir(), "attacker.pub")
	os.WriteFile(attackerKey, attackerPub, 0o644)
	editData(t, p, func(d map[string]any) { d["note"] = "tampered" })
	if err := project.SignBundle(bundleDir, attackerPriv, ""); err != nil {
		t.Fatal(err)
	}

	// 1. The environment cannot change a pinned setting.
	for env, value := range map[string]string{"PAWL_POLICY_REQUIRE_SIGNATURE": "false", "PAWL_POLICY_PUBLIC_KEY": attackerKey} {
		t.Setenv(env, value)
		if _, err := config.Load(p.Root, nil); err == nil || !strings.Contains(err.Error(), env) || !strings.Contains(err.Error(), "pinned") {
			t.Fatalf("%s=%s: %v", env, value, err)
		}
		t.Setenv(env, "")
	}
	// 2. Nor can pawl.yaml, unseen: signatures off, or the attacker's key.
	batches := func() int { bs, _ := p.Batches(ctx); return len(bs) }
	// The run's own decisions (plugins, classification, egress); authz
	// decisions — who asks, e.g. for an as-of outside the window — come
	// before any refusal and are on record either way.
	runDecisions := func() int {
		n := 0
		for _, d := range decisionsOn(t, p, "") {
			if d.Kind != policies.KindAuthz {
				n++
			}
		}
		return n
	}
	before, decided := batches(), runDecisions()
	for _, y := range []string{
		string(yaml) + "policy:\n  require_signature: false\n  public_key: keys/policy.pub\n",
		string(yaml) + "policy:\n  require_signature: true\n  public_key: " + attackerKey + "\n",
	} {
		writeFile(t, p, config.File, y)
		p = reload(t, p)
		if err := runErr(t, p); !isMismatch(err, project.PolicySettingsPinKey) {
			t.Fatalf("pawl.yaml %q: %v", y, err)
		}
	}
	// 3. Nor the key file swapped in place.
	writeFile(t, p, config.File, signedYAML)
	writeFile(t, p, "keys/policy.pub", string(attackerPub))
	p = reload(t, p)
	if err := runErr(t, p); !isMismatch(err, project.PolicySettingsPinKey) || !strings.Contains(err.Error(), attackerFP) {
		t.Fatalf("key swapped in place: %v", err)
	}
	// 4. Nor pawl.lock edited to match.
	_, sd, err := p.PolicySettings()
	if err != nil {
		t.Fatal(err)
	}
	bd, _ := policies.BundleDigest(bundleDir)
	forged := lockfile.Pins{}
	for k, v := range pins {
		forged[k] = v
	}
	forged[project.PolicySettingsPinKey], forged[project.PolicyPinKey] = sd, store.Digest(bd)
	writeFile(t, p, lockfile.Name, string(forged.Format()))
	if err := runErr(t, p); !errors.Is(err, project.ErrLockEdited) || !strings.Contains(err.Error(), "pawl.lock was edited by hand") {
		t.Fatalf("pawl.lock forged to the attacker's settings: %v", err)
	}
	if batches() != before || runDecisions() != decided {
		t.Fatalf("a refused run committed or decided something: %d batches (%d before), %d decisions (%d before)", batches(), before, runDecisions(), decided)
	}
	// The one way left is on record: `pawl pin` records the new key, and
	// every decision names it.
	writeFile(t, p, lockfile.Name, string(pins.Format()))
	pr, err = enginetest.PinAs(ctx, t, p, "mallory", "new key")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Policy == nil || pr.Policy.PublicKeyFingerprint != attackerFP {
		t.Fatalf("the new key is not on record: %+v", pr.Policy)
	}
	res = enginetest.Batch(t, p, enginetest.GoodReading)
	for _, d := range decisionsOn(t, p, "") {
		if d.BatchID == res.BatchID && d.Bundle.KeyFingerprint != attackerFP {
			t.Fatalf("a decision hides the key that verified its bundle: %+v", d.Bundle)
		}
	}
}

func isMismatch(err error, file string) bool {
	var pm *lockfile.MismatchError
	return errors.As(err, &pm) && pm.File == file && strings.Contains(err.Error(), "pawl pin")
}

// TestLimitsArePinned: max_record_bytes and plugin.call_timeout are pinned
// (pawl.yaml#limits); a run under other limits than the pinned ones is
// refused until `pawl pin` records them.
func TestLimitsArePinned(t *testing.T) {
	p := enginetest.NewProject(t)
	yaml, _ := os.ReadFile(p.ConfigPath())
	writeFile(t, p, config.File, strings.Replace(string(yaml), "max_record_bytes: 67108864", "max_record_bytes: 100", 1)+"plugin:\n  call_timeout: 1m\n")
	p = reload(t, p)
	if err := runErr(t, p); !isMismatch(err, project.LimitsPinKey) || !strings.Contains(err.Error(), "max_record_bytes 100") {
		t.Fatalf("limits changed, not pinned: %v", err)
	}
	pr, err := enginetest.PinAs(context.Background(), t, p, "tester", "smaller records")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Limits == nil || pr.Limits.MaxRecordBytes != 100 || pr.Limits.PluginCallTimeoutMS != 60000 || pr.Policy != nil {
		t.Fatalf("pin result: %+v", pr)
	}
	res := enginetest.Batch(t, p, enginetest.GoodReading)
	if res.Limits.MaxRecordBytes != 100 || res.Limits.PluginCallTimeoutMS != 60000 {
		t.Fatalf("limits on record: %+v", res.Limits)
	}
	if _, ok := res.Pins[project.LimitsPinKey]; ok {
		t.Fatal("the limits pin joined the batch's pins: the limits are on record as such, and the call timeout must not feed the batch id")
	}
}

// TestHandEditedLockIsRefused: pawl.lock is checked against the trail's
// pin history. A hand edit (here: a schema pinned by hand) is
// refused by a run, by `pawl pin` without a reason, by `pawl plugin add`
// and by an approval; `pawl pin --reason` accepts it and puts what was
// found on record. An older pawl.lock copied back is refused too.
func TestHandEditedLockIsRefused(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	recorded, _ := lockfile.Read(p.Root)
	schema := writeFile(t, p, "schemas/sensor-reading.json", strings.Replace(readFile(t, p, "schemas/sensor-reading.json"), `"minimum": -273.15`, `"minimum": -100`, 1))
	d, _, _ := store.HashFile(schema)
	edited := lockfile.Pins{}
	for k, v := range recorded {
		edited[k] = v
	}
	edited["schemas/sensor-reading.json"] = d
	writeFile(t, p, lockfile.Name, string(edited.Format()))

	err := runErr(t, p)
	t.Log(err)
	if !errors.Is(err, project.ErrLockEdited) || !strings.Contains(err.Error(), "pawl.lock was edited by hand: it hashes to "+string(edited.Digest())) ||
		!strings.Contains(err.Error(), string(recorded.Digest())) || !strings.Contains(err.Error(), "pawl pin --reason") {
		t.Fatalf("run: %v", err)
	}
	if _, err := enginetest.PinAs(ctx, t, p, "tester", ""); !errors.Is(err, project.ErrLockEdited) {
		t.Fatalf("pin without a reason: %v", err)
	}
	if _, _, _, err := p.AddPlugin(ctx, plugins.FirstParty()[0].Wasm, "tester", ""); !errors.Is(err, project.ErrLockEdited) {
		t.Fatalf("plugin add: %v", err)
	}
	if _, err := gate.ApprovePinned(ctx, p, []string{"range@1.1.0"}, "tester", "why not"); !errors.Is(err, project.ErrLockEdited) {
		t.Fatalf("approve: %v", err)
	}
	if bs, _ := p.Batches(ctx); len(bs) != 0 {
		t.Fatal("committed under a hand-edited pawl.lock")
	}

	pr, err := enginetest.PinAs(ctx, t, p, "tester", "reviewed: the minimum is raised on purpose")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Edited == nil || pr.Edited.Found != edited.Digest() || pr.Edited.Recorded != recorded.Digest() || pr.Edited.RecordedSeq == 0 ||
		len(pr.Edited.Changes) != 1 || pr.Edited.Changes[0].File != "schemas/sensor-reading.json" || pr.Edited.Changes[0].New != d {
		t.Fatalf("the edit is not on record as found: %+v", pr.Edited)
	}
	pcs := enginetest.Details[actions.PinChangedDetails](t, p.Trail, "")
	if last := pcs[len(pcs)-1]; last.Edited == nil || last.PinsDigest != edited.Digest() {
		t.Fatalf("pin.changed: %+v", last)
	}
	if !p.Store.Has(edited.Digest()) {
		t.Fatal("the pawl.lock found is not kept in the store")
	}
	if err := runErr(t, p); err != nil {
		t.Fatal(err)
	}

	// An older pawl.lock copied back: two changes back, it is an edit; one
	// change back, it is what a command cut short leaves, and `pawl pin`
	// finishes it without a reason.
	writeFile(t, p, "lookups/device-registry.txt", readFile(t, p, "lookups/device-registry.txt")+"ZZ-000001\n")
	if _, err := enginetest.PinAs(ctx, t, p, "tester", "one more device"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, lockfile.Name, string(recorded.Format()))
	if err := runErr(t, p); !errors.Is(err, project.ErrLockEdited) || !strings.Contains(err.Error(), "edited by hand") {
		t.Fatalf("an old pawl.lock copied back: %v", err)
	}
	writeFile(t, p, lockfile.Name, string(edited.Format()))
	if err := runErr(t, p); !errors.Is(err, project.ErrLockEdited) || !strings.Contains(err.Error(), "behind the audit trail") || !strings.Contains(err.Error(), "run `pawl pin`") {
		t.Fatalf("the pawl.lock before the last change: %v", err)
	}
	if pr, err := enginetest.PinAs(ctx, t, p, "tester", ""); err != nil || pr.Edited != nil || len(pr.Changes) != 1 || pr.Changes[0].File != "lookups/device-registry.txt" {
		t.Fatalf("pin after a change cut short: %+v %v", pr, err)
	}
	if err := runErr(t, p); err != nil {
		t.Fatal(err)
	}
	// A pawl.lock deleted: refused too, and pinned afresh only on record.
	os.Remove(p.LockPath())
	if err := runErr(t, p); !errors.Is(err, project.ErrLockEdited) || !strings.Contains(err.Error(), "pawl.lock is missing") {
		t.Fatalf("pawl.lock deleted: %v", err)
	}
	if pr, err := enginetest.PinAs(ctx, t, p, "tester", "pawl.lock was lost; pinned afresh"); err != nil || pr.Edited == nil {
		t.Fatalf("pin after pawl.lock was lost: %+v %v", pr, err)
	}
	if err := runErr(t, p); err != nil {
		t.Fatal(err)
	}
}

// TestLockCheckedAgainstRecordsWithoutDigests: a trail whose last write of
// pawl.lock predates recorded pins digests (a plugin.added entry of an
// older pawl) cannot vouch for pawl.lock: a run refuses it and says how to
// put it on record, and `pawl pin --reason` does.
func TestLockCheckedAgainstRecordsWithoutDigests(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: "tester", Object: "plugin:range@1.1.0", Reason: "as an older pawl wrote it",
		Details: actions.PluginAddedDetails{Plugin: "range@1.1.0", Hash: store.HashBytes([]byte("x")), Mode: "stateless", Fields: nil, Lookups: []string{}}}); err != nil {
		t.Fatal(err)
	}
	err := runErr(t, p)
	if !errors.Is(err, project.ErrLockEdited) || !strings.Contains(err.Error(), "before pins digests were recorded") || !strings.Contains(err.Error(), "pawl pin --reason") {
		t.Fatalf("run: %v", err)
	}
	if _, err := enginetest.PinAs(ctx, t, p, "tester", ""); !errors.Is(err, project.ErrLockEdited) {
		t.Fatalf("pin without a reason: %v", err)
	}
	if pr, err := enginetest.PinAs(ctx, t, p, "tester", "upgrade: pawl.lock reviewed"); err != nil || pr.Edited == nil || pr.Edited.Recorded != "" {
		t.Fatalf("pin with a reason: %+v %v", pr, err)
	}
	if err := runErr(t, p); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p *project.Project, rel string) string {
	t.Helper()
	b, err := os.ReadFile(p.File(rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSchemaRefsArePinned: every file a schema reaches through $ref is
// pinned and kept in the store: loosening the contract behind the schema
// file is a pin mismatch naming the file, and a replay lays every file out
// from the store, whatever the project holds today.
func TestSchemaRefsArePinned(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	main := readFile(t, p, "schemas/sensor-reading.json")
	writeFile(t, p, "schemas/sensor-reading.json", strings.Replace(main, `"value": {"type": "number", "minimum": -273.15}`, `"value": {"$ref": "parts/value.json"}`, 1))
	writeFile(t, p, "schemas/parts/value.json", `{"$ref": "number.json", "minimum": -273.15}`)
	writeFile(t, p, "schemas/parts/number.json", `{"type": "number"}`)
	pr, err := enginetest.PinAs(ctx, t, p, "tester", "split the schema")
	if err != nil {
		t.Fatal(err)
	}
	pins, _ := lockfile.Read(p.Root)
	for _, f := range []string{"schemas/parts/value.json", "schemas/parts/number.json"} {
		if pins[f] == "" || !p.Store.Has(pins[f]) {
			t.Fatalf("%s is not pinned and stored: %v (changes %+v)", f, pins, pr.Changes)
		}
	}
	cold := `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":-300,"unit":"celsius"}`
	res := enginetest.Batch(t, p, enginetest.GoodReading, cold)
	if res.Verified != 1 || res.Quarantined != 1 || res.Pins["schemas/parts/value.json"] != pins["schemas/parts/value.json"] || res.Pins["schemas/parts/number.json"] == "" {
		t.Fatalf("batch: %d verified, %d quarantined, pins %v", res.Verified, res.Quarantined, res.Pins)
	}

	// The contract loosened behind the schema file: refused.
	writeFile(t, p, "schemas/parts/value.json", `{"$ref": "number.json", "minimum": -1000}`)
	var pm *lockfile.MismatchError
	if err := runErr(t, p); !errors.As(err, &pm) || pm.File != "schemas/parts/value.json" || pm.Pinned == pm.Actual {
		t.Fatalf("loosened behind main.json: %v", err)
	}
	// A new file behind it, never pinned: refused too.
	writeFile(t, p, "schemas/parts/value.json", `{"$ref": "number2.json", "minimum": -273.15}`)
	writeFile(t, p, "schemas/parts/number2.json", `{}`)
	if err := runErr(t, p); !errors.As(err, &pm) {
		t.Fatalf("a new file behind main.json: %v", err)
	}

	// The replay needs none of today's files.
	os.RemoveAll(p.File("schemas/parts"))
	rep, err := ratchet.Replay(ctx, p, res.BatchID, "inspector", "files gone")
	if err != nil || !rep.Match || rep.Failure != "" {
		t.Fatalf("replay: %+v %v", rep, err)
	}
}

// TestReferencesMustStayInsideTheProject: a job may reference only regular
// files inside the project and outside its data directory, after symlinks.
// A lookup naming the engine's private key, and symlinks in schemas/ and
// lookups/ leading out of the project, are refused by `pawl pin` and by a
// run, with the reference, where it resolves and why; nothing of theirs
// reaches the store.
func TestReferencesMustStayInsideTheProject(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, p *project.Project)
		want  func(p *project.Project) []string
	}{
		{"the engine key as a lookup", func(t *testing.T, p *project.Project) {
			job := readFile(t, p, "jobs/sensor-feed.yaml")
			writeFile(t, p, "jobs/sensor-feed.yaml", strings.Replace(job, "lookups/device-registry.txt", ".pawl/keys/engine.key", 1))
		}, func(p *project.Project) []string {
			return []string{`lookup registry of registry@1.1.0 ".pawl/keys/engine.key"`, "inside the data directory"}
		}},
		{"a lookup symlinked out of the project", func(t *testing.T, p *project.Project) {
			reg := readFile(t, p, "lookups/device-registry.txt")
			target := filepath.Join(outside, "registry.txt")
			os.WriteFile(target, []byte(reg), 0o644)
			os.Remove(p.File("lookups/device-registry.txt"))
			if err := os.Symlink(target, p.File("lookups/device-registry.txt")); err != nil {
				t.Fatal(err)
			}
		}, func(p *project.Project) []string {
			return []string{`"lookups/device-registry.txt" resolves to ` + filepath.Join(outside, "registry.txt"), "outside the project"}
		}},
		{"schemas/ symlinked out of the project", func(t *testing.T, p *project.Project) {
			dir := filepath.Join(outside, "schemas")
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "sensor-reading.json"), []byte(readFile(t, p, "schemas/sensor-reading.json")), 0o644)
			os.RemoveAll(p.File("schemas"))
			if err := os.Symlink(dir, p.File("schemas")); err != nil {
				t.Fatal(err)
			}
		}, func(p *project.Project) []string {
			return []string{`schema "schemas/sensor-reading.json" resolves to ` + filepath.Join(outside, "schemas", "sensor-reading.json"), "outside the project"}
		}},
		{"a symlink into the data directory", func(t *testing.T, p *project.Project) {
			os.Remove(p.File("lookups/device-registry.txt"))
			if err := os.Symlink(filepath.Join(p.Data, "keys", "engine.key"), p.File("lookups/device-registry.txt")); err != nil {
				t.Fatal(err)
			}
		}, func(p *project.Project) []string {
			return []string{`"lookups/device-registry.txt" resolves to ` + filepath.Join(p.Data, "keys", "engine.key"), "inside the data directory"}
		}},
		{"a directory as a lookup", func(t *testing.T, p *project.Project) {
			job := readFile(t, p, "jobs/sensor-feed.yaml")
			writeFile(t, p, "jobs/sensor-feed.yaml", strings.Replace(job, "lookups/device-registry.txt", "lookups", 1))
		}, func(p *project.Project) []string {
			return []string{`lookup registry of registry@1.1.0 "lookups" resolves to`, "a directory, not a regular file"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := enginetest.NewProject(t)
			key, _ := os.ReadFile(filepath.Join(p.Data, "keys", "engine.key"))
			before := runErr(t, p) // the project as made runs
			if before != nil {
				t.Fatal(before)
			}
			tc.setup(t, p)
			check := func(what string, err error) {
				t.Helper()
				var re *project.ReferenceError
				if !errors.As(err, &re) {
					t.Fatalf("%s: %v", what, err)
				}
				t.Logf("%s: %v", what, err)
				for _, w := range tc.want(p) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %q lacks %q", what, err, w)
					}
				}
			}
			_, err := enginetest.PinAs(ctx, t, p, "tester", "")
			check("pin", err)
			check("run", runErr(t, p))
			if p.Store.Has(store.HashBytes(key)) {
				t.Fatal("the engine key was copied into the store")
			}
		})
	}

	// A symlink that stays inside the project (and out of the data
	// directory) is a reference like any other.
	p := enginetest.NewProject(t)
	writeFile(t, p, "shared/registry.txt", readFile(t, p, "lookups/device-registry.txt"))
	os.Remove(p.File("lookups/device-registry.txt"))
	if err := os.Symlink(filepath.Join("..", "shared", "registry.txt"), p.File("lookups/device-registry.txt")); err != nil {
		t.Fatal(err)
	}
	if err := runErr(t, p); err != nil {
		t.Fatalf("a symlink inside the project: %v", err)
	}
}

// TestReplayOfRecordsWithoutTheNewPins: a batch committed before the
// bundle's trust settings and the files behind a schema's $refs were
// pinned has neither in its record; its replay and its resubmission treat
// them as not pinned then.
func TestReplayOfRecordsWithoutTheNewPins(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	res := enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
	b, err := p.Batch(ctx, res.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	old := b.BatchRecord
	old.Pins = lockfile.Pins{}
	for k, v := range b.Pins {
		if k != project.PolicySettingsPinKey {
			old.Pins[k] = v
		}
	}
	old.PinsDigest = old.Pins.Digest()
	again, err := ratchet.ReplayRecord(ctx, p, &old, "inspector")
	if err != nil {
		t.Fatal(err)
	}
	if again.Outputs[actions.VerifiedFile].Hash != b.Outputs[actions.VerifiedFile].Hash || again.Lineage.Root != b.Lineage.Root {
		t.Fatalf("replay of a record without the settings pin: %+v", again)
	}
	e, err := ratchet.PolicyForRecord(ctx, p, &old)
	if err != nil || e.Bundle().SHA256 != string(b.Pins[project.PolicyPinKey]) {
		t.Fatalf("the bundle of a record without the settings pin: %v", err)
	}
}
