package main

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/spf13/cobra"
)

func (a *app) auditCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "The audit trail: verify it, read it, checkpoint it",
	}
	var checkpoint, keyFile, pkgDir, witnessKeys string
	var witnesses int
	verify := &cobra.Command{
		Use: "verify [--checkpoint FILE] [--key FILE] [--witnesses K] | --package DIR [--witness-keys FILE]",
		Example: `  pawl audit verify
  pawl audit verify --checkpoint /media/qa/checkpoint-2026-11 --key engine.pub
  pawl audit verify --package /media/inspection-2026-12`,
		Short: "Verify the hash chain, every committed batch's signature, checkpoint and blobs",
		Long: `Verify the audit trail: the hash chain entry by entry, and for every committed
batch its folder, its signature, its checkpoint and every store blob it refers
to (input, pinned files, outputs). With --checkpoint FILE, also prove that the
trail extends that signed checkpoint: this is what detects deletion of the
newest entries or a rewrite of the whole chain. With --key FILE (the JSON of
'pawl key history', or public keys one a line, kept outside the enclave), the
trail's engine key history must agree with it and the checkpoint must be
signed by a key in it.

Every witness cosignature on record is checked against the witness key the
policy bundle in force names, and the trail's root at the cosigned size must be
the one cosigned (a rewrite fails, even re-signed with the engine key); the
trail must extend each witness's latest cosigned checkpoint kept in the data
directory (a truncation fails). With --witnesses K, K distinct witnesses must
have cosigned a checkpoint covering the newest committed batch.

Every signature and checkpoint is checked against the engine key that was in
force at its entry. Verification needs public keys only: it opens the project
read-only, takes no lock, writes nothing and never upgrades a schema, so it
runs on a read-only copy of a project or on an unpacked archive.

With --package DIR, verify the package 'pawl inspect' wrote instead, from its
files alone (no project): SHA256SUMS and its signature, every entry, the key
history, every batch signature, checkpoint, lineage root and e-signature, and
the head checkpoint; one line per problem, exit 1 when anything fails. With
--key FILE the package's key history must agree with that one, and with
--checkpoint FILE its entries must extend that checkpoint: copies kept
outside the enclave are what a package re-signed with a stolen key fails.
The witnesses' cosignatures in the entries are checked against the keys the
package lists (witnesses.txt) or, with --witness-keys FILE, against those
the verifier holds (one NAME+HASH+BASE64 a line); --witnesses K applies too.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if pkgDir != "" {
				return a.verifyPackage(c, pkgDir, keyFile, checkpoint, witnessKeys, witnesses)
			}
			var trusted *seal.KeyHistory
			if keyFile != "" {
				var err error
				if trusted, err = seal.ReadTrustedKeys(keyFile); err != nil {
					return err
				}
			}
			p, err := a.openReadOnly(c)
			if err != nil {
				return err
			}
			defer p.Close()
			rep, err := review.Verify(c.Context(), p)
			if err != nil {
				return err
			}
			if witnesses > 0 {
				w := rep.Witnessing
				if w == nil {
					if w, err = review.CheckWitnesses(c.Context(), p); err != nil {
						return err
					}
				}
				if err := w.Require(witnesses); err != nil {
					rep.Problems = append(rep.Problems, err.Error())
				}
			}
			if trusted != nil {
				if err := trusted.Agrees(p.Keys); err != nil {
					rep.Problems = append(rep.Problems, fmt.Sprintf("key history: %s: %v", keyFile, err))
				}
			}
			var cpErr error
			var cp audit.Checkpoint
			if checkpoint != "" {
				b, err := a.readUserFile(checkpoint)
				if err != nil {
					return err
				}
				cp, cpErr = review.VerifyCheckpoint(c.Context(), p, b, trusted)
				if cpErr != nil {
					rep.Problems = append(rep.Problems, fmt.Sprintf("checkpoint %s: %v", checkpoint, cpErr))
				}
			}
			if a.output == "json" {
				if err := a.printJSON(map[string]any{"ok": rep.OK(), "report": rep}); err != nil {
					return err
				}
			} else {
				writeVerifyReport(a, rep)
				if checkpoint != "" && cpErr == nil {
					fmt.Fprintf(a.s.out, "checkpoint: the trail extends %s (%d entries)\n", checkpoint, cp.Size)
				}
			}
			if !rep.OK() {
				return notVerified(fmt.Errorf("the audit trail does not verify"))
			}
			return nil
		},
	}
	verify.Flags().StringVar(&checkpoint, "checkpoint", "", "a signed checkpoint `FILE` the trail must extend")
	verify.Flags().StringVar(&pkgDir, "package", "", "verify the package `DIR` written by 'pawl inspect' (no project needed; with --key and --checkpoint too)")
	verify.Flags().StringVar(&witnessKeys, "witness-keys", "", "with --package: the witness keys `FILE` to check cosignatures against, one NAME+HASH+BASE64 a line, in place of the package's witnesses.txt")
	verify.Flags().IntVar(&witnesses, "witnesses", 0, "require `K` distinct witnesses to have cosigned a checkpoint covering the newest committed batch")
	verify.Flags().StringVar(&keyFile, "key", "", "trusted engine keys `FILE`: `pawl key history --output json`, or public keys one a line (engine.pub)")
	a.addOutputFlag(verify)

	var out, operator, reason string
	cpCmd := &cobra.Command{
		Use:     "checkpoint [--out FILE]",
		Example: `  pawl audit checkpoint --out /media/qa/checkpoint-2026-11 --reason "monthly escrow"`,
		Short:   "Sign the trail's head as a C2SP tlog-checkpoint (keep it outside the enclave)",
		Long: `Sign the trail's head as a C2SP tlog-checkpoint with the engine key and record
that it was issued. Keep it outside the enclave: 'pawl audit verify
--checkpoint FILE' proves later that the trail extends it. A trail that does
not verify (its hash chain, as 'pawl audit verify' checks it first) is refused
before anything is signed or written, with the first bad entry named: exit 1.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.openTrusted(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if operator == "" {
				operator = p.Cfg.Operator
			}
			b, cp, err := review.Checkpoint(c.Context(), p, operator, reason)
			if err != nil {
				return err
			}
			if out == "" {
				_, err = a.s.out.Write(b)
				return err
			}
			if err := a.writeUserFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.s.out, "wrote %s: %d entries, root %s\n", out, cp.Size, base64.StdEncoding.EncodeToString(cp.Root))
			return nil
		},
	}
	cpCmd.Flags().StringVar(&out, "out", "", "write the checkpoint to `FILE` instead of standard output")
	cpCmd.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	cpCmd.Flags().StringVar(&reason, "reason", "", "reason recorded in the audit trail")

	var f audit.Filter
	var since string
	log := &cobra.Command{
		Use: "log [--batch B] [--since T] [--operator O] [--action A]",
		Example: `  pawl audit log --batch 3f2a1c
  pawl audit log --since 2026-11-01T00:00:00Z --action esign.failed
  pawl audit log --operator qa-lead --output json`,
		Short: "List audit entries, oldest first",
		Long: `List audit entries, oldest first. It reads a trail that does not verify too (an
inspector must be able to read it), with a WARNING on standard error naming
the first bad entry.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			a.warnBrokenTrail(c, p)
			if since != "" {
				t, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return &usageError{fmt.Errorf("--since %q is not an RFC 3339 time", since)}
				}
				f.Since = t
			}
			if batch, _ := c.Flags().GetString("batch"); batch != "" {
				b, err := p.Batch(c.Context(), batch)
				if err != nil {
					return err
				}
				f.Object = "batch:" + b.BatchID
			}
			es, err := p.Trail.List(c.Context(), f)
			if err != nil {
				return err
			}
			if a.output == "json" {
				if es == nil {
					es = []audit.Entry{}
				}
				return a.printJSON(es)
			}
			w := newTable(a.s.out)
			for i, e := range es {
				fmt.Fprintf(w, "%6d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), cell(e.Operator), e.Action, cell(e.Object), cell(e.Reason+esignNote(e)))
				if (i+1)%tableChunk == 0 {
					w.Flush()
				}
			}
			return w.Flush()
		},
	}
	log.Flags().String("batch", "", "only entries about batch `B` (a unique prefix is enough)")
	log.Flags().StringVar(&since, "since", "", "only entries at or after `T` (RFC 3339)")
	log.Flags().StringVar(&f.Operator, "operator", "", "only entries by operator `O`")
	log.Flags().StringVar(&f.Action, "action", "", "only entries with action `A` (e.g. batch.committed)")
	a.addOutputFlag(log)
	migrate := &cobra.Command{
		Use:     "migrate",
		Example: `  pawl audit migrate`,
		Short:   "Upgrade the audit trail's schema to the one this pawl writes (recorded in the trail)",
		Long: `Upgrade the audit trail to the schema version this pawl writes. Every step is a
trail.migrated entry, written in the same transaction as the step. No other
command upgrades a trail: a trail of an older schema is refused for writing
with this command's name, and 'audit verify' reads it as it is.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			root, err := project.FindRoot(a.startDir())
			if err != nil {
				return err
			}
			cfg, err := config.Load(root, c.Flags())
			if err != nil {
				return err
			}
			l := project.NewLayout(root, cfg.DataDir)
			before := -1
			if ro, err := audit.OpenReadOnly(l.TrailPath()); err == nil {
				before = ro.SchemaVersion()
				ro.Close()
			}
			t, err := audit.Migrate(l.TrailPath())
			if err != nil {
				return err
			}
			defer t.Close()
			if before == t.SchemaVersion() {
				fmt.Fprintf(a.s.out, "audit trail: schema version %d, nothing to upgrade\n", before)
			} else {
				fmt.Fprintf(a.s.out, "audit trail: upgraded from schema version %d to %d (on record)\n", before, t.SchemaVersion())
			}
			return nil
		},
	}
	c.AddCommand(verify, cpCmd, log, migrate)
	c.AddCommand(a.proveCmds()...)
	c.AddCommand(a.auditKeyCmd(), a.witnessCmd())
	c.AddCommand(a.replayCmd())
	c.AddCommand(a.auditExportCmd())
	c.AddCommand(a.traceCmd())
	c.AddCommand(a.auditReviewCmd(), a.auditReviewsCmd())
	return c
}

func writeVerifyReport(a *app, rep *review.VerifyReport) {
	w := a.s.out
	ar := rep.Audit
	if ar.OK {
		fmt.Fprintf(w, "audit trail: OK, %d entries, head %s\n", ar.Entries, ar.Head)
	} else {
		fmt.Fprintf(w, "audit trail: FAILED at entry %d: %s\n", ar.FirstBad, ar.Problem)
	}
	fmt.Fprintf(w, "batches: %d checked (signatures, checkpoints, outputs), %d store blobs re-hashed\n", rep.Batches, rep.Blobs)
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  PROBLEM: %s\n", p)
	}
	if rep.OK() {
		fmt.Fprintln(w, "everything verifies")
	}
}
