package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/egress"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/policies"
)

// exportProject initialises a project, commits one batch and returns the
// project directory and the batch id.
func exportProject(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice", "--role", "approver=policy_admin")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	out := mustPawl(t, "-C", dir, "run", "sensor-feed", "--input", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return dir, r["batch_id"].(string)
}

// whitelist adds a destination to the project's bundle and pins it.
func whitelist(t *testing.T, dir, id, url string, classes ...string) {
	t.Helper()
	path := filepath.Join(dir, "policies", "data.json")
	var data map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	dests := data["egress"].(map[string]any)["destinations"].(map[string]any)
	dests[id] = map[string]any{"url": url, "classifications": classes, "requires_approval": false}
	b, _ = json.MarshalIndent(data, "", "  ")
	os.WriteFile(path, b, 0o644)
	pinTwoPerson(t, dir, "whitelist "+id)
}

// lastDecision is the newest policy decision about a batch.
// egressDecisions are the egress decisions about batch on record (every
// command's authz decision is on record too, about the same object).
func egressDecisions(t *testing.T, dir, batch string) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	for _, e := range enginetest.TrailEntries(t, dir, actions.PolicyDecision, "batch:"+batch) {
		if d, err := actions.Decode[actions.PolicyDecisionDetails](e); err == nil && d.Kind == policies.KindEgress {
			out = append(out, e)
		}
	}
	return out
}

func lastDecision(t *testing.T, dir, batch string) policies.Decision {
	t.Helper()
	es := egressDecisions(t, dir, batch)
	if len(es) == 0 {
		t.Fatal("no decision on record")
	}
	var d policies.Decision
	if err := json.Unmarshal(es[len(es)-1].Details, &d); err != nil {
		t.Fatal(err)
	}
	if d.ID == "" || d.Bundle.SHA256 == "" || d.OPAVersion == "" || len(d.Input) == 0 {
		t.Fatalf("decision on record lacks id, bundle, OPA version or input: %+v", d)
	}
	return d
}

