package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/spf13/cobra"
)

func (a *app) verifySignatureCmd() *cobra.Command {
	var keyFile string
	c := &cobra.Command{
		Use: "verify-signature FILE",
		Example: `  pawl verify-signature .pawl/batches/26f133d37cbfc690e5673b763a826278/signature.json
  pawl verify-signature signature.json --key engine.pub`,
		Short: "Check a batch's usability signature (signature.json) and the outputs beside it",
		Long: `Check that FILE is exactly as pawl wrote it, that its ed25519 signature
verifies, and that the output files next to it still have the signed hashes.

The signing key must be the engine key that was in force at the batch's audit
entry in a trusted key history: the one given with --key (the JSON of 'pawl
key history', or public keys one a line such as engine.pub), or else the audit
trail's own history in the project found from the current directory (or -C).
A signature by any other key fails; so does one with no trusted key to check
it against. Nothing is written, and no lock is taken.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			trusted, err := a.trustedKeys(c, keyFile)
			if err != nil {
				return err
			}
			chk, err := trusted.VerifySignature(argv[0])
			if err != nil {
				return signatureError(err)
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"ok": true, "batch_id": chk.Signature.BatchID, "key_id": chk.KeyID,
					"key_trusted": chk.Trusted, "outputs_checked": chk.Outputs, "signature": chk.Signature})
			}
			s := chk.Signature
			fmt.Fprintf(a.s.out, "OK: signature of batch %s verifies (key %s)\n", s.BatchID, chk.KeyID)
			fmt.Fprintf(a.s.out, "  verified at %s, as of %s, job %s (%s)\n", s.VerifiedAt, s.AsOf, s.Job, s.Classification)
			fmt.Fprintf(a.s.out, "  input %s, schema %s %s (%s)\n", s.InputHash, s.Schema.Name, s.Schema.Version, s.Schema.Hash)
			fmt.Fprintf(a.s.out, "  %d in, %d verified, %d quarantined; audit entry %d\n", s.Result.RecordsIn, s.Result.Verified, s.Result.Quarantined, s.AuditSeq)
			for _, o := range chk.Outputs {
				fmt.Fprintf(a.s.out, "  %s matches %s\n", o, s.Outputs[o].Hash)
			}
			return nil
		},
	}
	c.Flags().StringVar(&keyFile, "key", "", "trusted engine keys `FILE`: `pawl key history --output json`, or public keys one a line (engine.pub)")
	a.addOutputFlag(c)
	return c
}

// signatureError is a signature check's error: not verifying
// (exitNotVerified), unless the file could not be read at all.
func signatureError(err error) error {
	if _, ok := errors.AsType[*fs.PathError](err); ok || errors.Is(err, seal.ErrNoTrustedKey) {
		return err
	}
	return notVerified(err)
}
