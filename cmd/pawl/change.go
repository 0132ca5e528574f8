package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/spf13/cobra"
)

func (a *app) changeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "change",
		Short: "The two-person rule: list, show, approve and apply changes of the policy bundle and pawl.yaml's pinned settings",
		Long: `A change of the policy bundle (an edited policy, a plugin approval), of
pawl.yaml's policy.* settings, of its limits or of change.two_person takes
effect only after a second person's e-signature. 'pawl pin' does not put such
a change in force: it records it as a proposal (change.proposed, with every
guarded pin old and new and the lines that differ) and prints its id. Another
enrolled operator than the proposer approves it ('pawl change approve ID',
an e-signature with the meaning "approved", passphrase asked), and 'pawl
change apply ID' (or 'pawl pin' again) puts exactly the approved pins in
force, if the files still hash to them. A later proposal supersedes an
earlier one that was not applied.`,
	}
	c.AddCommand(a.changeListCmd(), a.changeShowCmd(), a.changeApproveCmd(), a.changeApplyCmd())
	return c
}

func (a *app) changeListCmd() *cobra.Command {
	c := &cobra.Command{
		Use: "list",
		Example: `  pawl change list
  pawl change list --output json`,
		Short: "List the proposed changes and their state: pending, approved, applied, superseded",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return showProject(a, c, func(p *project.Project) ([]*esign.Change, error) { return esign.Changes(c.Context(), p) }, func(cs []*esign.Change) error {
				if len(cs) == 0 {
					fmt.Fprintln(a.s.out, "no changes proposed")
					return nil
				}
				w := newTable(a.s.out)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", "CHANGE", "STATE", "ENTRY", "PROPOSER", "PINS")
				for _, ch := range cs {
					var files []string
					for _, pc := range ch.Changes {
						files = append(files, pc.File)
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", ch.ID, ch.State, ch.Seq, ch.Proposer, strings.Join(files, ", "))
				}
				return w.Flush()
			})
		},
	}
	a.addOutputFlag(c)
	return c
}

func (a *app) changeShowCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "show ID",
		Example: `  pawl change show chg-aa74bb2316b4`,
		Short:   "Show a change: who proposed it and why, each pin old and new, the lines that differ, the signatures",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			return showProject(a, c, func(p *project.Project) (*esign.Change, error) { return esign.LookupChange(c.Context(), p, argv[0]) }, func(ch *esign.Change) error {
				a.printChange(a.s.out, ch)
				return nil
			})
		},
	}
	a.addOutputFlag(c)
	return c
}

