package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/spf13/cobra"
)

// newTable writes the rows of a list: cells end with a tab, and the columns
// are as wide as their widest cell plus two spaces (text/tabwriter), so a
// long job name or rule does not shift the columns after it. The last cell
// of a row is not padded. Flush it when the rows are written.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// cell is s as one cell of a table row: a tab, newline or carriage return
// in it (a reason or a message may hold any) would end the cell or the row,
// so each becomes a space. The JSON output keeps them.
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r', '\v', '\f':
			return ' '
		}
		return r
	}, s)
}

// tableChunk is how many rows a long table aligns at a time.
const tableChunk = 1000

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.s.out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonArray prints a JSON array an element at a time, byte for byte as
// printJSON prints the whole slice: for a list that may be too long to
// hold (a batch's quarantined records). Elements go out through a buffer;
// end flushes it and closes the array. A list that fails half way
// leaves its output cut short (not a whole array) and returns the error,
// a non-zero exit.
type jsonArray struct {
	out  *bufio.Writer
	elem bytes.Buffer
	enc  *json.Encoder
	n    int
}

func (a *app) newJSONArray() *jsonArray {
	ja := &jsonArray{out: bufio.NewWriterSize(a.s.out, 64<<10)}
	ja.enc = json.NewEncoder(&ja.elem)
	ja.enc.SetEscapeHTML(false)
	ja.enc.SetIndent("  ", "  ") // an element's lines, one level in
	return ja
}

func (ja *jsonArray) add(v any) error {
	ja.elem.Reset()
	if err := ja.enc.Encode(v); err != nil {
		return err
	}
	sep := ",\n  "
	if ja.n == 0 {
		sep = "[\n  "
	}
	ja.n++
	ja.out.WriteString(sep)
	_, err := ja.out.Write(bytes.TrimSuffix(ja.elem.Bytes(), []byte("\n")))
	return err
}

func (ja *jsonArray) end() error {
	if ja.n == 0 {
		ja.out.WriteString("[]\n")
	} else {
		ja.out.WriteString("\n]\n")
	}
	return ja.out.Flush()
}

// runJSON is the --output json form of a run: stable keys for scripts.
type runJSON struct {
	BatchID            string              `json:"batch_id"`
	Status             string              `json:"status"`
	Job                string              `json:"job"`
	AsOf               string              `json:"as_of"`
	AsOfOutsideWindow  bool                `json:"as_of_outside_window,omitempty"`
	AsOfWindow         *actions.TimeWindow `json:"as_of_window,omitempty"`
	Input              string              `json:"input_hash"`
	RecordsIn          int64               `json:"records_in"`
	RecordsVerified    int64               `json:"records_verified"`
	RecordsQuarantined int64               `json:"records_quarantined"`
	Stages             []actions.StageStat `json:"stages"`
	Rules              []actions.RuleCount `json:"rules"`
	Normalize          any                 `json:"normalize"`
	Outputs            map[string]outJSON  `json:"outputs"`
	Signature          string              `json:"signature"`
	AuditSeq           int64               `json:"audit_seq"`
	ElapsedSeconds     float64             `json:"elapsed_seconds"`
	RecordsPerSecond   float64             `json:"records_per_second"`
	Warnings           []string            `json:"warnings,omitempty"`
	// PluginLog is what each plugin wrote while judging the batch, by
	// name@version (`pawl run --plugin-log`; at most
	// ratchet.MaxPluginLogBytes, 64 KiB, each).
	PluginLog map[string]string `json:"plugin_log,omitempty"`
	// Distributed is where a distributed batch's records went: the work
	// queue, the policy decision, the workers (as on record).
	Distributed *actions.Distribution `json:"distributed,omitempty"`
}

type outJSON struct {
	Path    string `json:"path"`
	Hash    string `json:"hash"`
	Bytes   int64  `json:"bytes"`
	Records int64  `json:"records"`
	// Format is quarantine.jsonl's quarantine format (2: records' bytes
	// left to the input blob); absent for format 1 and other outputs.
	Format int `json:"format,omitempty"`
}

func toRunJSON(r *ratchet.Result) runJSON {
	out := runJSON{
		BatchID: r.BatchID, Status: r.Status, Job: r.Job, AsOf: r.AsOf, AsOfOutsideWindow: r.AsOfOutsideWindow, AsOfWindow: r.AsOfWindow, Input: string(r.Input),
		RecordsIn: r.RecordsIn, RecordsVerified: r.Verified, RecordsQuarantined: r.Quarantined,
		Stages: r.Stages, Rules: r.Rules, Normalize: r.Normalize, Outputs: map[string]outJSON{},
		Signature: r.Signature, AuditSeq: r.AuditSeq,
		ElapsedSeconds: r.Elapsed.Seconds(), RecordsPerSecond: r.RecordsPerSec, Warnings: r.Warnings, PluginLog: r.PluginLog,
		Distributed: r.Distributed,
	}
	for name, o := range r.Outputs {
		oj := outJSON{Path: filepath.Join(r.Dir, name), Hash: string(o.Hash), Bytes: o.Bytes, Records: o.Records}
		if name == actions.QuarantineFile {
			oj.Format = r.QuarantineFormat
		}
		out.Outputs[name] = oj
	}
	return out
}

