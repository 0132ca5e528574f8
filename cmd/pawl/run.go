package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pawl-dev/pawl/engine/distrib"
	"github.com/pawl-dev/pawl/engine/egress"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/version"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func (a *app) runCmd() *cobra.Command {
	var opt ratchet.RunOptions
	var asOf string
	var pluginLog bool
	var distribute string
	c := &cobra.Command{
		Use: "run JOB --input FILE|-",
		Example: `  pawl run sensor-feed --input readings.jsonl --reason "nightly load"
  pawl run sensor-feed --input - < readings.jsonl
  pawl run sensor-feed --input readings.jsonl --plugin-log
  pawl run sensor-feed --input readings.jsonl --distribute tls://nats.site.example:4222`,
		Short: "Run one batch: every record to verified output or quarantine, committed atomically",
		Long: `Run one batch of JOB (jobs/JOB.yaml) over the input.

Every record is verified or quarantined with its reasons; the batch is
committed atomically (the audit entry is the commit point) and signed. Running
the same input with the same job and pins again answers "already_committed"
with the same batch id and changes nothing.

--as-of sets the batch's as-of time (the plugins' clock; default: now). A
time more than time_window.past (default 168h) before now or
time_window.future (default 1h) after it is refused unless --reason says
why; with a reason the batch record says the as-of time was outside the
window, and "pawl batches show" and the inspectors' report flag the batch.

--plugin-log shows what each plugin wrote to stdout, stderr or pawl.log
while judging the batch (otherwise shown only when a plugin fails): the
first 64 KiB of each plugin's output (each instance keeps its first 16 KiB),
under "plugin output:", or as plugin_log (name@version → text) with
--output json. It is diagnostics: never part of a verdict or the record.

--distribute URL (or distribute.nats in pawl.yaml) runs the batch's
stateless stages on the workers (pawl worker) of the NATS JetStream work
queue at URL; this process stays the committer, and the outputs, lineage
root and batch id are those of a run on one machine. Records leave this
process: the policy decides (kind distribute; docs/policy-guide.md) and the
batch record names the queue and the workers. With no worker taking a
chunk for distribute.idle_timeout (default 60s) the batch fails, nothing
committed (README, "Workers").

Exit status 0 when the batch is committed, quarantined records included;
2 for a usage error, an --as-of outside the window without --reason
included; 1 with a message otherwise.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			opt.Job = argv[0]
			if opt.Input == "" {
				return &usageError{fmt.Errorf("no input: pass --input FILE, or --input - to read standard input")}
			}
			if asOf != "" {
				t, err := time.Parse(time.RFC3339, asOf)
				if err != nil {
					return &usageError{fmt.Errorf("--as-of %q is not an RFC 3339 time such as 2026-11-25T00:00:00Z", asOf)}
				}
				opt.AsOf = t
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			// The batch record names the binary: its hash found in the
			// cache, or computed meanwhile (without a cache when the
			// project's cache key cannot be had: a job with plugins then
			// fails on it when they load, one without runs as before).
			hc, _ := p.BinaryHashCache()
			version.HashBinary(hc)
			if distribute == "" {
				distribute = p.Cfg.DistributeNATS
			}
			if distribute != "" {
				if pluginLog {
					return &usageError{fmt.Errorf("--plugin-log shows what plugins wrote on this machine; a distributed run's stateless plugins write on the workers: run without --distribute (and with distribute.nats unset) to see it")}
				}
				nc, err := distrib.Connect(distribute, "committer "+p.Root, resolveSet(p.Layout, p.Cfg.DistributeCredentials), resolveSet(p.Layout, p.Cfg.DistributeCA), 10*time.Second, "distribute")
				if err != nil {
					return fmt.Errorf("distributing the batch: %w", err)
				}
				defer nc.Close()
				com, err := distrib.NewCommitter(c.Context(), nc, distribute, distrib.Options{IdleTimeout: p.Cfg.DistributeIdleTimeout})
				if err != nil {
					return fmt.Errorf("distributing the batch through %s: %w", distribute, err)
				}
				opt.Distribute = com
			}
			opt.Stdin = a.s.in
			if a.s.job != nil && opt.Input != "-" {
				// The user's file, opened by the client with the user's
				// permissions; on record under its base name as locally.
				f, err := a.openUserFile(opt.Input)
				if err != nil {
					return fmt.Errorf("%w: cannot read input %s: %v", ratchet.ErrBadInput, opt.Input, err)
				}
				defer f.Close()
				opt.Stdin, opt.StdinName, opt.Input = f, filepath.Base(opt.Input), "-"
			}
			var bar *progressBar
			if f, ok := a.s.err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar = newProgressBar(f)
				opt.Progress = bar.update
			}
			res, err := ratchet.Run(c.Context(), p, opt)
			if bar != nil {
				bar.done()
			}
			if err != nil {
				return err
			}
			if !pluginLog {
				res.PluginLog = nil
			} else if res.PluginLog == nil {
				res.PluginLog = map[string]string{} // a rerun answered from the record: nothing ran
			}
			if err := a.printResult(res); err != nil {
				return err
			}
			// The batch's OpenLineage events go on to openlineage.url, or
			// wait: a problem is a warning, never the run's failure.
			if lr, err := egress.SendLineage(c.Context(), p, egress.LineageOptions{}); err != nil {
				fmt.Fprintf(a.s.err, "warning: OpenLineage events not sent: %v (kept, and sent again after a pause by the next run or scan)\n", err)
			} else if lr.Waiting {
				fmt.Fprintf(a.s.err, "warning: %d OpenLineage events wait to be sent (the last attempt failed: %s)\n", lr.Pending, lr.Problem)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&opt.Input, "input", "i", "", "input `FILE`, or - for standard input (required)")
	f.StringVar(&opt.Operator, "operator", "", "operator id recorded in the audit trail (default: config, then the OS user)")
	f.StringVar(&opt.Reason, "reason", "", "reason recorded in the audit trail (required for an --as-of outside the time window)")
	f.StringVar(&asOf, "as-of", "", "the batch's as-of time, RFC 3339 (default: now); outside the time window it needs --reason")
	f.BoolVar(&pluginLog, "plugin-log", false, "show what each plugin wrote to stdout, stderr or pawl.log (at most 64 KiB each; with --output json, as plugin_log)")
	f.StringVar(&distribute, "distribute", "", "run the stateless stages on the workers of the NATS work queue at `URL` (default: distribute.nats; README, \"Workers\")")
	f.IntVar(&opt.Workers, "workers", 0, "worker goroutines (default: config, then one per CPU); output never depends on it")
	a.addOutputFlag(c)
	return c
}

// progressBar draws records/s and bytes read on a terminal.
type progressBar struct {
	f     *os.File
	start time.Time
	last  time.Time
}

func newProgressBar(f *os.File) *progressBar {
	return &progressBar{f: f, start: time.Now()}
}

func (b *progressBar) update(p ratchet.Progress) {
	now := time.Now()
	if now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	frac := 0.0
	if p.Total > 0 {
		frac = float64(p.Bytes) / float64(p.Total)
	}
	const width = 30
	n := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		switch {
		case i < n:
			bar[i] = '='
		case i == n:
			bar[i] = '>'
		default:
			bar[i] = ' '
		}
	}
	rate := float64(p.Records) / now.Sub(b.start).Seconds()
	fmt.Fprintf(b.f, "\r[%s] %3.0f%%  %s of %s  %s records/s ", bar, frac*100, humanBytes(p.Bytes), humanBytes(p.Total), thousands(int64(rate)))
}

func (b *progressBar) done() {
	if !b.last.IsZero() {
		fmt.Fprint(b.f, "\r\033[K")
	}
}
