package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/contract"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/spf13/cobra"
)

func printPinChange(a *app, indent string, ch actions.PinChange) {
	printPinChangeTo(a.s.out, indent, ch)
}

func printPinChangeTo(w io.Writer, indent string, ch actions.PinChange) {
	switch {
	case ch.Old == "":
		fmt.Fprintf(w, "%spinned    %s %s\n", indent, ch.File, ch.New)
	case ch.New == "":
		fmt.Fprintf(w, "%sunpinned  %s (was %s)\n", indent, ch.File, ch.Old)
	default:
		fmt.Fprintf(w, "%schanged   %s %s (was %s)\n", indent, ch.File, ch.New, ch.Old)
	}
}

func (a *app) pinCmd() *cobra.Command {
	var operator, reason string
	var weaken bool
	c := &cobra.Command{
		Use: "pin",
		Example: `  pawl pin --reason "contract v2 agreed with QA"
  pawl pin --weaken --reason "unit list widened, CR-114"`,
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
the edit, which is then on record too.

The two-person rule (change.two_person, on by default): a change of the
policy bundle (an edited policy, a plugin approval), of pawl.yaml#policy,
#limits or #change is not written. It is recorded as a proposed change
(change.proposed) with the lines that differ, and its id printed; every other
pin is written. Another enrolled operator approves it (pawl change approve
ID), and then 'pawl pin' or 'pawl change apply ID' puts it in force, if the
files still hash to what was approved. A project's first pins (pawl init)
are not a change. With change.two_person pinned false, such a change is
written at once and its pin.changed entry says the rule was waived.

The arbiter: every job's contract under the pins in force is compared with
the one about to be pinned, as 'pawl contract diff' does. A tightening is
pinned, with its classification on record. A weakening (or a change no
static rule decides) is refused unless --weaken is given with a --reason;
then the job's changed files are held back like a guarded change, proposed
with every classified change, and take effect only after another person
approves it.`,
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
			if weaken && strings.TrimSpace(reason) == "" {
				return &usageError{fmt.Errorf("pin --weaken needs --reason: why the contract may admit what it refused is on record")}
			}
			res, err := p.PinWith(c.Context(), project.PinOptions{Operator: operator, Reason: reason, Weaken: weaken})
			if err != nil {
				return err
			}
			if pr := res.Proposal; pr != nil && pr.Existing {
				// The change is on record already: in force now if a second
				// person approved it.
				ch, err := esign.LookupChange(c.Context(), p, pr.ID)
				if err != nil {
					return err
				}
				if ch.State == esign.ChangeApproved {
					ch, applied, err := esign.ApplyChange(c.Context(), p, pr.ID, operator, reason)
					if err != nil {
						return err
					}
					a.printApplied(ch, applied)
					return nil
				}
			}
			defer a.printProposal(res.Proposal)
			if res.Edited != nil {
				fmt.Fprintf(a.s.out, "pawl.lock was edited by hand: it hashed to %s, the pins on record were %s; the edit is accepted and on record:\n", res.Edited.Found, res.Edited.Recorded)
				for _, ch := range res.Edited.Changes {
					printPinChange(a, "  ", ch)
				}
			}
			if res.Recorded == 0 {
				if res.Proposal == nil {
					fmt.Fprintln(a.s.out, "pawl.lock is up to date")
				}
				return nil
			}
			for _, ch := range res.Changes {
				printPinChange(a, "", ch)
				switch {
				case ch.File == project.PolicySettingsPinKey && res.Policy != nil:
					fmt.Fprintf(a.s.out, "          %s\n", project.DescribePolicy(*res.Policy))
				case ch.File == project.LimitsPinKey && res.Limits != nil:
					fmt.Fprintf(a.s.out, "          %s\n", project.DescribeLimits(*res.Limits))
				case ch.File == project.ESignPinKey && res.ESign != nil:
					fmt.Fprintf(a.s.out, "          %s\n", project.DescribeESign(*res.ESign))
				}
			}
			for _, d := range res.Contract {
				fmt.Fprintf(a.s.out, "contract of job %s: %s\n", d.Job, d.Verdict)
				printContractChanges(a, "  ", d.Changes)
				if d.Evidence != nil {
					fmt.Fprintf(a.s.out, "  %s\n", project.DescribeEvidence(*d.Evidence))
				}
			}
			if res.Waived {
				fmt.Fprintln(a.s.out, "two-person rule waived: change.two_person is pinned false, so this change of the policy bundle or pawl.yaml's settings is in force on one person's word, and on record as such")
			}
			if len(res.Changes) == 0 {
				fmt.Fprintf(a.s.out, "no other pin changed; pawl.lock is on record in the audit trail (entry %d)\n", res.Recorded)
				return nil
			}
			fmt.Fprintf(a.s.out, "%d pin(s) changed; the change is on record in the audit trail (entry %d)\n", len(res.Changes), res.Recorded)
			return nil
		},
	}
	c.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail (the proposer of a change held back)")
	c.Flags().StringVar(&reason, "reason", "", "why the pins change (recorded in the audit trail)")
	c.Flags().BoolVar(&weaken, "weaken", false, "propose a weakening of a job's contract for a second person's approval (needs --reason)")
	return c
}

func printContractChanges(a *app, indent string, cs []actions.ContractChange) {
	for _, c := range cs {
		printChanges(a, indent, []contract.Change{{Kind: kindOf(c.Kind), Part: c.Part, At: c.At, Keyword: c.Keyword, Reason: c.Reason}})
	}
}

func kindOf(s string) contract.Kind {
	for _, k := range []contract.Kind{contract.Tightening, contract.Weakening, contract.Unknown} {
		if k.String() == s {
			return k
		}
	}
	return 0
}

// printProposal says what the two-person rule held back, if anything.
func (a *app) printProposal(pr *project.Proposal) {
	if pr == nil {
		return
	}
	w := a.s.out
	state := fmt.Sprintf("proposed as change %s (audit entry %d)", pr.ID, pr.Seq)
	if pr.Existing {
		state = fmt.Sprintf("already proposed as change %s (audit entry %d), not approved yet", pr.ID, pr.Seq)
	}
	fmt.Fprintf(w, "NOT in force, held back by the two-person rule: %s\n", state)
	for _, ch := range pr.Changes {
		printPinChange(a, "  ", ch)
	}
	for _, d := range pr.Contract {
		fmt.Fprintf(w, "  contract of job %s: %s\n", d.Job, d.Verdict)
		printContractChanges(a, "    ", d.Changes)
		if d.Evidence != nil {
			fmt.Fprintf(w, "    %s\n", project.DescribeEvidence(*d.Evidence))
		}
	}
	fmt.Fprintf(w, "next: another enrolled operator than %s runs `pawl change approve %s --operator ID --reason TEXT`, then `pawl change apply %s`\n", pr.Proposer, pr.ID, pr.ID)
}
