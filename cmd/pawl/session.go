package main

import (
	"fmt"
	"time"

	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/spf13/cobra"
)

func (a *app) sessionCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "session",
		Short: "Show or end your signing session (21 CFR 11.200(a)(1))",
		Long: `A signing session is the continuous period of 21 CFR 11.200(a)(1)(i): a
'pawl sign' with --operator and the passphrase (every component) opens one for
your account; until esign.session_timeout passes without a signing, 'pawl
sign' without --operator signs as the session's operator, asking the
passphrase only. The session is read from the audit trail, so it is the same
in local mode and under 'pawl serve', and belongs to the account that opened
it. It ends after the timeout, with 'pawl session end', when your account
opens another, or when its operator is locked, revoked or their passphrase
expires.`,
	}
	c.AddCommand(a.sessionShowCmd(), a.sessionEndCmd())
	return c
}

func (a *app) sessionShowCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "show",
		Example: `  pawl session show`,
		Short:   "Show your signing session: its operator, when it opened, its last signing and when it times out",
		Args:    args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return showProject(a, c, func(p *project.Project) (*esign.Session, error) { return esign.CurrentSession(c.Context(), p) }, func(s *esign.Session) error {
				fmt.Fprintf(a.s.out, "signing session %s of operator %s, for %s\n", s.ID, s.Operator, describeSessionAccount(s))
				fmt.Fprintf(a.s.out, "  opened at %s UTC (audit entry %d); %d signing(s), the last at %s UTC (audit entry %d)\n",
					s.OpenedAt.Format(time.DateTime), s.OpenedEntry, s.Signings, s.LastAt.Format(time.DateTime), s.LastEntry)
				fmt.Fprintf(a.s.out, "  times out at %s UTC without another signing (esign.session_timeout %s); `pawl session end` ends it now\n",
					s.ExpiresAt.Format(time.DateTime), s.Timeout)
				return nil
			})
		},
	}
	a.addOutputFlag(c)
	return c
}

func (a *app) sessionEndCmd() *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:     "end [--reason TEXT]",
		Example: `  pawl session end --reason "end of shift"`,
		Short:   "End your signing session now, on record: the next signing gives --operator again",
		Long: `End your account's signing session: an esign.session_ended entry, with the
reason when one is given. From then on 'pawl sign' needs --operator and the
passphrase again. With no session open it says why and records nothing.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			s, seq, err := esign.EndSession(c.Context(), p, reason)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"session": s, "ended_entry": seq})
			}
			fmt.Fprintf(a.s.out, "ended signing session %s of operator %s (%d signing(s)), audit entry %d\n", s.ID, s.Operator, s.Signings, seq)
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why, recorded in the audit trail")
	a.addOutputFlag(c)
	return c
}

// describeSessionAccount names the account a session belongs to.
func describeSessionAccount(s *esign.Session) string {
	c := s.Principal
	who := fmt.Sprintf("uid %d", c.UID)
	if c.UID < 0 {
		who = "certificate " + c.Cert
	} else if c.User != "" {
		who += " (" + c.User + ")"
	}
	return who + " via " + c.Via
}
