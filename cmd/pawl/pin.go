package main

import (
	"fmt"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/spf13/cobra"
)

func printPinChange(a *app, indent string, ch actions.PinChange) {
	switch {
	case ch.Old == "":
		fmt.Fprintf(a.s.out, "%spinned    %s %s\n", indent, ch.File, ch.New)
	case ch.New == "":
		fmt.Fprintf(a.s.out, "%sunpinned  %s (was %s)\n", indent, ch.File, ch.Old)
	default:
		fmt.Fprintf(a.s.out, "%schanged   %s %s (was %s)\n", indent, ch.File, ch.New, ch.Old)
	}
}

func (a *app) pinCmd() *cobra.Command {
	var operator, reason string
	c := &cobra.Command{
		Use:   "pin",
		Short: "Record the sha256 of every file the jobs reference in pawl.lock",
		Long: `Hash every file the jobs reference (job specs, schemas and every file their
$refs reach, normalization reference files, lookup files), the policy bundle
and the settings of pawl.yaml that can change an outcome (pawl.yaml#policy,
pawl.yaml#limits), and record the pins in pawl.lock, like go.sum. A run whose
files or settings no longer match their pins is refused. Each change of pins
is written to the audit trail with the digest of the pins written.

A reference must be a regular file inside the project, outside its data
directory, once symlinks are resolved. A pawl.lock that is not the last one
on record (edited by hand) is refused; review it and give --reason to accept
the edit, which is then on record too.`,
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
			res, err := p.Pin(c.Context(), operator, reason)
			if err != nil {
				return err
			}
			if res.Edited != nil {
				fmt.Fprintf(a.s.out, "pawl.lock was edited by hand: it hashed to %s, the pins on record were %s; the edit is accepted and on record:\n", res.Edited.Found, res.Edited.Recorded)
				for _, ch := range res.Edited.Changes {
					printPinChange(a, "  ", ch)
				}
			}
			if res.Recorded == 0 {
				fmt.Fprintln(a.s.out, "pawl.lock is up to date")
				return nil
			}
			for _, ch := range res.Changes {
				printPinChange(a, "", ch)
				switch {
				case ch.File == project.PolicySettingsPinKey && res.Policy != nil:
					fmt.Fprintf(a.s.out, "          %s\n", project.DescribePolicy(*res.Policy))
				case ch.File == project.LimitsPinKey && res.Limits != nil:
					fmt.Fprintf(a.s.out, "          %s\n", project.DescribeLimits(*res.Limits))
				}
			}
			if len(res.Changes) == 0 {
				fmt.Fprintf(a.s.out, "no other pin changed; pawl.lock is on record in the audit trail (entry %d)\n", res.Recorded)
				return nil
			}
			fmt.Fprintf(a.s.out, "%d pin(s) changed; the change is on record in the audit trail (entry %d)\n", len(res.Changes), res.Recorded)
			return nil
		},
	}
	c.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	c.Flags().StringVar(&reason, "reason", "", "why the pins change (recorded in the audit trail)")
	return c
}
