package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/spf13/cobra"
)

func (a *app) operatorCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "operator",
		Short: "Enrol, list, change the passphrase of, unlock, revoke and give roles to the operators",
	}
	c.AddCommand(a.operatorAddCmd(), a.operatorListCmd(), a.operatorShowCmd(), a.operatorPasswdCmd(), a.operatorUnlockCmd(), a.operatorRevokeCmd(), a.operatorGrantCmd())
	return c
}

// passphraseRules is what the help says of a new passphrase.
var passphraseRules = fmt.Sprintf(`A new passphrase must have at least %d characters and be hard to guess:
zxcvbn weighs it, counting the operator's id, printed name and every year
(and, on a change, the old passphrase) as known to an attacker, and it must
score at least esign.passphrase_min_score (default 3 of 4). A refusal says the
score and what made it weak. Four or more unrelated words picked at random
make a good one.`, esign.MinPassphraseLen)

func (a *app) operatorAddCmd() *cobra.Command {
	var name, reason, cert string
	var bindUID int
	var fd int
	add := &cobra.Command{
		Use: "add ID --name \"Printed Name\"",
		Example: `  pawl operator add qa-lead --name "Quinn Auditor" --reason "QA lead since 2026-11"
  pawl operator add olga --name "Olga Operator" --uid 1001 --reason "runs the loads"`,
		Short: "Enrol an operator: a new ed25519 key of their own, encrypted with their passphrase",
		Long: fmt.Sprintf(`Enrol an operator. pawl creates an ed25519 key for them and writes it to
<data dir>/operators/ID.key (mode 0600), encrypted with AES-256-GCM under a key
derived from their passphrase with PBKDF2-HMAC-SHA256 (%d iterations, random
salt). Signing needs both components: the key file and the passphrase. The
enrolment — id, printed name, public key, key id — is recorded in the audit
trail, and signatures are verified against that record. An id is never
enrolled twice, not even after its operator was revoked.

%s

The passphrase is read from the terminal (twice), or for scripts from an open
file descriptor (--passphrase-fd N, one line); never from an argument or the
environment. The operator recorded as enrolling is the configured one
(--operator, PAWL_OPERATOR, pawl.yaml); enrolling is an authz question (the
default bundle: the admin role, a reason, and a printed name nobody enrolled
has).

The operator is bound to an OS account: --uid N, by default the caller's
(under pawl serve, the account connected to the socket). Only a request
from that account may act as them — sign, or be named by --operator. Give
each person their own account and their own operator id. With --cert
sha256:HEX (a client certificate's fingerprint, for pawl serve over HTTPS)
they are bound to that certificate alone, unless --uid binds an account
too.`, esign.OperatorKDFIterations, passphraseRules),
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			id := argv[0]
			if err := esign.CheckOperatorID(id); err != nil {
				return &usageError{err}
			}
			printed, err := esign.CheckPrintedName(name)
			if err != nil {
				return &usageError{fmt.Errorf("--name: %w", err)}
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			opt := esign.EnrolOptions{ID: id, Name: name, Reason: reason, Cert: cert}
			if c.Flags().Changed("uid") {
				if bindUID < 0 {
					return &usageError{fmt.Errorf("--uid %d: an OS uid is 0 or more", bindUID)}
				}
				opt.UID = &bindUID
			}
			if _, err := esign.LookupOperator(c.Context(), p, id); err == nil {
				// Already enrolled, or revoked: said without asking for a
				// passphrase.
				_, err := esign.EnrolOperator(c.Context(), p, opt)
				return err
			}
			pass, err := a.readPassphrase(fd, fmt.Sprintf("new passphrase for %s (at least %d characters, hard to guess): ", id, esign.MinPassphraseLen),
				func(b []byte) error {
					minScore, err := esign.PassphraseMinScore(c.Context(), p)
					if err != nil {
						return err
					}
					return esign.CheckPassphrase(b, minScore, esign.Known{ID: id, Name: printed})
				})
			if err != nil {
				return err
			}
			defer clear(pass)
			opt.Passphrase = pass
			op, err := esign.EnrolOperator(c.Context(), p, opt)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(op)
			}
			fmt.Fprintf(a.s.out, "enrolled %s (%s), key %s, audit entry %d\n  key file %s (keep a backup; without it or the passphrase %s cannot sign)\n",
				op.ID, op.Name, op.KeyID, op.AuditSeq, op.KeyFile, op.ID)
			return nil
		},
	}
	add.Flags().StringVar(&name, "name", "", "the operator's printed name, shown on every signature")
	add.Flags().IntVar(&bindUID, "uid", -1, "the OS `UID` of the account the operator is bound to (default: the caller's)")
	add.Flags().StringVar(&cert, "cert", "", "bind the operator to a client certificate: its `sha256:HEX` fingerprint (then to no account unless --uid is given)")
	add.Flags().StringVar(&reason, "reason", "", "reason recorded in the audit trail")
	add.Flags().String("operator", "", "operator `ID` recorded as performing the enrolment")
	add.Flags().IntVar(&fd, "passphrase-fd", -1, "read the passphrase (one line) from open file descriptor `N` instead of the terminal")
	a.addOutputFlag(add)
	return add
}

