package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/serve"
)

// servedProject makes a project whose data directory and cache are private
// (as pawl serve demands) and starts `pawl serve` on it in process.
func servedProject(t *testing.T) (dir, socket string) {
	t.Helper()
	return servedProjectWith(t, nil)
}

// servedProjectWith is servedProject with more arguments to init and
// prepare run on the project's directory before the service starts.
func servedProjectWith(t *testing.T, prepare func(dir string), initArgs ...string) (dir, socket string) {
	t.Helper()
	dir = t.TempDir()
	mustPawl(t, append([]string{"init", dir, "--operator", "alice"}, initArgs...)...)
	// Under a service every operator acts through an enrolment bound to
	// their account: the caller's account name (every role, as the
	// project's creator) is enrolled, bound to its uid.
	mustPawl(t, "-C", dir, "operator", "add", config.Defaults().Operator, "--name", "Served Caller", "--reason", "acts through the service",
		"--passphrase-fd", passFD(t, "served caller's own pass phrase"))
	if prepare != nil {
		prepare(dir)
	}
	data := filepath.Join(dir, project.DefaultDataDir)
	t.Setenv("PAWL_CACHE_DIR", filepath.Join(data, "cache"))
	privatise(t, data)
	socket = filepath.Join(dir, DefaultSocket)
	ctx, cancel := context.WithCancel(context.Background())
	errf := filepath.Join(t.TempDir(), "serve.log")
	logf, err := os.Create(errf)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-C", dir, "serve"}, &streams{in: strings.NewReader(""), out: logf, err: logf})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if fi, err := os.Lstat(socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		select {
		case code := <-done:
			b, _ := os.ReadFile(errf)
			t.Fatalf("pawl serve exited %d:\n%s", code, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("pawl serve did not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			b, _ := os.ReadFile(errf)
			t.Errorf("pawl serve exited %d:\n%s", code, b)
		}
		logf.Close()
	})
	return dir, socket
}

// privatise makes every file under dir this account's alone.
func privatise(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			os.Chmod(p, fi.Mode().Perm()&0o700)
		}
		return err
	})
}

// served runs a command line as a client of the service on socket, from
// the working directory cwd (relative paths are the client's).
func served(t *testing.T, ctx context.Context, socket, stdin string, args ...string) (int, string, string) {
	t.Helper()
	d := t.TempDir()
	mk := func(name, content string) *os.File {
		f, err := os.Create(filepath.Join(d, name))
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(content)
		f.Seek(0, 0)
		return f
	}
	in, out, errw := mk("in", stdin), mk("out", ""), mk("err", "")
	defer in.Close()
	defer out.Close()
	defer errw.Close()
	code, err := serve.Call(ctx, socket, args, in, out, errw)
	o, _ := os.ReadFile(filepath.Join(d, "out"))
	e, _ := os.ReadFile(filepath.Join(d, "err"))
	if err != nil {
		return -1, string(o), string(e) + err.Error()
	}
	return code, string(o), string(e)
}

