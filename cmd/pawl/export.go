package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/pawl-dev/pawl/engine/egress"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/spf13/cobra"
)

func (a *app) exportCmd() *cobra.Command {
	var opt egress.Options
	var at string
	c := &cobra.Command{
		Use: "export BATCH --to URL",
		Example: `  pawl export 3f2a1c --to file:///srv/outbox/nightly/ --purpose report
  pawl export 3f2a1c --to https://lims.example.org/upload --purpose lims --reason "weekly transfer"`,
		Short: "Send a committed batch's verified output, checkpoint and signature to a whitelisted destination",
		Long: `Ask the egress policy (policies/, data.pawl.egress.decision) whether BATCH may
go to URL and, only if it may, copy verified.jsonl, checkpoint and
signature.json there. The quarantine never leaves.

URL names a directory and ends in "/":
  file:///DIR/            an outbox directory inside the perimeter; files are
                          written through os.Root, so no symlink or ".." can
                          lead out of the whitelisted directory
  https://HOST/PATH/      one PUT per file (<URL>verified.jsonl, ...), TLS
                          verified against export.ca_file, no redirect
                          followed, 2xx required; a destination that answers
                          with X-Content-SHA256 has its hash checked

The decision (allow or deny) is on record in the audit trail, and so is the
export (batch.exported) or its failure (batch.export_failed).

--time sets the decision's time (default: now). A time more than
time_window.past (default 168h) before now or time_window.future (default
1h) after it is refused unless --reason says why; with a reason the
export's records say the time was outside the window.

A trail that does not verify (its hash chain, as 'pawl audit verify' checks
it first) is refused before anything is asked, sent or written, with the
first bad entry named.

Exit status 3 when the policy denies (nothing is written anywhere; the
reasons are printed), 2 for a usage error (a --time outside the window
without --reason included), 1 when the export fails otherwise.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if opt.To == "" {
				return &usageError{fmt.Errorf("no destination: pass --to file:///DIR/ or --to https://HOST/PATH/")}
			}
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return &usageError{fmt.Errorf("--time %q is not an RFC 3339 time such as 2026-11-25T00:00:00Z", at)}
				}
				opt.Time = t
			}
			opt.Batch = argv[0]
			p, err := a.openTrusted(c)
			if err != nil {
				return err
			}
			defer p.Close()
			res, err := egress.Export(c.Context(), p, opt)
			if a.output == "json" && res != nil {
				out := struct {
					*egress.Result
					Status string `json:"status"`
					Error  string `json:"error,omitempty"`
				}{Result: res, Status: "exported"}
				if err != nil {
					out.Status, out.Error = "failed", err.Error()
					if errors.Is(err, gate.ErrDenied) {
						out.Status = "denied"
					}
				}
				if perr := a.printJSON(out); perr != nil {
					return perr
				}
				return err
			}
			if err != nil {
				var de *gate.DeniedError
				if errors.As(err, &de) && len(de.Reasons) > 0 {
					fmt.Fprintf(a.s.out, "DENIED  export of batch %s to %s\n", res.BatchID, opt.To)
					if de.Decision != nil {
						fmt.Fprintf(a.s.out, "  decision  %s (bundle %s %s), on record as audit entry %d\n", de.Decision.ID, de.Decision.Bundle.Revision, de.Decision.Bundle.SHA256, res.DecisionSeq)
					}
					for _, r := range de.Reasons {
						fmt.Fprintf(a.s.out, "  reason    %s\n", r)
					}
					fmt.Fprintln(a.s.out, "  nothing was written")
				}
				return err
			}
			fmt.Fprintf(a.s.out, "exported batch %s to %s\n", res.BatchID, res.Destination)
			fmt.Fprintf(a.s.out, "  decision  %s (allowed; audit entry %d)\n", res.Decision.ID, res.DecisionSeq)
			if res.TimeOutsideWindow {
				fmt.Fprintf(a.s.out, "  FLAGGED: --time %s is outside the window that needs no reason (%s); the export's records say so, with the reason\n",
					opt.Time.UTC().Format(time.RFC3339Nano), windowText(res.TimeWindow))
			}
			for _, f := range res.Files {
				check := "hash confirmed at the destination"
				if !f.Confirmed {
					check = "hash not reported by the destination"
				}
				fmt.Fprintf(a.s.out, "  %-16s -> %s  %s  %d bytes  (%s)\n", f.Name, f.To, f.Hash, f.Bytes, check)
			}
			fmt.Fprintf(a.s.out, "  on record as audit entry %d (batch.exported)\n", res.AuditSeq)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&opt.To, "to", "", "destination `URL`: file:///DIR/ or https://HOST/PATH/ (required)")
	f.StringVar(&opt.Purpose, "purpose", "", "why the batch leaves (the policy may require one of a destination's purposes)")
	f.StringVar(&opt.Operator, "operator", "", "operator id: the decision's principal and the audit trail's operator")
	f.StringVar(&opt.Reason, "reason", "", "reason recorded in the audit trail (required for a --time outside the time window)")
	f.StringVar(&at, "time", "", "the decision's time, RFC 3339 (default: now); outside the time window it needs --reason")
	a.addOutputFlag(c)
	return c
}