func (a *app) operatorListCmd() *cobra.Command {
	list := &cobra.Command{
		Use: "list",
		Example: `  pawl operator list
  pawl operator list --output json`,
		Short: "List enrolled operators: their keys, state (active, locked, revoked) and passphrase age",
		Long: `List every enrolled operator with their key, the state the audit trail gives
them now — active, locked (since when, after how many failed attempts) or
revoked (when, by whom, why) — the age of their passphrase and when it
expires (esign.passphrase_max_age_days), whether their key file is there,
the OS account (uid and name) or client certificate their enrolment bound
them to, and the roles the policy bundle in force gives them.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			ops, err := esign.Operators(c.Context(), p)
			if err != nil {
				return err
			}
			roles, err := rolesInForce(c, p)
			if err != nil {
				return err
			}
			if a.output == "json" {
				out := []operatorJSON{}
				for _, op := range ops {
					out = append(out, operatorJSON{op, roles(op.ID)})
				}
				return a.printJSON(out)
			}
			if len(ops) == 0 {
				fmt.Fprintln(a.s.out, "no operators enrolled yet: `pawl operator add ID --name \"Printed Name\"`")
				return nil
			}
			// The rows are aligned by text/tabwriter as a whole (a long
			// printed name widens its column for every row), then each is
			// printed with the lines that follow it, which are no cells.
			var rows bytes.Buffer
			w := newTable(&rows)
			fmt.Fprintln(w, "ID\tPRINTED NAME\tKEY\tENROLLED (UTC)\tSTATE\tPASSPHRASE\tKEY FILE")
			for _, op := range ops {
				kf := "present"
				if !op.KeyFilePresent {
					kf = "MISSING: restore " + op.KeyFile + " from backup"
				}
				state := op.State
				if op.State == esign.StateActive && op.FailedAttempts > 0 {
					state = fmt.Sprintf("active (%d failed)", op.FailedAttempts)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(op.ID), cell(op.Name), cell(op.KeyID), op.EnrolledAt.Format(time.DateTime),
					cell(state), cell(passphraseAge(op.Passphrase)), cell(kf))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			lines := strings.SplitAfter(rows.String(), "\n")
			fmt.Fprint(a.s.out, lines[0])
			for i, op := range ops {
				fmt.Fprint(a.s.out, lines[i+1])
				fmt.Fprintf(a.s.out, "    bound to %s; roles %s\n", op.BoundTo(), rolesText(roles(op.ID)))
				writeOperatorState(a.s.out, "    ", op)
			}
			return nil
		},
	}
	a.addOutputFlag(list)
	return list
}

// operatorJSON is an operator as `operator list` and `operator show` print
// them in JSON: with the roles the bundle in force gives them.
type operatorJSON struct {
	*esign.Operator
	Roles []string `json:"roles"`
}

// rolesInForce reads the roles the policy bundle in force (the one the
// pins on record name, not policies/ as it is now) gives operator ids.
func rolesInForce(c *cobra.Command, p *project.Project) (func(id string) []string, error) {
	e, _, err := p.PolicyInForce(c.Context())
	if err != nil {
		return nil, err
	}
	return e.Roles, nil
}

