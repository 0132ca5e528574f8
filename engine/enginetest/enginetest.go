// Package enginetest holds the helpers the tests of pawl's engine and CLI
// share: a fresh project, generated input, a run, and the audit entries of
// one action, decoded into their typed details. It is for tests only.
package enginetest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/policies"
)

// AsOf is the as-of time tests run batches with.
var AsOf = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// PastWindow is time_window.past in the tests' projects. AsOf is a fixed
// date (outputs, lineage roots and golden files depend on it), and the tests
// must pass whenever they run, so the window reaches a century back; the
// tests of the window set their own. The CLI's tests set it the same way
// (PAWL_TIME_WINDOW_PAST, or pawl.yaml).
const PastWindow = 100 * 365 * 24 * time.Hour

// Config is the default configuration with the tests' time window.
func Config() config.Config {
	c := config.Defaults()
	c.TimeWindowPast = PastWindow
	return c
}

// FirstRoles are the first role holders of the tests' projects besides
// their creator "tester" (engine.InitOptions.Roles): bob, the second
// person of the two-person rule (Pin), and pat, who approves the role
// grants of Grant; both may approve a change (policy_admin).
// alice (EnrolAlice) is a reviewer and approver from the start.
var FirstRoles = map[string][]string{"alice": {"approver", "reviewer"}, "bob": {"approver", "policy_admin", "reviewer"}, "pat": {"policy_admin"}}

// NewProject creates a project (engine.Init) in a temporary directory with
// operator "tester", the first role holders FirstRoles and the tests' time
// window (PastWindow); it is closed when the test ends.
func NewProject(t testing.TB) *project.Project {
	t.Helper()
	p, err := engine.Init(context.Background(), t.TempDir(), engine.InitOptions{Operator: "tester", Roles: FirstRoles})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	UseTestCacheKey(t, p.Data)
	p.Cfg.TimeWindowPast = PastWindow
	return p
}

// testCacheKey is the compilation cache key the tests' projects share.
var testCacheKey = bytes.Repeat([]byte("pawl-test-cache-key-"), 2)[:seal.CacheKeyBytes]

