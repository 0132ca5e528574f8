package main

import (
	"fmt"
	"strings"

	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/spf13/cobra"
)

// keyCmd is `pawl key`: the engine key's rotation and history.
func (a *app) keyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "key",
		Short: "The engine key: rotate it, list its history",
	}
	var operator, reason string
	rotate := &cobra.Command{
		Use:     "rotate --reason TEXT",
		Example: `  pawl key rotate --reason "annual rotation"`,
		Short:   "Replace the engine key; the old and new keys sign the rotation, the old private key is destroyed",
		Long: `Make a new engine key and put the rotation on record (engine.key_rotated: the
old and the new public key, each signing the other). From that entry on,
batch signatures and checkpoints are made with the new key; everything signed
before verifies with the old key, which the trail keeps in its key history
(pawl key history). The old private key is overwritten and removed once the
entry is on record. With engine_key.secret_file (or the systemd credential
pawl-engine-key) set, the new key is sealed at rest under that secret.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if strings.TrimSpace(reason) == "" {
				return &usageError{fmt.Errorf("pawl key rotate: --reason is required (it goes on record)")}
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if operator == "" {
				operator = p.Cfg.Operator
			}
			old := p.Key.ID()
			d, err := gate.RotateKey(c.Context(), p, operator, reason)
			if err != nil {
				return err
			}
			cur, _ := p.Keys.Current()
			fmt.Fprintf(a.s.out, "engine key rotated at audit entry %d: %s -> %s (%s at rest)\n", cur.From, old, p.Key.ID(), d.AtRest)
			fmt.Fprintf(a.s.out, "  the old private key is destroyed; keep the new public key and `pawl key history --output json` outside the enclave\n")
			return nil
		},
	}
	rotate.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	rotate.Flags().StringVar(&reason, "reason", "", "why the key is rotated (required; recorded)")

	history := &cobra.Command{
		Use: "history",
		Example: `  pawl key history
  pawl key history --output json`,
		Short: "List the engine keys in the order they were in force, with the entries each signed for",
		Long: `List the engine key history as the audit trail holds it: the key of project.init,
then each rotation's new key, each rotation's cross-signatures checked. The
JSON form is what 'audit verify --key', 'audit verify-proof --key' and
'verify-signature --key' take as a history of trusted keys: keep a copy
outside the enclave. Reads the trail only (no lock, nothing written).`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			p, err := a.openReadOnly(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if a.output == "json" {
				if err := a.printJSON(p.Keys); err != nil {
					return err
				}
			} else {
				for i, k := range p.Keys.Keys {
					until := "now"
					if k.Until != 0 {
						until = fmt.Sprintf("entry %d", k.Until-1)
					}
					fmt.Fprintf(a.s.out, "%d. %s  entries %d to %s  (%s by %s: %s)\n", i+1, k.KeyID, k.From, until, k.Time, k.Operator, k.Reason)
					fmt.Fprintf(a.s.out, "   %s\n", k.Key)
				}
			}
			if p.KeysProblem != nil {
				return p.KeysProblem
			}
			return nil
		},
	}
	a.addOutputFlag(history)
	c.AddCommand(rotate, history)
	return c
}

// openReadOnly finds the project and opens it for reading only: no lock,
// no recovery, no private key, nothing written (project.OpenReadOnly).
func (a *app) openReadOnly(c *cobra.Command) (*project.Project, error) {
	root, err := project.FindRoot(a.startDir())
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(root, c.Flags())
	if err != nil {
		return nil, err
	}
	return project.OpenReadOnly(c.Context(), root, cfg)
}

// trustedKeys reads the --key FILE of a verifier (seal.ReadTrustedKeys),
// or, without one, the key history of the project found from the current
// directory (or -C); nil when there is neither.
func (a *app) trustedKeys(c *cobra.Command, file string) (*seal.KeyHistory, error) {
	if file != "" {
		return seal.ReadTrustedKeys(file)
	}
	if _, err := project.FindRoot(a.startDir()); err != nil {
		return nil, nil
	}
	p, err := a.openReadOnly(c)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if p.KeysProblem != nil {
		return nil, fmt.Errorf("the project's %w: run `pawl audit verify`", p.KeysProblem)
	}
	return p.Keys, nil
}
