package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/spf13/cobra"
)

func (a *app) quarantineCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "quarantine",
		Short: "What did not come through, and why",
	}
	list := &cobra.Command{
		Use: "list [BATCH]",
		Example: `  pawl quarantine list
  pawl quarantine list 3f2a1c --output json`,
		Short: "List quarantined records with their first reason (all batches, or one)",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			batches, err := p.Batches(c.Context())
			if err != nil {
				return err
			}
			if len(argv) == 1 {
				b, err := p.Batch(c.Context(), argv[0])
				if err != nil {
					return err
				}
				batches = []*project.Batch{b}
			}
			type row struct {
				Batch string `json:"batch_id"`
				*finding.QuarantineEntry
			}
			// JSON goes out a row at a time, as text does: a batch may
			// hold millions of quarantined records.
			var rows *jsonArray
			if a.output == "json" {
				rows = a.newJSONArray()
			}
			var werr error
			// The table is flushed every tableChunk rows: a batch may hold
			// millions of quarantined records, and tabwriter keeps what it
			// has not flushed.
			w := newTable(a.s.out)
			n := 0
			for _, b := range batches {
				// The text lists reasons: records' bytes are read (from
				// the input blob, in quarantine format 2) for JSON only.
				err := p.QuarantinedAsStored(c.Context(), b.BatchID, func(q *finding.QuarantineEntry, fill func(*finding.QuarantineEntry) error) bool {
					if rows != nil {
						if fill(q) != nil {
							return false
						}
						werr = rows.add(row{b.BatchID, q})
						return werr == nil
					}
					r := q.Reasons[0]
					more := ""
					if len(q.Reasons) > 1 {
						more = fmt.Sprintf(" (+%d more)", len(q.Reasons)-1)
					}
					fmt.Fprintf(w, "%s\t%8d\t%s\t%s\t%s%s\n", b.BatchID[:12], q.Ordinal, r.Stage, r.Rule, oneLine(r.Pointer+" "+r.Message, 90), more)
					if n++; n%tableChunk == 0 {
						w.Flush()
					}
					return true
				})
				if err == nil {
					err = werr
				}
				if err != nil {
					return err
				}
			}
			if rows != nil {
				return rows.end()
			}
			return w.Flush()
		},
	}
	show := &cobra.Command{
		Use:     "show BATCH ORDINAL",
		Example: `  pawl quarantine show 3f2a1c 2`,
		Short:   "Show one quarantined record: where it was, its bytes, and every reason",
		Long: `Show one quarantined record: where it was in the input, its bytes, and every
reason. What is shown is checked against the record: the record's bytes and its
quarantine line are hashed into its lineage leaf and proved in the lineage root
the batch's audit entry carries, as 'pawl audit trace' does. A record that does
not prove is shown with the problem, and the command exits 4.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(c *cobra.Command, argv []string) error {
			ord, err := parseOrdinal(argv[1])
			if err != nil {
				return err
			}
			p, err := a.openChecked(c)
			if err != nil {
				return err
			}
			defer p.Close()
			b, err := p.Batch(c.Context(), argv[0])
			if err != nil {
				return err
			}
			q, err := p.QuarantineEntry(c.Context(), b.BatchID, ord)
			if err != nil {
				return err
			}
			// The bytes come from the input blob (quarantine format 2) and
			// the reasons from the stored line: both are proved against
			// the record before anyone acts on them.
			t, err := review.Trace(c.Context(), p, b.BatchID, ord)
			if err != nil {
				return err
			}
			proved, problem := t.Lineage.Proved, t.Lineage.Problem
			if proved {
				// What is shown must be what was proved: the entry read
				// here is the batch folder's copy, the proof the store's.
				if d := differsFromProved(q, t); d != "" {
					proved, problem = false, d
				}
			}
			if a.output == "json" {
				err = a.printJSON(struct {
					*finding.QuarantineEntry
					Proved  bool   `json:"proved"`
					Problem string `json:"problem,omitempty"`
				}{q, proved, problem})
			} else {
				writeQuarantineEntry(a.s.out, b.BatchID, b.Format, q)
				writeLineageCheck(a.s.out, t.AuditSeq, proved, problem)
			}
			if err == nil && !proved {
				return notVerified(fmt.Errorf("record %d of batch %s is not proved in its batch's lineage root: %s", ord, b.BatchID, problem))
			}
			return err
		},
	}
	var file, reason, operator string
	resubmit := &cobra.Command{
		Use:     "resubmit BATCH ORDINAL --file FIXED.json --reason TEXT",
		Example: `  pawl quarantine resubmit 3f2a1c 2 --file fixed.json --reason "unit corrected, deviation DV-31"`,
		Short:   "Run a corrected record through the same pins as its batch, as a new batch linked to the original",
		Args:    args(cobra.ExactArgs(2)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			ord, err := parseOrdinal(argv[1])
			if err != nil {
				return err
			}
			if file == "" {
				return &usageError{fmt.Errorf("--file FIXED.json (the corrected record) is required")}
			}
			fixed, err := a.readUserFile(file)
			if err != nil {
				return err
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			res, err := ratchet.Resubmit(c.Context(), p, argv[0], ord, fixed, operator, reason)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(toRunJSON(res))
			}
			outcome := "verified"
			if res.Verified == 0 {
				outcome = "quarantined again (see `pawl quarantine show " + res.BatchID[:12] + " 1`)"
			}
			fmt.Fprintf(a.s.out, "record %d of batch %s resubmitted as batch %s (%s): %s\n", ord, argv[0], res.BatchID, res.Status, outcome)
			return nil
		},
	}
	resubmit.Flags().StringVar(&file, "file", "", "the corrected record, one JSON object")
	resubmit.Flags().StringVar(&reason, "reason", "", "what was corrected and why (required; recorded in the audit trail)")
	resubmit.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	a.addOutputFlag(list)
	a.addOutputFlag(show)
	a.addOutputFlag(resubmit)
	c.AddCommand(list, show, resubmit)
	return c
}

// writeQuarantineEntry prints one quarantined record for a person. A
// Parquet row's bytes are its canonical JSON, not a span of the input.
func writeQuarantineEntry(w io.Writer, batch, format string, q *finding.QuarantineEntry) {
	if format == "parquet" {
		fmt.Fprintf(w, "record %d of batch %s: row %d of the Parquet file (its row group starts at byte %d); its bytes are the row as canonical JSON (%d bytes)\n", q.Ordinal, batch, q.Line, q.Offset, q.Length)
	} else {
		fmt.Fprintf(w, "record %d of batch %s: line %d, input bytes %d..%d\n", q.Ordinal, batch, q.Line, q.Offset, q.Offset+q.Length)
	}
	switch {
	case q.RawOmitted != "":
		fmt.Fprintf(w, "  bytes: not kept here: %s\n", q.RawOmitted)
	case q.RawBase64 != "":
		fmt.Fprintf(w, "  bytes (not valid UTF-8, base64): %s\n", oneLine(q.RawBase64, 200))
	default:
		fmt.Fprintf(w, "  bytes: %s\n", oneLine(strconv.Quote(q.Raw), 200))
	}
	for _, r := range q.Reasons {
		at := ""
		if r.Offset != nil {
			at = fmt.Sprintf(" (input byte %d)", *r.Offset)
		}
		ptr := r.Pointer
		if ptr == "" {
			ptr = "(record)"
		}
		fmt.Fprintf(w, "  reason: %s/%s at %s%s: %s\n", r.Stage, r.Rule, ptr, at, r.Message)
	}
	for _, x := range q.Actions {
		fmt.Fprintf(w, "  action: %s/%s at %s: %s\n", x.Stage, x.Rule, x.Pointer, x.Message)
	}
}

// writeLineageCheck says whether a shown record is the one on record.
func writeLineageCheck(w io.Writer, auditSeq int64, proved bool, problem string) {
	if proved {
		fmt.Fprintf(w, "  on record: its bytes and quarantine line hash to its lineage leaf, proved in the root of audit entry %d: OK\n", auditSeq)
		return
	}
	fmt.Fprintf(w, "  on record: NOT PROVED: %s\n", problem)
}

// differsFromProved says how the entry q, as shown, differs from the
// record the trace t proved (its place, reasons, actions, and the sha256
// of its bytes), or "" when it does not.
func differsFromProved(q *finding.QuarantineEntry, t *review.RecordTrace) string {
	r := t.Record
	const what = "the batch folder's quarantine.jsonl says other things of this record than the line proved in its lineage (the store's copy under the hash on record): "
	switch {
	case r.Outcome != "quarantined":
		return what + "the proved record was " + r.Outcome
	case q.Line != r.Line || q.Offset != r.Offset || q.Length != r.Length:
		return what + fmt.Sprintf("line %d, bytes %d..%d against line %d, bytes %d..%d", q.Line, q.Offset, q.Offset+q.Length, r.Line, r.Offset, r.Offset+r.Length)
	case !reflect.DeepEqual(q.Reasons, r.Reasons) || !reflect.DeepEqual(nonNil(q.Actions), nonNil(r.Actions)):
		return what + "its reasons or actions differ"
	case q.RawOmitted != "":
		return "" // no bytes shown
	}
	shown := []byte(q.Raw)
	if q.RawBase64 != "" {
		var err error
		if shown, err = base64.StdEncoding.DecodeString(q.RawBase64); err != nil {
			return what + "its bytes are not base64: " + err.Error()
		}
	}
	if sum := sha256.Sum256(shown); "sha256:"+hex.EncodeToString(sum[:]) != r.InputHash {
		return what + fmt.Sprintf("the bytes shown hash to sha256:%x, the proved ones to %s", sum, r.InputHash)
	}
	return ""
}

func oneLine(s string, max int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}
