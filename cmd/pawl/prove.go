package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/spf13/cobra"
)

// proveCmds are `pawl audit prove` and `pawl audit verify-proof`.
func (a *app) proveCmds() []*cobra.Command {
	var out string
	var oldSize int64
	prove := &cobra.Command{
		Use: "prove BATCH ORDINAL | --consistency OLD_SIZE [NEW_SIZE] [--out FILE]",
		Example: `  pawl audit prove 3f2a1c 42 --out record42.proof
  pawl audit prove --consistency 1200 --out since-1200.proof`,
		Short: "Print the inclusion proof of one record, or the trail's consistency proof between two sizes (both verify offline)",
		Long: `Print, as JSON, the proof that record ORDINAL is a leaf of its batch's
lineage tree: the record's leaf hash, the sibling hashes, and the root that
the batch's audit entry and signature carry. Anyone can check it offline with
'pawl audit verify-proof FILE --signature signature.json', or with any RFC 6962
implementation (docs/audit-format.md).

With --consistency OLD_SIZE, print instead the proof that the trail's first
NEW_SIZE entries (default: all of them) extend its first OLD_SIZE: the RFC 6962
consistency proof, in the form of a C2SP tlog-witness add-checkpoint request
("old OLD_SIZE", one base64 hash a line, an empty line, the checkpoint of
NEW_SIZE entries signed with the engine key). Whoever holds a checkpoint of
OLD_SIZE entries checks it offline with 'pawl audit verify-proof --consistency
FILE --checkpoint OLD_CHECKPOINT'; a witness takes the same bytes.`,
		Args: args(func(c *cobra.Command, a []string) error {
			if c.Flags().Changed("consistency") {
				return cobra.MaximumNArgs(1)(c, a)
			}
			return cobra.ExactArgs(2)(c, a)
		}),
		RunE: func(c *cobra.Command, argv []string) error {
			if c.Flags().Changed("consistency") {
				return a.proveConsistency(c, oldSize, argv, out)
			}
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
	prove.Flags().Int64Var(&oldSize, "consistency", 0, "prove that the trail extends its first `OLD_SIZE` entries (a consistency proof)")

	var sigFile, keyFile, oldCp string
	var consistency bool
	verify := &cobra.Command{
		Use: "verify-proof FILE [--signature signature.json [--key FILE]] | --consistency FILE --checkpoint OLD [--key FILE]",
		Example: `  pawl audit verify-proof record42.proof --signature signature.json --key engine.pub
  pawl audit verify-proof since-1200.proof --consistency --checkpoint checkpoint-2026-11`,
		Short: "Check an inclusion or a consistency proof offline, optionally against a batch's signature",
		Long: `Check an inclusion proof written by 'pawl audit prove' with nothing but the
proof: the leaf hash and the sibling hashes must give the root. With
--signature, the signature file must verify, be signed by the engine key in
force at its batch's entry in a trusted key history (--key FILE: the JSON of
'pawl key history' or public keys one a line; else the trail's history of the
project found from the current directory), and carry the same batch id and
lineage root, which ties the record to a signed batch.

With --consistency, FILE is a consistency proof ('pawl audit prove
--consistency') and --checkpoint the older signed checkpoint it must start
from: both checkpoints must verify under the engine keys in force at their
sizes (--key FILE, or the project's history), and the proof's hashes must lead
from the old root to the new one. It fails when the trail was rewritten or
forked after the old checkpoint was taken.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if consistency {
				return a.verifyConsistency(c, argv[0], oldCp, keyFile)
			}
			b, err := os.ReadFile(argv[0])
			if err != nil {
				return err
			}
			pr, err := audit.ParseInclusionProof(b)
			if err != nil {
				return fmt.Errorf("%s: %v", argv[0], err)
			}
			if err := pr.Verify(); err != nil {
				return notVerified(err)
			}
			if sigFile != "" {
				trusted, err := a.trustedKeys(c, keyFile)
				if err != nil {
					return err
				}
				chk, err := trusted.VerifySignature(sigFile)
				if err != nil {
					return signatureError(err)
				}
				s := chk.Signature
				if err := pr.VerifyFor(s.BatchID, s.LineageRoot, s.Result.RecordsIn); err != nil {
					return notVerified(fmt.Errorf("%s does not sign this proof's tree: %v", sigFile, err))
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
	verify.Flags().BoolVar(&consistency, "consistency", false, "FILE is a consistency proof (pawl audit prove --consistency)")
	verify.Flags().StringVar(&oldCp, "checkpoint", "", "with --consistency: the older signed checkpoint `FILE` the proof starts from")
	return []*cobra.Command{prove, verify}
}

// proveConsistency is `pawl audit prove --consistency OLD [NEW]`.
func (a *app) proveConsistency(c *cobra.Command, oldSize int64, argv []string, out string) error {
	var newSize int64
	if len(argv) == 1 {
		n, err := strconv.ParseInt(argv[0], 10, 64)
		if err != nil || n < 1 {
			return &usageError{fmt.Errorf("NEW_SIZE %q must be a number of audit entries (1 or more)", argv[0])}
		}
		newSize = n
	}
	if oldSize < 1 {
		return &usageError{fmt.Errorf("--consistency %d: OLD_SIZE must be a number of audit entries (1 or more), the size of a checkpoint you hold", oldSize)}
	}
	p, err := a.open(c)
	if err != nil {
		return err
	}
	defer p.Close()
	pr, _, err := review.ProveConsistency(c.Context(), p, oldSize, newSize)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = a.s.out.Write(pr.Format())
		return err
	}
	return a.writeUserFile(out, pr.Format(), 0o644)
}

// verifyConsistency is `pawl audit verify-proof --consistency FILE
// --checkpoint OLD`.
func (a *app) verifyConsistency(c *cobra.Command, file, oldCp, keyFile string) error {
	if oldCp == "" {
		return &usageError{fmt.Errorf("verify-proof --consistency %s: --checkpoint OLD is required: the signed checkpoint the proof starts from", file)}
	}
	b, err := a.readUserFile(file)
	if err != nil {
		return err
	}
	old, err := a.readUserFile(oldCp)
	if err != nil {
		return err
	}
	trusted, err := a.trustedKeys(c, keyFile)
	if err != nil {
		return err
	}
	o, n, err := trusted.VerifyConsistency(b, old)
	if err != nil {
		return signatureError(fmt.Errorf("%s: %w", file, err))
	}
	fmt.Fprintf(a.s.out, "OK: the trail %s of %d entries (root %s) extends its first %d (root %s, %s)\n",
		n.Origin, n.Size, base64.StdEncoding.EncodeToString(n.Root), o.Size, base64.StdEncoding.EncodeToString(o.Root), oldCp)
	return nil
}
