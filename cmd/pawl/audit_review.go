package main

import (
	"fmt"

	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/spf13/cobra"
)

// auditReviewCmd is `pawl audit review`: an e-signed review of the audit
// trail up to an entry (21 CFR 11.10(e)).
func (a *app) auditReviewCmd() *cobra.Command {
	var operator, reason, meaning string
	var through int64
	var fd int
	c := &cobra.Command{
		Use:     "review --through SEQ --reason TEXT [--operator ID]",
		Example: `  pawl audit review --through 1200 --operator qa-lead --reason "monthly trail review"`,
		Short:   "E-sign that you reviewed the audit trail up to entry SEQ (asks for your passphrase)",
		Long: `Sign a review of the audit trail (21 CFR 11.10(e)): your e-signature, with the
meaning "reviewed", on a manifest (pawl-esign-review-v1) that names entry SEQ
by sequence number and hash. That hash chains every entry before it, so the
signature covers exactly entries 1 to SEQ; it is recorded as an esign.signed
entry about review:SEQ and checked by 'pawl audit verify', 'audit verify
--package' and the package's verify.py. 'pawl audit reviews' lists the
reviews and how many entries are left unreviewed since the newest.

The trail must verify first (its hash chain, as for 'pawl sign'). SEQ must be
an entry of the trail. Who may sign a review is the authz policy's action
audit.review (the default bundle: auditor and reviewer); a refusal exits 3.
Every refusal and failure (unknown entry, wrong passphrase, locked, revoked,
expired) is recorded as esign.failed about review:SEQ; a wrong passphrase
counts towards the lock-out. The passphrase is read as 'pawl sign' reads it.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if !c.Flags().Changed("through") {
				return &usageError{fmt.Errorf("--through SEQ is required: the last audit entry you reviewed (`pawl audit log`)")}
			}
			if meaning != string(esign.MeaningReviewed) {
				return &usageError{fmt.Errorf("--meaning %q: a review of the audit trail is signed with the meaning reviewed", meaning)}
			}
			p, err := a.openTrusted(c)
			if err != nil {
				return err
			}
			defer p.Close()
			ps, err := esign.PrepareReview(c.Context(), p, esign.ReviewOptions{Through: through, Meaning: meaning, Operator: operator, Reason: reason})
			if err != nil {
				return err
			}
			op := ps.Operator()
			fmt.Fprintf(a.s.err, "signing a review of the audit trail, entries 1 to %d, as %q: %s (%s)%s\n", through, meaning, op.Name, op.ID, sessionNote(ps.Session()))
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
			fmt.Fprintf(a.s.out, "signed a review of the audit trail through entry %d: %s (audit entry %d)\n", through, s.String(), s.AuditSeq)
			return nil
		},
	}
	c.Flags().Int64Var(&through, "through", 0, "the last audit entry reviewed (`SEQ`)")
	c.Flags().StringVar(&meaning, "meaning", string(esign.MeaningReviewed), "what the signature means: reviewed (the only meaning of a review)")
	c.Flags().StringVar(&operator, "operator", "", "the reviewer's operator `ID` (left out: sign in your signing session, `pawl session show`)")
	c.Flags().StringVar(&reason, "reason", "", "what was reviewed, recorded with the signature")
	c.Flags().IntVar(&fd, "passphrase-fd", -1, "read the passphrase (one line) from open file descriptor `N` instead of the terminal")
	a.addOutputFlag(c)
	return c
}

// auditReviewsCmd is `pawl audit reviews`: the signed reviews of the trail
// and what is left unreviewed.
func (a *app) auditReviewsCmd() *cobra.Command {
	c := &cobra.Command{
		Use: "reviews",
		Example: `  pawl audit reviews
  pawl audit reviews --output json`,
		Short: "List the signed reviews of the audit trail and how many entries are unreviewed since the newest",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return showProject(a, c, func(p *project.Project) (*esign.Reviews, error) { return esign.TrailReviews(c.Context(), p) }, func(rs *esign.Reviews) error {
				for _, r := range rs.Reviews {
					fmt.Fprintf(a.s.out, "review through entry %d (audit entry %d, %d entries new): %s\n", r.Through, r.AuditSeq, r.Covered, r.String())
				}
				if rs.Through == 0 {
					fmt.Fprintf(a.s.out, "no valid review of the audit trail: all %d entries are unreviewed (`pawl audit review --through %d`)\n", rs.Head, rs.Head)
					return nil
				}
				fmt.Fprintf(a.s.out, "reviewed through entry %d; %d entries since are unreviewed (head: entry %d)\n", rs.Through, rs.Unreviewed, rs.Head)
				return nil
			})
		},
	}
	a.addOutputFlag(c)
	return c
}
