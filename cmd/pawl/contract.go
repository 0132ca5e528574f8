package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/pawl-dev/pawl/engine/contract"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/spf13/cobra"
)

func (a *app) contractCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "contract",
		Short: "Compare a job's contract between pins, batches and the working tree: what got stricter, what got weaker",
		Long: `A job's contract is everything that decides a verdict: the schema with every
file its $refs reach, the Unicode profile, the validators with their versions,
configurations and lookup files, and the record size limit. 'pawl contract
diff' classifies each change, keyword by keyword, as a tightening (it refuses
records the old contract admitted, and admits none it refused), a weakening
(it admits records the old one refused) or unknown (no static rule decides,
e.g. a changed pattern or a new plugin version). 'pawl contract log' lists
every version of a job's contract on record with its classification.`,
	}
	c.AddCommand(a.contractDiffCmd(), a.contractLogCmd())
	return c
}

func (a *app) contractDiffCmd() *cobra.Command {
	var from, to string
	c := &cobra.Command{
		Use:   "diff JOB [--from pinned|ENTRY|BATCH] [--to tree|pinned|ENTRY|BATCH]",
		Short: "Classify each change of a job's contract as tightening, weakening or unknown",
		Long: `Compare the contract of JOB at --from (default: the pins in force) with the one
at --to (default: the working tree, which is what 'pawl pin' would pin).
Each side is one of:
  tree      the job's files as they are now (with the limits pawl.yaml sets)
  pinned    the pins in force: the last pawl.lock on record
  ENTRY     the pins written by that audit entry (a pin.changed or
            plugin.added; 'pawl contract log JOB' lists them)
  BATCH     the contract a committed batch was judged by (its id)
Every side is rebuilt from the store: an old version needs nothing but the
data directory. The command changes nothing.`,
		Example: `  pawl contract diff sensor-feed
  pawl contract diff sensor-feed --from 3c2f…e1 --to pinned
  pawl contract diff sensor-feed --from 12 --output json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			job := argv[0]
			prev, fromLabel, err := contractAt(c.Context(), p, job, from)
			if err != nil {
				return fmt.Errorf("--from %s: %w", from, err)
			}
			next, toLabel, err := contractAt(c.Context(), p, job, to)
			if err != nil {
				return fmt.Errorf("--to %s: %w", to, err)
			}
			changes, err := contract.Compare(prev, next)
			if err != nil {
				return err
			}
			v := contract.Verdict(changes)
			if a.output == "json" {
				return a.printJSON(map[string]any{"job": job, "from": fromLabel, "to": toLabel, "verdict": verdictName(v), "changes": nonNil(changes)})
			}
			fmt.Fprintf(a.s.out, "contract of job %s: %s → %s\n", job, fromLabel, toLabel)
			printChanges(a, "  ", changes)
			fmt.Fprintf(a.s.out, "verdict: %s\n", describeVerdict(v, changes))
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "pinned", "the old side: pinned, tree, an audit entry that wrote pins, or a batch id")
	c.Flags().StringVar(&to, "to", "tree", "the new side: tree, pinned, an audit entry that wrote pins, or a batch id")
	a.addOutputFlag(c)
	return c
}

func (a *app) contractLogCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "log JOB",
		Short: "List every version of a job's contract on record, each classified against the one before",
		Long: `Walk the pins on record (every pin.changed and plugin.added entry), oldest
first, and print each one that changed JOB's contract: the entry, when, who,
why, and the changes against the version before, classified as in 'pawl
contract diff'.`,
		Example: `  pawl contract log sensor-feed
  pawl contract log sensor-feed --output json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			job := argv[0]
			versions, err := p.PinVersions(c.Context())
			if err != nil {
				return err
			}
			type logEntry struct {
				Entry    int64             `json:"entry"`
				Time     time.Time         `json:"time"`
				Operator string            `json:"operator"`
				Reason   string            `json:"reason"`
				Verdict  string            `json:"verdict"`
				Changes  []contract.Change `json:"changes"`
			}
			var out []logEntry
			var prev *contract.Contract
			jobRel, err := project.JobPath(p.Root, job)
			if err != nil {
				return err
			}
			for _, v := range versions {
				if _, ok := v.Pins[jobRel]; !ok {
					continue
				}
				cur, err := ratchet.ContractAtPins(p, v.Pins, job)
				if err != nil {
					return fmt.Errorf("the pins of audit entry %d: %w", v.Entry.Seq, err)
				}
				le := logEntry{Entry: v.Entry.Seq, Time: v.Entry.Time, Operator: v.Entry.Operator, Reason: v.Entry.Reason, Verdict: "first"}
				if prev != nil {
					if le.Changes, err = contract.Compare(*prev, cur); err != nil {
						return err
					}
					if len(le.Changes) == 0 {
						continue
					}
					le.Verdict = verdictName(contract.Verdict(le.Changes))
				}
				prev = &cur
				out = append(out, le)
			}
			if len(out) == 0 {
				return fmt.Errorf("job %s has never been pinned (no %s among the pins on record): run `pawl pin`", job, jobRel)
			}
			if a.output == "json" {
				for i := range out {
					out[i].Changes = nonNil(out[i].Changes)
				}
				return a.printJSON(map[string]any{"job": job, "versions": out})
			}
			for _, le := range out {
				fmt.Fprintf(a.s.out, "entry %d  %s UTC  %s  %s: %s\n", le.Entry, le.Time.Format(time.DateTime), le.Operator, le.Verdict, le.Reason)
				printChanges(a, "  ", le.Changes)
			}
			return nil
		},
	}
	a.addOutputFlag(c)
	return c
}

// contractAt resolves one side of a comparison (see contract diff's help).
func contractAt(ctx context.Context, p *project.Project, job, ref string) (contract.Contract, string, error) {
	switch ref {
	case "tree":
		c, err := ratchet.ContractOfTree(ctx, p, job)
		return c, "the working tree", err
	case "pinned", "":
		pins, err := p.Pins(ctx)
		if err != nil {
			return contract.Contract{}, "", err
		}
		c, err := ratchet.ContractAtPins(p, pins, job)
		return c, "the pins in force", err
	}
	if seq, err := strconv.ParseInt(ref, 10, 64); err == nil {
		versions, err := p.PinVersions(ctx)
		if err != nil {
			return contract.Contract{}, "", err
		}
		for _, v := range versions {
			if v.Entry.Seq == seq {
				c, err := ratchet.ContractAtPins(p, v.Pins, job)
				return c, fmt.Sprintf("the pins of audit entry %d (%s UTC, %s)", seq, v.Entry.Time.Format(time.DateTime), v.Entry.Operator), err
			}
		}
		return contract.Contract{}, "", fmt.Errorf("audit entry %d wrote no pins: `pawl contract log %s` lists the entries that did", seq, job)
	}
	b, err := p.Batch(ctx, ref)
	if err != nil {
		return contract.Contract{}, "", fmt.Errorf("%w (a side is tree, pinned, an audit entry number or a committed batch id)", err)
	}
	if b.Job != job {
		return contract.Contract{}, "", fmt.Errorf("batch %s is of job %s, not %s", ref, b.Job, job)
	}
	c, err := ratchet.ContractOfBatch(p, &b.BatchRecord)
	return c, "batch " + ref, err
}

func printChanges(a *app, indent string, changes []contract.Change) {
	if len(changes) == 0 {
		fmt.Fprintf(a.s.out, "%sno change\n", indent)
	}
	for _, ch := range changes {
		fmt.Fprintf(a.s.out, "%s%s\n", indent, ch)
	}
}

func verdictName(v contract.Kind) string {
	if v == 0 {
		return "unchanged"
	}
	return v.String()
}

func describeVerdict(v contract.Kind, changes []contract.Change) string {
	n := map[contract.Kind]int{}
	for _, c := range changes {
		n[c.Kind]++
	}
	s := fmt.Sprintf("%s (%d weakening, %d tightening, %d unknown)", verdictName(v), n[contract.Weakening], n[contract.Tightening], n[contract.Unknown])
	switch v {
	case contract.Weakening:
		s += ": records the old contract quarantined may now pass"
	case contract.Unknown:
		s += ": no static rule decides every change"
	}
	return s
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
