package validate

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the requirements tables in docs/part11.md")

const (
	docPath    = "../../docs/part11.md"
	tableBegin = "<!-- requirements tables: generated from engine/validate by `go test ./engine/validate -update`; do not edit by hand -->"
	tableEnd   = "<!-- end of the requirements tables -->"
)

// TestPart11Doc: docs/part11.md shows the requirements table of
// engine/validate, the one the evidence report's matrix is made from, so
// the two never drift.
func TestPart11Doc(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated requirements tables (between %q and %q)", docPath, tableBegin, tableEnd)
	}
	want := tableBegin + "\n" + Part11Table() + "\n" + tableEnd
	got := doc[i : j+len(tableEnd)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(doc[:i]+want+doc[j+len(tableEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the requirements tables in %s disagree with engine/validate; run `go test ./engine/validate -update` and review the diff", docPath)
}

// TestRequirementsTable: every requirement id the kit must trace is in the
// table once, and every check it names is one the kit runs or one marked
// not yet.
func TestRequirementsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Requirements {
		if seen[r.ID] {
			t.Errorf("%s is in the table twice", r.ID)
		}
		seen[r.ID] = true
		if r.Short == "" || r.Answer == "" {
			t.Errorf("%s: requirement and answer are documented", r.ID)
		}
	}
	for _, id := range RequiredIDs {
		if !seen[id] {
			t.Errorf("%s is not in the table", id)
		}
	}
	known := map[string]bool{"iq.binary": true, "iq.permissions": true, "iq.clock": true, "iq.account": true}
	for _, c := range Challenges() {
		known[c.ID] = true
	}
	for _, r := range Requirements {
		for _, c := range r.Checks {
			if _, notYet := NotYet[c]; !known[c] && !notYet {
				t.Errorf("%s names the check %s, which the kit does not have", r.ID, c)
			}
		}
	}
}
