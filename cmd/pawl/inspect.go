package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/spf13/cobra"
)

// inspectCmd is `pawl inspect DIR`: the package a regulator verifies with
// nothing else. `audit export` stays as it was (a report and sha256sum's
// check, for the team's own reviews and the scripts that read its JSONL);
// inspect is the one that vouches: it verifies everything first and signs
// what it hands over.
func (a *app) inspectCmd() *cobra.Command {
	var operator, reason string
	c := &cobra.Command{
		Use:     "inspect DIR",
		Example: `  pawl inspect /media/inspection-2026-12 --reason "FDA inspection"`,
		Short:   "Verify the whole project, then write a signed package an inspector verifies with nothing else",
		Long: `Verify the whole project as 'pawl audit verify' does (the trail, every batch's
signature, checkpoint and blobs, every e-signature), and refuse, writing
nothing, when anything fails: exit 1, with what failed. Then write into DIR
(new, or empty) the inspectors' package: the report (report.html), the trail
as stored (entries.jsonl), the batches and their quarantine, the engine key
history (keys.json), each batch's signature, checkpoint and lineage root, the
trail's head checkpoint, verify.py (Python 3 standard library only),
README.txt, SHA256SUMS over every file and SHA256SUMS.sig, the engine key's
signature over it. The package is written beside DIR and renamed into place:
DIR holds all of it or nothing. The package, and every refusal, is on record.

Check it with 'python3 DIR/verify.py DIR' or 'pawl audit verify --package DIR',
neither needing the project.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.openTrusted(c)
			if err != nil {
				return err
			}
			defer p.Close()
			var pkg *review.Package
			dir, err := a.writeForUser(p, argv[0], "package", "package", func(dir string) (err error) {
				pkg, err = review.Inspect(c.Context(), p, dir, operator, reason)
				return err
			})
			if err != nil {
				return err
			}
			pkg.Dir = dir
			fmt.Fprintf(a.s.out, "verified, then wrote %d files to %s: %d audit entries, %d batches; SHA256SUMS signed by %s\n", pkg.Files, pkg.Dir, pkg.Entries, pkg.Batches, pkg.KeyID)
			fmt.Fprintf(a.s.out, "  check it with: python3 %s %s\n", filepath.Join(pkg.Dir, review.VerifierFile), pkg.Dir)
			fmt.Fprintf(a.s.out, "            or: pawl audit verify --package %s\n", pkg.Dir)
			return nil
		},
	}
	c.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	c.Flags().StringVar(&reason, "reason", "", "why the package is made (recorded in the audit trail)")
	return c
}

// verifyPackage is `pawl audit verify --package DIR`: no project, read only.
func (a *app) verifyPackage(c *cobra.Command, dir, keyFile, checkpoint, witnessKeys string, witnesses int) error {
	if err := a.servedBy(c); err != nil {
		return err
	}
	var trusted *seal.KeyHistory
	if keyFile != "" {
		var err error
		if trusted, err = seal.ReadTrustedKeys(keyFile); err != nil {
			return err
		}
	}
	var cp []byte
	if checkpoint != "" {
		var err error
		if cp, err = os.ReadFile(checkpoint); err != nil {
			return err
		}
	}
	o := review.PackageOptions{Trusted: trusted, Checkpoint: cp, Witnesses: witnesses}
	if witnessKeys != "" {
		b, err := os.ReadFile(witnessKeys)
		if err != nil {
			return err
		}
		if o.WitnessKeys, err = review.WitnessKeys(b); err != nil {
			return fmt.Errorf("--witness-keys %s: %w", witnessKeys, err)
		}
	}
	rep, err := review.VerifyPackage(dir, o)
	if err != nil {
		return err
	}
	if a.output == "json" {
		if err := a.printJSON(map[string]any{"ok": rep.OK(), "package": rep}); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintf(a.s.out, "FAILED: %s\n", p)
		}
		if rep.OK() {
			fmt.Fprintf(a.s.out, "package %s: OK, %d entries (head %s), %d batches, %d e-signatures, %d engine keys; SHA256SUMS and its signature verify\n",
				dir, rep.Entries, rep.Head, rep.Batches, rep.ESignatures, rep.Keys)
			if keyFile != "" {
				fmt.Fprintf(a.s.out, "  its key history agrees with %s\n", keyFile)
			}
			if checkpoint != "" {
				fmt.Fprintf(a.s.out, "  its entries extend the checkpoint %s\n", checkpoint)
			}
			if w := rep.Witnessing; w != nil {
				fmt.Fprintf(a.s.out, "  witnesses: %d cosignatures verify; %s\n", w.Cosignatures, coveredText(w))
			}
		}
	}
	if !rep.OK() {
		return notVerified(fmt.Errorf("the package %s does not verify: %d problems (listed above); do not rely on it: ask for a new package", dir, len(rep.Problems)))
	}
	return nil
}

// coveredText says, per witness key, the largest size it validly
// cosigned.
func coveredText(w *review.Witnessing) string {
	if len(w.Covered) == 0 {
		return "no witness key covers any entry"
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(w.Covered)) {
		parts = append(parts, fmt.Sprintf("%s cosigned the first %d entries", id, w.Covered[id]))
	}
	return strings.Join(parts, ", ")
}