// tree lists every file below dir (relative paths).
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestExportToOutbox(t *testing.T) {
	dir, id := exportProject(t)
	outbox := t.TempDir()
	code, out, errs := pawl(t, "", "-C", dir, "export", id, "--to", "file://"+outbox+"/b/")
	if code != exitDenied || !strings.Contains(out, "egress.not_whitelisted") || len(tree(t, outbox)) != 0 {
		t.Fatalf("empty whitelist: exit %d\n%s%s\n%v", code, out, errs, tree(t, outbox))
	}
	if d := lastDecision(t, dir, id); d.Allow {
		t.Fatal("denial on record as allow")
	}

	whitelist(t, dir, "outbox", "file://"+outbox+"/", "internal")
	// A percent-encoded spelling of the same URL is the same destination,
	// and the files go to the canonical path.
	enc := "file://" + outbox + "/%62/"
	grant(t, dir, "bob", "operator")
	out = mustPawl(t, "-C", dir, "export", id, "--to", enc, "--purpose", "test", "--operator", "bob")
	if !strings.Contains(out, "hash confirmed at the destination") {
		t.Fatalf("export output:\n%s", out)
	}
	for _, n := range egress.Files {
		got, err := os.ReadFile(filepath.Join(outbox, "b", n))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(dir, ".pawl", "batches", id, n))
		if string(got) != string(want) {
			t.Errorf("%s differs from the batch's", n)
		}
	}
	if _, err := os.Stat(filepath.Join(outbox, "b", actions.QuarantineFile)); err == nil {
		t.Error("the quarantine left the perimeter")
	}
	mustPawl(t, "verify-signature", filepath.Join(outbox, "b", actions.SignatureFile), "--key", filepath.Join(dir, ".pawl", "keys", "engine.pub"))
	d := lastDecision(t, dir, id)
	if !d.Allow || !strings.Contains(string(d.Input), `"principal":{"id":"bob"}`) || !strings.Contains(string(d.Input), `"canonical":"file://`+outbox+`/b/"`) {
		t.Fatalf("decision on record: %+v %s", d, d.Input)
	}
	ex := enginetest.TrailEntries(t, dir, actions.BatchExported, "batch:"+id)
	if len(ex) != 1 || !strings.Contains(string(ex[0].Details), d.ID) || ex[0].Operator != "bob" {
		t.Fatalf("batch.exported: %+v", ex)
	}
	// The same batch to the same place again is the same files: nothing is
	// rewritten, and the export is on record again.
	before := tree(t, outbox)
	if fmt.Sprint(before) != fmt.Sprint([]string{"b", "b/" + actions.CheckpointFile, "b/" + actions.SignatureFile, "b/" + actions.VerifiedFile}) {
		t.Fatalf("the outbox holds more or less than the batch's files: %v", before)
	}
	mustPawl(t, "-C", dir, "export", id, "--to", "file://"+outbox+"/b/")
	if after := tree(t, outbox); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a repeated export changed the outbox:\n%v\n%v", before, after)
	}
	if ex := enginetest.TrailEntries(t, dir, actions.BatchExported, "batch:"+id); len(ex) != 2 {
		t.Fatalf("the repeated export is not on record: %d entries", len(ex))
	}
	// Never overwrites other content.
	other := filepath.Join(outbox, "b", actions.VerifiedFile)
	os.Chmod(other, 0o644)
	os.WriteFile(other, []byte("{}\n"), 0o644)
	if code, _, errs := pawl(t, "", "-C", dir, "export", id, "--to", "file://"+outbox+"/b/"); code != exitError || !strings.Contains(errs, "already exists with other content") {
		t.Fatalf("export over other content: exit %d %s", code, errs)
	}
	if b, _ := os.ReadFile(other); string(b) != "{}\n" {
		t.Fatalf("the export overwrote a file: %q", b)
	}
	// Every attempt is on record before anything leaves.
	if st := enginetest.TrailEntries(t, dir, actions.BatchExportStarted, "batch:"+id); len(st) != 3 {
		t.Fatalf("%d batch.export_started entries, want 3", len(st))
	}
}

// TestExportBypassAttempts: every attempt is refused (exit 3), writes
// nothing, and its decision is on record.
func TestExportBypassAttempts(t *testing.T) {
	dir, id := exportProject(t)
	base := t.TempDir()
	outbox := filepath.Join(base, "outbox")
	secret := filepath.Join(base, "secret")
	os.Mkdir(outbox, 0o755)
	os.Mkdir(secret, 0o755)
	os.Symlink(secret, filepath.Join(outbox, "link"))
	whitelist(t, dir, "outbox", "file://"+outbox+"/", "internal")
	whitelist(t, dir, "partner", "https://allowed.example/inbox/", "internal")
	whitelist(t, dir, "public-only", "file://"+outbox+"/public/", "public")

	cases := []struct {
		name, url, reason string
		allowed           bool // the policy allows; pawl's confinement refuses
	}{
		{"dot-dot", "file://" + outbox + "/../secret/", "egress.url_refused", false},
		{"encoded dot-dot", "file://" + outbox + "/%2e%2e/secret/", "egress.url_refused", false},
		{"encoded slash", "file://" + outbox + "%2F..%2Fsecret/", "egress.url_refused", false},
		{"case-folded path", "file://" + strings.ToUpper(outbox) + "/", "egress.not_whitelisted", false},
		{"symlink out of the outbox", "file://" + outbox + "/link/", "outside outbox", true},
		{"userinfo", "https://allowed.example@evil.example/inbox/", "egress.url_refused", false},
		{"IDN homograph", "https://\u0430llowed.example/inbox/", "egress.url_refused", false},
		{"prefix lookalike", "https://allowed.example/inbox-evil/", "egress.not_whitelisted", false},
		{"classification", "file://" + outbox + "/public/x/", "egress.classification", false},
	}
	before := len(egressDecisions(t, dir, id))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := pawl(t, "", "-C", dir, "export", id, "--to", c.url)
			if code != exitDenied || !strings.Contains(out+errs, c.reason) {
				t.Fatalf("exit %d, want 3 with %q:\n%s%s", code, c.reason, out, errs)
			}
			if got := tree(t, secret); len(got) != 0 {
				t.Fatalf("written outside the outbox: %v", got)
			}
			if got := tree(t, outbox); len(got) != 1 || got[0] != "link" {
				t.Fatalf("written into the outbox: %v", got)
			}
			es := egressDecisions(t, dir, id)
			if len(es) != before+i+1 {
				t.Fatalf("%d decisions on record, want %d", len(es), before+i+1)
			}
			d := lastDecision(t, dir, id)
			if d.Allow != c.allowed {
				t.Fatalf("decision allow=%v, want %v: %v", d.Allow, c.allowed, d.Deny)
			}
			if c.allowed {
				f := enginetest.TrailEntries(t, dir, actions.BatchExportFailed, "batch:"+id)
				if len(f) == 0 || !strings.Contains(string(f[len(f)-1].Details), d.ID) {
					t.Fatal("the refused export is not on record with its decision")
				}
			}
		})
	}
	if ex := enginetest.TrailEntries(t, dir, actions.BatchExported, ""); len(ex) != 0 {
		t.Fatalf("exports on record: %d", len(ex))
	}
}

