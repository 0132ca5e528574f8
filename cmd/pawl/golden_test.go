package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/version"
	"github.com/pawl-dev/pawl/policies"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/cli from this run")

// goldenDir holds one folder per command and case: stdout, plus exit when
// the exit status is not 0 and stderr when anything was written to it.
const goldenDir = "testdata/cli"

// The scenario's fixed inputs. The as-of time fixes batch ids, input and
// output hashes, so that they appear in the golden files verbatim.
const (
	goldenAsOf = "2026-11-25T00:00:00Z"
	goldenTime = "2026-11-25T01:00:00Z" // the time of every export decision
	goldenPass = "correct horse battery staple"
)

// goldenLongAgo is an as-of and export time outside the scenario's window
// on any date.
const goldenLongAgo = "1900-01-01T00:00:00Z"

// goldenArchive is the third batch, run with an as-of outside the window.
var goldenArchive = `{"device_id":"AB-100003","timestamp":"1899-12-31T18:00:00Z","value":20,"unit":"celsius"}` + "\n"

// goldenInput is the first batch: two verified records, a value of the
// wrong type, an invisible character in an identifier, bytes that are not
// UTF-8.
var goldenInput = strings.Join([]string{
	`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`,
	`{"device_id":"AB-123456","timestamp":"2026-11-24T10:05:00Z","value":"hot","unit":"celsius"}`,
	"{\"device_id\":\"AB-1\u200b23456\",\"timestamp\":\"2026-11-24T10:10:00Z\",\"value\":20,\"unit\":\"celsius\"}",
	`{"device_id":"AB-100000","timestamp":"2026-11-24T10:15:00Z","value":19.25,"unit":"celsius"}`,
	"{\"device_id\":\"AB-100001\",\"timestamp\":\"2026-11-24T10:20:00Z\",\"value\":20,\"unit\":\"cels\xffius\"}",
}, "\n") + "\n"

// goldenStdin is the second batch, read from standard input: one record
// each rejected by the range, freshness and registry validators, one
// verified.
var goldenStdin = strings.Join([]string{
	`{"device_id":"AB-100002","timestamp":"2026-11-24T11:00:00Z","value":-5,"unit":"kelvin"}`,
	`{"device_id":"AB-100002","timestamp":"2026-11-20T11:00:00Z","value":5,"unit":"celsius"}`,
	`{"device_id":"ZZ-999999","timestamp":"2026-11-24T11:00:00Z","value":5,"unit":"celsius"}`,
	`{"device_id":"AB-100002","timestamp":"2026-11-24T11:30:00Z","value":276.5,"unit":"kelvin"}`,
}, "\n") + "\n"

// goldenResult is what one step of the scenario printed.
type goldenResult struct {
	dir            string // "<command>/<case>"
	args           []string
	code           int
	stdout, stderr string
}

// goldenScenario runs the scenario's steps in one project and keeps their
// output; the checks come after, on the whole trail.
type goldenScenario struct {
	t          *testing.T
	base, root string
	results    []goldenResult
	dirs       map[string]bool
	// files are JSON documents the scenario's exports wrote, by path.
	files map[string]string
}

// step runs one command line and expects exit status code.
func (g *goldenScenario) step(dir string, code int, stdin string, args ...string) goldenResult {
	g.t.Helper()
	if g.dirs[dir] {
		g.t.Fatalf("two steps pin their output in %s", dir)
	}
	g.dirs[dir] = true
	c, out, errs := pawl(g.t, stdin, args...)
	if c != code {
		g.t.Fatalf("%s: pawl %s: exit %d, want %d\n%s%s", dir, strings.Join(args, " "), c, code, out, errs)
	}
	r := goldenResult{dir: dir, args: args, code: c, stdout: out, stderr: errs}
	g.results = append(g.results, r)
	return r
}

// in runs a step in the project (-C ROOT).
func (g *goldenScenario) in(dir string, code int, args ...string) goldenResult {
	g.t.Helper()
	return g.step(dir, code, "", append([]string{"-C", g.root}, args...)...)
}

func (g *goldenScenario) path(elem ...string) string {
	return filepath.Join(append([]string{g.base}, elem...)...)
}

func (g *goldenScenario) write(path, data string) string {
	g.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		g.t.Fatal(err)
	}
	return path
}

// keepJSON keeps the JSON documents an export wrote, for the key check.
func (g *goldenScenario) keepJSON(paths ...string) {
	g.t.Helper()
	for _, p := range paths {
		g.files[p] = string(mustRead(g.t, p))
	}
}

