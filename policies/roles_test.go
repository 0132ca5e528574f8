package policies

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRolesReadsTheBundlesData: Roles is what data.authz.roles gives an
// id, sorted, and nothing for an id it does not name.
func TestRolesReadsTheBundlesData(t *testing.T) {
	dir := copyDefault(t)
	path := filepath.Join(dir, "data.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `"roles": {}`, `"roles": {"alice": ["reviewer", "approver"], "bob": []}`, 1)
	if s == string(b) {
		t.Fatal("the default data.json has no empty authz.roles to fill")
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Roles("alice"); !slices.Equal(got, []string{"approver", "reviewer"}) {
		t.Fatalf("alice: %v", got)
	}
	for _, id := range []string{"bob", "carol"} {
		if got := e.Roles(id); got == nil || len(got) != 0 {
			t.Fatalf("%s: %#v, want an empty list", id, got)
		}
	}
}
