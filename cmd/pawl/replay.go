package main

import (
	"fmt"

	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/spf13/cobra"
)

func (a *app) replayCmd() *cobra.Command {
	var operator, reason string
	c := &cobra.Command{
		Use: "replay BATCH",
		Example: `  pawl audit replay 3f2a1c
  pawl audit replay 3f2a1c --output json`,
		Short: "Re-run a committed batch from the store and compare every output hash and the lineage root",
		Long: `Re-run a committed batch from what the store holds: its input, the pinned
job spec, schema, lookup files and plugin modules, with the recorded as-of time
and seed. Every output hash and the lineage root are compared with the record,
match or mismatch per artifact. Nothing is committed; the replay is audited.
Exit status 0 only when everything matches.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if operator == "" {
				operator = p.Cfg.Operator
			}
			rep, err := ratchet.Replay(c.Context(), p, argv[0], operator, reason)
			if err != nil {
				return err
			}
			if a.output == "json" {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.s.out, "replay of batch %s (audit entry %d)\n", rep.BatchID, rep.AuditSeq)
				if rep.Failure != "" {
					fmt.Fprintf(a.s.out, "  FAILED: %s\n", rep.Failure)
				}
				for _, x := range rep.Artifacts {
					verdict := "match"
					if !x.Match {
						verdict = "MISMATCH: recorded " + x.Recorded + ", replayed " + x.Replayed
					}
					fmt.Fprintf(a.s.out, "  %-18s %s\n", x.Name, verdict)
					if x.Match {
						fmt.Fprintf(a.s.out, "  %-18s   %s\n", "", x.Recorded)
					}
				}
			}
			if !rep.Match {
				return notVerified(fmt.Errorf("the replay of batch %s does not reproduce it", rep.BatchID))
			}
			return nil
		},
	}
	c.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	c.Flags().StringVar(&reason, "reason", "", "why the batch is replayed (recorded in the audit trail)")
	a.addOutputFlag(c)
	return c
}
