package policies

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The transition bundle's own Rego tests pass, with coverage measured.
func TestTransitionBundleRegoTestsPass(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, TransitionFS()); err != nil {
		t.Fatal(err)
	}
	rep, err := Test(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("Rego tests failed:\n%s", rep)
	}
	if rep.Passed < 15 {
		t.Fatalf("only %d Rego tests ran", rep.Passed)
	}
}

// Answers tells a bundle that defines authz from one written before roles.
func TestAnswers(t *testing.T) {
	ctx := context.Background()
	def, err := NewEngine(ctx, mustLoadFS(t, DefaultFS()))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		if !def.Answers(k) {
			t.Errorf("the default bundle does not answer %s", k)
		}
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, DefaultFS()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "pawl", "authz.rego")); err != nil {
		t.Fatal(err)
	}
	old, err := Open(ctx, dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if old.Answers(KindAuthz) {
		t.Error("a bundle without pawl/authz.rego answers authz (its authz_test.rego must not count)")
	}
	if !old.Answers(KindEgress) {
		t.Error("a bundle without authz.rego no longer answers egress")
	}
	tr, err := Transition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Answers(KindAuthz) || tr.Answers(KindEgress) {
		t.Errorf("the transition bundle answers authz %v, egress %v: want authz only", tr.Answers(KindAuthz), tr.Answers(KindEgress))
	}
	if got := tr.Bundle().Revision; got != "pawl-transition-1" {
		t.Errorf("transition bundle revision %q", got)
	}
}

func mustLoadFS(t *testing.T, fsys fs.FS) *Bundle {
	t.Helper()
	b, err := LoadBundleFS(fsys, "test", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
