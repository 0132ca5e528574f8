package main

import (
	"fmt"
	"time"

	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/spf13/cobra"
)

func (a *app) operatorCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "operator",
		Short: "Enrol and list the operators who e-sign batches",
	}
	var name, reason string
	var fd int
	add := &cobra.Command{
		Use:   "add ID --name \"Printed Name\"",
		Short: "Enrol an operator: a new ed25519 key of their own, encrypted with their passphrase",
		Long: fmt.Sprintf(`Enrol an operator. pawl creates an ed25519 key for them and writes it to
<data dir>/operators/ID.key (mode 0600), encrypted with AES-256-GCM under a key
derived from their passphrase with PBKDF2-HMAC-SHA256 (%d iterations, random
salt). Signing needs both components: the key file and the passphrase. The
enrolment — id, printed name, public key, key id — is recorded in the audit
trail, and signatures are verified against that record.

The passphrase must have at least %d characters. It is read from the terminal
(twice), or for scripts from an open file descriptor (--passphrase-fd N, one
line); never from an argument or the environment. The operator recorded as
enrolling is the configured one (--operator, PAWL_OPERATOR, pawl.yaml).`, esign.OperatorKDFIterations, esign.MinPassphraseLen),
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if err := esign.CheckOperatorID(argv[0]); err != nil {
				return &usageError{err}
			}
			if _, err := esign.CheckPrintedName(name); err != nil {
				return &usageError{fmt.Errorf("--name: %w", err)}
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			pass, err := a.readPassphrase(fd, fmt.Sprintf("new passphrase for %s (at least %d characters): ", argv[0], esign.MinPassphraseLen), true)
			if err != nil {
				return err
			}
			defer clear(pass)
			op, err := esign.EnrolOperator(c.Context(), p, esign.EnrolOptions{ID: argv[0], Name: name, Passphrase: pass, Reason: reason})
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
	add.Flags().StringVar(&reason, "reason", "", "reason recorded in the audit trail")
	add.Flags().String("operator", "", "operator `ID` recorded as performing the enrolment")
	add.Flags().IntVar(&fd, "passphrase-fd", -1, "read the passphrase (one line) from open file descriptor `N` instead of the terminal")
	a.addOutputFlag(add)

	list := &cobra.Command{
		Use:   "list",
		Short: "List enrolled operators",
		Args:  args(cobra.NoArgs),
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
			if a.output == "json" {
				if ops == nil {
					ops = []*esign.Operator{}
				}
				return a.printJSON(ops)
			}
			if len(ops) == 0 {
				fmt.Fprintln(a.s.out, "no operators enrolled yet: `pawl operator add ID --name \"Printed Name\"`")
				return nil
			}
			fmt.Fprintf(a.s.out, "%-16s  %-28s  %-24s  %-20s  %s\n", "ID", "PRINTED NAME", "KEY", "ENROLLED (UTC)", "KEY FILE")
			for _, op := range ops {
				kf := "present"
				if !op.KeyFilePresent {
					kf = "MISSING: restore " + op.KeyFile + " from backup"
				}
				fmt.Fprintf(a.s.out, "%-16s  %-28s  %-24s  %-20s  %s\n", op.ID, op.Name, op.KeyID, op.EnrolledAt.Format(time.DateTime), kf)
			}
			return nil
		},
	}
	a.addOutputFlag(list)
	c.AddCommand(add, list)
	return c
}
