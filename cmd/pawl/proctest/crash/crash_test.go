package crash

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/pawl-dev/pawl/cmd/pawl/proctest"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/egress"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/seal"
)

// buildFailpointPawl builds pawl with -tags failpoints: a binary that
// kills itself at the point PAWL_FAILPOINT names.
func buildFailpointPawl(t *testing.T) string { return proctest.Build(t, "failpoints") }

// crashable runs a command of the failpoint build. With point "" it logs
// the points it passes and must succeed; otherwise it must die of SIGKILL
// at that point. It returns the points passed ("name:N").
func crashable(t *testing.T, bin, point string, args ...string) []string {
	t.Helper()
	return crashableFD(t, bin, point, "", args...)
}

// crashableFD is crashable with a passphrase on file descriptor 3.
func crashableFD(t *testing.T, bin, point, pass string, args ...string) []string {
	t.Helper()
	log := filepath.Join(t.TempDir(), "points")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PAWL_FAILPOINT="+point, "PAWL_FAILPOINT_LOG="+log)
	if pass != "" {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString(pass + "\n")
		w.Close()
		defer r.Close()
		cmd.ExtraFiles = []*os.File{r}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	switch {
	case point == "" && err != nil:
		t.Fatalf("pawl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	case point != "" && !killed:
		t.Fatalf("pawl %s was to die at %s but did not (%v)\n%s", strings.Join(args, " "), point, err, out.String())
	}
	var passed []string
	if f, err := os.Open(log); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			passed = append(passed, sc.Text())
		}
		f.Close()
	}
	return passed
}

