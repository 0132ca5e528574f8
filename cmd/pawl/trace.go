package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/spf13/cobra"
)

// traceCmd is `pawl audit trace`.
func (a *app) traceCmd() *cobra.Command {
	c := &cobra.Command{
		Use: "trace BATCH ORDINAL",
		Example: `  pawl audit trace 3f2a1c 42
  pawl audit trace 3f2a1c 42 --output json`,
		Short: "One record's whole history: batch, input hash, every stage's verdict, outcome, proof, exports, e-signatures",
		Long: `Show everything on record about one record of a committed batch: the batch
(job, as-of time, who committed it and why), the SHA-256 of the record's input
bytes recomputed from the input blob, what every stage and validator said
(reasons and normalization actions), its outcome, its lineage leaf recomputed
from the bytes and outputs and proved in the batch's Merkle root, and what
happened to the batch since: exports, e-signatures (printed name, UTC time,
meaning, valid or not) and other audited events. A record that was corrected
(pawl quarantine resubmit), or is itself a correction, shows its chain: the
original record, then every correction of it in order, each with its batch,
whether it was accepted, who made it, when and why.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(c *cobra.Command, argv []string) error {
			ord, err := parseOrdinal(argv[1])
			if err != nil {
				return err
			}
			var t *review.RecordTrace
			err = showProject(a, c, func(p *project.Project) (*review.RecordTrace, error) {
				var terr error
				t, terr = review.Trace(c.Context(), p, argv[0], ord) // kept for the check below
				return t, terr
			}, func(t *review.RecordTrace) error {
				writeTrace(a.s.out, t)
				return nil
			})
			// Not proved: exit 4 whatever the output's form, so that a
			// script that reads JSON learns it from the exit code too.
			if err == nil && !t.Lineage.Proved {
				return notVerified(fmt.Errorf("record %d of batch %s is not proved in its batch's lineage root: %s", ord, t.BatchID, t.Lineage.Problem))
			}
			return err
		},
	}
	a.addOutputFlag(c)
	return c
}

// writeTrace prints a trace for a person.
func writeTrace(w io.Writer, t *review.RecordTrace) {
	r := t.Record
	utc := func(x time.Time) string { return x.UTC().Format("2006-01-02 15:04:05") + " UTC" }
	fmt.Fprintf(w, "record %d of batch %s: %s\n", r.Ordinal, t.BatchID, strings.ToUpper(r.Outcome))
	fmt.Fprintf(w, "  batch: job %s (%s, %s), schema %s %s, as of %s\n", t.Job, t.Source, t.Classification, t.Schema.Name, t.Schema.Version, t.AsOf)
	fmt.Fprintf(w, "  committed %s by %s (OS user %s), %s; audit entry %d %s\n", utc(t.CommittedAt.Time), t.Operator, t.OSUser, reasonText(t.Reason), t.AuditSeq, t.AuditEntry)
	fmt.Fprintf(w, "  input: %s (%s), line %d, bytes %d..%d\n", t.Input, t.InputName, r.Line, r.Offset, r.Offset+r.Length)
	if t.Inbox != nil {
		fmt.Fprintf(w, "  from: source %s, file %s (picked up from its inbox)\n", t.Inbox.Source, t.Inbox.File)
	}
	fmt.Fprintf(w, "  input hash (the record's bytes): %s\n", r.InputHash)
	if t.State != nil {
		fmt.Fprintf(w, "  judged against plugin state %s (the job's state when the batch began); the batch produced %s\n", t.State.In, t.State.Out)
	}
	fmt.Fprintln(w, "  stages:")
	for _, s := range t.Stages {
		fmt.Fprintf(w, "    %-22s %s\n", s.Stage, s.Verdict)
		for _, x := range s.Reasons {
			at := ""
			if x.Offset != nil {
				at = fmt.Sprintf(" (input byte %d)", *x.Offset)
			}
			ptr := x.Pointer
			if ptr == "" {
				ptr = "(record)"
			}
			fmt.Fprintf(w, "      reason: %s at %s%s: %s\n", x.Rule, ptr, at, x.Message)
		}
		for _, x := range s.Actions {
			fmt.Fprintf(w, "      action: %s at %s: %s\n", x.Rule, x.Pointer, x.Message)
		}
	}
	if r.Outcome == "verified" {
		fmt.Fprintf(w, "  output: %s\n", oneLine(r.Output, 200))
		fmt.Fprintf(w, "  output hash (its verified.jsonl line): %s\n", r.OutputHash)
	} else {
		fmt.Fprintf(w, "  output hash (its quarantine.jsonl line): %s\n", r.OutputHash)
	}
	l := t.Lineage
	if l.Proved {
		fmt.Fprintf(w, "  lineage: leaf %s recomputed from the bytes above; proved in root %s (leaf %d of %d, %d proof hashes): OK\n",
			l.Leaf, l.Root, l.Proof.Index+1, l.Proof.Size, len(l.Proof.Hashes))
	} else {
		fmt.Fprintf(w, "  lineage: NOT PROVED: %s\n", l.Problem)
	}
	if len(t.Exports) == 0 {
		fmt.Fprintln(w, "  exports: none")
	} else {
		fmt.Fprintln(w, "  exports:")
		for _, e := range t.Exports {
			fmt.Fprintf(w, "    %s by %s, %s (audit entry %d)\n", utc(e.Time.Time), e.Operator, reasonText(e.Reason), e.Seq)
		}
	}
	writeSignatures(w, "  ", t.Signatures)
	if c := t.Corrections; c != nil {
		fmt.Fprintln(w, "  corrections (the chain, oldest first):")
		fmt.Fprintf(w, "    original  record %d of batch %s\n", c.Original.OriginalOrdinal, c.Original.OriginalBatch)
		for i, l := range c.Corrections {
			outcome := "quarantined"
			if l.Verified {
				outcome = "accepted (verified)"
			}
			this := ""
			if l.Batch == t.BatchID {
				this = "  <- this record"
			}
			fmt.Fprintf(w, "    → %d.  batch %s, %s at %s by %s, %s (audit entry %d)%s\n", i+1, l.Batch, outcome, utc(l.Time.Time), l.Operator, reasonText(l.Reason), l.Entry, this)
		}
	}
	if len(t.Events) > 0 {
		fmt.Fprintln(w, "  other events:")
		for _, e := range t.Events {
			var d struct {
				Failure string `json:"failure"`
			}
			json.Unmarshal(e.Details, &d)
			what := ""
			if d.Failure != "" {
				what = ": " + d.Failure
			}
			fmt.Fprintf(w, "    %s  %-18s by %s%s, %s (audit entry %d)\n", utc(e.Time.Time), e.Action, e.Operator, what, reasonText(e.Reason), e.Seq)
		}
	}
}

// reasonText is an entry's reason for display.
func reasonText(r string) string {
	if strings.TrimSpace(r) == "" {
		return "no reason given"
	}
	return "reason " + oneLineQuote(r)
}
