package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
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
	var from, to, empirical string
	c := &cobra.Command{
		Use:   "diff JOB [--from pinned|ENTRY|BATCH] [--to tree|pinned|ENTRY|BATCH] [--empirical N|all]",
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
data directory. The command changes nothing.

--empirical N (or all) settles what the static comparison cannot: the --to
contract judges again the records of the job's N newest committed batches,
from the store, as of each batch's time and from the plugin state it started
from. A record the batch quarantined that would now pass is proof of a
weakening, shown with the reasons it was quarantined for; a record it
verified that would now be quarantined is the impact of a tightening,
counted per rule.`,
		Example: `  pawl contract diff sensor-feed
  pawl contract diff sensor-feed --from 3c2f…e1 --to pinned
  pawl contract diff sensor-feed --from 12 --output json
  pawl contract diff sensor-feed --empirical all`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			job := argv[0]
			batches, err := empiricalBatches(empirical)
			if err != nil {
				return err
			}
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
			var evidence []*ratchet.Evidence
			if batches != 0 {
				if evidence, err = judgeAgain(c.Context(), p, job, to, batches); err != nil {
					return err
				}
				if proven(evidence) {
					v = contract.Weakening
				}
			}
			if a.output == "json" {
				out := map[string]any{"job": job, "from": fromLabel, "to": toLabel, "verdict": verdictName(v), "changes": nonNil(changes)}
				if batches != 0 {
					out["evidence"] = nonNil(evidence)
				}
				return a.printJSON(out)
			}
			fmt.Fprintf(a.s.out, "contract of job %s: %s → %s\n", job, fromLabel, toLabel)
			printChanges(a, "  ", changes)
			if batches != 0 {
				printEvidence(a, toLabel, evidence)
			}
			fmt.Fprintf(a.s.out, "verdict: %s\n", describeVerdict(v, changes))
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "pinned", "the old side: pinned, tree, an audit entry that wrote pins, or a batch id")
	c.Flags().StringVar(&to, "to", "tree", "the new side: tree, pinned, an audit entry that wrote pins, or a batch id")
	c.Flags().StringVar(&empirical, "empirical", "0", "judge again the records of the job's N newest committed batches (or all) with the --to contract")
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
				pl, err := ratchet.PlanAtPins(p, v.Pins, job)
				if err != nil {
					return fmt.Errorf("the pins of audit entry %d: %w", v.Entry.Seq, err)
				}
				cur, err := ratchet.ContractOf(pl)
				if err != nil {
					return err
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
	pl, label, err := planAt(ctx, p, job, ref)
	if err != nil {
		return contract.Contract{}, "", err
	}
	c, err := ratchet.ContractOf(pl)
	return c, label, err
}

// planAt is the contract part of the plan of one side.
func planAt(ctx context.Context, p *project.Project, job, ref string) (*ratchet.Plan, string, error) {
	switch ref {
	case "tree":
		pl, err := ratchet.PlanOfTree(ctx, p, job)
		return pl, "the working tree", err
	case "pinned", "":
		pins, err := p.Pins(ctx)
		if err != nil {
			return nil, "", err
		}
		pl, err := ratchet.PlanAtPins(p, pins, job)
		return pl, "the pins in force", err
	}
	if seq, err := strconv.ParseInt(ref, 10, 64); err == nil {
		versions, err := p.PinVersions(ctx)
		if err != nil {
			return nil, "", err
		}
		for _, v := range versions {
			if v.Entry.Seq == seq {
				pl, err := ratchet.PlanAtPins(p, v.Pins, job)
				return pl, fmt.Sprintf("the pins of audit entry %d (%s UTC, %s)", seq, v.Entry.Time.Format(time.DateTime), v.Entry.Operator), err
			}
		}
		return nil, "", fmt.Errorf("audit entry %d wrote no pins: `pawl contract log %s` lists the entries that did", seq, job)
	}
	b, err := p.Batch(ctx, ref)
	if err != nil {
		return nil, "", fmt.Errorf("%w (a side is tree, pinned, an audit entry number or a committed batch id)", err)
	}
	if b.Job != job {
		return nil, "", fmt.Errorf("batch %s is of job %s, not %s", ref, b.Job, job)
	}
	pl, err := ratchet.PlanOfBatch(p, &b.BatchRecord)
	return pl, "batch " + ref, err
}

// empiricalBatches reads --empirical: a number of batches, or all (-1).
func empiricalBatches(s string) (int, error) {
	if s == "all" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, &usageError{fmt.Errorf("--empirical %q: want a number of batches (0: none) or all", s)}
	}
	return n, nil
}

// judgeAgain has the contract of side `to` judge the records of the job's
// n newest committed batches (n < 0: all) again.
func judgeAgain(ctx context.Context, p *project.Project, job, to string, n int) ([]*ratchet.Evidence, error) {
	all, err := p.Batches(ctx)
	if err != nil {
		return nil, err
	}
	var mine []*project.Batch
	for i := len(all) - 1; i >= 0 && (n < 0 || len(mine) < n); i-- {
		if all[i].Job == job {
			mine = append(mine, all[i])
		}
	}
	var out []*ratchet.Evidence
	for _, b := range mine {
		pl, _, err := planAt(ctx, p, job, to)
		if err != nil {
			return nil, err
		}
		ev, err := ratchet.Rejudge(ctx, p, pl, &b.BatchRecord, p.Cfg.Operator)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func proven(evidence []*ratchet.Evidence) bool {
	for _, ev := range evidence {
		if len(ev.NowPass) > 0 {
			return true
		}
	}
	return false
}

// maxShown bounds the records listed as proof of a weakening.
const maxShown = 10

func printEvidence(a *app, toLabel string, evidence []*ratchet.Evidence) {
	w := a.s.out
	var records, quarantined, pass, fail int64
	rules := map[string]int{}
	for _, ev := range evidence {
		records += ev.Records
		quarantined += ev.Quarantined
		pass += int64(len(ev.NowPass))
		fail += int64(len(ev.NowFail))
		for _, r := range ev.NowFail {
			for _, f := range r.Reasons {
				rules[f.Rule+" at "+orRoot(f.Pointer)]++
			}
		}
	}
	fmt.Fprintf(w, "empirical check: %s judged again the records of %d batch(es): %d records, %d of them quarantined\n", toLabel, len(evidence), records, quarantined)
	switch {
	case pass > 0:
		fmt.Fprintf(w, "  would now pass %d of %d quarantined records — proof of a weakening:\n", pass, quarantined)
		shown := 0
		for _, ev := range evidence {
			for _, r := range ev.NowPass {
				if shown == maxShown {
					break
				}
				shown++
				var why []string
				for _, f := range r.Reasons {
					why = append(why, f.Rule+" at "+orRoot(f.Pointer)+": "+f.Message)
				}
				fmt.Fprintf(w, "    batch %s record %d (byte %d), quarantined for %s\n", ev.Batch, r.Ordinal, r.Offset, strings.Join(why, "; "))
			}
		}
		if pass > maxShown {
			fmt.Fprintf(w, "    … and %d more (--output json lists them all)\n", pass-maxShown)
		}
	default:
		fmt.Fprintf(w, "  no quarantined record would now pass (of %d)\n", quarantined)
	}
	if fail > 0 {
		fmt.Fprintf(w, "  would quarantine %d of %d past verified records:\n", fail, records-quarantined)
		keys := make([]string, 0, len(rules))
		for k := range rules {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return rules[keys[i]] > rules[keys[j]] || rules[keys[i]] == rules[keys[j]] && keys[i] < keys[j]
		})
		for _, k := range keys {
			fmt.Fprintf(w, "    %s: %d\n", k, rules[k])
		}
	}
}

func orRoot(ptr string) string {
	if ptr == "" {
		return "/"
	}
	return ptr
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
