package main

import (
	"fmt"

	"github.com/pawl-dev/pawl/engine"

	"github.com/spf13/cobra"
)

func (a *app) auditCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "The audit trail: verify it",
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the hash chain, every committed batch's signature and every blob it refers to",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			rep, err := p.VerifyProject(c.Context())
			if err != nil {
				return err
			}
			if a.output == "json" {
				if err := a.printJSON(map[string]any{"ok": rep.OK(), "report": rep}); err != nil {
					return err
				}
			} else {
				writeVerifyReport(a, rep)
			}
			if !rep.OK() {
				return fmt.Errorf("the audit trail does not verify")
			}
			return nil
		},
	}
	a.addOutputFlag(verify)
	c.AddCommand(verify)
	return c
}

func writeVerifyReport(a *app, rep *engine.VerifyReport) {
	w := a.s.out
	ar := rep.Audit
	if ar.OK {
		fmt.Fprintf(w, "audit trail: OK, %d entries, head %s\n", ar.Entries, ar.Head)
	} else {
		fmt.Fprintf(w, "audit trail: FAILED at entry %d: %s\n", ar.FirstBad, ar.Problem)
	}
	fmt.Fprintf(w, "batches: %d checked (signatures, outputs), %d store blobs re-hashed\n", rep.Batches, rep.Blobs)
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  PROBLEM: %s\n", p)
	}
	if rep.OK() {
		fmt.Fprintln(w, "everything verifies")
	}
}
