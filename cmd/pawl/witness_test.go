package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/policies"
)

// litewitness is torchwood's witness, run by the test
// (enginetest.StartLitewitness).
type litewitness struct {
	url, vkey string
	enginetest.Litewitness
}

func startLitewitness(t testing.TB, name, origin, logVKey string) litewitness {
	t.Helper()
	w := enginetest.StartLitewitness(t, name, origin, logVKey)
	return litewitness{url: w.URL, vkey: w.VKey, Litewitness: w}
}

// witnessedProject is a new project whose bundle names one witness, w1,
// a litewitness given the trail's key (vkey, as `pawl audit key` prints
// it).
func witnessedProject(t testing.TB) (root, vkey string, w1 litewitness) {
	t.Helper()
	root = t.TempDir()
	mustPawl(t, "init", root, "--single-person")
	vkey = strings.TrimSpace(mustPawl(t, "-C", root, "audit", "key"))
	origin, _, _ := strings.Cut(vkey, "+")
	w1 = startLitewitness(t, "example.com/w1", origin, vkey)
	configureWitnesses(t, root, map[string]map[string]string{"w1": {"url": w1.url, "vkey": w1.vkey}})
	return root, vkey, w1
}

// configureWitnesses writes the witness policy module and
// data.egress.witnesses into the project's bundle and pins it.
func configureWitnesses(t testing.TB, root string, ws map[string]map[string]string) {
	t.Helper()
	dir := filepath.Join(root, "policies")
	if err := fs.WalkDir(policies.WitnessFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.WitnessFS(), p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "data.json")
	var data map[string]any
	if err := json.Unmarshal(mustRead(t, path), &data); err != nil {
		t.Fatal(err)
	}
	data["egress"].(map[string]any)["witnesses"] = ws
	b, _ := json.MarshalIndent(data, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	mustPawl(t, "-C", root, "pin", "--reason", "witnesses") // the tests' projects are --single-person
}

func witnessEntries(t *testing.T, root, action string) []audit.Entry {
	t.Helper()
	tr, err := audit.OpenReadOnly(filepath.Join(root, ".pawl", "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	es, err := tr.Find(t.Context(), action, "")
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestWitnessLitewitness pushes pawl's checkpoints to torchwood's
// litewitness: the first (from 0) and the next, with its consistency
// proof — the push a real witness refused before pawl could prove
// consistency — and checks that the cosignatures are verified, on record,
// and counted by audit verify --witnesses. Then the faults, each refused
// with its reason on record and audit verify green afterwards: a witness
// that answers garbage, one that is down, a forked copy of the trail
// pushed to the same witness; and the attacks: a truncated trail and a
// rewritten one, re-signed with the engine key, fail audit verify (and the
// truncated one is refused by the witness).
func TestWitnessLitewitness(t *testing.T) {
	root, _, w1 := witnessedProject(t)

	// Nothing to require yet: no cosignature.
	if code, _, errs := pawl(t, "", "-C", root, "audit", "verify", "--witnesses", "1"); code != exitNotVerified || !strings.Contains(errs, "does not verify") {
		t.Fatalf("--witnesses 1 before any push: exit %d %s", code, errs)
	}
	out := mustPawl(t, "-C", root, "audit", "witness", "push", "--reason", "first")
	if !strings.Contains(out, "w1: cosigned the trail's first") || !strings.Contains(out, "consistent with the 0 it held") {
		t.Fatalf("first push: %s", out)
	}
	// A copy of the project as it is now, to be grown differently below:
	// a fork of the trail under the same key.
	fork := copyProject(t, root)
	mustPawl(t, "-C", root, "audit", "checkpoint", "--out", filepath.Join(t.TempDir(), "cp"))
	out = mustPawl(t, "-C", root, "audit", "witness", "push", "--output", "json")
	var res struct {
		OK      bool `json:"ok"`
		Results []struct {
			Witness  string `json:"witness"`
			Size     int64  `json:"size"`
			OldSize  int64  `json:"old_size"`
			Cosigned bool   `json:"cosigned"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.OK || len(res.Results) != 1 || !res.Results[0].Cosigned || res.Results[0].OldSize < 2 || res.Results[0].Size <= res.Results[0].OldSize {
		t.Fatalf("second push, with a consistency proof: %v %s", err, out)
	}
	cos := witnessEntries(t, root, actions.WitnessCosigned)
	if len(cos) != 2 {
		t.Fatalf("%d witness.cosigned entries, want 2", len(cos))
	}
	d, err := actions.Decode[actions.WitnessCosignedDetails](cos[1])
	if err != nil || d.Witness != "w1" || d.Name != "example.com/w1" || d.Size != res.Results[0].Size || d.OldSize != res.Results[0].OldSize || d.Decision == "" || d.Via != "https" {
		t.Fatalf("second cosignature on record: %+v %v", d, err)
	}
	if out := mustPawl(t, "-C", root, "audit", "verify", "--witnesses", "1"); !strings.Contains(out, "OK") {
		t.Fatalf("verify --witnesses 1: %s", out)
	}
	if code, _, _ := pawl(t, "", "-C", root, "audit", "verify", "--witnesses", "2"); code != exitNotVerified {
		t.Fatalf("--witnesses 2 with one witness: exit %d", code)
	}

	// The fork, grown past what the witness cosigned since: the witness
	// refuses it (no proof leads from what it cosigned to the fork's
	// head), on record.
	for range 6 {
		mustPawl(t, "-C", fork, "audit", "checkpoint", "--reason", "forked", "--out", filepath.Join(t.TempDir(), "cp"))
	}
	code, out, errs := pawl(t, "", "-C", fork, "audit", "witness", "push")
	if code != 1 || !strings.Contains(out, "w1: FAILED (fork)") {
		t.Fatalf("push of a fork: exit %d\n%s%s", code, out, errs)
	}
	if es := witnessEntries(t, fork, actions.WitnessPushFailed); len(es) != 1 || !strings.Contains(string(es[0].Details), `"problem":"fork"`) {
		t.Fatalf("the fork's refusal on record: %+v", es)
	}

	// Faults: a witness that answers garbage, one that is down.
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "— example.com/w1 bm90IGEgc2lnbmF0dXJl\n")
	}))
	defer garbage.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	configureWitnesses(t, root, map[string]map[string]string{
		"w1":      {"url": w1.url, "vkey": w1.vkey},
		"garbage": {"url": garbage.URL, "vkey": w1.vkey},
		"down":    {"url": downURL, "vkey": w1.vkey},
	})
	code, out, errs = pawl(t, "", "-C", root, "audit", "witness", "push")
	if code != 1 || !strings.Contains(out, "w1: cosigned") || !strings.Contains(out, "garbage: FAILED (garbage)") || !strings.Contains(out, "down: FAILED (unreachable)") {
		t.Fatalf("push with faults: exit %d\n%s%s", code, out, errs)
	}
	if es := witnessEntries(t, root, actions.WitnessPushFailed); len(es) != 2 {
		t.Fatalf("%d witness.push_failed entries, want 2", len(es))
	}
	if out := mustPawl(t, "-C", root, "audit", "verify", "--witnesses", "1"); !strings.Contains(out, "OK") {
		t.Fatalf("verify after the faults: %s", out)
	}

	// The air gap: the request written to a directory, the witness's
	// answer carried back (here by POSTing the very file), read back.
	configureWitnesses(t, root, map[string]map[string]string{"w1": {"url": w1.url, "vkey": w1.vkey}})
	gap := t.TempDir()
	mustPawl(t, "-C", root, "audit", "witness", "push", "--to-dir", gap)
	resp, err := http.Post(w1.url+"/add-checkpoint", "text/plain", bytes.NewReader(mustRead(t, filepath.Join(gap, "w1.request"))))
	if err != nil {
		t.Fatal(err)
	}
	var answer bytes.Buffer
	answer.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("litewitness answered the carried request with %d: %s", resp.StatusCode, answer.String())
	}
	if err := os.WriteFile(filepath.Join(gap, "w1.response"), answer.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustPawl(t, "-C", root, "audit", "witness", "push", "--from-dir", gap); !strings.Contains(out, "w1: cosigned") {
		t.Fatalf("from the air gap: %s", out)
	}
	if es := witnessEntries(t, root, actions.WitnessCosigned); len(es) != 4 || !strings.Contains(string(es[3].Details), `"via":"file"`) {
		t.Fatalf("the air-gap cosignature on record: %d entries", len(es))
	}
	mustPawl(t, "-C", root, "audit", "verify", "--witnesses", "1")

	// The inspectors' package carries the cosignatures (in its entries)
	// and the witness keys the bundle names (witnesses.txt): both
	// verifiers check them, and can require witnesses; a key list that
	// does not name the witness fails both.
	inspectPackageWitnessed(t, root, w1.vkey)

	// Rewritten: entry 3's reason changed, it and every later entry
	// re-hashed (the chain verifies on its own). The cosigned roots are no
	// longer the trail's.
	rewritten := copyProject(t, root)
	rewriteTrail(t, filepath.Join(rewritten, ".pawl", "audit.db"), 3)
	code, out, _ = pawl(t, "", "-C", rewritten, "audit", "verify")
	if code != exitNotVerified || !strings.Contains(out, "the trail was rewritten after it was witnessed") {
		t.Fatalf("a rewritten trail: exit %d\n%s", code, out)
	}

	// Truncated below a cosigned size: audit verify fails (the witness's
	// latest cosigned checkpoint), and the witness refuses the next push.
	last := witnessEntries(t, root, actions.WitnessCosigned)
	ld, err := actions.Decode[actions.WitnessCosignedDetails](last[len(last)-1])
	if err != nil {
		t.Fatal(err)
	}
	cut := ld.Size - 10 // the push appends six entries (three witnesses): still short of what was cosigned
	enginetest.AttackTrail(t, filepath.Join(root, ".pawl", "audit.db"), fmt.Sprintf("DELETE FROM entries WHERE seq > %d", cut))
	code, out, _ = pawl(t, "", "-C", root, "audit", "verify")
	if code != exitNotVerified || !strings.Contains(out, "were deleted") {
		t.Fatalf("a truncated trail: exit %d\n%s", code, out)
	}
	code, out, _ = pawl(t, "", "-C", root, "audit", "witness", "push")
	if code != 1 || !strings.Contains(out, "w1: FAILED (truncated)") {
		_, log, _ := pawl(t, "", "-C", root, "audit", "log")
		t.Fatalf("push of a truncated trail (cut at %d): exit %d\n%s\n%s", cut, code, out, log)
	}
}

// TestWitnessAfterKeyRotation: a third-party witness holds the trail's
// key it was given; after `pawl key rotate` it refuses the checkpoints
// the new key signs (a failed push, on record, and nothing else changes)
// until its operator gives it the new key (`pawl audit key` prints it),
// and then cosigns the next push, proven consistent with the checkpoint
// the old key signed.
func TestWitnessAfterKeyRotation(t *testing.T) {
	root, oldKey, w1 := witnessedProject(t)
	origin, _, _ := strings.Cut(oldKey, "+")
	if out := mustPawl(t, "-C", root, "audit", "witness", "push"); !strings.Contains(out, "w1: cosigned") {
		t.Fatalf("push before the rotation: %s", out)
	}

	mustPawl(t, "-C", root, "key", "rotate", "--reason", "yearly rotation")
	newKey := strings.TrimSpace(mustPawl(t, "-C", root, "audit", "key"))
	if newKey == oldKey || !strings.HasPrefix(newKey, origin+"+") {
		t.Fatalf("audit key after the rotation: %q (before: %q)", newKey, oldKey)
	}
	code, out, errs := pawl(t, "", "-C", root, "audit", "witness", "push")
	if code != 1 || !strings.Contains(out, "w1: FAILED (refused)") || !strings.Contains(out, "the engine key was rotated at entry") || !strings.Contains(out, "-key "+newKey) {
		t.Fatalf("push signed by a key the witness does not know: exit %d\n%s%s", code, out, errs)
	}
	if es := witnessEntries(t, root, actions.WitnessPushFailed); len(es) != 1 {
		t.Fatalf("%d witness.push_failed entries, want 1", len(es))
	}

	w1.AddKey(t, origin, newKey)
	out = mustPawl(t, "-C", root, "audit", "witness", "push", "--output", "json")
	var res struct {
		Results []struct {
			Cosigned bool  `json:"cosigned"`
			OldSize  int64 `json:"old_size"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Results) != 1 || !res.Results[0].Cosigned || res.Results[0].OldSize < 2 {
		t.Fatalf("push once the witness has the new key: %v %s", err, out)
	}
	if out := mustPawl(t, "-C", root, "audit", "verify", "--witnesses", "1"); !strings.Contains(out, "OK") {
		t.Fatalf("verify --witnesses 1 across the rotation: %s", out)
	}
}

// TestPolicyEvalWitnessKind: `pawl policy eval --kind` asks the optional
// kinds too (witness, network, distribute) with the input prepared as pawl
// prepares it: a push to the bundle's witness is allowed, one to another
// URL denied with the module's reason; a kind no module decides is
// refused with the kinds there are.
func TestPolicyEvalWitnessKind(t *testing.T) {
	root := t.TempDir()
	mustPawl(t, "init", root, "--single-person")
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := audit.VerifierKey("example.com/w1", pub)
	if err != nil {
		t.Fatal(err)
	}
	configureWitnesses(t, root, map[string]map[string]string{"w1": {"url": "https://witness.example/w1", "vkey": vkey}})
	input := func(url string) string {
		b, _ := json.Marshal(map[string]any{"time": "2026-11-25T01:00:00+01:00", "principal": map[string]string{"id": "qa-runner"}, "via": "https",
			"witness":    map[string]string{"id": "w1", "url": url, "vkey": vkey},
			"checkpoint": map[string]any{"origin": "pawl.dev/audit/x", "size": 12, "old_size": 3}})
		f := filepath.Join(t.TempDir(), "in.json")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	var res struct {
		Defined bool `json:"defined"`
		Result  struct {
			Allow   bool     `json:"allow"`
			Reasons []string `json:"reasons"`
		} `json:"result"`
	}
	out := mustPawl(t, "-C", root, "policy", "eval", "--kind", "witness", "--input", input("https://witness.example/w1"), "--output", "json")
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Defined || !res.Result.Allow {
		t.Fatalf("a push to the bundle's witness: %v\n%s", err, out)
	}
	out = mustPawl(t, "-C", root, "policy", "eval", "--kind", "witness", "--input", input("https://elsewhere.example/w1"))
	if !strings.Contains(out, "2026-11-25T00:00:00Z") || !strings.Contains(out, `"allow":false`) {
		t.Fatalf("a push elsewhere (the time prepared in UTC, denied):\n%s", out)
	}
	code, _, errs := pawl(t, "", "-C", root, "policy", "eval", "--kind", "witnesses", "--input", input("https://witness.example/w1"))
	if code != exitUsage || !strings.Contains(errs, "[egress plugins classification authz witness network distribute]") {
		t.Fatalf("an unknown kind: exit %d %s", code, errs)
	}
}

// rewriteTrail changes entry seq's reason and re-hashes it and every later
// entry, so that the hash chain verifies again.
func rewriteTrail(t *testing.T, path string, seq int64) {
	t.Helper()
	tr, err := audit.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	es, err := tr.List(t.Context(), audit.Filter{})
	tr.Close()
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	prev := es[seq-2].Hash
	for _, e := range es[seq-1:] {
		if e.Seq == seq {
			e.Reason = "rewritten history"
		}
		e.PrevHash = prev
		e.Hash = audit.ComputeHash(e)
		prev = e.Hash
		stmts = append(stmts, fmt.Sprintf("UPDATE entries SET reason = '%s', prev_hash = '%s', hash = '%s' WHERE seq = %d",
			strings.ReplaceAll(e.Reason, "'", "''"), e.PrevHash, e.Hash, e.Seq))
	}
	enginetest.AttackTrail(t, path, stmts...)
}

// copyProject copies a project with its files' modes (cp -a).
func copyProject(t *testing.T, root string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", root, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	return dst
}

// TestServiceWitnessPushAfterCommit: the service's after-commit push runs
// in the background, takes the project lock like any command, and a push
// that fails (here: the witness is down) is on record, ready to be retried
// by the next; triggers coalesce. Which command lines trigger it.
func TestServiceWitnessPushAfterCommit(t *testing.T) {
	for argv, want := range map[string]bool{
		"run sensor-feed --input x": true, "-C /p run sensor-feed": true, "quarantine resubmit b 2 --file f": true,
		"audit verify": false, "export b --to x": false, "runner": false,
	} {
		if got := commits(strings.Fields(argv)); got != want {
			t.Errorf("commits(%q) = %v", argv, got)
		}
	}
	root := t.TempDir()
	mustPawl(t, "init", root, "--single-person")
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	k, _, _ := ed25519.GenerateKey(nil)
	raw := append([]byte{4}, k...)
	h := sha256.Sum256(append([]byte("example.com/down\n"), raw...))
	vkey := fmt.Sprintf("example.com/down+%x+%s", h[:4], base64.StdEncoding.EncodeToString(raw))
	configureWitnesses(t, root, map[string]map[string]string{"down": {"url": downURL, "vkey": vkey}})
	cfg, err := config.Load(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	lw := &logWriter{b: &bytes.Buffer{}}
	pushed := make(chan bool, 8)
	ctx, stop := context.WithCancel(t.Context())
	trigger, wait := witnessPusher(ctx, root, cfg, nil, lw, time.Millisecond, pushed)
	defer func() {
		stop()
		for range pushed { // until the pusher has stopped touching the project
		}
	}()
	trigger()
	trigger()
	wait()
	es := witnessEntries(t, root, actions.WitnessPushFailed)
	if len(es) < 1 || !strings.Contains(string(es[0].Details), `"problem":"unreachable"`) || es[0].Operator != "pawl-engine" {
		t.Fatalf("after-commit push to a witness that is down: %d entries %+v", len(es), es)
	}
	// A failed push is tried again on its own, without a commit.
	for i := range 2 {
		select {
		case failed := <-pushed:
			if !failed {
				t.Fatalf("push %d to a witness that is down did not fail", i+1)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no push %d: a failed push is not retried", i+1)
		}
	}
	if n := len(witnessEntries(t, root, actions.WitnessPushFailed)); n < 2 {
		t.Fatalf("%d witness.push_failed entries after a retry, want 2 or more", n)
	}
	if l := lw.String(); !strings.Contains(l, "witness down: push failed (unreachable), on record") {
		t.Fatalf("the service's log: %s", l)
	}
}

// logWriter is a goroutine-safe writer for the pusher's log.
type logWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// BenchmarkWitnessPush is the cost of one push of the trail's head to
// torchwood's litewitness on this machine, as `pawl audit witness push`
// does it: open the project, the authz and witness decisions on record,
// the consistency proof from the last cosigned size, the checkpoint
// signed, the HTTP round trip, the cosignature verified and put on record.
// BENCHMARKS.md.
func BenchmarkWitnessPush(b *testing.B) {
	root, _, _ := witnessedProject(b)
	mustPawl(b, "-C", root, "audit", "witness", "push")
	b.ResetTimer()
	for b.Loop() {
		mustPawl(b, "-C", root, "audit", "witness", "push")
	}
}

// inspectPackageWitnessed inspects a project whose trail holds cosignatures
// by the witness with key vkey and checks the package with both verifiers.
func inspectPackageWitnessed(t *testing.T, root, vkey string) {
	t.Helper()
	pkg := filepath.Join(t.TempDir(), "pkg")
	mustPawl(t, "-C", root, "inspect", pkg, "--reason", "witnessed inspection")
	if b := mustRead(t, filepath.Join(pkg, "witnesses.txt")); string(b) != "w1 "+vkey+"\n" {
		t.Fatalf("witnesses.txt: %q", b)
	}
	py := tooltest.Need(t, "python3")
	both := func(dir string, args ...string) (int, string, int, string) {
		t.Helper()
		code, out, errs := pawl(t, "", append([]string{"audit", "verify", "--package", dir}, args...)...)
		c := exec.Command(py, append([]string{filepath.Join(dir, "verify.py"), dir}, args...)...)
		pyOut, _ := c.CombinedOutput()
		return code, out + errs, c.ProcessState.ExitCode(), string(pyOut)
	}
	name, _, _ := strings.Cut(vkey, "+")
	if code, out, pyCode, pyOut := both(pkg, "--witnesses", "1"); code != 0 || pyCode != 0 ||
		!strings.Contains(out, "witnesses: 4 cosignatures verify; "+name) || !strings.Contains(pyOut, "witnesses: 4 cosignatures verify; "+name) {
		t.Fatalf("--witnesses 1: exit %d, %d\npawl: %s\nverify.py: %s", code, pyCode, out, pyOut)
	}
	held := filepath.Join(t.TempDir(), "witness.keys")
	os.WriteFile(held, []byte("# the witness we trust\n"+vkey+"\n"), 0o644)
	if code, out, pyCode, pyOut := both(pkg, "--witness-keys", held, "--witnesses", "1"); code != 0 || pyCode != 0 {
		t.Fatalf("with the held witness key: exit %d, %d\npawl: %s\nverify.py: %s", code, pyCode, out, pyOut)
	}
	for what, c := range map[string]struct {
		args []string
		want string
		code int // pawl's: a package that does not verify, or a key file it cannot read
	}{
		"two required":    {[]string{"--witnesses", "2"}, "2 witness(es) required, 1 cosigned", exitNotVerified},
		"a malformed key": {[]string{"--witness-keys", filepath.Join(t.TempDir(), "bad.keys")}, "line 1: not [ID] NAME+HASH+BASE64", exitError},
	} {
		if what == "a malformed key" {
			os.WriteFile(c.args[1], []byte("example.com/other+00000000+AAAA\n"), 0o644)
		}
		code, out, pyCode, pyOut := both(pkg, c.args...)
		if code != c.code || pyCode != 1 || !strings.Contains(out, c.want) || !strings.Contains(pyOut, c.want) {
			t.Errorf("%s: exit %d, %d, want 1 and %q from both\npawl: %s\nverify.py: %s", what, code, pyCode, c.want, out, pyOut)
		}
	}
	// A well-formed key list that does not name the witness.
	other := filepath.Join(t.TempDir(), "other.keys")
	os.WriteFile(other, []byte(startKeylessVKey(t)+"\n"), 0o644)
	if code, out, pyCode, pyOut := both(pkg, "--witness-keys", other); code != exitNotVerified || pyCode != 1 ||
		!strings.Contains(out, "which the witness keys given do not name") || !strings.Contains(pyOut, "which the witness keys given do not name") {
		t.Errorf("a key list without the witness: exit %d, %d\npawl: %s\nverify.py: %s", code, pyCode, out, pyOut)
	}
	// witnesses.txt swapped for another witness's key: SHA256SUMS fails,
	// and so does every cosignature.
	swapped := filepath.Join(t.TempDir(), "pkg")
	if err := os.CopyFS(swapped, os.DirFS(pkg)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(swapped, "witnesses.txt"), []byte("w1 "+startKeylessVKey(t)+"\n"), 0o644)
	if code, out, pyCode, pyOut := both(swapped); code != exitNotVerified || pyCode != 1 ||
		strings.Count(out, "which witnesses.txt does not name") != 4 || strings.Count(pyOut, "which witnesses.txt does not name") != 4 {
		t.Errorf("a swapped witnesses.txt: exit %d, %d\npawl: %s\nverify.py: %s", code, pyCode, out, pyOut)
	}
}

// startKeylessVKey is a well-formed cosignature/v1 verifier key of a
// witness nobody runs.
func startKeylessVKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append([]byte("example.com/stranger\n"), key...))
	return fmt.Sprintf("example.com/stranger+%x+%s", h[:4], base64.StdEncoding.EncodeToString(key))
}
