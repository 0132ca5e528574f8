package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/spf13/cobra"
)

// proveCmds are `pawl audit prove` and `pawl audit verify-proof`.
func (a *app) proveCmds() []*cobra.Command {
	var out string
	prove := &cobra.Command{
		Use:   "prove BATCH ORDINAL [--out FILE]",
		Short: "Print the inclusion proof of one record in its batch's Merkle tree (verifies offline)",
		Long: `Print, as JSON, the proof that record ORDINAL is a leaf of its batch's
lineage tree: the record's leaf hash, the sibling hashes, and the root that
the batch's audit entry and signature carry. Anyone can check it offline with
'pawl audit verify-proof FILE --signature signature.json', or with any RFC 6962
implementation (docs/audit-format.md).`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(c *cobra.Command, argv []string) error {
			ord, err := parseOrdinal(argv[1])
			if err != nil {
				return err
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			pr, _, err := review.Prove(c.Context(), p, argv[0], ord)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(pr, "", "  ")
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if out == "" {
				_, err = a.s.out.Write(b)
				return err
			}
			return a.writeUserFile(out, b, 0o644)
		},
	}
	prove.Flags().StringVar(&out, "out", "", "write the proof to `FILE`")

	var sigFile, keyFile string
	verify := &cobra.Command{
		Use:   "verify-proof FILE [--signature signature.json [--key FILE]]",
		Short: "Check an inclusion proof offline, optionally against a batch's signature",
		Long: `Check an inclusion proof written by 'pawl audit prove' with nothing but the
proof: the leaf hash and the sibling hashes must give the root. With
--signature, the signature file must verify, be signed by the engine key in
force at its batch's entry in a trusted key history (--key FILE: the JSON of
'pawl key history' or public keys one a line; else the trail's history of the
project found from the current directory), and carry the same batch id and
lineage root, which ties the record to a signed batch.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			b, err := os.ReadFile(argv[0])
			if err != nil {
				return err
			}
			pr, err := audit.ParseInclusionProof(b)
			if err != nil {
				return fmt.Errorf("%s: %v", argv[0], err)
			}
			if err := pr.Verify(); err != nil {
				return err
			}
			if sigFile != "" {
				trusted, err := a.trustedKeys(c, keyFile)
				if err != nil {
					return err
				}
				chk, err := trusted.VerifySignature(sigFile)
				if err != nil {
					return err
				}
				s := chk.Signature
				if err := pr.VerifyFor(s.BatchID, s.LineageRoot, s.Result.RecordsIn); err != nil {
					return fmt.Errorf("%s does not sign this proof's tree: %v", sigFile, err)
				}
				fmt.Fprintf(a.s.out, "OK: record %d is leaf %d of %d in batch %s, whose signature (key %s) carries root %s\n",
					pr.Ordinal, pr.Index, pr.Size, pr.BatchID, chk.KeyID, pr.Root)
				return nil
			}
			fmt.Fprintf(a.s.out, "OK: record %d is leaf %d of %d under root %s (pass --signature to tie the root and the tree size to a signed batch)\n",
				pr.Ordinal, pr.Index, pr.Size, pr.Root)
			return nil
		},
	}
	verify.Flags().StringVar(&sigFile, "signature", "", "the batch's `signature.json`")
	verify.Flags().StringVar(&keyFile, "key", "", "trusted engine keys `FILE` the signature's key must be in: `pawl key history --output json`, or public keys one a line (engine.pub)")
	return []*cobra.Command{prove, verify}
}
