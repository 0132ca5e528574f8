package main

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/spf13/cobra"
)

// demoAsOf fixes the demo's clock so that every run of it is the same batch.
var demoAsOf = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func (a *app) demoCmd() *cobra.Command {
	var dir string
	var n int
	c := &cobra.Command{
		Use: "demo",
		Example: `  pawl demo
  pawl demo --dir /tmp/pawl-tour --records 1000`,
		Short: "Show pawl end to end on generated sensor readings, in a temporary project",
		Long: `Create a project in a temporary directory, generate sensor readings with
realistic defects mixed in (a value of "hot", an extra field, a malformed
device id, a missing timestamp, invisible and bidi characters, invalid UTF-8),
run the job, show the summary and three quarantined records with their
reasons, run it again to show that the rerun is answered from the record,
verify the audit trail and the signature, and say where everything is.
Deterministic: the same batch id every time.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			w := a.s.out
			if dir == "" {
				d, err := os.MkdirTemp("", "pawl-demo-*")
				if err != nil {
					return err
				}
				dir = d
			}
			fmt.Fprintf(w, "== 1. pawl init %s\n", dir)
			p, err := engine.Init(ctx, dir, engine.InitOptions{Operator: "demo", Reason: "pawl demo"})
			if err != nil {
				return err
			}
			defer p.Close()
			fmt.Fprintf(w, "   project with the example job sensor-feed; engine key %s\n\n", p.Key.ID())

			input := filepath.Join(p.Root, "input", "sensor-readings.jsonl")
			if err := os.MkdirAll(filepath.Dir(input), 0o755); err != nil {
				return err
			}
			f, err := os.Create(input)
			if err != nil {
				return err
			}
			gerr := demo.GenerateSensorReadings(f, demo.GenOptions{Records: n, Seed: 42, AsOf: demoAsOf, FailureRate: 0.03, Unicode: true})
			if err := f.Close(); gerr == nil {
				gerr = err
			}
			if gerr != nil {
				return gerr
			}
			fmt.Fprintf(w, "== 2. generated %d sensor readings with defects mixed in: %s\n\n", n, input)

			opt := ratchet.RunOptions{Job: "sensor-feed", Input: input, Operator: "demo", Reason: "pawl demo", AsOf: demoAsOf}
			fmt.Fprintln(w, "== 3. pawl run sensor-feed --input", input)
			res, err := ratchet.Run(ctx, p, opt)
			if err != nil {
				return err
			}
			writeSummary(w, res)

			fmt.Fprintln(w, "\n== 4. three quarantined records and why (pawl quarantine show BATCH ORDINAL)")
			// One record for each kind of failure worth seeing: an invisible
			// bidi control, a value of the wrong type, bytes that are not UTF-8.
			want := []string{"unicode.bidi", "type", "utf8.invalid"}
			picked := map[string]*finding.QuarantineEntry{}
			err = p.Quarantined(ctx, res.BatchID, func(q *finding.QuarantineEntry) bool {
				for _, r := range q.Reasons {
					if _, ok := picked[r.Rule]; !ok {
						picked[r.Rule] = q
					}
				}
				return len(picked) < 64
			})
			if err != nil {
				return err
			}
			for _, rule := range want {
				if q := picked[rule]; q != nil {
					writeQuarantineEntry(w, res.BatchID, res.Format, q)
				}
			}

			fmt.Fprintln(w, "\n== 5. the same run again")
			again, err := ratchet.Run(ctx, p, opt)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "   batch %s: %s (%d verified, %d quarantined), nothing redone\n", again.BatchID, again.Status, again.Verified, again.Quarantined)

			fmt.Fprintln(w, "\n== 6. pawl audit verify")
			rep, err := review.Verify(ctx, p)
			if err != nil {
				return err
			}
			writeVerifyReport(a, rep)
			chk, err := seal.VerifyFile(res.Signature, []ed25519.PublicKey{p.Key.Public})
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "signature: OK (key %s), outputs %v match\n", chk.KeyID, chk.Outputs)

			fmt.Fprintln(w, "\n== 7. where everything is")
			fmt.Fprintf(w, "   project      %s\n", p.Root)
			fmt.Fprintf(w, "   verified     %s\n", filepath.Join(res.Dir, actions.VerifiedFile))
			fmt.Fprintf(w, "   quarantine   %s\n", filepath.Join(res.Dir, actions.QuarantineFile))
			fmt.Fprintf(w, "   signature    %s\n", res.Signature)
			fmt.Fprintf(w, "   audit trail  %s\n", filepath.Join(p.Data, "audit.db"))
			fmt.Fprintf(w, "   store        %s\n", filepath.Join(p.Data, "store"))
			fmt.Fprintf(w, "try: pawl -C %s quarantine list\n", p.Root)
			if !rep.OK() {
				return fmt.Errorf("the demo's audit trail does not verify")
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "create the demo project in `DIR` instead of a new temporary directory")
	c.Flags().IntVar(&n, "records", 5000, "how many sensor readings to generate")
	return c
}