func (a *app) printResult(r *ratchet.Result) error {
	if a.output == "json" {
		return a.printJSON(toRunJSON(r))
	}
	writeSummary(a.s.out, r)
	if r.PluginLog != nil {
		writePluginLog(a.s.out, r.PluginLog)
	}
	return nil
}

// writePluginLog prints what each plugin wrote, indented under its name.
func writePluginLog(w io.Writer, logs map[string]string) {
	if len(logs) == 0 {
		fmt.Fprintln(w, "  plugin output: none (no plugin wrote to stdout, stderr or pawl.log)")
		return
	}
	ids := make([]string, 0, len(logs))
	for id := range logs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintln(w, "  plugin output:")
	for _, id := range ids {
		fmt.Fprintf(w, "    %s:\n", id)
		for _, l := range strings.Split(strings.TrimRight(logs[id], "\n"), "\n") {
			fmt.Fprintf(w, "      %s\n", l)
		}
	}
}

// writeSummary is the text summary of a run.
func writeSummary(w io.Writer, r *ratchet.Result) {
	fmt.Fprintf(w, "batch %s  %s\n", r.BatchID, strings.ToUpper(strings.ReplaceAll(r.Status, "_", " ")))
	fmt.Fprintf(w, "  job %s (%s, %s), as of %s, input %s (%s)\n", r.Job, r.Source, r.Classification, r.AsOf, r.Input, humanBytes(r.InputBytes))
	if r.AsOfOutsideWindow {
		fmt.Fprintf(w, "  FLAGGED: the as-of time was given outside the window that needs no reason (%s); reason on record: %s\n",
			windowText(r.AsOfWindow), oneLineQuote(r.Reason))
	}
	fmt.Fprintf(w, "  records: %s in, %s verified, %s quarantined\n", thousands(r.RecordsIn), thousands(r.Verified), thousands(r.Quarantined))
	if r.BlankLines > 0 || r.BOMStripped {
		fmt.Fprintf(w, "  framing: %d blank line(s) skipped, byte order mark stripped: %v\n", r.BlankLines, r.BOMStripped)
	}
	fmt.Fprintln(w, "  stages:")
	for _, s := range r.Stages {
		fmt.Fprintf(w, "    %-10s %12s in %10s rejected\n", s.Stage, thousands(s.In), thousands(s.Rejected))
	}
	fmt.Fprintf(w, "  normalize: %s\n", r.Normalize)
	if len(r.Rules) > 0 {
		fmt.Fprintln(w, "  rules (records failing each):")
		for _, rc := range r.Rules {
			fmt.Fprintf(w, "    %-10s %-28s %10s\n", rc.Stage, rc.Rule, thousands(rc.Records))
		}
	}
	fmt.Fprintln(w, "  outputs:")
	for _, name := range []string{actions.VerifiedFile, actions.VerifiedParquetFile, actions.QuarantineFile} {
		o, ok := r.Outputs[name]
		if !ok && name == actions.VerifiedParquetFile {
			continue // written when the job's outputs ask for it
		}
		fmt.Fprintf(w, "    %s  %s  %s records\n", filepath.Join(r.Dir, name), o.Hash, thousands(o.Records))
	}
	fmt.Fprintf(w, "    %s\n", r.Signature)
	switch {
	case r.Status == "committed" && r.Elapsed > 0:
		fmt.Fprintf(w, "  audit entry %d; %.2fs, %s records/s\n", r.AuditSeq, r.Elapsed.Seconds(), thousands(int64(r.RecordsPerSec)))
	case r.Status == "committed": // a batch read from the record (batches show): its run's time is not on record
		fmt.Fprintf(w, "  audit entry %d\n", r.AuditSeq)
	default:
		fmt.Fprintf(w, "  answered from the record (audit entry %d); nothing was redone\n", r.AuditSeq)
	}
	for _, m := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", m)
	}
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// windowText is a recorded time window for a person.
func windowText(w *actions.TimeWindow) string {
	if w == nil {
		return "window not recorded"
	}
	return w.Past + " back, " + w.Future + " ahead"
}

// showProject is the body of a command that shows what it reads: the
// project opened (openChecked, which asks the command's authz question),
// what get finds in it, printed as JSON with --output json, else by text.
func showProject[T any](a *app, c *cobra.Command, get func(*project.Project) (T, error), text func(T) error) error {
	p, err := a.openChecked(c)
	if err != nil {
		return err
	}
	defer p.Close()
	v, err := get(p)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(v)
	}
	return text(v)
}