func TestExportOfUncommittedBatchIsDenied(t *testing.T) {
	dir, _ := exportProject(t)
	outbox := t.TempDir()
	whitelist(t, dir, "outbox", "file://"+outbox+"/", "internal")
	failed := "0123456789abcdef0123456789abcdef"
	p, err := engine.Open(context.Background(), dir, enginetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Trail.Append(context.Background(), audit.Entry{Operator: "alice", Action: "batch.failed", Object: "batch:" + failed,
		Details: json.RawMessage(`{"batch_id":"` + failed + `","job":"sensor-feed","error":"disk full"}`)})
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := pawl(t, "", "-C", dir, "export", failed[:8], "--to", "file://"+outbox+"/x/")
	if code != exitDenied || !strings.Contains(out, "egress.not_committed") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if len(tree(t, outbox)) != 0 {
		t.Fatal("something was written")
	}
	if d := lastDecision(t, dir, failed); d.Allow || !strings.Contains(string(d.Input), `"state":"failed"`) {
		t.Fatalf("decision: %+v", d)
	}
}

// tlsDestination is a loopback HTTPS server that stores PUT bodies and
// confirms their sha256, or redirects every request.
type tlsDestination struct {
	srv      *httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	requests int
	redirect string
}

func newTLSDestination(t *testing.T) *tlsDestination {
	d := &tlsDestination{files: map[string][]byte{}}
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.requests++
		if d.redirect != "" {
			http.Redirect(w, r, d.redirect+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		if r.Method != http.MethodPut {
			http.Error(w, "PUT only", http.StatusMethodNotAllowed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(b)
		d.files[r.URL.Path] = b
		w.Header().Set("X-Content-SHA256", "sha256:"+hex.EncodeToString(sum[:]))
		w.WriteHeader(http.StatusCreated)
	}))
	d.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-certificate case logs a handshake error
	d.srv.StartTLS()
	t.Cleanup(d.srv.Close)
	if !strings.HasPrefix(d.srv.URL, "https://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", d.srv.URL)
	}
	return d
}

// trust writes the server's certificate as the project's export CA.
func trust(t *testing.T, dir string, srvs ...*tlsDestination) {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	f, _ := os.Create(ca)
	for _, s := range srvs {
		pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	}
	f.Close()
	cfg := filepath.Join(dir, "pawl.yaml")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("\nexport:\n  ca_file: "+ca+"\n  timeout: 20s\n")...), 0o644)
}