// TestServedIsLocal: through the service, commands print what they print
// locally, with the same exit status; a run reads the client's file by
// its relative path, is recorded under the caller's account, and is the
// batch a local run of the same input finds already committed.
func TestServedIsLocal(t *testing.T) {
	dir, socket := servedProject(t)
	cwd := t.TempDir()
	t.Chdir(cwd)
	if err := os.WriteFile("in.jsonl", []byte(good+"\n"+`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":"hot","unit":"celsius"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	code, out, errs := served(t, ctx, socket, "", "run", "sensor-feed", "--input", "in.jsonl", "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
	if code != 0 {
		t.Fatalf("served run: exit %d\n%s%s", code, out, errs)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["status"] != "committed" || res["input_name"] != nil && res["input_name"] != "in.jsonl" {
		t.Fatalf("served run: %v %s", err, out)
	}
	id := res["batch_id"].(string)
	local := mustPawl(t, "-C", dir, "run", "sensor-feed", "--input", filepath.Join(cwd, "in.jsonl"), "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
	var again map[string]any
	json.Unmarshal([]byte(local), &again)
	if again["status"] != "already_committed" || again["batch_id"] != id {
		t.Fatalf("local rerun of the served batch: %s", local)
	}
	// The operator on record is the caller's account, as the kernel says.
	es := enginetest.TrailEntries(t, dir, "batch.committed", "batch:"+id)
	if want := servedOperator(principal.With(ctx, principal.Process())); len(es) != 1 || es[0].Operator != want {
		t.Fatalf("batch.committed entries %+v, want one by %s", es, want)
	}

	for _, args := range [][]string{
		{"batches", "list"},
		{"batches", "show", id},
		{"batches", "show", id, "--output", "json"},
		{"quarantine", "list", id},
		{"audit", "verify"},
		{"audit", "log", "--action", "batch.committed"},
		{"trace", id, "2"},
		{"batches", "show", "nosuchbatch"},
		{"run", "sensor-feed"},
		{"no-such-command"},
	} {
		lc, lo, le := pawl(t, "", append([]string{"-C", dir}, args...)...)
		sc, so, se := served(t, ctx, socket, "", args...)
		if lc != sc || lo != so || le != se {
			t.Errorf("pawl %s: local exit %d\n%s%s\nserved exit %d\n%s%s", strings.Join(args, " "), lc, lo, le, sc, so, se)
		}
	}

	// Files the command writes are the client's, relative to its directory.
	if code, out, errs := served(t, ctx, socket, "", "audit", "prove", id, "1", "--out", "proof.json"); code != 0 {
		t.Fatalf("served prove: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := pawl(t, "", "audit", "verify-proof", filepath.Join(cwd, "proof.json")); code != 0 || !strings.HasPrefix(out, "OK: record 1") {
		t.Fatalf("verify-proof of the served proof: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := served(t, ctx, socket, "", "audit", "export", "--format", "jsonl", "--reason", "inspection", "pkg"); code != 0 || !strings.Contains(out, "to pkg") {
		t.Fatalf("served export: exit %d\n%s%s", code, out, errs)
	}
	for _, f := range []string{"pkg/entries.jsonl", "pkg/SHA256SUMS", "pkg/checkpoint"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("served export: %v", err)
		}
	}
	// The inspectors' package, made by the service, written by the client,
	// verifies on the client's side without the service.
	if code, out, errs := served(t, ctx, socket, "", "inspect", "--reason", "inspection", "ipkg"); code != 0 || !strings.Contains(out, "files to ipkg") {
		t.Fatalf("served inspect: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := pawl(t, "", "audit", "verify", "--package", "ipkg"); code != 0 || !strings.Contains(out, "OK, ") {
		t.Fatalf("the served package: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := served(t, ctx, socket, "", "audit", "checkpoint", "--out", "head.cp", "--reason", "kept elsewhere"); code != 0 || !strings.Contains(out, "wrote head.cp") {
		t.Fatalf("served checkpoint: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := served(t, ctx, socket, "", "audit", "verify", "--checkpoint", "head.cp"); code != 0 || !strings.Contains(out, "checkpoint: the trail extends head.cp") {
		t.Fatalf("served verify --checkpoint: exit %d\n%s%s", code, out, errs)
	}
	// An operator id on the command line is the one asked about, not
	// replaced by the caller's account: one nobody enrolled is refused
	// under a service, on record.
	if code, _, errs := served(t, ctx, socket, "", "run", "sensor-feed", "--input", "in.jsonl", "--as-of", "2026-11-25T00:00:00Z", "--operator", "mallory"); code != 3 ||
		!strings.Contains(errs, `authz.not_enrolled: operator "mallory" is not enrolled`) {
		t.Fatalf("served run as an operator nobody enrolled: exit %d %s", code, errs)
	}
	// A missing client file is named as the client sees it.
	if code, _, errs := served(t, ctx, socket, "", "run", "sensor-feed", "--input", "missing.jsonl"); code != 1 || !strings.Contains(errs, "cannot read input missing.jsonl") {
		t.Fatalf("served run of a missing file: exit %d %s", code, errs)
	}
}

// TestServedRefusesClientSideCommands: a command that would read or write
// by path with the service's permissions is refused under the service,
// however the command line is spelled.
func TestServedRefusesClientSideCommands(t *testing.T) {
	dir, socket := servedProject(t)
	key := filepath.Join(dir, project.DefaultDataDir, "keys", "engine.key")
	for _, args := range [][]string{
		{"explain", "--file", key},
		{"--server", "x", "explain", "--file", key},
		{"policy", "keygen", "--out", filepath.Join(dir, "k")},
		{"demo", "--dir", filepath.Join(dir, "d")},
		{"serve"},
	} {
		code, out, errs := served(t, context.Background(), socket, "", args...)
		if code != exitUsage || !strings.Contains(errs, "runs on your side, not through a service") || strings.Contains(out, "PRIVATE") {
			t.Errorf("served %q: exit %d\n%s%s", args, code, out, errs)
		}
	}
}

// TestServeRefusesWhatIsNotPrivate: the service does not start when its
// data directory or key is open to others, and says what to run.
func TestServeRefusesWhatIsNotPrivate(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice")
	data := filepath.Join(dir, project.DefaultDataDir)
	t.Setenv("PAWL_CACHE_DIR", filepath.Join(data, "cache"))
	privatise(t, data)
	os.Chmod(filepath.Join(data, "keys", "engine.key"), 0o644)
	code, _, errs := pawl(t, "", "-C", dir, "serve")
	key := filepath.Join(data, "keys", "engine.key")
	if code != exitError || !strings.Contains(errs, key+" is mode 0644, open to group or others: run chmod -R go-rwx "+key) {
		t.Fatalf("serve with a readable key: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, DefaultSocket)); err == nil {
		t.Fatal("the refused service made its socket")
	}
	// A site in leaf mode: the service starts its leaf node first, and
	// refuses a hub it would reach without TLS.
	os.Chmod(key, 0o600)
	creds := filepath.Join(data, "site.nk")
	mustPawl(t, "network", "credentials", "--out", creds)
	t.Setenv("PAWL_NETWORK_HUB", "nats://127.0.0.1:7422")
	t.Setenv("PAWL_NETWORK_SITE", "lyon")
	t.Setenv("PAWL_NETWORK_CREDENTIALS", creds)
	t.Setenv("PAWL_NETWORK_LEAF", "true")
	code, _, errs = pawl(t, "", "-C", dir, "serve")
	if code != exitError || !strings.Contains(errs, `network.leaf: the site's leaf node: network.hub "nats://127.0.0.1:7422": a leaf connects to the hub over TLS only`) {
		t.Fatalf("serve as a leaf of a hub without TLS: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, DefaultSocket)); err == nil {
		t.Fatal("the refused service made its socket")
	}
}

// TestSecondServeRefused: one service per project.
func TestSecondServeRefused(t *testing.T) {
	dir, _ := servedProject(t)
	code, _, errs := pawl(t, "", "-C", dir, "serve", "--socket", filepath.Join(t.TempDir(), "s"))
	if code != exitError || !strings.Contains(errs, "one service per project") {
		t.Fatalf("second serve: exit %d\n%s", code, errs)
	}
}

// TestServedDisconnectMidRun: a client that goes away mid-run leaves the
// batch committed or failed on record, never half-committed; the trail
// verifies, and running it again commits it once.
func TestServedDisconnectMidRun(t *testing.T) {
	dir, socket := servedProject(t)
	cwd := t.TempDir()
	t.Chdir(cwd)
	os.WriteFile("big.jsonl", enginetest.GenInput(t, 60000, 7), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Disconnect once the batch is under way (its pending folder exists).
		pend := filepath.Join(dir, project.DefaultDataDir, "pending")
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if ents, _ := os.ReadDir(pend); len(ents) > 0 {
				break
			}
		}
		cancel()
	}()
	code, _, errs := served(t, ctx, socket, "", "run", "sensor-feed", "--input", "big.jsonl", "--as-of", "2026-11-25T00:00:00Z")
	t.Logf("interrupted client: exit %d: %s", code, errs)
	// The service finishes the command before it takes the next one.
	_, _, _ = served(t, context.Background(), socket, "", "version")
	failed := enginetest.TrailEntries(t, dir, "batch.failed", "")
	committed := enginetest.TrailEntries(t, dir, "batch.committed", "")
	if len(failed)+len(committed) != 1 {
		t.Fatalf("after the disconnect: %d batch.failed, %d batch.committed entries, want one of them", len(failed), len(committed))
	}
	if len(failed) == 1 && !strings.Contains(string(failed[0].Details), "context canceled") {
		t.Errorf("batch.failed says %s", failed[0].Details)
	}
	if code, out, errs := served(t, context.Background(), socket, "", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify after the disconnect: exit %d\n%s%s", code, out, errs)
	}
	pending, _ := os.ReadDir(filepath.Join(dir, project.DefaultDataDir, "pending"))
	if len(pending) != 0 {
		t.Fatalf("half a batch left in pending/: %v", pending)
	}
	for range 2 {
		if code, out, errs := served(t, context.Background(), socket, "", "run", "sensor-feed", "--input", "big.jsonl", "--as-of", "2026-11-25T00:00:00Z"); code != 0 {
			t.Fatalf("retry: exit %d\n%s%s", code, out, errs)
		}
	}
	if n := len(enginetest.TrailEntries(t, dir, "batch.committed", "")); n != 1 {
		t.Fatalf("%d batch.committed entries after two retries, want 1", n)
	}
}

// TestServedESignViaPassphraseFD: enrolment and signing through the
// service read the passphrase from the client's own descriptor (never an
// argument); a wrong one is refused and on record, the right one signs.
func TestServedESignViaPassphraseFD(t *testing.T) {
	dir, socket := servedProject(t)
	cwd := t.TempDir()
	t.Chdir(cwd)
	os.WriteFile("in.jsonl", []byte(good+"\n"), 0o600)
	ctx := context.Background()
	code, out, errs := served(t, ctx, socket, "", "run", "sensor-feed", "-i", "in.jsonl", "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
	var res map[string]any
	if json.Unmarshal([]byte(out), &res); code != 0 || res["batch_id"] == nil {
		t.Fatalf("served run: exit %d\n%s%s", code, out, errs)
	}
	id := res["batch_id"].(string)
	const pass = "correct horse battery staple of the enclave"
	if code, out, errs := served(t, ctx, socket, "", "operator", "add", "alice", "--name", "Alice Example", "--passphrase-fd", passFD(t, pass), "--reason", "QA"); code != 0 || !strings.Contains(out, "enrolled alice (Alice Example)") {
		t.Fatalf("served operator add: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := served(t, ctx, socket, "", "sign", id, "--meaning", "reviewed", "--operator", "alice", "--passphrase-fd", passFD(t, "not the right one at all")); code == 0 || !strings.Contains(errs, "passphrase") {
		t.Fatalf("served sign with a wrong passphrase: exit %d %s", code, errs)
	}
	if n := len(enginetest.TrailEntries(t, dir, "esign.failed", "")); n != 1 {
		t.Errorf("%d esign.failed entries after a wrong passphrase, want 1", n)
	}
	if code, _, errs := served(t, ctx, socket, "", "sign", id, "--meaning", "reviewed", "--operator", "alice", "--passphrase-fd", "97"); code != exitUsage || !strings.Contains(errs, "descriptor 97 is not open in the client") {
		t.Fatalf("served sign with a closed descriptor: exit %d %s", code, errs)
	}
	if code, out, errs := served(t, ctx, socket, "", "sign", id, "--meaning", "reviewed", "--operator", "alice", "--reason", "checked", "--passphrase-fd", passFD(t, pass)); code != 0 {
		t.Fatalf("served sign: exit %d\n%s%s", code, out, errs)
	}
	if _, out, _ := served(t, ctx, socket, "", "batches", "show", id); !strings.Contains(out, "reviewed by Alice Example") {
		t.Fatalf("batches show after the signature:\n%s", out)
	}
	// The passphrase is in no argument the service logged or recorded.
	all := enginetest.TrailEntries(t, dir, "", "")
	if len(all) < 5 {
		t.Fatalf("%d entries in the whole trail", len(all))
	}
	for _, e := range all {
		if strings.Contains(string(e.Details), pass) {
			t.Fatalf("the passphrase is in entry %d", e.Seq)
		}
	}
}

// TestServedSigningSession: a signing session under `pawl serve` is the
// same as in local mode, read from the trail: `sign --operator` through
// the service opens one bound to the socket's peer (via unix); a later
// `sign` without --operator through the service signs in it, with the
// passphrase from the client's descriptor; `session end` ends it.
func TestServedSigningSession(t *testing.T) {
	dir, socket := servedProject(t)
	cwd := t.TempDir()
	t.Chdir(cwd)
	os.WriteFile("in.jsonl", []byte(good+"\n"), 0o600)
	ctx := context.Background()
	code, out, errs := served(t, ctx, socket, "", "run", "sensor-feed", "-i", "in.jsonl", "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
	var res map[string]any
	if json.Unmarshal([]byte(out), &res); code != 0 || res["batch_id"] == nil {
		t.Fatalf("served run: exit %d\n%s%s", code, out, errs)
	}
	id := res["batch_id"].(string)
	const pass = "correct horse battery staple of the enclave"
	if code, out, errs := served(t, ctx, socket, "", "operator", "add", "alice", "--name", "Alice Example", "--passphrase-fd", passFD(t, pass), "--reason", "QA"); code != 0 {
		t.Fatalf("served operator add: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := served(t, ctx, socket, "", "sign", id, "--meaning", "reviewed", "--operator", "alice", "--passphrase-fd", passFD(t, pass)); code != 0 {
		t.Fatalf("served sign --operator: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := served(t, ctx, socket, "", "session", "show"); code != 0 || !strings.Contains(out, "of operator alice") || !strings.Contains(out, " via unix") {
		t.Fatalf("served session show: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = served(t, ctx, socket, "", "sign", id, "--meaning", "approved", "--reason", "fit", "--passphrase-fd", passFD(t, pass))
	if code != 0 || !strings.Contains(out, "approved by Alice Example (alice)") {
		t.Fatalf("served sign in the session: exit %d\n%s%s", code, out, errs)
	}
	signed := enginetest.TrailEntries(t, dir, "esign.signed", "batch:"+id)
	d, _ := actions.Decode[actions.ESignSignedDetails](signed[len(signed)-1])
	if len(signed) != 2 || d.Session == nil || d.Session.Opened || d.Session.Principal.Via != "unix" || d.Session.Principal.UID != os.Getuid() {
		t.Fatalf("the served session signing on record: %+v", d.Session)
	}
	if code, out, errs := served(t, ctx, socket, "", "session", "end"); code != 0 || !strings.Contains(out, "ended signing session") {
		t.Fatalf("served session end: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := served(t, ctx, socket, "", "sign", id, "--meaning", "responsible", "--passphrase-fd", passFD(t, pass)); code != 1 || !strings.Contains(errs, "sign with --operator ID") {
		t.Fatalf("served sign after the end: exit %d %s", code, errs)
	}
}