// TestGolden runs every command of pawl, in text and --output json, with a
// failure case of each family (usage, denial, verification), through one
// scripted project, and compares each step's stdout, exit status and stderr
// with testdata/cli/<command>/<case>/. Values that change from run to run
// (paths, keys, times, hashes of audit entries, signatures) are replaced by
// named placeholders read from the project itself; everything else is
// pinned verbatim. Rewrite the files with
//
//	go test ./cmd/pawl -run TestGolden -update
func TestGolden(t *testing.T) {
	for _, kv := range os.Environ() { // configuration comes from the project alone
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PAWL_") {
			t.Setenv(k, "")
		}
	}
	base := t.TempDir()
	g := &goldenScenario{t: t, base: base, root: filepath.Join(base, "proj"), dirs: map[string]bool{}, files: map[string]string{}}
	g.run()

	n := newNormaliser(t, g.base, g.root)
	n.fromProject(t, g.root, "")
	n.fromProject(t, g.path("demo"), "demo ")
	// The policy signing key `pawl policy keygen` made: its fingerprint.
	fp, err := policies.KeyFingerprint(mustRead(t, g.path("policy")+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	n.exact[fp] = "<policy key fingerprint>"
	n.fromProject(t, g.path("clock"), "clock ")
	n.finish()

	t.Run("golden", func(t *testing.T) {
		for _, r := range g.results {
			checkGolden(t, r, n)
		}
		checkNoStaleGolden(t, g.dirs)
	})
	t.Run("json_keys", func(t *testing.T) {
		for _, r := range g.results {
			if slices.Contains(r.args, "json") || json.Valid([]byte(r.stdout)) && strings.TrimSpace(r.stdout) != "" {
				checkJSONKeys(t, r.dir, r.stdout)
			}
		}
		for path, data := range g.files {
			checkJSONKeys(t, strings.TrimPrefix(path, base), data)
		}
	})
}

// run is the scenario: one project, every command.
func (g *goldenScenario) run() {
	t, root, base := g.t, g.root, g.base
	input := g.write(g.path("input", "readings.jsonl"), goldenInput)
	asOf := []string{"--as-of", goldenAsOf}

	// init, and the project's operator from now on.
	// One person's project until the end, where the two-person rule is
	// turned on and shown.
	g.step("init/text", 0, "", "init", root, "--operator", "qa-admin", "--reason", "golden project", "--single-person")
	g.step("init/existing", 1, "", "init", root)
	// The scenario's times are fixed (November 2026) and must need no
	// reason whenever the test runs: the window reaches a century back
	// (enginetest.PastWindow). Times before 1900 and after 2999 stay outside it.
	cfg := filepath.Join(root, "pawl.yaml")
	g.write(cfg, string(mustRead(t, cfg))+"operator: qa-runner\ntime_window:\n  past: "+config.FormatDuration(enginetest.PastWindow)+"\n")
	// Roles: qa-admin, who created the project, holds every role; qa-runner
	// none until granted, and a grant is in force only once pinned.
	g.in("authz/no-role", 3, "plugin", "list")
	g.in("operator-grant/text", 0, "operator", "grant", "qa-runner", "operator", "policy_admin", "--reason", "runs the loads, keeps the plugins", "--operator", "qa-admin")
	g.in("operator-grant/no-reason", 2, "operator", "grant", "qa-runner", "operator")
	g.in("authz/grant-not-pinned", 3, "plugin", "list")
	g.in("pin/roles", 0, "pin", "--reason", "qa-runner's roles", "--operator", "qa-admin")

	g.step("help/root", 0, "", "--help")
	g.step("help/unknown-command", 1, "", "frobnicate")
	g.step("version/text", 0, "", "version")
	g.step("version/json", 0, "", "version", "--output", "json")
	g.step("version/bad-output", 2, "", "version", "--output", "yaml")

	g.step("explain/text", 0, "", "explain", "--escapes", `AB-1\u200b23`)
	g.step("explain/json", 0, "", "explain", "--escapes", `AB-1\u200b23`, "--output", "json")
	g.step("explain/confusable", 0, "", "explain", "p\u0430ypal")
	g.step("explain/empty-json", 0, "", "explain", "", "--output", "json")
	g.step("explain/no-string", 2, "", "explain")

	// Plugins and the policy bundle.
	g.in("plugin-list/text", 0, "plugin", "list")
	g.in("plugin-list/json", 0, "plugin", "list", "--output", "json")
	g.in("plugin-verify/text", 0, "plugin", "verify")
	g.in("plugin-verify/json", 0, "plugin", "verify", "--output", "json")
	wasm := filepath.Join("..", "..", "plugins", "notblank", "notblank.wasm")
	// The author's kit (no project): a case file through the module, a
	// case that fails, a skeleton.
	cases := g.write(g.path("kit", "cases.jsonl"), `{"name": "blank", "record": {"device_id": " "}, "expect": "quarantined", "rules": ["notblank.blank"]}
{"record": {"device_id": "AB-1"}, "expect": "verified"}
`)
	g.step("plugin-test/text", 0, "", "plugin", "test", wasm, "--cases", cases)
	wrongCases := g.write(g.path("kit", "wrong.jsonl"), `{"record": {"device_id": "AB-1"}, "expect": "quarantined"}
{"record": {"device_id": ""}, "expect": "quarantined", "rules": ["notblank.empty"]}
`)
	g.step("plugin-test/failing", 1, "", "plugin", "test", wasm, "--cases", wrongCases)
	g.step("plugin-test/no-cases", 2, "", "plugin", "test", wasm)
	g.step("plugin-test/bad-case", 2, "", "plugin", "test", wasm, "--cases", g.write(g.path("kit", "bad.jsonl"), `{"record": {}, "expect": "ok"}`+"\n"))
	g.step("plugin-new/wat", 0, "", "plugin", "new", "blank", "--lang", "wat", "--dir", g.path("kit", "blank"))
	g.step("plugin-new/not-empty", 2, "", "plugin", "new", "blank", "--lang", "wat", "--dir", g.path("kit", "blank"))
	g.step("plugin-new/no-lang", 2, "", "plugin", "new", "blank")
	g.in("plugin-add/pinned", 0, "plugin", "add", wasm, "--reason", "device ids must not be blank")
	g.in("plugin-add/already-pinned", 0, "plugin", "add", wasm)
	g.in("plugin-add/missing-file", 1, "plugin", "add", g.path("missing.wasm"))
	g.in("policy-approve-plugin/text", 0, "policy", "approve-plugin", "notblank@1.0.0", "--reason", "reviewed the module")
	g.in("policy-approve-plugin/not-pinned", 1, "policy", "approve-plugin", "nope@1.0.0")
	g.in("pin/changed", 0, "pin", "--reason", "approve notblank")
	g.in("pin/up-to-date", 0, "pin")

	g.in("policy-test/text", 0, "policy", "test")
	g.in("policy-test/coverage", 0, "policy", "test", "--coverage")
	g.in("policy-test/json", 0, "policy", "test", "--coverage", "--output", "json")
	egressIn := g.write(g.path("egress-input.json"), `{"destination":{"url":"file:///srv/outbox/lims/"},"principal":{"id":"qa-runner"},`+
		`"purpose":"release","resource":{"batch_id":"0123456789abcdef0123456789abcdef","classification":"internal","signatures":[],"state":"committed"},`+
		`"time":"2026-11-25T01:00:00Z"}`)
	g.in("policy-eval/text", 0, "policy", "eval", "--kind", "egress", "--input", egressIn)
	g.in("policy-eval/json", 0, "policy", "eval", "--kind", "egress", "--input", egressIn, "--output", "json")
	g.in("policy-eval/query-explain", 0, "policy", "eval", "data.pawl.egress.decision", "--input", egressIn, "--explain")
	g.in("policy-eval/no-input", 2, "policy", "eval", "--kind", "egress")

	keys := g.path("policy")
	bundle := g.path("bundle")
	if err := os.CopyFS(bundle, os.DirFS(filepath.Join(root, "policies"))); err != nil {
		t.Fatal(err)
	}
	g.in("policy-keygen/text", 0, "policy", "keygen", "--out", keys)
	g.in("policy-keygen/existing", 1, "policy", "keygen", "--out", keys)
	g.in("policy-sign/text", 0, "policy", "sign", "--key", keys+".key", bundle)
	g.in("policy-sign/no-key", 2, "policy", "sign", bundle)
	g.in("policy-verify/text", 0, "policy", "verify", "--pub", keys+".pub", bundle)
	g.in("policy-verify/json", 0, "policy", "verify", "--pub", keys+".pub", bundle, "--output", "json")
	data := filepath.Join(bundle, "data.json")
	g.write(data, strings.Replace(string(mustRead(t, data)), `"internal"`, `"internal-only"`, 1))
	g.in("policy-verify/changed-file", 1, "policy", "verify", "--pub", keys+".pub", bundle)

	// Batches.
	runArgs := append([]string{"run", "sensor-feed", "--input", input, "--reason", "nightly load"}, asOf...)
	g.in("run/committed", 0, runArgs...)
	g.in("run/already-committed", 0, runArgs...)
	first := g.in("run/already-committed-json", 0, append(runArgs, "--output", "json")...)
	second := g.step("run/json", 0, goldenStdin, append([]string{"-C", root, "run", "sensor-feed", "--input", "-", "--output", "json"}, asOf...)...)
	g.in("run/no-input", 2, "run", "sensor-feed")
	g.in("run/unknown-job", 1, "run", "nope", "--input", input)
	g.in("run/unknown-flag", 2, "run", "sensor-feed", "--input", input, "--bogus")
	g.in("run/bad-as-of", 2, "run", "sensor-feed", "--input", input, "--as-of", "yesterday")
	g.in("run/as-of-outside-window", 2, "run", "sensor-feed", "--input", input, "--as-of", goldenLongAgo)
	g.in("run/as-of-ahead", 2, "run", "sensor-feed", "--input", input, "--as-of", "2999-01-01T00:00:00Z", "--reason", " ")
	b1 := batchID(t, first.stdout)
	b2 := batchID(t, second.stdout)

	g.in("batches-list/text", 0, "batches", "list")
	g.in("batches-list/json", 0, "batches", "list", "--output", "json")
	g.in("batches-show/text", 0, "batches", "show", b1[:8])
	g.in("batches-show/json", 0, "batches", "show", b2, "--output", "json")
	g.in("batches-show/unknown", 1, "batches", "show", "ffffffff")

	g.in("quarantine-list/text", 0, "quarantine", "list")
	g.in("quarantine-list/json", 0, "quarantine", "list", "--output", "json")
	g.in("quarantine-list/one-batch", 0, "quarantine", "list", b2[:8])
	g.in("quarantine-show/text", 0, "quarantine", "show", b1, "2")
	g.in("quarantine-show/json", 0, "quarantine", "show", b1, "3", "--output", "json")
	g.in("quarantine-show/invalid-utf8", 0, "quarantine", "show", b1, "5")
	g.in("quarantine-show/verified-record", 1, "quarantine", "show", b1, "1")
	g.in("quarantine-show/bad-ordinal", 2, "quarantine", "show", b1, "0")
	fixed := g.write(g.path("fixed-2.json"), `{"device_id":"AB-123456","timestamp":"2026-11-24T10:05:00Z","value":22,"unit":"celsius"}`)
	fixed3 := g.write(g.path("fixed-3.json"), `{"device_id":"AB-123456","timestamp":"2026-11-24T10:10:00Z","value":20,"unit":"celsius"}`)
	g.in("quarantine-resubmit/text", 0, "quarantine", "resubmit", b1, "2", "--file", fixed, "--reason", "the value was typed as text")
	g.in("quarantine-resubmit/json", 0, "quarantine", "resubmit", b1, "3", "--file", fixed3, "--reason", "invisible character removed", "--output", "json")
	g.in("quarantine-resubmit/no-file", 2, "quarantine", "resubmit", b1, "2", "--reason", "x")

	// The usability signature, inside the project and copied out of it.
	batchDir := filepath.Join(root, ".pawl", "batches", b1)
	sig := filepath.Join(batchDir, actions.SignatureFile)
	g.in("verify-signature/text", 0, "verify-signature", sig)
	g.in("verify-signature/json", 0, "verify-signature", sig, "--output", "json")
	copied := g.path("copied")
	for _, f := range []string{actions.SignatureFile, actions.VerifiedFile, actions.QuarantineFile} {
		g.write(filepath.Join(copied, f), string(mustRead(t, filepath.Join(batchDir, f))))
	}
	pub := filepath.Join(root, ".pawl", "keys", seal.PublicFile)
	g.step("verify-signature/untrusted-key", 1, "", "-C", base, "verify-signature", filepath.Join(copied, actions.SignatureFile))
	g.step("verify-signature/key", 0, "", "-C", base, "verify-signature", "--key", pub, filepath.Join(copied, actions.SignatureFile))
	g.write(filepath.Join(copied, actions.VerifiedFile), strings.Replace(string(mustRead(t, filepath.Join(copied, actions.VerifiedFile))), "21.5", "12.5", 1))
	g.step("verify-signature/output-changed", exitNotVerified, "", "-C", base, "verify-signature", "--key", pub, filepath.Join(copied, actions.SignatureFile))

	// Inclusion proofs.
	proof := g.path("proof.json")
	g.in("audit-prove/to-stdout", 0, "audit", "prove", b1, "4")
	g.in("audit-prove/to-file", 0, "audit", "prove", b1, "4", "--out", proof)
	g.step("audit-verify-proof/signature", 0, "", "-C", base, "audit", "verify-proof", proof, "--signature", sig, "--key", pub)
	g.step("audit-verify-proof/signature-untrusted", 1, "", "-C", base, "audit", "verify-proof", proof, "--signature", sig)
	g.step("audit-verify-proof/alone", 0, "", "-C", base, "audit", "verify-proof", proof)
	edited := g.write(g.path("edited-proof.json"), strings.Replace(string(mustRead(t, proof)), `"leaf_index": 3`, `"leaf_index": 2`, 1))
	g.step("audit-verify-proof/edited", exitNotVerified, "", "-C", base, "audit", "verify-proof", edited)

	g.in("audit-replay/text", 0, "audit", "replay", b1[:8], "--reason", "inspection")
	g.in("audit-replay/json", 0, "audit", "replay", b2, "--output", "json")

	// Operators and e-signatures.
	g.in("operator-list/none", 0, "operator", "list")
	g.in("operator-list/none-json", 0, "operator", "list", "--output", "json")
	g.in("operator-add/not-admin", 3, "operator", "add", "alice", "--name", "Alice Example", "--reason", "QA lead", "--passphrase-fd", passFD(t, goldenPass))
	g.in("operator-add/text", 0, "operator", "add", "alice", "--name", "Alice Example", "--reason", "QA lead", "--passphrase-fd", passFD(t, goldenPass), "--operator", "qa-admin")
	g.in("operator-add/json", 0, "operator", "add", "bob", "--name", "Bob Reviewer", "--reason", "reviewer", "--passphrase-fd", passFD(t, goldenPass), "--output", "json", "--operator", "qa-admin")
	g.in("operator-add/name-taken", 3, "operator", "add", "mallory", "--name", "alice example", "--reason", "a second alice", "--passphrase-fd", passFD(t, goldenPass), "--operator", "qa-admin")
	g.in("operator-add/no-reason", 3, "operator", "add", "carol", "--name", "Carol Example", "--passphrase-fd", passFD(t, goldenPass), "--operator", "qa-admin")
	g.in("operator-add/short-passphrase", 1, "operator", "add", "carol", "--name", "Carol", "--reason", "reviewer", "--passphrase-fd", passFD(t, "short"), "--operator", "qa-admin")
	g.in("operator-add/no-terminal", 2, "operator", "add", "carol", "--name", "Carol")
	g.in("operator-list/text", 0, "operator", "list")
	g.in("sign/no-role", 3, "sign", b1, "--meaning", "approved", "--operator", "alice", "--reason", "x", "--passphrase-fd", passFD(t, goldenPass))
	mustPawl(t, "-C", root, "operator", "grant", "alice", "approver", "--reason", "QA lead approves", "--operator", "qa-admin")
	mustPawl(t, "-C", root, "operator", "grant", "bob", "reviewer", "--reason", "reviews", "--operator", "qa-admin")
	mustPawl(t, "-C", root, "operator", "grant", "carol", "reviewer", "--reason", "reviews", "--operator", "qa-admin")
	mustPawl(t, "-C", root, "pin", "--reason", "roles of alice, bob and carol", "--operator", "qa-admin")
	g.in("operator-list/json", 0, "operator", "list", "--output", "json")
	g.in("sign/wrong-passphrase", 1, "sign", b1, "--meaning", "approved", "--operator", "alice", "--reason", "x", "--passphrase-fd", passFD(t, "not the passphrase at all"))
	g.in("sign/bad-meaning", 2, "sign", b1, "--meaning", "liked", "--operator", "alice")
	g.in("sign/text", 0, "sign", b1[:8], "--meaning", "approved", "--operator", "alice", "--reason", "fit for release", "--passphrase-fd", passFD(t, goldenPass))
	g.in("sign/json", 0, "sign", b1, "--meaning", "reviewed", "--operator", "bob", "--passphrase-fd", passFD(t, goldenPass), "--output", "json")
	g.in("sign/twice", 3, "sign", b1, "--meaning", "reviewed", "--operator", "bob", "--passphrase-fd", passFD(t, goldenPass))
	g.in("batches-show/signed", 0, "batches", "show", b1)
	g.in("batches-show/signed-json", 0, "batches", "show", b1, "--output", "json")

	// Exports: refused until the destination is whitelisted, and then
	// only for an approved batch.
	outbox := g.path("outbox")
	if err := os.MkdirAll(outbox, 0o755); err != nil {
		t.Fatal(err)
	}
	to := "file://" + outbox + "/lims/"
	g.in("export/denied", 3, "export", b1, "--to", to, "--time", goldenTime)
	g.in("export/denied-json", 3, "export", b1, "--to", to, "--time", goldenTime, "--output", "json")
	g.in("export/no-destination", 2, "export", b1)
	g.in("export/time-outside-window", 2, "export", b1, "--to", to, "--time", "2999-01-01T00:00:00Z")
	// The whitelist names file:/// rather than the outbox: the outbox's
	// path changes from run to run, and the bundle's digest with it.
	whitelistLIMS(t, root, "file:///")
	g.in("pin/whitelist", 0, "pin", "--reason", "whitelist the LIMS outbox")
	g.in("export/exported", 0, "export", b1, "--to", to, "--purpose", "release", "--reason", "to the LIMS", "--time", goldenTime)
	g.in("export/json", 0, "export", b1, "--to", "file://"+outbox+"/lims-copy/", "--time", goldenTime, "--output", "json")
	g.in("export/not-approved", 3, "export", b2, "--to", to, "--time", goldenTime)
	g.keepJSON(filepath.Join(outbox, "lims", actions.SignatureFile))

	g.in("audit-trace/verified", 0, "audit", "trace", b1, "1")
	g.in("audit-trace/quarantined", 0, "audit", "trace", b1, "2")
	g.in("audit-trace/json", 0, "audit", "trace", b1, "4", "--output", "json")
	g.in("audit-trace/past-the-end", 1, "audit", "trace", b1, "6")

	g.in("audit-log/text", 0, "audit", "log")
	g.in("audit-log/json", 0, "audit", "log", "--output", "json")
	g.in("audit-log/action", 0, "audit", "log", "--action", actions.ESignSigned)
	g.in("audit-log/batch", 0, "audit", "log", "--batch", b2[:8])
	g.in("audit-log/bad-since", 2, "audit", "log", "--since", "last week")

	cp := g.path("head.checkpoint")
	g.in("audit-checkpoint/to-stdout", 0, "audit", "checkpoint", "--reason", "end of day")
	g.in("audit-checkpoint/to-file", 0, "audit", "checkpoint", "--out", cp)
	g.in("audit-verify/ok", 0, "audit", "verify")
	g.in("audit-verify/json", 0, "audit", "verify", "--output", "json")
	g.in("audit-verify/checkpoint", 0, "audit", "verify", "--checkpoint", cp)

	// An as-of and an export time outside the window, each with a reason:
	// on record, and flagged.
	archive := g.write(g.path("input", "archive.jsonl"), goldenArchive)
	// A time outside the window needs a role as well (the default bundle:
	// admin), and the refusal is on record.
	g.in("run/as-of-outside-window-no-role", 3, "run", "sensor-feed", "--input", archive, "--as-of", goldenLongAgo,
		"--reason", "loading the 1900 archive, dated as collected")
	third := g.in("run/as-of-outside-window-reason", 0, "run", "sensor-feed", "--input", archive, "--as-of", goldenLongAgo,
		"--reason", "loading the 1900 archive, dated as collected", "--output", "json", "--operator", "qa-admin")
	b3 := batchID(t, third.stdout)
	g.in("batches-show/as-of-outside-window", 0, "batches", "show", b3)
	g.in("batches-show/as-of-outside-window-json", 0, "batches", "show", b3, "--output", "json")
	g.in("export/time-outside-window-reason", 0, "export", b1, "--to", "file://"+outbox+"/lims-archive/", "--purpose", "release",
		"--time", goldenLongAgo, "--reason", "re-sent as the release of record of 1900", "--operator", "qa-admin")

	review := g.path("review")
	g.in("audit-export/html", 0, "audit", "export", review, "--reason", "inspection 2026")
	g.in("audit-export/jsonl", 0, "audit", "export", "--format", "jsonl", g.path("review-jsonl"))
	g.in("audit-export/not-empty", 1, "audit", "export", review)
	quarantined, _ := filepath.Glob(filepath.Join(review, "quarantine", "*.jsonl"))
	g.keepJSON(append(quarantined, filepath.Join(review, "entries.jsonl"), filepath.Join(review, "batches.jsonl"))...)

	// Enough readings for the demo to find the three defects it shows.
	g.step("demo/text", 0, "", "demo", "--records", "300", "--dir", g.path("demo"))

	// A trail whose newest entry is dated ahead of the clock, as a clock
	// that ran ahead leaves it: the next append is refused, and the
	// anomaly is on record in its place.
	clockRoot := g.path("clock")
	mustPawl(t, "init", clockRoot, "--operator", "qa-admin", "--role", "approver=policy_admin")
	clockCfg := filepath.Join(clockRoot, "pawl.yaml")
	g.write(clockCfg, string(mustRead(t, clockCfg))+"time_window:\n  past: "+config.FormatDuration(enginetest.PastWindow)+"\n")
	grant(t, clockRoot, "qa-runner", "operator")
	tr, err := audit.Open(filepath.Join(clockRoot, ".pawl", "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Append(context.Background(), audit.Entry{Time: time.Date(2999, 6, 30, 12, 0, 0, 0, time.UTC), Operator: "qa-admin",
		Action: "test.clock_ahead", Object: "project", Reason: "dated by a clock that ran ahead"}); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	g.step("run/clock-behind", 1, "", "-C", clockRoot, "run", "sensor-feed", "--input", input, "--as-of", goldenAsOf, "--operator", "qa-runner")
	g.step("audit-log/clock-anomaly", 0, "", "-C", clockRoot, "audit", "log", "--action", actions.TrailClockAnomaly, "--output", "json")
	g.step("audit-verify/clock-anomaly", 0, "", "-C", clockRoot, "audit", "verify")
	// The operator lifecycle: passphrases too easy to guess, a change, a
	// lock-out and its unlock, revocations.
	const carolPass, carolNew, bobNew = "lantern orchard pebble quartz", "violet anchor meadow drizzle", "saffron glacier whistle copper"
	g.step("help/operator", 0, "", "operator", "--help")
	g.in("operator-add/weak-passphrase", 1, "operator", "add", "carol", "--name", "Carol Example", "--reason", "reviewer", "--passphrase-fd", passFD(t, "aaaaaaaaaaaa"), "--operator", "qa-admin")
	g.in("operator-add/name-in-passphrase", 1, "operator", "add", "carol", "--name", "Carol Example", "--reason", "reviewer", "--passphrase-fd", passFD(t, "carol-example-2026"), "--operator", "qa-admin")
	g.in("operator-add/third", 0, "operator", "add", "carol", "--name", "Carol Example", "--reason", "reviewer", "--passphrase-fd", passFD(t, carolPass), "--operator", "qa-admin")
	g.in("sign/carol", 0, "sign", b1, "--meaning", "reviewed", "--operator", "carol", "--passphrase-fd", passFD(t, carolPass))
	g.in("operator-passwd/text", 0, "operator", "passwd", "carol", "--reason", "quarterly change", "--passphrase-fd", passFD(t, carolPass+"\n"+carolNew))
	g.in("operator-passwd/json", 0, "operator", "passwd", "bob", "--passphrase-fd", passFD(t, goldenPass+"\n"+bobNew), "--output", "json")
	g.in("operator-passwd/weak-new", 1, "operator", "passwd", "carol", "--passphrase-fd", passFD(t, carolNew+"\n"+carolNew+"!"))
	g.in("operator-passwd/no-terminal", 2, "operator", "passwd", "carol")
	g.in("operator-passwd/unknown", 3, "operator", "passwd", "dave", "--passphrase-fd", passFD(t, carolPass+"\n"+carolNew))
	g.in("operator-passwd/wrong-old", 1, "operator", "passwd", "carol", "--passphrase-fd", passFD(t, carolPass+"\n"+"another fine passphrase"))
	wrong := func() {
		t.Helper()
		if code, out, errs := pawl(t, "", "-C", root, "sign", b2, "--meaning", "reviewed", "--operator", "carol", "--passphrase-fd", passFD(t, "not the passphrase at all")); code != 1 {
			t.Fatalf("a wrong passphrase: exit %d\n%s%s", code, out, errs)
		}
	}
	wrong()
	wrong()
	wrong()
	g.in("sign/locking", 1, "sign", b2, "--meaning", "reviewed", "--operator", "carol", "--passphrase-fd", passFD(t, "not the passphrase at all"))
	g.in("sign/locked", 1, "sign", b2, "--meaning", "reviewed", "--operator", "carol", "--passphrase-fd", passFD(t, carolNew))
	g.in("operator-passwd/locked", 1, "operator", "passwd", "carol", "--passphrase-fd", passFD(t, carolNew+"\n"+carolPass))
	g.in("operator-list/states", 0, "operator", "list")
	g.in("operator-list/states-json", 0, "operator", "list", "--output", "json")
	g.in("operator-unlock/no-reason", 2, "operator", "unlock", "carol")
	g.in("operator-unlock/not-locked", 1, "operator", "unlock", "alice", "--reason", "just in case")
	g.in("operator-unlock/text", 0, "operator", "unlock", "carol", "--reason", "carol mistyped; confirmed in person", "--operator", "qa-admin")
	for range 5 {
		wrong()
	}
	g.in("operator-unlock/json", 0, "operator", "unlock", "carol", "--reason", "again, confirmed in person", "--operator", "qa-admin", "--output", "json")
	g.in("operator-revoke/no-reason", 2, "operator", "revoke", "carol")
	g.in("operator-revoke/text", 0, "operator", "revoke", "carol", "--reason", "left the project", "--operator", "qa-admin")
	g.in("operator-revoke/json", 0, "operator", "revoke", "bob", "--reason", "key file copied to a laptop that was lost", "--operator", "qa-admin", "--output", "json")
	g.in("operator-revoke/already", 1, "operator", "revoke", "carol", "--reason", "again")
	g.in("operator-unlock/revoked", 1, "operator", "unlock", "carol", "--reason", "undo")
	g.in("sign/revoked", 1, "sign", b2, "--meaning", "reviewed", "--operator", "carol", "--passphrase-fd", passFD(t, carolNew))
	g.in("operator-passwd/revoked", 1, "operator", "passwd", "carol", "--passphrase-fd", passFD(t, carolNew+"\n"+carolPass))
	g.in("operator-add/revoked-id", 1, "operator", "add", "carol", "--name", "Carol Again", "--reason", "back", "--passphrase-fd", passFD(t, carolPass), "--operator", "qa-admin")
	g.in("operator-list/revoked", 0, "operator", "list")
	g.in("batches-show/signer-revoked", 0, "batches", "show", b1)
	g.in("audit-log/locked", 0, "audit", "log", "--action", actions.OperatorLocked)
	g.in("audit-log/unlocked-json", 0, "audit", "log", "--action", actions.OperatorUnlocked, "--output", "json")

	// Last, a batch output altered behind pawl's back.
	verified := filepath.Join(batchDir, actions.VerifiedFile)
	if err := os.Chmod(verified, 0o644); err != nil {
		t.Fatal(err)
	}
	g.write(verified, strings.Replace(string(mustRead(t, verified)), "21.5", "12.5", 1))
	g.in("audit-verify/tampered", exitNotVerified, "audit", "verify")
	g.in("audit-verify/tampered-json", exitNotVerified, "audit", "verify", "--output", "json")

	// What can change an outcome is pinned and on record: a pinned setting
	// from the environment is refused, one changed in pawl.yaml is refused
	// until `pawl pin` records it, and so is a pawl.lock edited by hand,
	// until `pawl pin --reason` accepts it.
	t.Setenv("PAWL_POLICY_REQUIRE_SIGNATURE", "false")
	g.in("run/pinned-setting-from-env", 1, runArgs...)
	t.Setenv("PAWL_POLICY_REQUIRE_SIGNATURE", "")
	g.write(cfg, strings.Replace(string(mustRead(t, cfg)), "max_record_bytes: 67108864", "max_record_bytes: 1048576", 1))
	g.in("run/settings-not-pinned", 1, runArgs...)
	g.in("pin/settings", 0, "pin", "--reason", "records are at most 1 MiB")
	lock := filepath.Join(root, "pawl.lock")
	g.write(lock, regexp.MustCompile(`(?m)^plugin:notblank@1\.0\.0 sha256:[0-9a-f]{64}\n`).ReplaceAllString(string(mustRead(t, lock)), ""))
	g.in("run/lock-edited", 1, runArgs...)
	g.in("pin/lock-edited", 1, "pin")
	g.in("pin/accept-edit", 0, "pin", "--reason", "reviewed: notblank is withdrawn")

	// The two-person rule, turned on by one person (it was off), then
	// holding a change back until a second person e-signs it.
	// Approving a change needs policy_admin (authz change.approve), and a
	// grant made once the rule is on is itself a change: the policy
	// admins are named while it is still off, in force with the pin that
	// turns it on.
	mustPawl(t, "-C", root, "operator", "grant", "alice", "approver", "operator", "policy_admin", "--reason", "QA lead approves, corrects and proposes policy changes", "--operator", "qa-admin")
	mustPawl(t, "-C", root, "operator", "grant", "dave", "policy_admin", "--reason", "policy approver", "--operator", "qa-admin")
	g.write(cfg, strings.Replace(string(mustRead(t, cfg)), "two_person: false", "two_person: true", 1))
	g.in("pin/two-person-on", 0, "pin", "--reason", "two persons from now on")
	const davePass = "walnut lighthouse cobalt ferry"
	g.in("operator-add/approver", 0, "operator", "add", "dave", "--name", "Dave Approver", "--reason", "policy approver", "--operator", "qa-admin", "--passphrase-fd", passFD(t, davePass))
	g.write(cfg, strings.Replace(string(mustRead(t, cfg)), "max_record_bytes: 1048576", "max_record_bytes: 2097152", 1))
	proposed := g.in("pin/proposed", 0, "pin", "--operator", "alice", "--weaken", "--reason", "records up to 2 MiB")
	change := regexp.MustCompile(`change (chg-[0-9a-f]{12})`).FindStringSubmatch(proposed.stdout)
	if change == nil {
		t.Fatalf("no change id in %q", proposed.stdout)
	}
	id := change[1]
	g.in("pin/proposed-again", 0, "pin", "--operator", "alice")
	g.in("run/change-not-in-force", 1, runArgs...)
	g.in("change-list/text", 0, "change", "list")
	g.in("change-show/pending", 0, "change", "show", id)
	g.in("change-approve/own", 3, "change", "approve", id, "--operator", "alice", "--reason", "mine", "--passphrase-fd", passFD(t, goldenPass))
	g.in("change-approve/no-operator", 2, "change", "approve", id)
	g.in("change-apply/not-approved", 3, "change", "apply", id)
	g.in("change-approve/text", 0, "change", "approve", id, "--operator", "dave", "--reason", "the new instrument writes bigger records", "--passphrase-fd", passFD(t, davePass))
	g.write(cfg, strings.Replace(string(mustRead(t, cfg)), "max_record_bytes: 2097152", "max_record_bytes: 4194304", 1))
	g.in("change-apply/files-changed", 3, "change", "apply", id)
	g.write(cfg, strings.Replace(string(mustRead(t, cfg)), "max_record_bytes: 4194304", "max_record_bytes: 2097152", 1))
	g.in("change-apply/text", 0, "change", "apply", id, "--reason", "approved by dave")
	g.in("change-show/json", 0, "change", "show", id, "--output", "json")
	g.in("change-apply/applied", 1, "change", "apply", id)
	g.in("change-list/json", 0, "change", "list", "--output", "json")
	g.in("change-show/unknown", 1, "change", "show", "chg-nope")

	// Corrections: record 2 of the first batch already has an accepted
	// correction; another one needs a reason, and joins the chain trace
	// shows.
	fixed2b := g.write(g.path("fixed-2b.json"), `{"device_id":"AB-123456","timestamp":"2026-11-24T10:05:00Z","value":22.5,"unit":"celsius"}`)
	g.in("quarantine-resubmit/again-no-reason", 1, "quarantine", "resubmit", b1, "2", "--file", fixed2b)
	// Correcting a record again needs the approver role (authz
	// record.correct_again): qa-runner is refused, on record; alice may.
	g.in("quarantine-resubmit/again-not-approver", 3, "quarantine", "resubmit", b1, "2", "--file", fixed2b, "--reason", "the plant log says 22.5")
	g.in("quarantine-resubmit/again", 0, "quarantine", "resubmit", b1, "2", "--file", fixed2b, "--reason", "the plant log says 22.5", "--operator", "alice")
	g.in("audit-trace/corrections", 0, "audit", "trace", b1, "2")
	g.in("audit-trace/corrections-json", 0, "audit", "trace", b1, "2", "--output", "json")

	// Consistency proofs: from the checkpoint taken above to the head,
	// checked offline against it; the verifier key a witness trusts.
	g.in("audit-key/text", 0, "audit", "key")
	g.in("audit-key/json", 0, "audit", "key", "--output", "json")
	oldSize, err := audit.CheckpointSize(mustRead(t, cp))
	if err != nil {
		t.Fatal(err)
	}
	cons := g.path("head.consistency")
	g.in("audit-prove/consistency", 0, "audit", "prove", "--consistency", strconv.FormatInt(oldSize, 10), "--out", cons)
	g.in("audit-prove/consistency-too-big", 1, "audit", "prove", "--consistency", "100000")
	g.in("audit-prove/consistency-args", 2, "audit", "prove", "--consistency", "3", "4", "5")
	g.step("audit-verify-proof/consistency", 0, "", "-C", base, "audit", "verify-proof", "--consistency", cons, "--checkpoint", cp, "--key", pub)
	g.step("audit-verify-proof/consistency-no-checkpoint", 2, "", "-C", base, "audit", "verify-proof", "--consistency", cons, "--key", pub)
	lines := strings.SplitAfter(string(mustRead(t, cons)), "\n")
	lines[1] = strings.Repeat("A", 43) + "=\n"
	forked := g.write(g.path("forked.consistency"), strings.Join(lines, ""))
	g.step("audit-verify-proof/consistency-forked", exitNotVerified, "", "-C", base, "audit", "verify-proof", "--consistency", forked, "--checkpoint", cp, "--key", pub)
	g.in("audit-witness-push/no-witness", 1, "audit", "witness", "push")
	g.in("audit-verify/witnesses-required", exitNotVerified, "audit", "verify", "--witnesses", "1")

	// The plugin lifecycle, last: its refusals are on record, and no step
	// above should move for them.
	g.in("job-check/ok", 0, "job", "check", "sensor-feed")
	g.in("job-check/json", 0, "job", "check", "sensor-feed", "--output", "json")
	g.in("plugin-remove/used", 1, "plugin", "remove", "range@1.1.0", "--reason", "superseded")
	mustPawl(t, "-C", g.root, "plugin", "add", wasm, "--reason", "pinned again, to remove")
	g.in("plugin-remove/no-reason", 2, "plugin", "remove", "notblank@1.0.0")
	g.in("plugin-remove/text", 0, "plugin", "remove", "notblank@1.0.0", "--reason", "no job uses it")
	g.in("policy-revoke-plugin/text", 0, "policy", "revoke-plugin", "range@1.1.0", "--reason", "withdrawn")
	g.in("policy-revoke-plugin/not-approved", 1, "policy", "revoke-plugin", "nope@1.0.0", "--reason", "withdrawn")
}

// batchID reads batch_id from a run's JSON.
func batchID(t *testing.T, out string) string {
	t.Helper()
	var r struct {
		BatchID string `json:"batch_id"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.BatchID) != 32 {
		t.Fatalf("no batch id in %q: %v", out, err)
	}
	return r.BatchID
}

// whitelistLIMS adds the destination "lims" (internal data, approval
// required) to the project's bundle.
func whitelistLIMS(t *testing.T, root, url string) {
	t.Helper()
	path := filepath.Join(root, "policies", "data.json")
	var data map[string]any
	if err := json.Unmarshal(mustRead(t, path), &data); err != nil {
		t.Fatal(err)
	}
	data["egress"].(map[string]any)["destinations"].(map[string]any)["lims"] = map[string]any{
		"url": url, "classifications": []string{"internal"}, "requires_approval": true}
	b, _ := json.MarshalIndent(data, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// normaliser replaces what legitimately changes from run to run with named
// placeholders. Every replacement is of an exact string read from the
// project or the test (a path, a key, an entry's hash or time, a
// signature), except for three fields whose values are measured
// (elapsed seconds, records per second, a Rego test's duration), checkpoint
// signature lines, and times printed to the second, which are replaced only
// on a line that names their audit entry.
type normaliser struct {
	exact map[string]string // volatile string → placeholder
	order []string          // the keys of exact, longest first
	// lineTimes are entry times printed to the second, which several
	// entries may share: replaced only on a line that names the entry.
	lineTimes map[int64][]string
	// keyEntries are operators' key ids, which name their enrolment entry
	// on a line (operator list).
	keyEntries map[string]int64
	// decisions are decision ids by entry, with the input they decided on.
	decisions []decisionOnRecord
	origins   []string // checkpoint origins
	ancestors *regexp.Regexp
	// uid is this process's uid in JSON ("uid": N): an authz input's
	// principal, the account an enrolment binds.
	uid *regexp.Regexp
}

type decisionOnRecord struct {
	seq   int64
	label string
	id    string
	input string
}

func newNormaliser(t *testing.T, base, root string) *normaliser {
	n := &normaliser{exact: map[string]string{}, lineTimes: map[int64][]string{}, keyEntries: map[string]int64{}}
	for _, p := range []struct{ path, name string }{{root, "$ROOT"}, {base, "$TMP"}} {
		n.exact[p.path] = p.name
		if real, err := filepath.EvalSymlinks(p.path); err == nil {
			n.exact[real] = p.name
		}
	}
	n.exact[runtime.Version()] = "<go version>"
	// The test binary's own hash (`pawl version`).
	if sum, err := version.BinarySHA256(); err == nil {
		n.exact[sum] = "<binary sha256>"
	}
	// Who runs the tests: the principal authz decisions name.
	n.exact[principal.Process().String()] = "$CALLER"
	// The account operators are bound to, as `operator list` names it.
	if who := principal.Process(); who.User != "" {
		n.exact[fmt.Sprintf("uid %d (%s)", who.UID, who.User)] = "$ACCOUNT"
	}
	n.uid = regexp.MustCompile(`"uid":( ?)` + strconv.Itoa(os.Getuid()) + `([,}\n])`)
	// The egress policy's input lists every directory above the outbox as
	// a candidate prefix; those above $TMP depend on where the temporary
	// directory is, and how deep.
	var above []string
	for d := filepath.Dir(base); ; d = filepath.Dir(d) {
		above = append([]string{regexp.QuoteMeta(strconv.Quote("file://" + strings.TrimSuffix(d, "/") + "/"))}, above...)
		if d == filepath.Dir(d) {
			break
		}
	}
	n.ancestors = regexp.MustCompile(strings.Join(above, `,\s*`) + `,(\s*)`)
	return n
}

// fromProject reads the volatile values of the project at root: the trail
// id, the engine key, every entry's hash and time, operators' keys,
// e-signature and batch signature values, tree roots, export digests.
func (n *normaliser) fromProject(t *testing.T, root, label string) {
	t.Helper()
	ctx := context.Background()
	tr, err := audit.OpenReadOnly(filepath.Join(root, ".pawl", "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	es, err := tr.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	ph := func(format string, a ...any) string { return "<" + label + fmt.Sprintf(format, a...) + ">" }
	n.exact[tr.ID()] = ph("trail id")
	n.origins = append(n.origins, regexp.QuoteMeta("pawl.dev/audit/"+ph("trail id")))
	for _, e := range es {
		n.exact[e.Hash] = ph("entry %d hash", e.Seq)
		if e.Action == actions.TrailClockAnomaly {
			// Dated at the entry before it, by design; its details hold
			// the clock's reading.
			var d struct{ Clock string }
			if err := json.Unmarshal(e.Details, &d); err != nil {
				t.Fatal(err)
			}
			n.exact[d.Clock] = ph("entry %d clock", e.Seq)
			continue
		}
		tm := ph("entry %d time", e.Seq)
		n.exact[audit.FormatTime(e.Time)] = tm
		n.exact[e.Time.UTC().Format(time.RFC3339Nano)] = tm
		if label == "" {
			n.lineTimes[e.Seq] = []string{e.Time.UTC().Format(time.RFC3339), e.Time.UTC().Format(time.DateTime)}
		}
		for _, f := range []string{`"os_user": %q`, `"os_user":%q`, `OS user %s)`} {
			n.exact[fmt.Sprintf(f, e.OSUser)] = fmt.Sprintf(f, "$OSUSER")
		}
		switch e.Action {
		case actions.ProjectInit:
			d := decode[actions.ProjectInitDetails](t, e)
			n.key(d.EngineKey, ph("engine public key"), ph("engine key id"))
			if pub, err := seal.ParsePublicKey(d.EngineKey); err == nil {
				if v, err := audit.VerifierKey(tr.Origin(), pub); err == nil {
					n.exact[v] = ph("engine vkey")
				}
			}
		case actions.OperatorEnrolled:
			d := decode[actions.OperatorEnrolledDetails](t, e)
			n.key(d.PublicKey, ph("operator %s public key", d.ID), ph("operator %s key id", d.ID))
			n.keyEntries[d.KeyID] = e.Seq
		case actions.ESignSigned:
			d := decode[actions.ESignSignedDetails](t, e)
			n.exact[d.Signature.Value] = ph("entry %d e-signature", e.Seq)
			if d.Session != nil && d.Session.Opened {
				n.exact[d.Session.ID] = ph("session opened at entry %d", e.Seq)
			}
		case actions.AuditExported:
			d := decode[actions.AuditExportedDetails](t, e)
			n.exact[d.SHA256Sums] = ph("entry %d SHA256SUMS digest", e.Seq)
			n.exact[strings.TrimPrefix(d.SHA256Sums, "sha256:")[:16]] = ph("entry %d SHA256SUMS digest prefix", e.Seq)
		case actions.PolicyDecision:
			d := decode[actions.PolicyDecisionDetails](t, e)
			n.decisions = append(n.decisions, decisionOnRecord{e.Seq, label, d.ID, string(d.Input)})
			if d.Kind == policies.KindAuthz {
				// Asked at the time of the request: its time and id are
				// volatile.
				n.exact[d.Time] = ph("entry %d authz time", e.Seq)
				n.exact[d.ID] = ph("entry %d decision id", e.Seq)
				n.exact[d.ID[:16]] = ph("entry %d decision id prefix", e.Seq)
			}
		}
	}
	for size := int64(1); size <= int64(len(es)); size++ {
		r, err := tr.TreeRoot(ctx, size)
		if err != nil {
			t.Fatal(err)
		}
		n.exact[base64.StdEncoding.EncodeToString(r)] = ph("tree root %d", size)
	}
	// A batch's signature and checkpoint are signed with the engine key:
	// their values and the files' hashes (an export prints them) change.
	sigs, _ := filepath.Glob(filepath.Join(root, ".pawl", "batches", "*", actions.SignatureFile))
	for _, f := range sigs {
		b := mustRead(t, f)
		var s seal.Signature
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		id := s.BatchID[:8]
		n.exact[s.Sig.Value] = ph("batch %s signature", id)
		n.exact[fmt.Sprintf("sha256:%x", sha256.Sum256(b))] = ph("batch %s %s hash", id, actions.SignatureFile)
		cp := mustRead(t, filepath.Join(filepath.Dir(f), actions.CheckpointFile))
		n.exact[fmt.Sprintf("sha256:%x", sha256.Sum256(cp))] = ph("batch %s %s hash", id, actions.CheckpointFile)
	}
}

// key registers an "ed25519 BASE64 KEYID" public key.
func (n *normaliser) key(s, pub, id string) {
	f := strings.Fields(s)
	if len(f) == 3 {
		n.exact[f[1]], n.exact[f[2]] = pub, id
	}
}

// finish marks as volatile the ids of decisions whose input holds a
// volatile value (a path below $TMP, an e-signature's time): the id is a
// hash of the input. The others stay verbatim. Then it orders the
// replacements.
func (n *normaliser) finish() {
	for _, d := range n.decisions {
		if _, ok := n.exact[d.id]; ok || len(d.id) < 16 {
			continue // the same question asked again: named after the first entry
		}
		for s := range n.exact {
			if strings.Contains(d.input, s) {
				n.exact[d.id] = fmt.Sprintf("<%sentry %d decision id>", d.label, d.seq)
				n.exact[d.id[:16]] = fmt.Sprintf("<%sentry %d decision id prefix>", d.label, d.seq)
				break
			}
		}
	}
	// Exact strings are replaced longest first, so that no placeholder
	// cuts another's value in two.
	for old := range n.exact {
		if old != "" {
			n.order = append(n.order, old)
		}
	}
	sort.Slice(n.order, func(i, j int) bool {
		if len(n.order[i]) != len(n.order[j]) {
			return len(n.order[i]) > len(n.order[j])
		}
		return n.order[i] < n.order[j]
	})
}

var (
	auditEntryRef = regexp.MustCompile(`audit entry (\d+)\b`)
	logLineSeq    = regexp.MustCompile(`^ *(\d+)  \d{4}-`)
	elapsedJSON   = regexp.MustCompile(`"(elapsed_seconds|records_per_second)": [0-9.e+-]+`)
	elapsedText   = regexp.MustCompile(`; \d+\.\d\ds, [\d,]+ records/s$`)
	durationJSON  = regexp.MustCompile(`"duration_ns": \d+`)
)

// measuredSteps are the commands whose output holds measured values: a
// run's elapsed time and rate, a Rego test's duration. Elsewhere, those
// fields are pinned as they are.
var measuredSteps = []string{"run/", "quarantine-resubmit/", "demo/", "policy-test/"}

var unrecorded = regexp.MustCompile(`policy decision [0-9a-f]{16} could not be put on record`)

func (n *normaliser) normalise(s string, measured bool) string {
	// Times to the second, on the lines that name their entry.
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		var seqs []int64
		for _, m := range auditEntryRef.FindAllStringSubmatch(l, -1) {
			seq, _ := strconv.ParseInt(m[1], 10, 64)
			seqs = append(seqs, seq)
		}
		if m := logLineSeq.FindStringSubmatch(l); m != nil {
			seq, _ := strconv.ParseInt(m[1], 10, 64)
			seqs = append(seqs, seq)
		}
		for id, seq := range n.keyEntries {
			if strings.Contains(l, id) {
				seqs = append(seqs, seq)
			}
		}
		slices.Sort(seqs)
		for _, seq := range seqs {
			for _, tm := range n.lineTimes[seq] {
				l = strings.ReplaceAll(l, tm, fmt.Sprintf("<entry %d time>", seq))
			}
		}
		if measured {
			l = elapsedText.ReplaceAllString(l, "; <elapsed>s, <records/s> records/s")
		}
		lines[i] = l
	}
	s = strings.Join(lines, "\n")
	s = n.ancestors.ReplaceAllString(s, `"<file:// URLs of the directories above $$TMP>",$1`)
	s = n.uid.ReplaceAllString(s, `"uid":$1"$$UID"$2`)
	// A decision that could not go on record (an authz question, asked at
	// the time of the request) has an id no entry names.
	s = unrecorded.ReplaceAllString(s, "policy decision <unrecorded decision id prefix> could not be put on record")
	for _, old := range n.order {
		s = strings.ReplaceAll(s, old, n.exact[old])
	}
	if measured {
		s = elapsedJSON.ReplaceAllString(s, `"$1": <measured>`)
		s = durationJSON.ReplaceAllString(s, `"duration_ns": <measured>`)
	}
	for _, o := range n.origins {
		s = regexp.MustCompile(`(?m)^— (`+o+`) [A-Za-z0-9+/]{91}=$`).ReplaceAllString(s, "— $1 <checkpoint signature>")
	}
	return s
}

func decode[T actions.Details](t *testing.T, e audit.Entry) T {
	t.Helper()
	d, err := actions.Decode[T](e)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkGolden compares one step with its folder, or rewrites the folder.
func checkGolden(t *testing.T, r goldenResult, n *normaliser) {
	t.Helper()
	dir := filepath.Join(goldenDir, filepath.FromSlash(r.dir))
	measured := slices.ContainsFunc(measuredSteps, func(p string) bool { return strings.HasPrefix(r.dir, p) })
	files := map[string]string{"stdout": n.normalise(r.stdout, measured)}
	if r.code != 0 {
		files["exit"] = fmt.Sprintf("%d\n", r.code)
	}
	if r.stderr != "" {
		files["stderr"] = n.normalise(r.stderr, measured)
	}
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"stdout", "exit", "stderr"} {
			path := filepath.Join(dir, name)
			if data, ok := files[name]; ok {
				if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		return
	}
	for _, name := range []string{"stdout", "exit", "stderr"} {
		path := filepath.Join(dir, name)
		want, err := os.ReadFile(path)
		got, produced := files[name]
		switch {
		case os.IsNotExist(err) && !produced:
		case os.IsNotExist(err):
			t.Errorf("%s: no golden file; run `go test ./cmd/pawl -run TestGolden -update`\ngot:\n%s", path, got)
		case err != nil:
			t.Fatal(err)
		case !produced:
			t.Errorf("%s: pawl %s wrote nothing there, the golden file has:\n%s", path, strings.Join(r.args, " "), want)
		case string(want) != got:
			t.Errorf("%s: pawl %s differs from the golden file (-want +got):\n%s", path, strings.Join(r.args, " "), lineDiff(string(want), got))
		}
	}
}

// checkNoStaleGolden: every folder in testdata/cli is a step of the
// scenario (with -update, the others are removed).
func checkNoStaleGolden(t *testing.T, dirs map[string]bool) {
	t.Helper()
	var stale []string
	filepath.WalkDir(goldenDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "stdout" {
			return err
		}
		dir := filepath.ToSlash(strings.TrimPrefix(filepath.Dir(path), goldenDir+string(filepath.Separator)))
		if !dirs[dir] {
			stale = append(stale, filepath.Dir(path))
		}
		return nil
	})
	for _, d := range stale {
		if *update {
			os.RemoveAll(d)
			os.Remove(filepath.Dir(d)) // the command's folder, when it is now empty
			continue
		}
		t.Errorf("%s is not a step of the scenario: remove it, or run with -update", d)
	}
}

// lineDiff shows the lines that differ, with two lines of context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := -1
	for i := 0; i < max(len(w), len(g)); i++ {
		wl, gl := "", ""
		wok, gok := i < len(w), i < len(g)
		if wok {
			wl = w[i]
		}
		if gok {
			gl = g[i]
		}
		if wok == gok && wl == gl {
			continue
		}
		for j := max(shown+1, i-2); j < i; j++ {
			fmt.Fprintf(&b, "  %s\n", w[j])
		}
		if wok {
			fmt.Fprintf(&b, "- %s\n", wl)
		}
		if gok {
			fmt.Fprintf(&b, "+ %s\n", gl)
		}
		shown = i
	}
	return b.String()
}

// dataKeys are the JSON paths (RFC 6901 pointers, "[]" for any element of
// an array) of the objects whose member names are data, not pawl's
// vocabulary: file names, pinned paths, plugin names, Rego files. Their
// values are pawl's again and are checked.
var dataKeys = []string{
	// Outputs by file name: a run or batch (run, batches show, quarantine
	// resubmit; batches list; batches.jsonl), a usability signature
	// (verify-signature), an e-signature's manifest (sign; batches show;
	// audit trace), the batch record and e-signatures on record (audit log;
	// entries.jsonl).
	"/outputs", "/[]/outputs", "/signature/outputs",
	"/manifest/outputs", "/esignatures/[]/manifest/outputs", "/signatures/[]/manifest/outputs",
	"/[]/details/outputs", "/details/outputs", "/[]/details/manifest/outputs", "/details/manifest/outputs",
	// Pins by file: jobs/x.yaml, plugin:name@version, policies/.
	"/pins", "/[]/details/pins", "/details/pins",
	// Validators by plugin name.
	"/validators", "/signature/validators", "/[]/details/validators", "/details/validators",
	// Coverage by Rego file (policy test --coverage).
	"/files",
}

// dataValues are the JSON paths of values that are data through and
// through: a plugin's config schema is a JSON Schema (plugin list).
var dataValues = []string{
	"/[]/manifest/config_schema",
}

var snakeKey = regexp.MustCompile(`^[a-z0-9_]+$`)

// checkJSONKeys fails on a member name that is not snake_case and on a
// null, in each JSON document of out (one, or one a line).
func checkJSONKeys(t *testing.T, name, out string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	for {
		var v any
		err := dec.Decode(&v)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("%s: not JSON: %v", name, err)
			}
			return
		}
		walkJSON(t, name, "", v)
	}
}

func walkJSON(t *testing.T, name, path string, v any) {
	t.Helper()
	if slices.Contains(dataValues, path) {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		data := slices.Contains(dataKeys, path)
		for k, c := range x {
			p := path + "/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
			if !data && !snakeKey.MatchString(k) {
				t.Errorf("%s: key %q at %s is not snake_case", name, k, p)
			}
			walkJSON(t, name, p, c)
		}
	case []any:
		for _, c := range x {
			walkJSON(t, name, path+"/[]", c)
		}
	case nil:
		t.Errorf("%s: %s is null", name, path)
	}
}
