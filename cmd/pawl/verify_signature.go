package main

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"

	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/spf13/cobra"
)

func (a *app) verifySignatureCmd() *cobra.Command {
	var keyFile string
	c := &cobra.Command{
		Use:   "verify-signature FILE",
		Short: "Check a batch's usability signature (signature.json) and the outputs beside it",
		Long: `Check that FILE is exactly as pawl wrote it, that its ed25519 signature
verifies, and that the output files next to it still have the signed hashes.

The signing key must be trusted: the key given with --key (an engine.pub file),
or else the engine key of the project found from the current directory (or -C).
Outside a project and without --key, the signature is checked against the key
it carries, and the output says that the key itself was not checked.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			var trusted []ed25519.PublicKey
			switch {
			case keyFile != "":
				k, err := seal.ReadPublicKey(keyFile)
				if err != nil {
					return err
				}
				trusted = append(trusted, k)
			default:
				if root, err := project.FindRoot(a.startDir()); err == nil {
					cfg, err := config.Load(root, nil)
					if err != nil {
						return err
					}
					keys := project.NewLayout(root, cfg.DataDir).KeysDir()
					if k, err := seal.ReadPublicKey(filepath.Join(keys, seal.PublicFile)); err == nil {
						trusted = append(trusted, k)
					}
				}
			}
			chk, err := seal.VerifyFile(argv[0], trusted)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"ok": true, "batch_id": chk.Signature.BatchID, "key_id": chk.KeyID,
					"key_trusted": chk.Trusted, "outputs_checked": chk.Outputs, "signature": chk.Signature})
			}
			s := chk.Signature
			fmt.Fprintf(a.s.out, "OK: signature of batch %s verifies (key %s)\n", s.BatchID, chk.KeyID)
			if !chk.Trusted {
				fmt.Fprintf(a.s.out, "  WARNING: key %s was not checked against a trusted key; pass --key engine.pub\n", chk.KeyID)
			}
			fmt.Fprintf(a.s.out, "  verified at %s, as of %s, job %s (%s)\n", s.VerifiedAt, s.AsOf, s.Job, s.Classification)
			fmt.Fprintf(a.s.out, "  input %s, schema %s %s (%s)\n", s.InputHash, s.Schema.Name, s.Schema.Version, s.Schema.Hash)
			fmt.Fprintf(a.s.out, "  %d in, %d verified, %d quarantined; audit entry %d\n", s.Result.RecordsIn, s.Result.Verified, s.Result.Quarantined, s.AuditSeq)
			for _, o := range chk.Outputs {
				fmt.Fprintf(a.s.out, "  %s matches %s\n", o, s.Outputs[o].Hash)
			}
			return nil
		},
	}
	c.Flags().StringVar(&keyFile, "key", "", "trusted engine public key `FILE` (engine.pub)")
	a.addOutputFlag(c)
	return c
}
