package main

import (
	"fmt"

	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/spf13/cobra"
)

func (a *app) batchesCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "batches",
		Short: "List and show committed batches",
	}
	list := &cobra.Command{
		Use: "list",
		Example: `  pawl batches list
  pawl batches list --output json`,
		Short: "List committed batches, oldest first",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			bs, err := p.Batches(c.Context())
			if err != nil {
				return err
			}
			if a.output == "json" {
				out := make([]runJSON, 0, len(bs))
				for _, b := range bs {
					out = append(out, toRunJSON(ratchet.ResultOf(b)))
				}
				return a.printJSON(out)
			}
			if len(bs) == 0 {
				fmt.Fprintln(a.s.out, "no committed batches yet: `pawl run JOB --input FILE` makes one")
				return nil
			}
			// Counts stay right-aligned in their cells (as wide as the header).
			w := newTable(a.s.out)
			fmt.Fprintf(w, "%s\t%s\t%s\t%10s\t%10s\t%11s\n", "BATCH", "JOB", "AS OF", "IN", "VERIFIED", "QUARANTINED")
			for _, b := range bs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%10s\t%10s\t%11s\n", b.BatchID, b.Job, b.AsOf,
					thousands(b.RecordsIn), thousands(b.Verified), thousands(b.Quarantined))
			}
			return w.Flush()
		},
	}
	show := &cobra.Command{
		Use: "show BATCH",
		Example: `  pawl batches show 3f2a1c
  pawl batches show 3f2a1c --output json`,
		Short: "Show one committed batch (a unique prefix of its id is enough)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			b, err := p.Batch(c.Context(), argv[0])
			if err != nil {
				return err
			}
			sigs, err := esign.Signatures(c.Context(), p, b.BatchID)
			if err != nil {
				return err
			}
			return a.printBatch(ratchet.ResultOf(b), sigs)
		},
	}
	a.addOutputFlag(list)
	a.addOutputFlag(show)
	c.AddCommand(list, show)
	return c
}
