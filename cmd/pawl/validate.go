package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/validate"
	"github.com/spf13/cobra"
)

// validateCmd is `pawl validate`: the installation and operational
// qualification kit a regulated user runs on their own machine
// (engine/validate).
func (a *app) validateCmd() *cobra.Command {
	var out, reason, verify, keyFile string
	var iqOnly, requireSync bool
	c := &cobra.Command{
		Use:   "validate [--iq-only] [--out DIR] | --verify DIR [--key FILE]",
		Short: "Qualify this installation: IQ checks and OQ challenges, a signed evidence report with the traceability matrix",
		Long: `Run the installation and operational qualification kit and write its evidence.

IQ checks this binary (its sha256, module path and version, the Go version,
the VCS revision and every dependency's version), and, in a project, the
permissions and owner of the data directory, the keys and the trail (a key
file open to group or others, or a world-writable trail, fails), the clock's
synchronisation where the OS reports it (unsynchronised warns; with
--require-clock-sync it fails; unknown never fails), and the account running
pawl and, when the project is served, the service's account.

OQ runs challenges in a scratch project it makes in a temporary directory
with the demonstration defaults (your project is never touched): an edited
audit entry, a truncated trail after a held checkpoint, a swapped store blob,
a wrong passphrase, an export no policy allows, an unapproved plugin and a
hostile one; each must be refused or detected as expected.

DIR (default validation-RUNID) receives validation.json (every check with what
it expected, observed and its evidence, and the traceability matrix from each
requirement of 21 CFR Part 11 and EU GMP Annex 11 to the checks; docs/part11.md
is the same table), validation.html (printable) and validation.sig. In a
project the engine key signs and the run is on record (validation.run);
without one a key made for the run signs, written to validation.key, and the
report says it is self-signed. Exit 0 only when every check passed; 1
otherwise, each failure on a line.

With --verify DIR, check a report instead (no project, nothing run): the
signature in validation.sig over validation.json, with the engine public key
in --key FILE (engine.pub, kept outside the installation: this proves who
signed it) or else the key the report names (this proves only that the report
was not changed after it was signed). validation.html is made from the JSON
and is not signed. Exit 0 when the signature verifies, 4 when it does not.`,
		Example: `  pawl validate --out /media/qa/pawl-oq-2026-12
  pawl validate --iq-only
  pawl validate --verify /media/qa/pawl-oq-2026-12 --key engine.pub`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if verify != "" {
				return a.verifyValidation(c, verify, keyFile)
			}
			if keyFile != "" {
				return &usageError{errors.New("--key goes with --verify DIR: the engine public key to check a report's signature with")}
			}
			// A report is evidence: never written over another one.
			if ents, err := os.ReadDir(out); out != "" && err == nil && len(ents) > 0 {
				return fmt.Errorf("--out %s: the directory is not empty; name a new or empty directory (a report is never written over another)", out)
			}
			var p *project.Project
			if _, err := project.FindRoot(a.startDir()); err == nil || a.s.job != nil {
				if p, err = a.open(c); err != nil {
					return err
				}
				defer p.Close()
			}
			rep, err := validate.Run(c.Context(), validate.Options{Project: p, IQOnly: iqOnly, RequireClockSync: requireSync})
			if err != nil {
				return err
			}
			if out == "" {
				out = "validation-" + rep.RunID
			}
			var w *validate.Written
			write := func(dir string) (err error) {
				op := ""
				if p != nil {
					op = p.Cfg.Operator
				}
				w, err = validate.Write(c.Context(), dir, rep, p, op, reason)
				return err
			}
			if p != nil {
				out, err = a.writeForUser(p, out, "validation", "", write)
			} else {
				err = write(out)
			}
			if err != nil {
				return err
			}
			for _, ch := range rep.Checks {
				fmt.Fprintf(a.s.out, "%-7s %-22s %s\n", strings.ToUpper(ch.Status), ch.ID, ch.Observed)
			}
			signed := "signed by the engine key " + w.KeyID
			if w.SelfSig {
				signed = "self-signed by a key made for this run, " + w.KeyID
			}
			if w.AuditSeq != 0 {
				signed += fmt.Sprintf(", on record as entry %d", w.AuditSeq)
			}
			fmt.Fprintf(a.s.out, "%d passed, %d failed, %d warnings or unknown; the report is in %s (%s, %s), %s\n",
				rep.Passed, rep.Failed, rep.Warnings, out, validate.JSONFile, validate.HTMLFile, signed)
			if !rep.OK() {
				return errors.New("the validation failed:\n" + strings.Join(rep.Failures(), "\n"))
			}
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "write the report into `DIR` (default validation-RUNID in the current directory)")
	c.Flags().BoolVar(&iqOnly, "iq-only", false, "run the installation checks only, no OQ challenges")
	c.Flags().BoolVar(&requireSync, "require-clock-sync", false, "fail, not warn, when the kernel reports the clock unsynchronised")
	c.Flags().StringVar(&reason, "reason", "", "why the qualification is run (recorded in the audit trail)")
	c.Flags().StringVar(&verify, "verify", "", "check the signature of the report in `DIR` instead of running the kit")
	c.Flags().StringVar(&keyFile, "key", "", "with --verify: the engine public key `FILE` (engine.pub) the report must be signed by")
	return c
}

// verifyValidation is `pawl validate --verify DIR [--key FILE]`: no
// project, read only.
func (a *app) verifyValidation(c *cobra.Command, dir, keyFile string) error {
	if err := a.servedBy(c); err != nil {
		return err
	}
	var pub ed25519.PublicKey
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return err
		}
		if pub, err = seal.ParsePublicKey(strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("--key %s: %w", keyFile, err)
		}
	}
	rep, err := validate.VerifyDir(dir, pub)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return notVerified(fmt.Errorf("the validation report in %s does not verify: %w", dir, err))
	}
	by := "the key " + rep.Signer.KeyID + " the report names: it was not changed after it was signed; pass --key engine.pub to prove who signed it"
	switch {
	case keyFile != "":
		by = "the engine key " + rep.Signer.KeyID + " from " + keyFile
	case rep.Signer.SelfSigned:
		by = "the key made for its run, " + rep.Signer.KeyID + " (self-signed: it proves only that the report was not changed after it was signed)"
	}
	fmt.Fprintf(a.s.out, "OK: validation report %s of %s verifies, signed by %s\n  %d checks: %d passed, %d failed, %d warnings or unknown; binary sha256 %s\n",
		rep.RunID, rep.Time.UTC().Format(time.RFC3339), by, len(rep.Checks), rep.Passed, rep.Failed, rep.Warnings, rep.Binary.SHA256)
	return nil
}
