package main

import (
	"fmt"

	"github.com/pawl-dev/pawl/audit"
	"github.com/spf13/cobra"
)

// auditKeyCmd is `pawl audit key`: the trail's checkpoint key in
// signed-note form, as a witness is told to trust it.
func (a *app) auditKeyCmd() *cobra.Command {
	c := &cobra.Command{
		Use: "key",
		Example: `  pawl audit key
  pawl audit key --output json`,
		Short: "Print the key that verifies the trail's checkpoints, in signed-note form (name+hash+base64)",
		Long: `Print the verifier key of the trail's checkpoints as C2SP signed-note writes it:
the trail's origin (pawl.dev/audit/<trail id>), the key hash and the base64 of
the engine's public key. This is what a witness is told to trust for the trail
(torchwood's 'witnessctl add-key -origin ORIGIN -key VKEY', pawl's own
witnesses in the policy bundle). The engine key signs the checkpoints, so a
rotation changes it: --output json lists every key of the history with the
entries it signed for. Reads the trail only (no lock, nothing written).`,
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
			type vkey struct {
				KeyID string `json:"key_id"`
				From  int64  `json:"from"`
				Until int64  `json:"until"`
				VKey  string `json:"vkey"`
			}
			keys := []vkey{}
			for _, k := range p.Keys.Keys {
				v, err := audit.VerifierKey(p.Trail.Origin(), k.Public())
				if err != nil {
					return err
				}
				keys = append(keys, vkey{KeyID: k.KeyID, From: k.From, Until: k.Until, VKey: v})
			}
			if p.KeysProblem != nil {
				return p.KeysProblem
			}
			if len(keys) == 0 {
				return fmt.Errorf("the trail holds no engine key (no project.init entry): run `pawl audit verify`")
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"origin": p.Trail.Origin(), "keys": keys})
			}
			_, err = fmt.Fprintln(a.s.out, keys[len(keys)-1].VKey)
			return err
		},
	}
	a.addOutputFlag(c)
	return c
}
