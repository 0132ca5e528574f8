package main

import (
	"fmt"

	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/spf13/cobra"
)

func (a *app) stateCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "state",
		Short: "Show a job's plugin state, or reset it (an approver's action, with a reason)",
		Long: `A job whose plugins keep state (docs/plugin-abi.md §8) judges each batch
against what its earlier batches taught them: the job's state is the
state_out of its last committed batch. 'pawl state show JOB' shows it.
'pawl state reset JOB --reason TEXT' throws it away: the job's next batch
starts from the empty state, so the plugins' checks are weaker until they
have learnt again. A reset is an approver's action (authz action
state.reset), needs a reason, and is on record (state.reset, with the state
it replaced); 'pawl audit verify' accepts it as a link of the job's chain of
states, the only way the chain may restart.`,
	}
	c.AddCommand(a.stateShowCmd(), a.stateResetCmd())
	return c
}

func (a *app) stateShowCmd() *cobra.Command {
	c := &cobra.Command{
		Use: "show JOB",
		Example: `  pawl state show sensor-feed
  pawl state show sensor-feed --output json`,
		Short: "Show a job's plugin state: its hash, how many keys it holds, the batch (or reset) that put it there",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			return showProject(a, c, func(p *project.Project) (*ratchet.CurrentState, error) {
				return ratchet.JobStateNow(c.Context(), p, argv[0])
			}, func(cur *ratchet.CurrentState) error {
				fmt.Fprintf(a.s.out, "job:    %s\nstate:  %s\nkeys:   %d\nby:     %s\n", cur.Job, cur.State, cur.Keys, cur.By())
				return nil
			})
		},
	}
	a.addOutputFlag(c)
	return c
}

func (a *app) stateResetCmd() *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:     "reset JOB --reason TEXT",
		Example: `  pawl state reset sensor-feed --reason "registry rebuilt, CR-120"`,
		Short:   "Reset a job's plugin state to the empty state (approver; reason required; on record)",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			e, was, err := ratchet.ResetState(c.Context(), p, argv[0], p.Cfg.Operator, reason)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"job": argv[0], "replaced": was.State, "replaced_batch": was.Batch, "replaced_keys": was.Keys, "audit_entry": e.Seq})
			}
			fmt.Fprintf(a.s.out, "the state of job %s was reset (audit entry %d): it replaced %s (%d keys, from %s); the job's next batch starts from the empty state\n", argv[0], e.Seq, was.State, was.Keys, was.By())
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why the state is reset (required; recorded in the audit trail)")
	c.Flags().String("operator", "", "operator id recorded in the audit trail (default: the configured operator)")
	a.addOutputFlag(c)
	return c
}
