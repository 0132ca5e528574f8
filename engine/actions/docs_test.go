package actions

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/audit"
)

var update = flag.Bool("update", false, "rewrite the actions table in docs/audit-format.md")

const (
	docPath    = "../../docs/audit-format.md"
	tableBegin = "<!-- actions table: generated from engine/actions by `go test ./engine/actions -update`; do not edit by hand -->"
	tableEnd   = "<!-- end of the actions table -->"
)

// auditKeys are the details keys of the actions package audit writes
// itself (see audit/doc.go).
var auditKeys = map[string][]string{
	TrailCreated:      {"created_at", "schema_version", "trail_id"},
	TrailMigrated:     {"from", "to"},
	TrailClockAnomaly: {"clock", "given", "head_seq", "head_time", "refused_action", "refused_object", "refused_operator"},
}

// table renders the catalogue as the documentation lists it.
func table() string {
	var b strings.Builder
	b.WriteString("| action | object | details keys | meaning |\n|---|---|---|---|\n")
	for _, s := range Catalogue() {
		keys := Keys(s.Details)
		if s.Details == nil {
			keys = auditKeys[s.Action]
		}
		for i, k := range keys {
			keys[i] = "`" + k + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", s.Action, s.Object, strings.Join(keys, ", "), s.Meaning)
	}
	return b.String()
}

// TestDocumentedActions: docs/audit-format.md lists every action with the
// keys its details type writes; the test fails when the two disagree.
func TestDocumentedActions(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated actions table (between %q and %q)", docPath, tableBegin, tableEnd)
	}
	want := tableBegin + "\n" + table() + tableEnd
	got := doc[i : j+len(tableEnd)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(filepath.Clean(docPath), []byte(doc[:i]+want+doc[j+len(tableEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the actions table in %s disagrees with engine/actions; run `go test ./engine/actions -update` and review the diff:\n--- documented\n%s\n--- engine/actions\n%s", docPath, got, want)
}

// TestCatalogueIsComplete: every action constant is in the catalogue once,
// with a details type that names it, and the audit package's own actions
// are the ones it writes.
func TestCatalogueIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Catalogue() {
		if seen[s.Action] {
			t.Errorf("%s is in the catalogue twice", s.Action)
		}
		seen[s.Action] = true
		switch {
		case s.Details == nil && !strings.HasPrefix(s.Action, "trail."):
			t.Errorf("%s has no details type", s.Action)
		case s.Details != nil && s.Details.Action() != s.Action:
			t.Errorf("%s's details type says it is %s", s.Action, s.Details.Action())
		}
		if s.Object == "" || s.Meaning == "" {
			t.Errorf("%s: object and meaning are documented", s.Action)
		}
	}
	for _, a := range []string{audit.ActionTrailCreated, audit.ActionTrailMigrated, audit.ActionTrailClockAnomaly, ProjectInit, PinChanged, PluginAdded, PluginRefused,
		PluginAddRefused, PluginCacheRejected, PluginApproved, RolesGranted, PolicyDecision, BatchCommitted, BatchFailed, BatchReplayed, RecordResubmitted, BatchExportStarted, BatchExported,
		BatchExportFailed, Checkpoint, AuditExported, OperatorEnrolled, ESignSigned, ESignFailed, ESignSessionEnded,
		OperatorPassphraseChanged, OperatorPassphraseChangeFailed, OperatorLocked, OperatorUnlocked, OperatorRevoked,
		ChangeProposed, ChangeApplyRefused, ResubmitRefused, EngineKeyRotated, StateReset, AuditInspected, AuditInspectRefused, WitnessCosigned, WitnessPushFailed, NetworkPublished, NetworkPublishFailed, NetworkCosignatureFailed, HubFinding, HubFindingResolved, HubCosigned, HubSiteKeyRotated,
		SourceReceived, SourceFailed, SourceDeferred, NoticeSent, NoticeFailed, ValidationRun} {
		if !seen[a] {
			t.Errorf("%s is not in the catalogue", a)
		}
	}
	if len(seen) != 56 {
		t.Errorf("%d actions in the catalogue; update this test when adding one", len(seen))
	}
}