// rolesText writes roles for a person.
func rolesText(roles []string) string {
	if len(roles) == 0 {
		return "none (in the policy bundle in force)"
	}
	return strings.Join(roles, ", ") + " (in the policy bundle in force)"
}

func (a *app) operatorShowCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "show ID",
		Example: `  pawl operator show qa-lead`,
		Short:   "Show one operator: key, state, passphrase age, what they are bound to and their roles",
		Long: `Show one enrolled operator: their printed name and key, the state the audit
trail gives them (active, locked, revoked), their passphrase's age, the OS
account (uid and name) or client certificate their enrolment bound them to —
only a request from it may act as them — and the roles the policy bundle in
force gives them.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := esign.CheckOperatorID(argv[0]); err != nil {
				return &usageError{err}
			}
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			op, err := esign.LookupOperator(c.Context(), p, argv[0])
			if err != nil {
				return err
			}
			roles, err := rolesInForce(c, p)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(operatorJSON{op, roles(op.ID)})
			}
			w := a.s.out
			fmt.Fprintf(w, "operator %s: %s\n", op.ID, op.Name)
			fmt.Fprintf(w, "  bound to   %s\n", op.BoundTo())
			fmt.Fprintf(w, "  roles      %s\n", rolesText(roles(op.ID)))
			state := op.State
			if op.State == esign.StateActive && op.FailedAttempts > 0 {
				state = fmt.Sprintf("active (%d failed attempts in a row)", op.FailedAttempts)
			}
			fmt.Fprintf(w, "  state      %s\n", state)
			writeOperatorState(w, "             ", op)
			fmt.Fprintf(w, "  key        %s\n", op.PublicKey)
			kf := "present"
			if !op.KeyFilePresent {
				kf = "MISSING: restore it from backup"
			}
			fmt.Fprintf(w, "  key file   %s (%s)\n", op.KeyFile, kf)
			fmt.Fprintf(w, "  enrolled   %s UTC by %s (audit entry %d)\n", op.EnrolledAt.Format(time.DateTime), op.EnrolledBy, op.AuditSeq)
			fmt.Fprintf(w, "  passphrase %s, set %s\n", passphraseAge(op.Passphrase), op.Passphrase.How())
			return nil
		},
	}
	a.addOutputFlag(c)
	return c
}

// passphraseAge is the PASSPHRASE column of `operator list`.
func passphraseAge(pp esign.Passphrase) string {
	switch {
	case pp.ExpiresInDays == nil:
		return fmt.Sprintf("set %d d ago, never expires", pp.AgeDays)
	case pp.Expired:
		return fmt.Sprintf("EXPIRED: set %d d ago (max %d d)", pp.AgeDays, pp.MaxAgeDays)
	}
	return fmt.Sprintf("set %d d ago, expires in %d d", pp.AgeDays, *pp.ExpiresInDays)
}

// writeOperatorState says, under an operator's line, since when and why
// they are locked or revoked.
func writeOperatorState(w io.Writer, indent string, op *esign.Operator) {
	if l := op.Locked; l != nil && op.Revoked == nil {
		entry := fmt.Sprintf("audit entry %d", l.AuditSeq)
		if l.AuditSeq == 0 {
			entry = "recorded at the next attempt"
		}
		fmt.Fprintf(w, "%slocked since %s UTC after %d failed attempts (%s): an admin unlocks with `pawl operator unlock %s --reason TEXT`\n",
			indent, l.Since.Format(time.DateTime), l.FailedAttempts, entry, op.ID)
	}
	if r := op.Revoked; r != nil {
		fmt.Fprintf(w, "%srevoked since %s UTC by %s (audit entry %d): %s\n", indent, r.At.Format(time.DateTime), r.By, r.AuditSeq, oneLineQuote(r.Reason))
	}
}

func (a *app) operatorPasswdCmd() *cobra.Command {
	var reason string
	var fd int
	c := &cobra.Command{
		Use:     "passwd ID",
		Example: `  pawl operator passwd qa-lead`,
		Short:   "Change an operator's passphrase (asks the old one, then the new one); the key stays the same",
		Long: `Change an operator's passphrase. The operator's key is opened with the old
