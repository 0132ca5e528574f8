package kill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/cmd/pawl/proctest"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/seal"
)

// TestSIGKILLAtRandomPoints kills `pawl run` with SIGKILL at random moments
// of many runs and checks after each that the project is whole: no batch
// folder without its signature, no pending work left once the project is
// reopened, an audit trail that verifies, counts that add up, and a rerun
// that commits.
func TestSIGKILLAtRandomPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it many times")
	}
	bin := proctest.BuildPawl(t)
	dir := t.TempDir()
	proctest.MustPawl(t, "init", dir, "--role", "approver=policy_admin")
	inputs := t.TempDir()
	rng := rand.New(rand.NewPCG(11, 12))

	// How long does one run take here? Kill points are spread over it.
	// The first run compiles the plugins into the cache; time a warm one.
	timeRun(t, bin, dir, proctest.WriteGen(t, inputs, 0))
	full := timeRun(t, bin, dir, proctest.WriteGen(t, inputs, 25))
	const runs = 16
	killed := 0
	for i := 1; i <= runs; i++ {
		in := proctest.WriteGen(t, inputs, uint64(i%20)) // inputs repeat: reruns of committed and of killed batches
		cmd := exec.Command(bin, "-C", dir, "run", "sensor-feed", "-i", in, "--as-of", "2026-11-25T00:00:00Z")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(full)))
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("run %d failed before it was killed: %v\n%s", i, err, errb.String())
			}
		case <-time.After(delay):
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			killed++
		}
		checkWhole(t, bin, dir)
	}
	t.Logf("%d of %d runs were killed mid-way (one run takes %v here)", killed, runs, full)
	if killed < runs/4 {
		t.Errorf("only %d of %d runs were killed mid-way; the kill points do not cover the runs", killed, runs)
	}
	// Every input commits on a rerun, and the counts add up.
	for s := uint64(0); s < 20; s++ {
		out, err := exec.Command(bin, "-C", dir, "run", "sensor-feed", "-i", proctest.WriteGen(t, inputs, s), "--output", "json").Output()
		if err != nil {
			t.Fatalf("rerun of input %d: %v", s, err)
		}
		var r struct {
			Status                    string
			In, Verified, Quarantined int64
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		r.Status, _ = m["status"].(string)
		r.In = int64(m["records_in"].(float64))
		r.Verified = int64(m["records_verified"].(float64))
		r.Quarantined = int64(m["records_quarantined"].(float64))
		if (r.Status != "committed" && r.Status != "already_committed") || r.In != proctest.KillRecords || r.Verified+r.Quarantined != r.In {
			t.Fatalf("input %d after the kills: %+v", s, r)
		}
	}
	checkWhole(t, bin, dir)
	killOthers(t, bin, dir, rng)
}

// killOthers kills export, sign and resubmit at random moments too, and
// checks after each kill that the project is whole and that a retry
// finishes the work.
func killOthers(t *testing.T, bin, dir string, rng *rand.Rand) {
	batch := proctest.CommittedBatch(t, dir)
	outbox := t.TempDir()
	proctest.Whitelist(t, dir, "outbox", "file://"+outbox+"/", "internal")
	const pass = "a long enough pass phrase"
	// One signer per attempt: a person signs a meaning once, so a retry
	// after a kill that signed would be refused by policy, not tested.
	for _, i := range []int{100, 0, 1, 2, 3, 4, 5} {
		id := fmt.Sprintf("signer%d", i)
		if code, out, errs := proctest.PawlPass(t, pass, "-C", dir, "operator", "add", id, "--name", fmt.Sprintf("Signer Number %d", i), "--reason", "reviewer", "--passphrase-fd", "3"); code != 0 {
			t.Fatalf("operator add: exit %d\n%s%s", code, out, errs)
		}
		proctest.MustPawl(t, "-C", dir, "operator", "grant", id, "reviewer", "--reason", "reviews")
	}
	proctest.PinTwoPerson(t, dir, "the signers' roles")
	fixed := filepath.Join(t.TempDir(), "fixed.json")
	os.WriteFile(fixed, []byte(proctest.Good), 0o644)
	qs := proctest.QuarantinedOrdinals(t, dir, batch)
	cases := []struct {
		name  string
		args  func(i int) []string
		stdin string // the passphrase, on fd 3
		after func(i int)
	}{
		{"export", func(i int) []string {
			return []string{"-C", dir, "export", batch, "--to", fmt.Sprintf("file://%s/k%d/", outbox, i)}
		}, "", func(i int) {
			dest := filepath.Join(outbox, fmt.Sprintf("k%d", i))
			if ents, _ := os.ReadDir(dest); len(ents) > 0 && len(enginetest.TrailEntries(t, dir, actions.BatchExportStarted, "batch:"+batch)) == 0 {
				t.Fatalf("files reached %s with no export on record", dest)
			}
			proctest.MustPawl(t, "-C", dir, "export", batch, "--to", fmt.Sprintf("file://%s/k%d/", outbox, i))
			proctest.MustPawl(t, "-C", dir, "verify-signature", filepath.Join(dest, actions.SignatureFile))
		}},
		{"sign", func(i int) []string {
			return []string{"-C", dir, "sign", batch, "--meaning", "reviewed", "--operator", fmt.Sprintf("signer%d", i), "--passphrase-fd", "3"}
		}, pass, nil},
		{"resubmit", func(i int) []string {
			return []string{"-C", dir, "quarantine", "resubmit", batch, fmt.Sprint(qs[i%len(qs)]), "--file", fixed, "--reason", "corrected"}
		}, "", func(i int) {
			proctest.MustPawl(t, "-C", dir, "quarantine", "resubmit", batch, fmt.Sprint(qs[i%len(qs)]), "--file", fixed, "--reason", "corrected")
		}},
	}
	for _, c := range cases {
		full := timeCmd(t, bin, c.args(100), c.stdin)
		killed := 0
		for i := 0; i < 6; i++ {
			cmd := exec.Command(bin, c.args(i)...)
			if c.stdin != "" {
				r, w, _ := os.Pipe()
				w.WriteString(c.stdin + "\n")
				w.Close()
				cmd.ExtraFiles = []*os.File{r}
				defer r.Close()
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-exited:
			case <-time.After(time.Duration(rng.Int64N(int64(full)))):
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				killed++
			}
			checkWhole(t, bin, dir)
			if c.after != nil {
				c.after(i)
			}
		}
		t.Logf("%s: %d of 6 killed mid-way (one takes %v here)", c.name, killed, full)
	}
}