func TestExportHTTPS(t *testing.T) {
	dir, id := exportProject(t)
	dst := newTLSDestination(t)
	whitelist(t, dir, "partner", dst.srv.URL+"/inbox/", "internal")

	// Untrusted certificate first: TLS is verified.
	if code, _, errs := pawl(t, "", "-C", dir, "export", id, "--to", dst.srv.URL+"/inbox/"+id+"/"); code != exitError || !strings.Contains(errs, "certificate") {
		t.Fatalf("untrusted server: exit %d %s", code, errs)
	}
	trust(t, dir, dst)
	out := mustPawl(t, "-C", dir, "export", id, "--to", dst.srv.URL+"/inbox/"+id+"/")
	for _, n := range egress.Files {
		want, _ := os.ReadFile(filepath.Join(dir, ".pawl", "batches", id, n))
		if got := dst.files["/inbox/"+id+"/"+n]; string(got) != string(want) {
			t.Errorf("%s: the destination holds %d bytes, want %d", n, len(got), len(want))
		}
	}
	if len(dst.files) != len(egress.Files) || strings.Contains(out, "not reported") {
		t.Fatalf("files %v\n%s", len(dst.files), out)
	}
	if ex := enginetest.TrailEntries(t, dir, actions.BatchExported, "batch:"+id); len(ex) != 1 || !strings.Contains(string(ex[0].Details), `"confirmed":true`) {
		t.Fatalf("batch.exported: %+v", ex)
	}
}

// TestExportRedirectIsNotFollowed: a whitelisted destination that answers
// 307 to another host fails the export; the other host is never contacted
// and nothing more is sent.
func TestExportRedirectIsNotFollowed(t *testing.T) {
	dir, id := exportProject(t)
	evil := newTLSDestination(t)
	dst := newTLSDestination(t)
	dst.redirect = evil.srv.URL // another origin, trusted: following would succeed
	whitelist(t, dir, "partner", dst.srv.URL+"/inbox/", "internal")
	trust(t, dir, dst, evil)
	code, _, errs := pawl(t, "", "-C", dir, "export", id, "--to", dst.srv.URL+"/inbox/")
	if code == 0 || !strings.Contains(errs, "does not follow redirects") {
		t.Fatalf("exit %d %s", code, errs)
	}
	if evil.requests != 0 || len(evil.files) != 0 {
		t.Fatalf("the redirect target was contacted %d times", evil.requests)
	}
	if dst.requests != 1 {
		t.Fatalf("the destination got %d requests after redirecting, want 1 (nothing sent after the refusal)", dst.requests)
	}
	d := lastDecision(t, dir, id)
	f := enginetest.TrailEntries(t, dir, actions.BatchExportFailed, "batch:"+id)
	if !d.Allow || len(f) != 1 || !strings.Contains(string(f[0].Details), "307") || !strings.Contains(string(f[0].Details), d.ID) {
		t.Fatalf("failure not on record with its decision: %+v", f)
	}
	if ex := enginetest.TrailEntries(t, dir, actions.BatchExported, ""); len(ex) != 0 {
		t.Fatal("a redirected export is on record as exported")
	}
}