passphrase and sealed again under the new one, with a new salt and nonce: the
key, and so the public key on record and every signature made with it, stay
the same. The change is recorded (operator.passphrase_changed) and starts the
passphrase's age again (esign.passphrase_max_age_days); an expired passphrase
can be changed. A wrong old passphrase is a failed attempt on record and counts
towards the lock-out (esign.lockout_after); a locked or revoked operator is
refused.

` + passphraseRules + `

The passphrases are read from the terminal (the old one, then the new one
twice), or for scripts from an open file descriptor (--passphrase-fd N, two
lines: the old passphrase, then the new one); never from an argument or the
environment.

The new key file is written beside the old one and put in its place only
after the change is on record, so a crash leaves either the old passphrase in
force (nothing on record; run the command again) or the new one (on record;
the next command that uses the key finishes the change).`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			id := argv[0]
			if err := esign.CheckOperatorID(id); err != nil {
				return &usageError{err}
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			opt := esign.PasswdOptions{ID: id, Reason: reason}
			op, err := esign.LookupOperator(c.Context(), p, id)
			if err != nil || op.CanChangePassphrase() != nil {
				// Unknown, locked or revoked: refused and recorded without
				// asking for a passphrase.
				_, err := esign.ChangePassphrase(c.Context(), p, opt)
				return err
			}
			src, err := a.passphrases(fd)
			if err != nil {
				return err
			}
			defer src.close()
			old, err := src.read(fmt.Sprintf("current passphrase for %s: ", id), nil)
			if err != nil {
				return err
			}
			defer clear(old)
			pass, err := src.read(fmt.Sprintf("new passphrase for %s (at least %d characters, hard to guess): ", id, esign.MinPassphraseLen), func(b []byte) error {
				minScore, err := esign.PassphraseMinScore(c.Context(), p)
				if err != nil {
					return err
				}
				return esign.CheckPassphrase(b, minScore, esign.Known{ID: op.ID, Name: op.Name, Old: old})
			})
			if err != nil && fd >= 0 {
				return fmt.Errorf("%w (--passphrase-fd gives two lines: the old passphrase, then the new one)", err)
			}
			if err != nil {
				return err
			}
			defer clear(pass)
			opt.Old, opt.New = old, pass
			op, err = esign.ChangePassphrase(c.Context(), p, opt)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(op)
			}
			expires := "it never expires"
			if d := op.Passphrase.ExpiresInDays; d != nil {
				expires = fmt.Sprintf("it expires in %d days", *d)
			}
			fmt.Fprintf(a.s.out, "changed the passphrase of %s (%s), audit entry %d: the key %s is the same; %s\n",
				op.ID, op.Name, op.Passphrase.SetEntry, op.KeyID, expires)
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "reason recorded in the audit trail")
	c.Flags().IntVar(&fd, "passphrase-fd", -1, "read the old and the new passphrase (two lines) from open file descriptor `N` instead of the terminal")
	a.addOutputFlag(c)
	return c
}

// withExample sets c's Example (cobra prints it under "Examples:").
func withExample(example string, c *cobra.Command) *cobra.Command {
	c.Example = example
	return c
}

// adminCmd is unlock or revoke: ID, a required reason, who does it.
func (a *app) adminCmd(use, short, long string, do func(c *cobra.Command, opt esign.AdminOptions) error) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if err := esign.CheckOperatorID(argv[0]); err != nil {
				return &usageError{err}
			}
			if strings.TrimSpace(reason) == "" {
				return &usageError{errors.New("--reason TEXT is required: why, on record")}
			}
			return do(c, esign.AdminOptions{ID: argv[0], Reason: reason})
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the audit trail)")
	c.Flags().String("operator", "", "operator `ID` recorded as performing it")
	a.addOutputFlag(c)
	return c
}

const rolesNote = `It is an authz question (docs/policy-guide.md): the default bundle gives it
to the admin role. The decision is on record, allow or deny, and the entry
records who (the configured operator, --operator, and the OS user) and why.`

func (a *app) operatorUnlockCmd() *cobra.Command {
	return withExample(`  pawl operator unlock qa-lead --reason "mistyped; confirmed in person"`, a.adminCmd("unlock ID --reason TEXT",
		"Unlock an operator locked out after too many wrong passphrases (reason required)",
		`Unlock an operator who was locked after esign.lockout_after wrong passphrases
