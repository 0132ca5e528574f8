package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/inbox"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/spf13/cobra"
)

func (a *app) watchCmd() *cobra.Command {
	var once bool
	var interval time.Duration
	c := &cobra.Command{
		Use: "watch [--once] [--interval D]",
		Example: `  pawl watch --once
  pawl watch --interval 10s`,
		Short: "Gate the files that land in the jobs' sources' inboxes: each one a batch, moved out by content hash, its source notified",
		Long: `Scan the inbox of every source of every job (sources: in jobs/*.yaml) and run
each file that has landed complete as a batch of its job: in rename mode a
regular file whose name does not start with "." nor end in .part or .tmp,
in done-marker mode NAME once NAME.done exists. Partial files are never read.

A committed file (quarantined records included, or one already committed:
its batch id comes from its content) moves to processed/<sha256>-<name> in
its inbox; a failed one to failed/<sha256>-<name> with a .reason file. The
move comes after the commit point: a file still in the inbox after a crash
is found committed at the next scan, never run twice. A file that changes
while it is read commits nothing and is read again at the next scan.

After a batch with quarantined records, or a failed file, the source's
notify destination gets a quarantine report, as an egress decision (kind
notice); one that cannot be delivered waits in the data directory and is
retried at each scan, never holding up the gate.

The inboxes are polled every --interval (watch.interval, default 2s), not
watched with inotify: polling works on every file system, NFS included.
--once scans once and exits. Each scan takes the project lock as 'pawl
run' does; under 'pawl serve' the service gates the sources itself.

Exit status 0 when the scan ran (files that failed or were deferred are on
record and in the output); 1 when a job or an inbox could not be scanned.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if a.s.job != nil && !once {
				return &usageError{fmt.Errorf("pawl watch runs only with --once through a service: the service gates the sources itself, every watch.interval")}
			}
			if c.Flags().Changed("interval") && interval <= 0 {
				return &usageError{fmt.Errorf("--interval %s: give a positive duration, such as 2s or 1m", interval)}
			}
			// The authz question is asked once, here; each scan after it
			// opens the project as the same caller.
			p, err := a.open(c)
			if err != nil {
				return err
			}
			cfg := p.Cfg
			if c.Flags().Changed("interval") {
				cfg.WatchInterval = interval
			}
			s := inbox.NewScanner()
			if once {
				defer p.Close()
				rep, err := s.Scan(c.Context(), p, inbox.Options{Log: a.s.out})
				if err != nil {
					return err
				}
				return scanSummary(a.s.out, rep)
			}
			p.Close()
			return gateLoop(c.Context(), p.Root, cfg, s, a.s.out, a.s.err, nil)
		},
	}
	c.Flags().BoolVar(&once, "once", false, "scan once and exit")
	c.Flags().DurationVar(&interval, "interval", 2*time.Second, "scan every `D` (default: watch.interval, then 2s)")
	return c
}

// scanSummary prints a scan's totals and returns the error for its
// problems (a job or an inbox that could not be scanned), if any.
func scanSummary(w io.Writer, rep *inbox.Report) error {
	n := map[string]int{}
	for _, o := range rep.Files {
		n[o.Status]++
	}
	m := map[string]int{}
	for _, o := range rep.Notices {
		m[o.Status]++
	}
	fmt.Fprintf(w, "%d files: %d committed, %d already committed, %d failed, %d left for the next scan; %d notices: %d sent, %d queued, %d denied\n",
		len(rep.Files), n["committed"], n["already_committed"], n[inbox.StatusFailed], n[inbox.StatusDeferred],
		len(rep.Notices), m["sent"], m["queued"], m["denied"])
	if len(rep.Problems) > 0 {
		return fmt.Errorf("%s", strings.Join(rep.Problems, "\n"))
	}
	return nil
}

// gateLoop scans every interval until ctx ends: each scan opens the
// project (taking its lock, so it runs between commands), scans, and
// closes it. A scan's problems go to errw and the loop goes on; after a
// scan that committed a batch, committed (when set) is called (the
// service's witness push).
func gateLoop(ctx context.Context, root string, cfg config.Config, s *inbox.Scanner, out, errw io.Writer, committed func()) error {
	t := time.NewTicker(cfg.WatchInterval)
	defer t.Stop()
	for {
		more := false
		if rep, err := scanOnce(ctx, root, cfg, s, out); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(errw, "pawl: gate: %v\n", err)
		} else {
			for _, p := range rep.Problems {
				fmt.Fprintf(errw, "pawl: gate: %s\n", p)
			}
			if committed != nil && rep.Committed() {
				committed()
			}
			more = rep.More
		}
		next := t.C
		if more {
			// A backlog: scan again after a pause long enough for a
			// command waiting for the project lock (it polls every 50 ms)
			// to take it first.
			next = time.After(min(cfg.WatchInterval, 200*time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-next:
		}
	}
}

// scanOnce opens the project and scans once; with no job declaring
// sources and no notice waiting it does not open the project at all.
func scanOnce(ctx context.Context, root string, cfg config.Config, s *inbox.Scanner, out io.Writer) (*inbox.Report, error) {
	if !hasSources(root) {
		if ents, _ := os.ReadDir(filepath.Join(project.NewLayout(root, cfg.DataDir).Data, "notices", "pending")); len(ents) == 0 {
			return &inbox.Report{}, nil
		}
	}
	p, err := engine.Open(ctx, root, cfg)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return s.Scan(ctx, p, inbox.Options{Log: out, MaxFiles: loopMaxFiles})
}

// loopMaxFiles is how many files one scan of the loop takes through the
// gate before it lets go of the project lock.
const loopMaxFiles = 8

// hasSources says whether any job of the project declares sources.
func hasSources(root string) bool {
	names, _ := project.ListJobs(root)
	for _, n := range names {
		if j, err := project.LoadJob(root, "jobs/"+n+".yaml"); err == nil && len(j.Sources) > 0 {
			return true
		}
	}
	return false
}