// timeCmd times one run of a command (stdin: the passphrase on fd 3).
func timeCmd(t *testing.T, bin string, args []string, stdin string) time.Duration {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if stdin != "" {
		r, w, _ := os.Pipe()
		w.WriteString(stdin + "\n")
		w.Close()
		cmd.ExtraFiles = []*os.File{r}
		defer r.Close()
	}
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pawl %v: %v\n%s", args, err, out)
	}
	return time.Since(start)
}

// TestProgressBarOnlyOnATerminal: on a terminal, stderr shows the bar;
// otherwise stderr stays empty.
func TestProgressBarOnlyOnATerminal(t *testing.T) {
	tooltest.Need(t, "script") // gives pawl a terminal
	bin := proctest.BuildPawl(t)
	dir := t.TempDir()
	proctest.MustPawl(t, "init", dir)
	in := proctest.WriteGen(t, t.TempDir(), 1)
	var errb bytes.Buffer
	cmd := exec.Command(bin, "-C", dir, "run", "sensor-feed", "-i", in)
	cmd.Stderr = &errb
	if out, err := cmd.Output(); err != nil || !bytes.Contains(out, []byte("COMMITTED")) {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if errb.Len() != 0 {
		t.Fatalf("stderr is not a terminal, yet pawl wrote to it: %q", errb.String())
	}
	proctest.MustPawl(t, "init", dir+"2")
	out, err := exec.Command("script", "-qec", bin+" -C "+dir+"2 run sensor-feed -i "+in, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("run on a terminal: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`\r\[[=> ]{30}\] +\d+%  [0-9.]+ [KM]iB of [0-9.]+ MiB  [0-9,]+ records/s`).Match(out) {
		t.Fatalf("no progress bar on the terminal:\n%q", out)
	}
}

func timeRun(t *testing.T, bin, dir, in string) time.Duration {
	t.Helper()
	start := time.Now()
	out, err := exec.Command(bin, "-C", dir, "run", "sensor-feed", "-i", in, "--as-of", "2026-11-25T00:00:00Z").CombinedOutput()
	if err != nil {
		t.Fatalf("timing run: %v\n%s", err, out)
	}
	return time.Since(start)
}

// checkWhole opens the project (which recovers; audit verify writes
// nothing and so does not) and checks the invariants.
func checkWhole(t *testing.T, bin, dir string) {
	t.Helper()
	if out, err := exec.Command(bin, "-C", dir, "batches", "list").CombinedOutput(); err != nil {
		t.Fatalf("opening after a kill: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-C", dir, "audit", "verify").CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify after a kill: %v\n%s", err, out)
	}
	data := filepath.Join(dir, ".pawl")
	if pend, _ := os.ReadDir(filepath.Join(data, "pending")); len(pend) != 0 {
		t.Fatalf("pending work left after recovery: %v", pend)
	}
	batches, _ := os.ReadDir(filepath.Join(data, "batches"))
	for _, b := range batches {
		sig := filepath.Join(data, "batches", b.Name(), actions.SignatureFile)
		chk, err := seal.VerifyFile(sig, nil)
		if err != nil {
			t.Fatalf("batch %s: %v", b.Name(), err)
		}
		r := chk.Signature.Result
		if r.Verified+r.Quarantined != r.RecordsIn || len(chk.Outputs) != 2 {
			t.Fatalf("batch %s: counts %+v, outputs %v", b.Name(), r, chk.Outputs)
		}
	}
}

// TestSameBatchInTwoProcesses: the same input, run by two processes with 1
// and 4 workers in two projects, gives byte-identical outputs (plugins
// included: their clocks and randomness come from the batch).
func TestSameBatchInTwoProcesses(t *testing.T) {
	bin := proctest.BuildPawl(t)
	in := proctest.WriteGen(t, t.TempDir(), 3)
	var outs []map[string]any
	for _, w := range []string{"1", "4"} {
		dir := t.TempDir()
		proctest.MustPawl(t, "init", dir)
		out, err := exec.Command(bin, "-C", dir, "run", "sensor-feed", "-i", in, "--workers", w, "--as-of", "2026-11-25T00:00:00Z", "--output", "json").Output()
		if err != nil {
			t.Fatalf("workers %s: %v", w, err)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, m)
	}
	if outs[0]["batch_id"] != outs[1]["batch_id"] {
		t.Fatalf("batch ids differ: %v %v", outs[0]["batch_id"], outs[1]["batch_id"])
	}
	for _, name := range []string{"verified.jsonl", "quarantine.jsonl"} {
		a := outs[0]["outputs"].(map[string]any)[name].(map[string]any)["hash"]
		b := outs[1]["outputs"].(map[string]any)[name].(map[string]any)["hash"]
		if a != b || a == nil {
			t.Errorf("%s: %v vs %v", name, a, b)
		}
	}
	if outs[0]["records_quarantined"].(float64) == 0 {
		t.Fatal("nothing was quarantined: the comparison proves little")
	}
}