// printChange writes a change for a person.
func (a *app) printChange(w io.Writer, ch *esign.Change) {
	fmt.Fprintf(w, "change %s: %s\n", ch.ID, ch.State)
	fmt.Fprintf(w, "  proposed  by %s at %s UTC (audit entry %d), reason %q\n", ch.Proposer, ch.Time.UTC().Format("2006-01-02 15:04:05"), ch.Seq, ch.Reason)
	fmt.Fprintf(w, "  base      pins %s\n", ch.Base)
	for _, pc := range ch.Changes {
		printPinChangeTo(w, "  ", pc)
	}
	if ch.Policy != nil {
		fmt.Fprintf(w, "  policy    %s\n", project.DescribePolicy(*ch.Policy))
	}
	if ch.Limits != nil {
		fmt.Fprintf(w, "  limits    %s\n", project.DescribeLimits(*ch.Limits))
	}
	if ch.ChangeSettings != nil {
		fmt.Fprintf(w, "  change    change.two_person %v\n", ch.ChangeSettings.TwoPerson)
	}
	if ch.ESign != nil {
		fmt.Fprintf(w, "  esign     %s\n", project.DescribeESign(*ch.ESign))
	}
	for _, d := range ch.Diff {
		fmt.Fprintf(w, "  --- %s\n", d.File)
		for _, l := range d.Lines {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	if len(ch.Signatures) == 0 {
		fmt.Fprintln(w, "  signatures: none")
	}
	for _, s := range ch.Signatures {
		own := ""
		if s.SignerID == ch.Proposer {
			own = " (the proposer's own: does not count)"
		}
		fmt.Fprintf(w, "  signature %s (audit entry %d)%s\n", s.String(), s.AuditSeq, own)
	}
	switch ch.State {
	case esign.ChangeApplied:
		fmt.Fprintf(w, "  in force since audit entry %d\n", ch.AppliedEntry)
	case esign.ChangeSuperseded:
		fmt.Fprintf(w, "  superseded by audit entry %d: it can no longer be applied\n", ch.SupersededBy)
	case esign.ChangeApproved:
		fmt.Fprintf(w, "  next: pawl change apply %s\n", ch.ID)
	default:
		fmt.Fprintf(w, "  next: another enrolled operator than %s runs `pawl change approve %s --operator ID --reason TEXT`\n", ch.Proposer, ch.ID)
	}
}

func (a *app) changeApproveCmd() *cobra.Command {
	var operator, reason string
	var fd int
	c := &cobra.Command{
		Use:     "approve ID --operator ID --reason TEXT",
		Example: `  pawl change approve chg-aa74bb2316b4 --operator qa-lead --reason "contract v2 reviewed"`,
		Short:   "E-sign a change as approved: the second person of the two-person rule (asks for your passphrase)",
		Long: `Approve a proposed change with your e-signature (meaning "approved"): the
manifest signed names the change and its change.proposed entry by sequence
number and hash, so it covers exactly the pins and lines proposed. The
proposer cannot approve their own change; an applied or superseded change
cannot be approved. Every refusal and failure (wrong passphrase, locked,
revoked, expired, no reason) is recorded as esign.failed about the change.
The passphrase is read as 'pawl sign' reads it, after the checks that need
none (the authz question included). An approval always gives --operator:
it opens a signing session like any signing with every component, but is
never made in one.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if operator == "" {
				// A change of what decides every batch is approved with
				// every component, never in a signing session.
				return &usageError{fmt.Errorf("--operator ID is required: the enrolled operator who approves (`pawl operator list`)")}
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			// Every refusal that needs no passphrase — the change, the
			// operator (or the session), the proposer, the authz question —
			// before the passphrase is asked, each on record.
			ps, err := esign.PrepareApproval(c.Context(), p, esign.ApproveOptions{Change: argv[0], Operator: operator, Reason: reason})
			if err != nil {
				return err
			}
			ch, err := esign.LookupChange(c.Context(), p, argv[0])
			if err != nil {
				return err
			}
			op := ps.Operator()
			a.printChange(a.s.err, ch)
			fmt.Fprintf(a.s.err, "approving change %s as %s (%s)%s\n", ch.ID, op.Name, op.ID, sessionNote(ps.Session()))
			pass, err := a.readPassphrase(fd, fmt.Sprintf("passphrase for %s: ", op.ID), nil)
			if err != nil {
				return err
			}
			defer clear(pass)
			s, err := ps.Sign(pass)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(s)
			}
			fmt.Fprintf(a.s.out, "approved change %s: %s (audit entry %d)\nnext: pawl change apply %s\n", ch.ID, s.String(), s.AuditSeq, ch.ID)
			return nil
		},
	}
	c.Flags().StringVar(&operator, "operator", "", "the approver's operator `ID`")
	c.Flags().StringVar(&reason, "reason", "", "why the change is approved (required, recorded with the signature)")
	c.Flags().IntVar(&fd, "passphrase-fd", -1, "read the passphrase (one line) from open file descriptor `N` instead of the terminal")
	a.addOutputFlag(c)
	return c
}

func (a *app) changeApplyCmd() *cobra.Command {
	var operator, reason string
	c := &cobra.Command{
		Use:     "apply ID",
		Example: `  pawl change apply chg-aa74bb2316b4 --reason "release window"`,
		Short:   "Put an approved change in force: write exactly the approved pins to pawl.lock, on record",
		Long: `Apply an approved change: the guarded pins it approved are written to
pawl.lock with every other pin, and a pin.changed entry names the change and
its approvals. Refused (exit 3, and on record as change.apply_refused) when
the change is not approved by another operator than its proposer, when it is
superseded, or when the files no longer hash to the pins approved.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if operator == "" {
				operator = p.Cfg.Operator
			}
			ch, res, err := esign.ApplyChange(c.Context(), p, argv[0], operator, reason)
			if err != nil {
				return err
			}
			a.printApplied(ch, res)
			return nil
		},
	}
	c.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	c.Flags().StringVar(&reason, "reason", "", "recorded with the pin change (default: the change applied)")
	return c
}

func (a *app) printApplied(ch *esign.Change, res *project.PinResult) {
	for _, pc := range res.Changes {
		printPinChange(a, "", pc)
	}
	fmt.Fprintf(a.s.out, "change %s is in force: approved in audit entries %v, pawl.lock on record (entry %d)\n", ch.ID, ch.Approvals, res.Recorded)
}