in a row. The unlock is recorded (operator.unlocked) with who unlocked them and
the reason, which is required; the count of failed attempts starts again.
Before unlocking, find out who made the attempts: `+"`pawl audit log --action esign.failed`"+`.

`+rolesNote,
		func(c *cobra.Command, opt esign.AdminOptions) error {
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			u, err := esign.UnlockOperator(c.Context(), p, opt)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(u)
			}
			op := u.Operator
			fmt.Fprintf(a.s.out, "unlocked %s (%s) by %s, audit entry %d\n  ended the lock-out since %s UTC after %d failed attempts (audit entry %d)\n",
				op.ID, op.Name, u.By, u.AuditSeq, u.Ended.Since.Format(time.DateTime), u.Ended.FailedAttempts, u.Ended.AuditSeq)
			return nil
		}))
}

func (a *app) operatorRevokeCmd() *cobra.Command {
	return withExample(`  pawl operator revoke qa-lead --reason "left the company"`, a.adminCmd("revoke ID --reason TEXT",
		"Revoke an operator for good: they can never sign again and the id is never reused (reason required)",
		`Revoke an operator (21 CFR 11.300(c), 11.100(a)): someone who left, or whose
key file or passphrase may be known to others. The revocation is recorded
(operator.revoked) with who revoked them and the reason, which is required.
From then on every attempt to sign or change the passphrase is refused and
recorded; the signatures they made before stay valid and are shown as made
before the revocation; a signature entry after it is invalid, and
`+"`pawl audit verify`"+` names it. The id is never enrolled again: enrol the
person under a new id. A revocation is never undone.

`+rolesNote,
		func(c *cobra.Command, opt esign.AdminOptions) error {
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			op, err := esign.RevokeOperator(c.Context(), p, opt)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(op)
			}
			r := op.Revoked
			fmt.Fprintf(a.s.out, "revoked %s (%s), key %s, by %s, audit entry %d\n  %s can no longer sign; signatures made before stay valid; the id is never enrolled again\n",
				op.ID, op.Name, op.KeyID, r.By, r.AuditSeq, op.ID)
			return nil
		}))
}

func (a *app) operatorGrantCmd() *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use: "grant ID ROLE... --reason TEXT",
		Example: `  pawl operator grant olga operator --reason "runs the nightly loads"
  pawl operator grant pia policy_admin approver --reason "second policy admin"`,
		Short: "Give an operator id its roles in the policy bundle (in force once pinned)",
		Long: `Set the roles an operator id holds: authz.roles in policies/data.json, the
roles the default bundle knows being admin, policy_admin, operator,
reviewer, approver and auditor (docs/policy-guide.md). The grant is recorded
(policy.roles_granted) with who and why (required). It changes the bundle,
so it is in force only once the bundle is pinned again (` + "`pawl pin`" + `), and
authorisation always asks the bundle the pins on record name: editing
data.json by hand grants nothing until someone allowed to pin does. The
roles given replace the ones held; none given takes every role away.
Granting is an authz question (the default bundle: policy_admin).`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if err := esign.CheckOperatorID(argv[0]); err != nil {
				return &usageError{err}
			}
			if strings.TrimSpace(reason) == "" {
				return &usageError{errors.New("--reason TEXT is required: why, on record")}
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			roles := append([]string{}, argv[1:]...)
			if err := gate.GrantRoles(c.Context(), p, argv[0], roles, p.Cfg.Operator, reason); err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"operator": argv[0], "roles": roles, "pinned": false})
			}
			fmt.Fprintf(a.s.out, "%s now holds [%s] in %s/data.json; in force once the bundle is pinned: `pawl pin`\n", argv[0], strings.Join(roles, " "), project.PolicyDir)
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the audit trail)")
	c.Flags().String("operator", "", "operator `ID` recorded as granting")
	a.addOutputFlag(c)
	return c
}
