package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) pinCmd() *cobra.Command {
	var operator, reason string
	c := &cobra.Command{
		Use:   "pin",
		Short: "Record the sha256 of every file the jobs reference in pawl.lock",
		Long: `Hash every file the jobs reference (job specs and schemas) and record the
pins in pawl.lock, like go.sum. A run whose files no longer match their pins is
refused. Each change of pins is written to the audit trail.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if operator == "" {
				operator = p.Cfg.Operator
			}
			changes, err := p.Pin(c.Context(), operator, reason)
			if err != nil {
				return err
			}
			if len(changes) == 0 {
				fmt.Fprintln(a.s.out, "pawl.lock is up to date")
				return nil
			}
			for _, ch := range changes {
				switch {
				case ch.Old == "":
					fmt.Fprintf(a.s.out, "pinned    %s %s\n", ch.File, ch.New)
				case ch.New == "":
					fmt.Fprintf(a.s.out, "unpinned  %s (was %s)\n", ch.File, ch.Old)
				default:
					fmt.Fprintf(a.s.out, "changed   %s %s (was %s)\n", ch.File, ch.New, ch.Old)
				}
			}
			fmt.Fprintf(a.s.out, "%d pin(s) changed; the change is on record in the audit trail\n", len(changes))
			return nil
		},
	}
	c.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	c.Flags().StringVar(&reason, "reason", "", "why the pins change (recorded in the audit trail)")
	return c
}
