package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/validate"
)

// TestValidateCommand: `pawl validate --out DIR` in a fresh project runs
// IQ and OQ (the crash challenge in a child of this binary), exits 0,
// writes both reports signed by the engine key, puts the run on record,
// and its matrix names every requirement id; without a project the report
// is self-signed; a usage error exits 2.
func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir)
	out := filepath.Join(t.TempDir(), "qa")
	stdout := mustPawl(t, "-C", dir, "validate", "--out", out, "--reason", "IQ/OQ of the new install")
	for _, s := range []string{"PASS    iq.permissions", "PASS    oq.crash-mid-commit", "0 failed", "signed by the engine key"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("the output lacks %q:\n%s", s, stdout)
		}
	}
	for _, f := range []string{validate.JSONFile, validate.HTMLFile, validate.SigFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, validate.KeyFile)); err == nil {
		t.Error("a report signed by the engine key has a key file beside it")
	}
	p, err := project.OpenReadOnly(context.Background(), dir, enginetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pub, ok := p.Keys.Current()
	if !ok {
		t.Fatal("no engine key in the history")
	}
	rep, err := validate.VerifyDir(out, pub.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Signer.SelfSigned || rep.Signer.KeyID != seal.KeyID(pub.Public()) || len(rep.Checks) != 14 {
		t.Fatalf("the report: ok %v, signer %+v, %d checks", rep.OK(), rep.Signer, len(rep.Checks))
	}
	ids := map[string]bool{}
	for _, r := range rep.Matrix {
		ids[r.ID] = true
	}
	for _, id := range validate.RequiredIDs {
		if !ids[id] {
			t.Errorf("the matrix does not name %s", id)
		}
	}
	ds := enginetest.Details[actions.ValidationRunDetails](t, p.Trail, "validation:"+rep.RunID)
	if len(ds) != 1 || ds[0].Checks != 14 || ds[0].Failed != 0 || ds[0].KeyID != rep.Signer.KeyID {
		t.Fatalf("validation.run on record: %+v", ds)
	}

	// No project: IQ of the binary and the machine, self-signed.
	bare := t.TempDir()
	out2 := filepath.Join(bare, "r")
	stdout = mustPawl(t, "-C", bare, "validate", "--iq-only", "--out", out2)
	if !strings.Contains(stdout, "self-signed") || strings.Contains(stdout, "iq.permissions") {
		t.Errorf("without a project:\n%s", stdout)
	}
	if rep, err := validate.VerifyDir(out2, nil); err != nil || !rep.Signer.SelfSigned || rep.Project != "" {
		t.Fatalf("a self-signed report: %v", err)
	}
	if code, _, errs := pawl(t, "", "-C", bare, "validate", "--iq-only", "--out", out2); code != exitError || !strings.Contains(errs, "not empty") {
		t.Errorf("a report over another: exit %d, %s", code, errs)
	}
	if code, _, errs := pawl(t, "", "validate", "extra"); code != exitUsage {
		t.Errorf("pawl validate extra: exit %d, %s", code, errs)
	}

	// pawl validate --verify: with the engine key kept elsewhere, with the
	// key the report names (self-signed), and a report changed after it
	// was signed or checked against another key: exit 4.
	enginePub := filepath.Join(dir, ".pawl", "keys", seal.PublicFile)
	if out := mustPawl(t, "validate", "--verify", out, "--key", enginePub); !strings.Contains(out, "OK: validation report "+rep.RunID) || !strings.Contains(out, "the engine key "+rep.Signer.KeyID) {
		t.Errorf("--verify with the engine key:\n%s", out)
	}
	if out := mustPawl(t, "validate", "--verify", out2); !strings.Contains(out, "self-signed") {
		t.Errorf("--verify of a self-signed report:\n%s", out)
	}
	stranger, _, _ := ed25519Key(t)
	strangerFile := filepath.Join(t.TempDir(), "stranger.pub")
	os.WriteFile(strangerFile, []byte(seal.FormatPublicKey(stranger)+"\n"), 0o644)
	if code, _, errs := pawl(t, "", "validate", "--verify", out, "--key", strangerFile); code != exitNotVerified || !strings.Contains(errs, "does not verify") {
		t.Errorf("--verify with another key: exit %d %s", code, errs)
	}
	js := filepath.Join(out, validate.JSONFile)
	b, _ := os.ReadFile(js)
	os.WriteFile(js, bytes.Replace(b, []byte(`"failed": 0`), []byte(`"failed": 1`), 1), 0o644)
	if b2, _ := os.ReadFile(js); bytes.Equal(b, b2) {
		t.Fatal("the report was not changed")
	}
	if code, _, errs := pawl(t, "", "validate", "--verify", out, "--key", enginePub); code != exitNotVerified || !strings.Contains(errs, "changed after it was signed") {
		t.Errorf("--verify of a changed report: exit %d %s", code, errs)
	}
	if code, _, _ := pawl(t, "", "validate", "--key", enginePub); code != exitUsage {
		t.Errorf("--key without --verify: exit %d", code)
	}
}
