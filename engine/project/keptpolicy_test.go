package project_test

import (
	"context"
	"os"
	"testing"

	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
)

// TestKeepStoredPolicies: by default StoredPolicy reads the bundle from the
// store every time (a missing file list is an error); with
// KeepStoredPolicies (pawl serve) the engine built once for a pin is
// returned again without reading the store, to any Project of the process
// on the same store, and turning it off reads again.
func TestKeepStoredPolicies(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	_, d, err := p.PolicyInForce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list := p.Store.Path(d)
	hide := func() func() {
		if err := os.Rename(list, list+".aside"); err != nil {
			t.Fatal(err)
		}
		return func() { os.Rename(list+".aside", list) }
	}

	restore := hide()
	if _, err := p.StoredPolicy(ctx, d); err == nil {
		t.Fatal("StoredPolicy built a bundle whose file list is not in the store")
	}
	restore()

	project.KeepStoredPolicies(true)
	t.Cleanup(func() { project.KeepStoredPolicies(false) })
	e1, err := p.StoredPolicy(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	restore = hide()
	defer restore()
	e2, err := p.StoredPolicy(ctx, d)
	if err != nil || e2 != e1 || e2.Bundle().SHA256 != string(d) {
		t.Fatalf("kept: %p %v, first built %p", e2, err, e1)
	}
	project.KeepStoredPolicies(false)
	if _, err := p.StoredPolicy(ctx, d); err == nil {
		t.Fatal("with nothing kept, StoredPolicy did not read the store")
	}
}
