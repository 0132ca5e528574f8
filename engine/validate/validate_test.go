package validate_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/validate"
)

func TestMain(m *testing.M) {
	validate.MaybeChild() // the crash challenge starts this test binary as its child
	os.Exit(m.Run())
}

// kit is the one run of the whole kit the tests share (IQ of the binary
// and the machine, OQ in its own scratch project): it takes seconds.
var kit struct {
	once sync.Once
	rep  *validate.Report
	err  error
}

func runKit(t *testing.T) *validate.Report {
	t.Helper()
	kit.once.Do(func() {
		// As pawl serve runs it for a client: the scratch project is the
		// kit's own, acted in as this process, not as the client.
		ctx := principal.With(context.Background(), principal.ForUID(os.Getuid(), principal.ViaUnix))
		kit.rep, kit.err = validate.Run(ctx, validate.Options{Scratch: os.TempDir()})
	})
	if kit.err != nil {
		t.Fatal(kit.err)
	}
	return kit.rep
}

// TestKitOnAFreshProject: every check of the kit passes on this machine
// (the clock may warn: a container's clock is often not synchronised), the
// matrix traces every requirement id, and the report, written in a
// project, is signed by the engine key and on record.
func TestKitOnAFreshProject(t *testing.T) {
	p := enginetest.NewProject(t)
	ctx := context.Background()
	iq, err := validate.Run(ctx, validate.Options{Project: p, IQOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	rep := runKit(t)
	for _, c := range append(iq.Checks, rep.Checks...) {
		if c.Failed() {
			t.Errorf("%s failed: %s %q", c.ID, c.Observed, c.Evidence)
		}
		if c.Observed == "" || c.Expected == "" {
			t.Errorf("%s: expected and observed are said", c.ID)
		}
	}
	var ids []string
	for _, c := range rep.Checks {
		ids = append(ids, c.ID)
	}
	want := "iq.binary iq.clock iq.account oq.baseline oq.wrong-passphrase oq.esign oq.denied-export oq.unapproved-plugin oq.hostile-plugin oq.edited-entry oq.truncated-trail oq.crash-mid-commit oq.swapped-blob"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("checks run: %s, want %s", got, want)
	}
	if iq.Checks[1].ID != "iq.permissions" || iq.Checks[1].Status != validate.Pass {
		t.Errorf("the project's permissions: %+v", iq.Checks[1])
	}
	// A private key readable by the group, and a world-writable trail, fail
	// the permissions check, each named.
	key := filepath.Join(p.KeysDir(), "engine.key")
	os.Chmod(key, 0o640)
	os.Chmod(p.TrailPath(), 0o646)
	bad, err := validate.Run(ctx, validate.Options{Project: p, IQOnly: true})
	os.Chmod(key, 0o600)
	os.Chmod(p.TrailPath(), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if c := bad.Checks[1]; !c.Failed() || !strings.Contains(c.Observed, key+" is mode 0640") || !strings.Contains(c.Observed, p.TrailPath()+" is mode 0646") || bad.OK() {
		t.Errorf("open key and trail: %s %s", c.Status, c.Observed)
	}
	rows := map[string]validate.Row{}
	for _, r := range rep.Matrix {
		rows[r.ID] = r
	}
	for _, id := range validate.RequiredIDs {
		if _, ok := rows[id]; !ok {
			t.Errorf("the matrix has no row %s", id)
		}
	}
	if r := rows["11.10(a)"]; r.Result != validate.Pass || len(r.Checks) != 4 {
		t.Errorf("11.10(a): %+v", r)
	}
	// iq.permissions needs a project, which the shared run has not.
	if r := rows["11.10(c)"]; r.Result != "partly run" || r.Statuses[0] != "not run" || r.Statuses[2] != validate.Pass || r.Checks[2] != "oq.crash-mid-commit" {
		t.Errorf("11.10(c): %+v", r)
	}
	// 11.10(e) rests on the clock too: a clock that warns makes it warn.
	if r := rows["11.10(e)"]; (r.Result == validate.Warn) != (rep.Checks[1].ID == "iq.clock" && rep.Checks[1].Status != validate.Pass) || r.Result == validate.Fail {
		t.Errorf("11.10(e) with the clock %s: %s", rep.Checks[1].Status, r.Result)
	}
	if r := rows["11.10(i)"]; r.Result != "procedural" {
		t.Errorf("11.10(i) is procedural: %+v", r)
	}

	// Written in the project: signed with the engine key, on record.
	dir := t.TempDir()
	w, err := validate.Write(ctx, dir, iq, p, "tester", "IQ")
	if err != nil {
		t.Fatal(err)
	}
	got, err := validate.VerifyDir(dir, p.Key.Public)
	if err != nil || got.RunID != iq.RunID || got.Signer.SelfSigned {
		t.Fatalf("the report does not verify with the engine key: %v %+v", err, got)
	}
	ds := enginetest.Details[actions.ValidationRunDetails](t, p.Trail, "validation:"+iq.RunID)
	if len(ds) != 1 || ds[0].Report != "sha256:"+w.SHA256 || ds[0].Checks != len(iq.Checks) || ds[0].Failed != 0 {
		t.Fatalf("validation.run on record: %+v", ds)
	}
	// A changed byte of the report fails its signature.
	js, _ := os.ReadFile(filepath.Join(dir, validate.JSONFile))
	os.WriteFile(filepath.Join(dir, validate.JSONFile), []byte(strings.Replace(string(js), `"failed": 0`, `"failed": 1`, 1)), 0o644)
	if _, err := validate.VerifyDir(dir, nil); err == nil || !strings.Contains(err.Error(), "changed after it was signed") {
		t.Fatalf("an edited report verified: %v", err)
	}
	// Without a project: self-signed, the key beside it.
	dir2 := t.TempDir()
	if _, err := validate.Write(ctx, dir2, rep, nil, "", ""); err != nil {
		t.Fatal(err)
	}
	got2, err := validate.VerifyDir(dir2, nil)
	if err != nil || !got2.Signer.SelfSigned || !strings.Contains(got2.Signer.Note, "self-signed") {
		t.Fatalf("a self-signed report: %v %+v", err, got2)
	}
	if fi, err := os.Stat(filepath.Join(dir2, validate.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the run's key: %v", err)
	}
	html, _ := os.ReadFile(filepath.Join(dir2, validate.HTMLFile))
	for _, s := range []string{"Traceability matrix", "11.10(e)", "Annex 11 §14", "oq.swapped-blob", "self-signed"} {
		if !strings.Contains(string(html), s) {
			t.Errorf("validation.html lacks %q", s)
		}
	}
	var back validate.Report
	if err := json.Unmarshal(js, &back); err != nil || len(back.Matrix) != len(validate.Requirements) {
		t.Fatalf("validation.json: %v, %d rows", err, len(back.Matrix))
	}
}

// TestChallengesFailWithoutTheirTamper: a detection that cannot fail shows
// nothing. With the tampering left out, the edited entry, the truncated
// trail, the crash and the swapped blob challenges each report that they
// saw no failure, and fail.
func TestChallengesFailWithoutTheirTamper(t *testing.T) {
	var chs []validate.Challenge
	for _, c := range validate.Challenges() {
		if c.Tamper != nil {
			c.Tamper = func(context.Context, *validate.Scratch, string) ([]string, error) { return nil, nil }
			chs = append(chs, c)
		}
	}
	if len(chs) != 4 {
		t.Fatalf("%d tampering challenges", len(chs))
	}
	checks, err := validate.RunOQ(context.Background(), t.TempDir(), chs)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 4 {
		t.Fatalf("%d checks: %+v", len(checks), checks)
	}
	for _, c := range checks {
		if !c.Failed() || !strings.Contains(c.Observed, "saw no") {
			t.Errorf("%s without its tampering: %s %s", c.ID, c.Status, c.Observed)
		}
	}
}

// TestClockSyncCanBeRequired: with --require-clock-sync a clock the kernel
// reports unsynchronised fails the run; without, it warns.
func TestClockSyncCanBeRequired(t *testing.T) {
	rep, err := validate.Run(context.Background(), validate.Options{IQOnly: true, RequireClockSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if c.ID != "iq.clock" {
			continue
		}
		unsynced := strings.Contains(c.Observed, "unsynchronised")
		if unsynced != c.Failed() || (c.Status == validate.Warn) {
			t.Fatalf("iq.clock with the sync required: %s %s", c.Status, c.Observed)
		}
		return
	}
	t.Fatal("no iq.clock check")
}
