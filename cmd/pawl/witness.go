package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/network"
	"github.com/pawl-dev/pawl/engine/project"

	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/witness"
	"github.com/spf13/cobra"
)

// witnessCmd is `pawl audit witness push`.
func (a *app) witnessCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "witness",
		Short: "Take the trail's checkpoints off the box: push them to witnesses (C2SP tlog-witness)",
	}
	var toDir, fromDir, operator, reason string
	push := &cobra.Command{
		Use: "push [--to-dir DIR | --from-dir DIR]",
		Example: `  pawl audit witness push
  pawl audit witness push --to-dir /media/airgap/witness
  pawl audit witness push --from-dir /media/airgap/witness`,
		Short: "Push the trail's head, with its consistency proof, to every witness of the policy bundle; keep the cosignatures",
		Long: `Push the signed checkpoint of the trail's head to every witness the policy
bundle in force names (data.egress.witnesses), with the consistency proof from
the checkpoint each last cosigned, by the C2SP tlog-witness protocol. Each push
is a policy decision (kind witness) on record; each cosignature is verified
against the witness's key and kept as a witness.cosigned entry, and the
cosigned checkpoint as the witness's latest in the data directory. A witness
that holds another size (409) is retried once from it. A push that does not
end in a cosignature is a witness.push_failed entry with its reason
(unreachable, refused, fork, truncated, garbage, denied): nothing is lost and
the next push tries again. Exit 1 when any push failed, 3 when every push was
denied by the policy.

Across an air gap, --to-dir DIR writes each witness's request to
DIR/<witness id>.request instead of sending it; carry it to the witness, POST
it to <url>/add-checkpoint, write the answer to DIR/<witness id>.response, carry
DIR back and run push --from-dir DIR to verify and keep the cosignatures.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if toDir != "" && fromDir != "" {
				return &usageError{fmt.Errorf("--to-dir and --from-dir are the two ends of one air-gap push: give one")}
			}
			if toDir != "" {
				if err := os.MkdirAll(toDir, 0o755); err != nil {
					return err
				}
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if operator == "" {
				operator = p.Cfg.Operator
			}
			rs, err := witness.Push(c.Context(), p, witness.Options{Operator: operator, Reason: reason, ToDir: toDir, FromDir: fromDir})
			if err != nil {
				return err
			}
			failed, denied := 0, 0
			for _, r := range rs {
				if r.Problem != "" {
					failed++
					if r.Problem == "denied" {
						denied++
					}
				}
			}
			if a.output == "json" {
				if err := a.printJSON(map[string]any{"ok": failed == 0, "results": rs}); err != nil {
					return err
				}
			} else {
				for _, r := range rs {
					switch {
					case r.Problem != "":
						fmt.Fprintf(a.s.out, "%s: FAILED (%s): %s\n", r.Witness, r.Problem, r.Error)
					case r.Written != "":
						fmt.Fprintf(a.s.out, "%s: wrote %s: the checkpoint of %d entries, proof from %d; carry it to the witness and its answer back as %s.response\n", r.Witness, r.Written, r.Size, r.OldSize, r.Witness)
					case r.Cosigned:
						fmt.Fprintf(a.s.out, "%s: cosigned the trail's first %d entries (consistent with the %d it held)\n", r.Witness, r.Size, r.OldSize)
					default:
						fmt.Fprintf(a.s.out, "%s: nothing to read back\n", r.Witness)
					}
				}
			}
			switch {
			case failed > 0 && denied == failed:
				return fmt.Errorf("%w: %d of %d pushes (the decisions are on record)", gate.ErrDenied, denied, len(rs))
			case failed > 0:
				return fmt.Errorf("%d of %d pushes failed (on record as witness.push_failed); the next push tries again", failed, len(rs))
			}
			return nil
		},
	}
	push.Flags().StringVar(&toDir, "to-dir", "", "write each witness's request to `DIR`/<id>.request instead of sending it (an air gap)")
	push.Flags().StringVar(&fromDir, "from-dir", "", "read back `DIR`/<id>.request and the witness's answer DIR/<id>.response")
	push.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	push.Flags().StringVar(&reason, "reason", "", "reason recorded in the audit trail")
	a.addOutputFlag(push)
	c.AddCommand(push)
	return c
}

// commits says whether a command line, run with exit 0, may have committed
// a batch: after those the service pushes the trail's head to the
// witnesses.
func commits(argv []string) bool {
	cmd := commandOf(argv)
	return cmd == "run" || strings.HasPrefix(cmd, "run ") || cmd == "quarantine resubmit"
}

// witnessRetry is how long the service waits, after a push that failed
// (a witness down, an air gap not yet crossed), before it pushes again
// on its own; a commit in the meantime pushes at once.
const witnessRetry = time.Minute

// witnessPusher is the service's after-commit push: trigger asks for a push
// and returns at once (never blocking the command that committed, which has
// already answered its client's commit); one goroutine pushes, taking the
// project lock like any command (so it runs between commands), and
// coalesces triggers that arrive while it pushes into one more push. A push
// that fails is on record (witness.push_failed) and tried again after
// retry, or at the next commit, whichever comes first; a bundle with no
// witnesses makes it do nothing; leaf is the site's running leaf node
// (network.leaf), nil otherwise. wait, for tests and shutdown, returns once
// no push is asked or running. pushed, when not nil, is told after each
// push whether it failed, and closed when the pusher stops with ctx
// (tests).
func witnessPusher(ctx context.Context, root string, cfg config.Config, leaf *network.Leaf, log io.Writer, retry time.Duration, pushed chan<- bool) (trigger func(), wait func()) {
	asked := make(chan struct{}, 1)
	var mu sync.Mutex
	pending := 0
	idle := sync.NewCond(&mu)
	go func() {
		if pushed != nil {
			defer close(pushed)
		}
		var again <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-asked:
			case <-again:
			}
			again = nil
			failed := pushOnce(ctx, root, cfg, log)
			if publishOnce(ctx, root, cfg, leaf, log) {
				failed = true
			} else if fetchOnce(ctx, root, cfg, leaf, log) {
				failed = true
			}
			if failed && retry > 0 {
				again = time.After(retry)
			}
			mu.Lock()
			pending = 0
			if len(asked) > 0 {
				pending = 1
			}
			idle.Broadcast()
			mu.Unlock()
			if pushed != nil {
				pushed <- failed
			}
		}
	}()
	trigger = func() {
		mu.Lock()
		pending = 1
		mu.Unlock()
		select {
		case asked <- struct{}{}:
		default: // a push is already asked: it will see this commit too
		}
	}
	wait = func() {
		mu.Lock()
		for pending > 0 {
			idle.Wait()
		}
		mu.Unlock()
	}
	return trigger, wait
}

// pushOnce pushes to every witness of the bundle in force, if any, and
// says whether any push failed.
func pushOnce(ctx context.Context, root string, cfg config.Config, log io.Writer) (failed bool) {
	// Without witnesses in the bundle in force there is nothing to do:
	// found read-only, so the common case takes no lock and the next
	// command does not wait.
	ro, err := project.OpenReadOnly(ctx, root, cfg)
	if err != nil {
		fmt.Fprintf(log, "pawl serve: witness push: %v\n", err)
		return true
	}
	e, _, err := ro.PolicyInForce(ctx)
	ro.Close()
	if err != nil || len(witness.Pushed(e.Witnesses())) == 0 {
		return false
	}
	p, err := engine.Open(ctx, root, cfg)
	if err != nil {
		fmt.Fprintf(log, "pawl serve: witness push: %v\n", err)
		return true
	}
	defer p.Close()
	rs, err := witness.Push(ctx, p, witness.Options{Operator: gate.EnginePrincipal, Reason: "after a commit"})
	if err != nil {
		fmt.Fprintf(log, "pawl serve: witness push: %v\n", err)
		return true
	}
	for _, r := range rs {
		if r.Problem != "" {
			failed = true
			fmt.Fprintf(log, "pawl serve: witness %s: push failed (%s), on record; the next push retries: %s\n", r.Witness, r.Problem, r.Error)
		} else {
			fmt.Fprintf(log, "pawl serve: witness %s cosigned the trail's first %d entries\n", r.Witness, r.Size)
		}
	}
	return failed
}