// UseTestCacheKey gives the project whose data directory is dataDir,
// before it loads a plugin, the compilation cache key all the tests'
// projects share, so that they share the cache's entries as one project's
// runs do. A project with a key of its own compiles every plugin afresh
// on its first run (seconds each) and keeps its own entries in the user's
// cache; the tests that are about the cache use a cache directory and key
// of their own.
func UseTestCacheKey(t testing.TB, dataDir string) {
	t.Helper()
	line := "hmac-sha256 " + base64.StdEncoding.EncodeToString(testCacheKey) + "\n"
	if err := os.WriteFile(filepath.Join(dataDir, "keys", seal.CacheKeyFile), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

// WriteInput writes b to dir/name and returns the path.
func WriteInput(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// GenInput generates n sensor readings, 5% of them defective (Unicode
// defects included).
func GenInput(t testing.TB, n int, seed uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := demo.GenerateSensorReadings(&b, demo.GenOptions{Records: n, Seed: seed, AsOf: AsOf, FailureRate: 0.05, Unicode: true}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Run runs the example job over input at AsOf and fails the test on error.
func Run(t testing.TB, p *project.Project, input string, workers int) *ratchet.Result {
	t.Helper()
	res, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: input, AsOf: AsOf, Workers: workers, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// ReadLines reads an LF-terminated file as lines without their LF.
func ReadLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end with LF", path)
	}
	return bytes.Split(b[:len(b)-1], []byte("\n"))
}

// Quarantine reads a committed batch's quarantine.
func Quarantine(t testing.TB, p *project.Project, id string) []*finding.QuarantineEntry {
	t.Helper()
	var out []*finding.QuarantineEntry
	if err := p.Quarantined(context.Background(), id, func(q *finding.QuarantineEntry) bool { out = append(out, q); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// Entries lists the trail's entries with action about object (either ""
// for any), oldest first.
func Entries(t testing.TB, tr *audit.Trail, action, object string) []audit.Entry {
	t.Helper()
	es, err := tr.Find(context.Background(), action, object)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// Details lists the typed details of the trail's entries of T's action
// about object ("" for any), oldest first.
func Details[T actions.Details](t testing.TB, tr *audit.Trail, object string) []T {
	t.Helper()
	var zero T
	var out []T
	for _, e := range Entries(t, tr, zero.Action(), object) {
		d, err := actions.Decode[T](e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// Readings for small batches: one that passes every stage, one that fails
// the schema.
const (
	GoodReading = `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`
	HotReading  = `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":"hot","unit":"celsius"}`
)

// AlicePass is the passphrase of the operator EnrolAlice enrols.
const AlicePass = "correct horse battery staple"

// Batch runs one batch of the given lines and returns it.
func Batch(t testing.TB, p *project.Project, lines ...string) *ratchet.Result {
	t.Helper()
	in := WriteInput(t, t.TempDir(), "in.jsonl", []byte(strings.Join(lines, "\n")+"\n"))
	return Run(t, p, in, 1)
}

// EnrolAlice enrols operator "alice" (printed name "Alice Example") with
// AlicePass, bound to this process's uid; she holds the roles reviewer and
// approver from the project's creation (FirstRoles).
func EnrolAlice(t testing.TB, p *project.Project) *esign.Operator {
	t.Helper()
	op, err := esign.EnrolOperator(context.Background(), p, esign.EnrolOptions{ID: "alice", Name: "Alice Example", Passphrase: []byte(AlicePass), Reason: "QA reviewer"})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// Grant gives operator id the roles in the project's bundle
// (gate.GrantRoles, by the project's operator) and pins the bundle, so
// that they are in force: a grant is a change of the bundle, so under the
// two-person rule pat (EnrolPat, policy_admin from the start) approves it
// and it is applied.
func Grant(t testing.TB, p *project.Project, id string, roles ...string) {
	t.Helper()
	ctx := context.Background()
	if err := gate.GrantRoles(ctx, p, id, roles, p.Cfg.Operator, "test roles"); err != nil {
		t.Fatal(err)
	}
	res, err := p.Pin(ctx, p.Cfg.Operator, "roles granted")
	if err != nil {
		t.Fatal(err)
	}
	if res.Proposal == nil {
		return
	}
	EnrolPat(t, p)
	if _, err := esign.ApproveChange(ctx, p, esign.ApproveOptions{Change: res.Proposal.ID, Operator: "pat", Reason: "test roles", Passphrase: []byte(PatPass)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := esign.ApplyChange(ctx, p, res.Proposal.ID, p.Cfg.Operator, "roles granted"); err != nil {
		t.Fatal(err)
	}
}

// PatPass is the passphrase of the operator EnrolPat enrols.
const PatPass = "saffron glacier tandem orchard"

// EnrolPat enrols operator "pat" (printed name "Pat Policy-Admin") with
// PatPass, unless enrolled already: who approves Grant's role grants.
func EnrolPat(t testing.TB, p *project.Project) *esign.Operator {
	t.Helper()
	if op, err := esign.LookupOperator(context.Background(), p, "pat"); err == nil {
		return op
	}
	op, err := esign.EnrolOperator(context.Background(), p, esign.EnrolOptions{ID: "pat", Name: "Pat Policy-Admin", Passphrase: []byte(PatPass), Reason: "approves role grants", By: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// TrailEntries opens the project in dir (as another process would, after
// a command ran there) and lists its trail's entries with action about
// object (either "" for any).
func TrailEntries(t testing.TB, dir, action, object string) []audit.Entry {
	t.Helper()
	p, err := engine.Open(context.Background(), dir, config.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return Entries(t, p.Trail, action, object)
}

// BobPass is the passphrase of the operator EnrolBob enrols.
const BobPass = "purple monkey dishwasher lamp"

// EnrolBob enrols operator "bob" (printed name "Bob Example") with
// BobPass, unless he is enrolled already: the second person of the
// two-person rule in the tests.
func EnrolBob(t testing.TB, p *project.Project) *esign.Operator {
	t.Helper()
	if op, err := esign.LookupOperator(context.Background(), p, "bob"); err == nil {
		return op
	}
	op, err := esign.EnrolOperator(context.Background(), p, esign.EnrolOptions{ID: "bob", Name: "Bob Example", Passphrase: []byte(BobPass), Reason: "second person"})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// Pin runs `pawl pin --weaken` and, when the two-person rule holds a
// change back (a guarded pin, or a job's contract weakened: the tests
// rewrite jobs to set up what they test), does the two-person dance: bob
// (EnrolBob) approves the proposed change with his e-signature and it is
// applied. It returns the result of the pin
// that put the pins in force.
func Pin(t testing.TB, p *project.Project, operator, reason string) *project.PinResult {
	t.Helper()
	res, err := PinAs(context.Background(), t, p, operator, reason)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// PinAs is p.Pin with the two-person dance of Pin: an error of the pin is
// returned, a failure of the dance fails the test.
func PinAs(ctx context.Context, t testing.TB, p *project.Project, operator, reason string) (*project.PinResult, error) {
	t.Helper()
	res, err := p.PinWith(ctx, project.PinOptions{Operator: operator, Reason: reason, Weaken: true})
	if err != nil || res.Proposal == nil {
		return res, err
	}
	EnrolBob(t, p)
	if _, err := esign.ApproveChange(ctx, p, esign.ApproveOptions{Change: res.Proposal.ID, Operator: "bob", Reason: "reviewed: " + reason, Passphrase: []byte(BobPass)}); err != nil {
		t.Fatal(err)
	}
	_, applied, err := esign.ApplyChange(ctx, p, res.Proposal.ID, operator, reason)
	if err != nil {
		t.Fatal(err)
	}
	return applied, nil
}

// SetESign changes the project's e-signature rules as an edit of
// pawl.yaml would (set changes p.Cfg) and pins them (Pin, with its
// two-person dance), so that they are in force: the rules a signing, a
// passphrase and a lock-out are held to are the pinned ones
// (project.ESignRulesInForce).
func SetESign(t testing.TB, p *project.Project, set func(c *config.Config)) {
	t.Helper()
	set(&p.Cfg)
	Pin(t, p, p.Cfg.Operator, "e-signature rules")
}

// AddDestinations whitelists egress destinations (id → the whitelist
// entry: url, classifications, purposes, …) in the project's
// policies/data.json; the bundle is in force once pinned (Pin).
func AddDestinations(t testing.TB, p *project.Project, dests map[string]map[string]any) {
	t.Helper()
	path := filepath.Join(p.Root, "policies", "data.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	whitelist := data["egress"].(map[string]any)["destinations"].(map[string]any)
	for id, d := range dests {
		whitelist[id] = d
	}
	if b, err = json.MarshalIndent(data, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// AttackTrail runs SQL against the trail at path with its guards (the
// triggers) dropped, as someone holding the file can.
func AttackTrail(t testing.TB, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	for _, n := range names {
		if _, err := db.Exec("DROP TRIGGER " + n); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// AllowWorkers lets the project at root send its batches' records to the
// workers of the NATS server at url: the distribute module pawl ships
// (policies/distribute) goes into its bundle, with the queue in
// data.egress.workers taking every classification; the bundle is in force
// once pinned.
func AllowWorkers(t testing.TB, root, url string) {
	t.Helper()
	pdir := filepath.Join(root, "policies")
	if err := os.CopyFS(pdir, policies.DistributeFS()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(pdir, "data.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	data["egress"].(map[string]any)["workers"] = map[string]any{"site": map[string]any{"url": url,
		"classifications": []string{"public", "internal", "confidential", "phi"}}}
	if b, err = json.MarshalIndent(data, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