// TestCrashAtEveryPoint kills a real pawl process at each crash point of
// each protocol that writes — run and commit, recovery itself, export,
// resubmission, replay, pin, enrolment, signing, a passphrase change — in
// turn, and checks after each that the project is whole: the trail
// verifies, no batch without its signature or signature without its audit
// entry, nothing committed lost, nothing exported without a record, and a
// rerun finishes the work.
func TestCrashAtEveryPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pawl with -tags failpoints and kills it at every point")
	}
	bin := buildFailpointPawl(t)
	dir := t.TempDir()
	// Init, killed at each of its points, then run again: it starts over.
	initPoints := crashable(t, bin, "", "init", filepath.Join(t.TempDir(), "p"), "--operator", "alice")
	if len(initPoints) < 6 {
		t.Fatalf("init passed only %v", initPoints)
	}
	for i, pt := range initPoints {
		d := filepath.Join(t.TempDir(), fmt.Sprintf("p%d", i))
		crashable(t, bin, pt, "init", d, "--operator", "alice")
		if code, _, errs := proctest.Pawl(t, "-C", d, "batches", "list"); code == 0 || (!strings.Contains(errs, "pawl init") && !strings.Contains(errs, "not a pawl project")) {
			t.Errorf("init killed at %s: a command on the half-made project: exit %d, %s", pt, code, errs)
		}
		proctest.MustPawl(t, "init", d, "--operator", "alice")
		crashWhole(t, d)
	}
	t.Logf("init: killed at each of %d points", len(initPoints))
	crashable(t, bin, "", "init", dir, "--operator", "alice", "--role", "approver=policy_admin",
		"--role", "olga=approver,operator,policy_admin,reviewer")
	enginetest.UseTestCacheKey(t, filepath.Join(dir, project.DefaultDataDir))
	inputs := t.TempDir()
	input := func(seed uint64) string {
		p := filepath.Join(inputs, fmt.Sprintf("in-%d.jsonl", seed))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// 700 records: two chunks, so a batch is more than one write.
		if err := demo.GenerateSensorReadings(f, demo.GenOptions{Records: 700, Seed: seed, AsOf: proctest.DemoAsOf, FailureRate: 0.05}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	runArgs := func(in string) []string {
		return []string{"-C", dir, "run", "sensor-feed", "-i", in, "--as-of", "2026-11-25T00:00:00Z"}
	}
	statusOf := func(in string) string {
		out := proctest.MustPawl(t, append(runArgs(in), "--output", "json")...)
		var r struct {
			Status string `json:"status"`
		}
		json.Unmarshal([]byte(out), &r)
		return r.Status
	}

	// Run and commit. Learn the points from a run that is not killed.
	runPoints := crashable(t, bin, "", runArgs(input(1000))...)
	if len(runPoints) < 10 {
		t.Fatalf("a run passed only %d crash points: %v", len(runPoints), runPoints)
	}
	committedFrom := -1 // the first point at which the batch is committed
	for i, pt := range runPoints {
		if strings.HasPrefix(pt, "run.after-audit:") {
			committedFrom = i
		}
	}
	if committedFrom < 0 {
		t.Fatalf("no run.after-audit among the points %v", runPoints)
	}
	// The example job's zscore keeps state: its state_out is stored before
	// the commit point, and a kill there must leave state and trail
	// consistent (crashWhole's audit verify checks the job's chain of
	// states, and the rerun commits against the state on record).
	stateStored := -1
	for i, pt := range runPoints {
		if strings.HasPrefix(pt, "run.state-stored:") {
			stateStored = i
		}
	}
	if stateStored < 0 || stateStored > committedFrom {
		t.Fatalf("run.state-stored is not among the points before the commit point: %v", runPoints)
	}
	for i, pt := range runPoints {
		in := input(uint64(i))
		crashable(t, bin, pt, runArgs(in)...)
		crashWhole(t, dir)
		want := "committed"
		if i >= committedFrom {
			want = "already_committed" // the audit entry is the commit point: it survived, recovery finished it
		}
		if got := statusOf(in); got != want {
			t.Errorf("killed at %s: a rerun says %q, want %q", pt, got, want)
		}
	}
	t.Logf("run: killed at each of %d points", len(runPoints))

	// Recovery itself, killed at each of its points.
	var recoverPoints []string
	{
		in := input(2000)
		crashable(t, bin, "run.after-audit:1", runArgs(in)...)
		recoverPoints = crashable(t, bin, "", "-C", dir, "batches", "list")
		statusOf(in)
	}
	if len(recoverPoints) < 3 {
		t.Fatalf("recovery passed only %v", recoverPoints)
	}
	for i, pt := range recoverPoints {
		in := input(uint64(3000 + i))
		crashable(t, bin, "run.after-audit:1", runArgs(in)...)
		crashable(t, bin, pt, "-C", dir, "batches", "list") // recovery dies too
		crashWhole(t, dir)
		if got := statusOf(in); got != "already_committed" {
			t.Errorf("recovery killed at %s: a rerun says %q", pt, got)
		}
	}
	t.Logf("recovery: killed at each of %d points", len(recoverPoints))

	// Export to an outbox, killed at each point, then retried.
	batch := proctest.CommittedBatch(t, dir)
	outbox := t.TempDir()
	proctest.Whitelist(t, dir, "outbox", "file://"+outbox+"/", "internal")
	exportArgs := func(sub string) []string {
		return []string{"-C", dir, "export", batch, "--to", "file://" + outbox + "/" + sub + "/", "--operator", "alice"}
	}
	exportPoints := crashable(t, bin, "", exportArgs("clean")...)
	if len(exportPoints) < 7 {
		t.Fatalf("an export passed only %v", exportPoints)
	}
	for i, pt := range exportPoints {
		sub := fmt.Sprintf("x%d", i)
		before := len(enginetest.TrailEntries(t, dir, actions.BatchExportStarted, "batch:"+batch))
		crashable(t, bin, pt, exportArgs(sub)...)
		crashWhole(t, dir)
		dest := filepath.Join(outbox, sub)
		if ents, _ := os.ReadDir(dest); len(ents) > 0 && len(enginetest.TrailEntries(t, dir, actions.BatchExportStarted, "batch:"+batch)) == before {
			t.Errorf("killed at %s: %d files reached %s with no export on record", pt, len(ents), dest)
		}
		if _, err := os.Stat(filepath.Join(dest, actions.SignatureFile)); err == nil {
			for _, n := range egress.Files {
				if _, err := os.Stat(filepath.Join(dest, n)); err != nil {
					t.Errorf("killed at %s: signature.json reached the outbox before %s", pt, n)
				}
			}
		}
		proctest.MustPawl(t, exportArgs(sub)...) // the retry finishes it
		proctest.MustPawl(t, "-C", dir, "verify-signature", filepath.Join(dest, actions.SignatureFile))
		if ents, _ := os.ReadDir(dest); len(ents) != len(egress.Files) {
			t.Errorf("killed at %s: after the retry %s holds %d files, want %d", pt, dest, len(ents), len(egress.Files))
		}
	}
	t.Logf("export: killed at each of %d points", len(exportPoints))

	// Resubmission, replay and pin.
	q := proctest.QuarantinedOrdinals(t, dir, batch)[0]
	fixed := filepath.Join(t.TempDir(), "fixed.json")
	os.WriteFile(fixed, []byte(proctest.Good), 0o644)
	resubmit := []string{"-C", dir, "quarantine", "resubmit", batch, fmt.Sprint(q), "--file", fixed, "--reason", "corrected at the source"}
	for _, c := range []struct {
		name  string
		args  []string
		point string
	}{
		{"resubmit", resubmit, "commit.after-rename:1"},
		{"resubmit", resubmit, "resubmit.before-record:1"},
		{"replay", []string{"-C", dir, "audit", "replay", batch}, "replay.before-record:1"},
	} {
		crashable(t, bin, c.point, c.args...)
		crashWhole(t, dir)
		proctest.MustPawl(t, c.args...)
		crashWhole(t, dir)
	}
	if es := enginetest.TrailEntries(t, dir, actions.RecordResubmitted, "batch:"+batch); len(es) == 0 {
		t.Error("the resubmission is not on record after its retry")
	}

	job := filepath.Join(dir, "jobs", "sensor-feed.yaml")
	b, _ := os.ReadFile(job)
	os.WriteFile(job, append(b, []byte("# reviewed\n")...), 0o644)
	crashable(t, bin, "pin.after-record:1", "-C", dir, "pin", "--reason", "comment")
	crashWhole(t, dir)
	if out := proctest.MustPawl(t, "-C", dir, "pin", "--reason", "comment, again"); !strings.Contains(out, "jobs/sensor-feed.yaml") {
		t.Errorf("after a pin killed before pawl.lock was written, the next pin does not find the change:\n%s", out)
	}
	// plugin add: on record first; killed before pawl.lock is written, the
	// next add completes it.
	module := filepath.Join("..", "..", "..", "..", "engine", "sandbox", "testdata", "ok.wasm")
	crashable(t, bin, "plugin-add.after-record:1", "-C", dir, "plugin", "add", module)
	crashWhole(t, dir)
	out := proctest.MustPawl(t, "-C", dir, "plugin", "add", module)
	if !strings.HasPrefix(out, "pinned ") {
		t.Fatalf("after a plugin add killed before pawl.lock was written, the next add does not pin it:\n%s", out)
	}
	plugin := strings.Fields(out)[1]
	// Approval: on record first; killed before data.json is written, the
	// next approval completes it.
	approve := []string{"-C", dir, "policy", "approve-plugin", plugin, "--reason", "reviewed"}
	crashable(t, bin, "approve.after-record:1", approve...)
	crashWhole(t, dir)
	proctest.MustPawl(t, approve...)
	if b, _ := os.ReadFile(filepath.Join(dir, "policies", "data.json")); !strings.Contains(string(b), plugin[:strings.Index(plugin, "@")]) {
		t.Errorf("the approval of %s is not in data.json after its retry", plugin)
	}
	if es := enginetest.TrailEntries(t, dir, actions.PluginApproved, "plugin:"+plugin); len(es) != 2 {
		t.Errorf("%d approvals of %s on record, want the interrupted one and its completion", len(es), plugin)
	}
	// The two-person rule holds the approval back: a proposed change,
	// applied below once a second person has approved it.
	proposed := proctest.MustPawl(t, "-C", dir, "pin", "--reason", "approval")
	chg := regexp.MustCompile(`change (chg-[0-9a-f]{12})`).FindStringSubmatch(proposed)
	if chg == nil || !strings.Contains(proposed, "NOT in force") {
		t.Fatalf("the plugin approval was not held back by the two-person rule:\n%s", proposed)
	}
	if es := enginetest.TrailEntries(t, dir, actions.PluginAdded, ""); len(es) < 2 || es[len(es)-1].Object != es[len(es)-2].Object {
		t.Errorf("the interrupted addition and its completion are not both on record")
	}
	// Operator enrolment (key file first, then the entry), e-signing (one
	// entry) and a checkpoint (the entry, then the file).
	const pass = "a long enough pass phrase"
	enrol := []string{"-C", dir, "operator", "add", "olga", "--name", "Olga Example", "--reason", "reviewer", "--passphrase-fd", "3"}
	crashableFD(t, bin, "enrol.after-keyfile:1", pass, enrol...)
	crashWhole(t, dir)
	if code, out, errs := proctest.PawlPass(t, pass, enrol...); code != 0 {
		t.Fatalf("enrolment after one cut short: exit %d\n%s%s", code, out, errs)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, ".pawl", "operators", "olga.key.unenrolled-*")); len(aside) != 1 {
		t.Errorf("the key file of the enrolment cut short was not set aside: %v", aside)
	}
	sign := []string{"-C", dir, "sign", batch, "--meaning", "reviewed", "--operator", "olga", "--passphrase-fd", "3"}
	crashableFD(t, bin, "sign.before-record:1", pass, sign...)
	crashWhole(t, dir)
	if es := enginetest.TrailEntries(t, dir, actions.ESignSigned, "batch:"+batch); len(es) != 0 {
		t.Errorf("a signature cut short before its entry is on record: %d", len(es))
	}
	if code, out, errs := proctest.PawlPass(t, pass, sign...); code != 0 {
		t.Fatalf("signing again: exit %d\n%s%s", code, out, errs)
	}
	// A passphrase change: the new key file staged, the entry, the rename.
	// Killed before the entry, nothing is on record and the old passphrase
	// stays in force; killed after it, the change is on record and the next
	// use of the key puts the new file in place.
	const newPass = "violet anchor meadow drizzle"
	passwd := []string{"-C", dir, "operator", "passwd", "olga", "--passphrase-fd", "3"}
	pending := filepath.Join(dir, ".pawl", "operators", "olga.key.pending")
	crashableFD(t, bin, "passwd.after-keyfile:1", pass+"\n"+newPass, passwd...)
	crashWhole(t, dir)
	if es := enginetest.TrailEntries(t, dir, actions.OperatorPassphraseChanged, "operator:olga"); len(es) != 0 {
		t.Errorf("a change killed before its entry is on record: %d", len(es))
	}
	// One signature per meaning per person: the next ones mean more.
	sign = []string{"-C", dir, "sign", batch, "--meaning", "responsible", "--operator", "olga", "--passphrase-fd", "3"}
	if code, out, errs := proctest.PawlPass(t, pass, sign...); code != 0 {
		t.Fatalf("the old passphrase after a change killed before its entry: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(pending); !os.IsNotExist(err) {
		t.Errorf("the key file staged by a change that never went on record is left: %v", err)
	}
	crashableFD(t, bin, "passwd.after-record:1", pass+"\n"+newPass, passwd...)
	crashWhole(t, dir)
	if es := enginetest.TrailEntries(t, dir, actions.OperatorPassphraseChanged, "operator:olga"); len(es) != 1 {
		t.Errorf("a change killed after its entry: %d entries", len(es))
	}
	sign = []string{"-C", dir, "sign", batch, "--meaning", "approved", "--reason", "fit", "--operator", "olga", "--passphrase-fd", "3"}
	if code, out, errs := proctest.PawlPass(t, newPass, sign...); code != 0 {
		t.Fatalf("the new passphrase after a change killed after its entry: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(pending); !os.IsNotExist(err) {
		t.Errorf("the staged key file of a change on record was not put in place: %v", err)
	}

	// The change approved by olga, a second person; its application
	// killed after its pin.changed entry, before pawl.lock: the next `pawl
	// pin` finishes it, and it is in force.
	if code, out, errs := proctest.PawlPass(t, newPass, "-C", dir, "change", "approve", chg[1], "--operator", "olga", "--reason", "reviewed the plugin", "--passphrase-fd", "3"); code != 0 {
		t.Fatalf("approving the change: exit %d\n%s%s", code, out, errs)
	}
	crashable(t, bin, "pin.after-record:1", "-C", dir, "change", "apply", chg[1])
	crashWhole(t, dir)
	proctest.MustPawl(t, "-C", dir, "pin", "--reason", "finish the change")
	if list := proctest.MustPawl(t, "-C", dir, "change", "list"); !strings.Contains(list, chg[1]+"  applied") {
		t.Errorf("the change applied before a kill is not in force after `pawl pin`:\n%s", list)
	}

	// The plugin's approval revoked and its pin removed: each on record
	// first; killed before data.json or pawl.lock is written, the same
	// command again completes it, and a run afterwards goes through.
	revoke := []string{"-C", dir, "policy", "revoke-plugin", plugin, "--reason", "withdrawn"}
	crashable(t, bin, "revoke.after-record:1", revoke...)
	crashWhole(t, dir)
	proctest.MustPawl(t, revoke...)
	if b, _ := os.ReadFile(filepath.Join(dir, "policies", "data.json")); strings.Contains(string(b), plugin[:strings.Index(plugin, "@")]) {
		t.Errorf("%s is still approved in data.json after its revocation's retry", plugin)
	}
	if es := enginetest.TrailEntries(t, dir, actions.PluginRevoked, "plugin:"+plugin); len(es) != 2 {
		t.Errorf("%d revocations of %s on record, want the interrupted one and its completion", len(es), plugin)
	}
	remove := []string{"-C", dir, "plugin", "remove", plugin, "--reason", "withdrawn"}
	crashable(t, bin, "plugin-remove.after-record:1", remove...)
	crashWhole(t, dir)
	proctest.MustPawl(t, remove...)
	if b, _ := os.ReadFile(filepath.Join(dir, "pawl.lock")); strings.Contains(string(b), plugin) {
		t.Errorf("%s is still pinned in pawl.lock after its removal's retry", plugin)
	}
	if es := enginetest.TrailEntries(t, dir, actions.PluginRemoved, "plugin:"+plugin); len(es) != 2 {
		t.Errorf("%d removals of %s on record, want the interrupted one and its completion", len(es), plugin)
	}
	// The bundle changed: in force once olga approves it.
	withdrawn := regexp.MustCompile(`change (chg-[0-9a-f]{12})`).FindStringSubmatch(proctest.MustPawl(t, "-C", dir, "pin", "--reason", "the plugin withdrawn"))
	if withdrawn == nil {
		t.Fatal("the withdrawal was not proposed as a change")
	}
	if code, out, errs := proctest.PawlPass(t, newPass, "-C", dir, "change", "approve", withdrawn[1], "--operator", "olga", "--reason", "withdrawn", "--passphrase-fd", "3"); code != 0 {
		t.Fatalf("approving the withdrawal: exit %d\n%s%s", code, out, errs)
	}
	proctest.MustPawl(t, "-C", dir, "change", "apply", withdrawn[1])
	proctest.MustPawl(t, runArgs(input(6000))...)
	crashWhole(t, dir)

	cp := filepath.Join(t.TempDir(), "head.checkpoint")
	crashable(t, bin, "checkpoint.after-record:1", "-C", dir, "audit", "checkpoint", "--out", cp)
	crashWhole(t, dir)
	proctest.MustPawl(t, "-C", dir, "audit", "checkpoint", "--out", cp)
	proctest.MustPawl(t, "-C", dir, "audit", "verify", "--checkpoint", cp)

	// Key rotation: the new key staged, the entry (the commit point), the
	// old key scrubbed, the new one put in place. Killed before the entry,
	// the old key stays in force and the staged one is removed; killed
	// after it, the next open puts the new key in place. Either way a run
	// afterwards signs with the key the trail has in force, and every
	// signature made before verifies with its own key.
	rotate := []string{"-C", dir, "key", "rotate", "--reason", "crash test"}
	for i, pt := range []string{"rotate.after-stage:1", "rotate.after-record:1", "rotate.after-scrub:1", "rotate.after-install:1"} {
		before := len(enginetest.TrailEntries(t, dir, actions.EngineKeyRotated, actions.EngineKeyObject))
		crashable(t, bin, pt, rotate...)
		crashWhole(t, dir)
		after := len(enginetest.TrailEntries(t, dir, actions.EngineKeyRotated, actions.EngineKeyObject))
		if want := before + min(i, 1); after != want {
			t.Errorf("killed at %s: %d rotations on record, want %d", pt, after, want)
		}
		if _, err := os.Stat(filepath.Join(dir, ".pawl", "keys", seal.NextFile)); !os.IsNotExist(err) {
			t.Errorf("killed at %s: the staged key is left after the next open: %v", pt, err)
		}
		proctest.MustPawl(t, runArgs(input(uint64(7000+i)))...)
		crashWhole(t, dir)
	}

	proctest.MustPawl(t, runArgs(input(9999))...)
	crashWhole(t, dir)
}

// crashWhole checks a project after a kill, through the normal binary:
// opening it recovers; then the trail and every batch verify, nothing is
// pending, every batch folder has its signature, every signature its entry.
func crashWhole(t *testing.T, dir string) {
	t.Helper()
	// audit verify writes nothing, so it does not recover: a command that
	// opens the project for writing does.
	if code, out, errs := proctest.Pawl(t, "-C", dir, "batches", "list"); code != 0 {
		t.Fatalf("opening after a kill: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs := proctest.Pawl(t, "-C", dir, "audit", "verify")
	if code != 0 {
		t.Fatalf("audit verify after a kill: exit %d\n%s%s", code, out, errs)
	}
	data := filepath.Join(dir, ".pawl")
	if pend, _ := os.ReadDir(filepath.Join(data, "pending")); len(pend) != 0 {
		t.Fatalf("pending work left after recovery: %v", pend)
	}
	committed := map[string]bool{}
	for _, e := range enginetest.TrailEntries(t, dir, actions.BatchCommitted, "") {
		committed[strings.TrimPrefix(e.Object, "batch:")] = true
	}
	batches, _ := os.ReadDir(filepath.Join(data, "batches"))
	for _, b := range batches {
		if !committed[b.Name()] {
			t.Fatalf("batch folder %s has no audit entry", b.Name())
		}
		if _, err := seal.VerifyFile(filepath.Join(data, "batches", b.Name(), actions.SignatureFile), nil); err != nil {
			t.Fatalf("batch %s: %v", b.Name(), err)
		}
	}
	if len(batches) != len(committed) {
		t.Fatalf("%d batch folders, %d batches on record", len(batches), len(committed))
	}
}
