package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/review"
)

// ChildEnv marks the crash challenge's child process: a pawl binary (or a
// test binary whose TestMain calls MaybeChild) started with it runs one
// batch in the scratch project it names, kills itself at the point it
// names, and does nothing else.
const ChildEnv = "PAWL_VALIDATE_CRASH_CHILD"

// CrashPoint is where the child dies: the batch.committed entry is in the
// trail (the commit point), its folder still pending, neither checkpoint
// nor signature written.
const CrashPoint = "run.after-audit"

type childSpec struct {
	Root  string `json:"root"`
	Input string `json:"input"`
	Point string `json:"point"`
}

// MaybeChild runs the crash challenge's child when this process is one
// (ChildEnv is set) and exits; otherwise it returns at once. pawl's main
// calls it first.
func MaybeChild() {
	v := os.Getenv(ChildEnv)
	if v == "" {
		return
	}
	var s childSpec
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		fmt.Fprintf(os.Stderr, "pawl validate's crash child: %s: %v\n", ChildEnv, err)
		os.Exit(2)
	}
	failpoint.SetHook(func(name string) {
		if name == s.Point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way; nothing else may run
		}
	})
	ctx := context.Background()
	cfg, err := config.Load(s.Root, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg.Operator = Operator
	p, err := engine.Open(ctx, s.Root, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_, err = ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: s.Input, Reason: "pawl validate: a batch cut short by a crash"})
	fmt.Fprintf(os.Stderr, "the run was not killed at %s: %v\n", s.Point, err)
	os.Exit(1)
}

// crash runs the child on the copy root: it must die by SIGKILL at the
// commit point.
func crash(ctx context.Context, s *Scratch, root string) ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec, _ := json.Marshal(childSpec{Root: root, Input: s.crashInput, Point: CrashPoint})
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), ChildEnv+"="+string(spec))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return nil, fmt.Errorf("the child (%s) was not killed at %s: %v %s", exe, CrashPoint, err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return nil, fmt.Errorf("the child (%s) was not killed at %s: %v %s", exe, CrashPoint, err, out)
	}
	return []string{fmt.Sprintf("child process %s (pid %d) killed by SIGKILL at %s", exe, cmd.Process.Pid, CrashPoint)}, nil
}

func detectCrash(ctx context.Context, s *Scratch, root string) (string, []string, bool) {
	cfg, err := config.Load(root, nil)
	if err != nil {
		return err.Error(), nil, false
	}
	cfg.Operator = Operator
	pending, _ := os.ReadDir(filepath.Join(root, cfg.DataDir, "pending"))
	ev := []string{fmt.Sprintf("before reopening: %d batch(es) pending", len(pending))}
	if len(pending) != 1 {
		return fmt.Sprintf("expected one batch cut short between its commit point and its folder; %d pending: saw no interrupted commit", len(pending)), ev, false
	}
	id := pending[0].Name()
	p, err := engine.Open(ctx, root, cfg) // recovery rolls the batch forward
	if err != nil {
		return "reopening after the crash: " + err.Error(), ev, false
	}
	defer p.Close()
	rep, err := review.Verify(ctx, p)
	if err != nil {
		return "verifying: " + err.Error(), ev, false
	}
	if !rep.OK() {
		return fmt.Sprintf("after recovery the project does not verify: %s %v", rep.Audit.Problem, rep.Problems), ev, false
	}
	if _, err := os.Stat(filepath.Join(p.BatchDir(id), actions.SignatureFile)); err != nil {
		return "after recovery batch " + id + " has no signature: " + err.Error(), ev, false
	}
	ev = append(ev, fmt.Sprintf("reopened: batch %s finished (folder, checkpoint, signature); audit verify: %d entries, %d batches", id, rep.Audit.Entries, rep.Batches))
	again, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: s.crashInput, Reason: "pawl validate: the rerun after the crash"})
	if err != nil {
		return "the rerun: " + err.Error(), ev, false
	}
	es, _ := p.Trail.Find(ctx, actions.BatchCommitted, "batch:"+id)
	ev = append(ev, fmt.Sprintf("rerun: %s, batch %s; %d batch.committed entries for it", again.Status, again.BatchID, len(es)))
	if again.BatchID != id || again.Status != ratchet.StatusAlreadyCommitted || len(es) != 1 {
		return fmt.Sprintf("the rerun was %s as batch %s with %d commit entries, not answered from the one record of %s", again.Status, again.BatchID, len(es), id), ev, false
	}
	return fmt.Sprintf("killed at the commit point; reopened consistent (batch %s finished, the project verifies); the rerun was answered from its one record", id), ev, true
}
