package main

import (
	"fmt"
	"strings"

	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/spf13/cobra"
)

func (a *app) jobCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "job",
		Short: "Job specs: check",
	}
	check := &cobra.Command{
		Use: "check JOB",
		Example: `  pawl job check sensor-feed
  pawl job check sensor-feed --output json`,
		Short: "Start each of a job's plugins with its config, in the sandbox, and report every refusal before any data runs",
		Long: `Read the job spec in jobs/ (what pawl pin would pin) and, for each of its
validators, check that the plugin is pinned and loads, that its config
matches the config_schema of its manifest (every violation, by JSON pointer),
that its field bindings and lookup files resolve, and then run the plugin's
init with that config in the sandbox, under the project's limits, as a batch
would. Every refusal is listed: plugin, step, the config's JSON pointer (when
the refusal names one) and the message. No record is read and nothing is
recorded (as for contract diff); the plugins policy is asked when a batch
runs.

Exit status 0 when every plugin starts, 1 when any refuses.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			res, err := ratchet.CheckJob(c.Context(), p, argv[0], p.Cfg.Operator)
			if err != nil {
				return err
			}
			if a.output == "json" {
				if err := a.printJSON(res); err != nil {
					return err
				}
			} else if len(res.Refusals) == 0 {
				fmt.Fprintf(a.s.out, "OK  job %s (%s): %d plugin(s) start with their config: %s\n", res.Job, res.Spec, len(res.Plugins), strings.Join(res.Plugins, ", "))
			} else {
				w := newTable(a.s.out)
				fmt.Fprintln(w, "PLUGIN\tSTEP\tCONFIG\tREFUSAL")
				for _, r := range res.Refusals {
					at := r.Path
					if at == "" {
						at = "-"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", cell(r.Plugin), r.Step, cell(at), cell(r.Message))
				}
				if err := w.Flush(); err != nil {
					return err
				}
			}
			if n := len(res.Refusals); n > 0 {
				return fmt.Errorf("job %s: %d refusal(s) by its plugins: fix the config in %s, then check again", res.Job, n, res.Spec)
			}
			return nil
		},
	}
	a.addOutputFlag(check)
	c.AddCommand(check)
	return c
}