// TestExportTimeOutsideWindow: a --time outside the window is refused
// without a reason before the policy is asked (no decision, nothing
// written); inside it nothing is flagged; with a reason the export goes and
// its records say the time was outside the window, with the window.
func TestExportTimeOutsideWindow(t *testing.T) {
	dir, id := exportProject(t)
	outbox := t.TempDir()
	whitelist(t, dir, "outbox", "file://"+outbox+"/", "internal")
	t.Setenv("PAWL_TIME_WINDOW_PAST", "168h") // the default window, not the tests' wide one
	decisions := len(egressDecisions(t, dir, id))
	old := time.Now().Add(-30 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	ahead := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	for _, c := range []struct{ at, want string }{{old, "more than 168h before now"}, {ahead, "more than 1h after now"}} {
		code, out, errs := pawl(t, "", "-C", dir, "export", id, "--to", "file://"+outbox+"/b/", "--time", c.at)
		if code != exitUsage || !strings.Contains(errs, "--time "+c.at+" is "+c.want) || !strings.Contains(errs, "pass --reason") {
			t.Fatalf("--time %s: exit %d\n%s%s", c.at, code, out, errs)
		}
	}
	if n := len(egressDecisions(t, dir, id)); n != decisions || len(tree(t, outbox)) != 0 {
		t.Fatalf("a refused export asked the policy (%d decisions, %d before) or wrote %v", n, decisions, tree(t, outbox))
	}

	inside := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	mustPawl(t, "-C", dir, "export", id, "--to", "file://"+outbox+"/in/", "--time", inside)
	ex := enginetest.TrailEntries(t, dir, actions.BatchExported, "batch:"+id)
	if len(ex) != 1 || strings.Contains(string(ex[0].Details), "window") {
		t.Fatalf("an export inside the window is flagged: %+v", ex)
	}

	out := mustPawl(t, "-C", dir, "export", id, "--to", "file://"+outbox+"/late/", "--time", old, "--reason", "re-sent for the March audit", "--output", "json")
	var res egress.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.TimeOutsideWindow || res.TimeWindow == nil || *res.TimeWindow != (actions.TimeWindow{Past: "168h", Future: "1h"}) {
		t.Fatalf("export with a reason: %v\n%s", err, out)
	}
	started := enginetest.TrailEntries(t, dir, actions.BatchExportStarted, "batch:"+id)
	ex = enginetest.TrailEntries(t, dir, actions.BatchExported, "batch:"+id)
	sd, err := actions.Decode[actions.BatchExportStartedDetails](started[len(started)-1])
	if err != nil {
		t.Fatal(err)
	}
	xd, err := actions.Decode[actions.BatchExportedDetails](ex[len(ex)-1])
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		outside bool
		w       *actions.TimeWindow
	}{{sd.TimeOutsideWindow, sd.TimeWindow}, {xd.TimeOutsideWindow, xd.TimeWindow}} {
		if !d.outside || d.w == nil || d.w.Past != "168h" || d.w.Future != "1h" {
			t.Fatalf("the export's records: %+v %+v", sd, xd)
		}
	}
	if r := ex[len(ex)-1].Reason; r != "re-sent for the March audit" {
		t.Fatalf("reason on record %q", r)
	}
	if _, err := os.Stat(filepath.Join(outbox, "late", actions.SignatureFile)); err != nil {
		t.Fatal(err)
	}
}

// TestExportOfAChangedOutputIsRefused: a batch whose verified output no
// longer has the hash on record is not exported: the refusal names the
// file and both hashes, nothing reaches the outbox, and the failure is on
// record.
func TestExportOfAChangedOutputIsRefused(t *testing.T) {
	dir, id := exportProject(t)
	outbox := t.TempDir()
	whitelist(t, dir, "outbox", "file://"+outbox+"/", "internal")
	out := filepath.Join(dir, ".pawl", "batches", id, actions.VerifiedFile)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(out, 0o644)
	if err := os.WriteFile(out, bytes.Replace(b, []byte("21.5"), []byte("99.5"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := pawl(t, "", "-C", dir, "export", id, "--to", "file://"+outbox+"/b/")
	if code != exitError || !strings.Contains(errs, actions.VerifiedFile+" hashes to sha256:") || !strings.Contains(errs, "the audit trail records sha256:") || !strings.Contains(errs, "pawl audit verify") {
		t.Fatalf("export of a changed output: exit %d\n%s", code, errs)
	}
	if left := tree(t, outbox); len(left) != 0 {
		t.Fatalf("the refused export wrote %v", left)
	}
	if f := enginetest.TrailEntries(t, dir, actions.BatchExportFailed, "batch:"+id); len(f) != 1 || !strings.Contains(string(f[0].Details), "hashes to") {
		t.Fatalf("batch.export_failed on record: %+v", f)
	}
}
