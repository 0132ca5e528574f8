package review

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/version"
)

//go:embed report.html.tmpl
var reportFS embed.FS

// RecordsSuffix names, after a batch's id in quarantine/, the file of its
// quarantined records with their bytes (format 1 lines), which a package
// carries for a batch whose quarantine lines leave them to the input
// (actions.QuarantineByReference).
const RecordsSuffix = ".records.jsonl"

// quarantineInReport bounds how many quarantined records of each batch the
// HTML page lists; the JSONL export has them all.
const quarantineInReport = 200

// AuditExport is what ExportAudit wrote.
type AuditExport struct {
	Dir     string            `json:"dir"`
	Format  string            `json:"format"`
	Files   map[string]string `json:"files"` // name → sha256 hex
	Entries int               `json:"entries"`
	Batches int               `json:"batches"`
}

// reportBatch is one batch as the report shows it.
type reportBatch struct {
	*project.Batch
	SignatureOK    bool
	SignatureError string
	Quarantine     []*finding.QuarantineEntry
	MoreQuarantine int64
	Events         []reportEvent
	Resubmitted    bool
	// ESignatures are the batch's e-signatures, each verified: printed
	// name, time, meaning, reason and verdict (21 CFR 11.50).
	ESignatures []esign.ESignature
	ESignError  string
}

// reportEvent is an audit entry about a batch, for a person.
type reportEvent struct {
	Seq      int64
	Time     string
	Operator string
	Action   string
	Reason   string
	Summary  string
}

// ExportAudit writes a self-contained review package for inspectors into
// dir: the whole audit trail (entries.jsonl), every committed batch with
// its summary (batches.jsonl) and quarantine (quarantine/<batch>.jsonl), the
// signed checkpoint of the trail's head, with format "html" a report.html
// that opens offline in a browser, and SHA256SUMS over every file, which
// `sha256sum -c SHA256SUMS` verifies on its own. The export is audited.
func ExportAudit(ctx context.Context, p *project.Project, dir, format, operator, reason string) (*AuditExport, error) {
	if format != "jsonl" && format != "html" {
		return nil, fmt.Errorf("export format %q: want jsonl or html", format)
	}
	if err := os.MkdirAll(filepath.Join(dir, "quarantine"), 0o755); err != nil {
		return nil, err
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 1 {
		return nil, fmt.Errorf("%s is not empty: export into a new directory so that SHA256SUMS covers exactly what is there", dir)
	}
	if operator == "" {
		operator = p.Cfg.Operator
	}
	w := &packageWriter{dir: dir, files: map[string]string{}}
	rv, err := writeReview(ctx, p, w, format)
	if err != nil {
		return nil, err
	}
	sums, err := w.sums()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(sums)
	out := &AuditExport{Dir: dir, Format: format, Files: w.files, Entries: len(rv.entries), Batches: len(rv.batches)}
	_, err = actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "export:" + hex.EncodeToString(sum[:8]), Reason: reason,
		Details: actions.AuditExportedDetails{Dir: dir, Format: format, SHA256Sums: "sha256:" + hex.EncodeToString(sum[:]),
			Entries: out.Entries, Batches: out.Batches, CheckpointSize: rv.checkpoint.Size}})
	return out, err
}

// packageWriter writes the files of a package and keeps their sha256.
type packageWriter struct {
	dir   string
	files map[string]string // name (slash-separated) → sha256 hex
}

func (w *packageWriter) write(name string, b []byte) error {
	path := filepath.Join(w.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := durable.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	w.files[name] = hex.EncodeToString(sum[:])
	return nil
}

// writeFrom is write for a file fn writes as a stream (too big to hold).
func (w *packageWriter) writeFrom(name string, fn func(io.Writer) error) error {
	path := filepath.Join(w.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	h := sha256.New()
	err := durable.WriteFileFrom(path, 0o644, func(f io.Writer) error {
		bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
		if err := fn(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return err
	}
	w.files[name] = hex.EncodeToString(h.Sum(nil))
	return nil
}

// sums writes SHA256SUMS over every file written, in the form sha256sum
// writes and checks ("<hex>  <name>", sorted by name), and returns it.
func (w *packageWriter) sums() ([]byte, error) {
	var sums bytes.Buffer
	for _, n := range slices.Sorted(maps.Keys(w.files)) {
		fmt.Fprintf(&sums, "%s  %s\n", w.files[n], n)
	}
	return sums.Bytes(), durable.WriteFile(filepath.Join(w.dir, SumsFile), sums.Bytes(), 0o644)
}

// review is what writeReview wrote.
type review struct {
	entries    []audit.Entry
	batches    []*project.Batch
	cp         []byte
	checkpoint audit.Checkpoint
}

// writeReview writes the files of an audit export but SHA256SUMS.
func writeReview(ctx context.Context, p *project.Project, w *packageWriter, format string) (*review, error) {
	write := w.write
	entries, err := p.Trail.List(ctx, audit.Filter{})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, e := range entries {
		buf.Write(finding.Line(e))
	}
	if err := write("entries.jsonl", buf.Bytes()); err != nil {
		return nil, err
	}
	cp, c, err := p.Trail.SignCheckpoint(ctx, 0, p.Key.Private)
	if err != nil {
		return nil, err
	}
	if err := write("checkpoint", cp); err != nil {
		return nil, err
	}

	batches, err := p.Batches(ctx)
	if err != nil {
		return nil, err
	}
	byBatch := map[string][]audit.Entry{}
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e.Object, "batch:"); ok {
			byBatch[id] = append(byBatch[id], e)
		}
	}
	resubmittedFrom := map[string]bool{}
	for _, e := range entries {
		if e.Action == actions.RecordResubmitted {
			var d struct {
				Original string `json:"original_batch"`
			}
			if json.Unmarshal(e.Details, &d) == nil && d.Original != "" {
				resubmittedFrom[d.Original] = true
			}
		}
	}
	var rbs []*reportBatch
	buf.Reset()
	for _, b := range batches {
		buf.Write(finding.Line(b.BatchRecord))
		rb := &reportBatch{Batch: b, Resubmitted: resubmittedFrom[b.BatchID]}
		if rb.ESignatures, err = esign.Of(ctx, p, b); err != nil {
			rb.ESignError = err.Error()
		}
		if chk, err := p.Keys.VerifySignature(b.Signature); err != nil {
			rb.SignatureError = err.Error()
		} else if chk.Signature.BatchID != b.BatchID || chk.Signature.AuditSeq != b.AuditSeq {
			rb.SignatureError = fmt.Sprintf("the signature names batch %s, audit entry %d; the trail has this batch at entry %d", chk.Signature.BatchID, chk.Signature.AuditSeq, b.AuditSeq)
		} else {
			rb.SignatureOK = true
		}
		// The quarantine goes out byte for byte as the store holds it under
		// the hash on record, streamed (a batch may quarantine millions of
		// records): read to its end, where the store checks the hash, and
		// a file that fails the check is not written.
		err := w.writeFrom("quarantine/"+b.BatchID+".jsonl", func(out io.Writer) error {
			r, err := p.Store.Open(b.Outputs[actions.QuarantineFile].Hash)
			if err != nil {
				return err
			}
			defer r.Close()
			tee := io.TeeReader(r, out)
			// The report lists the first entries and counts the rest:
			// only those are decoded.
			if err := finding.EachLine(tee, func(n int64, line []byte) (bool, error) {
				if len(rb.Quarantine) == quarantineInReport {
					rb.MoreQuarantine++
					return true, nil
				}
				var e finding.QuarantineEntry
				if err := json.Unmarshal(line, &e); err != nil {
					return false, fmt.Errorf("quarantine of batch %s line %d is damaged: %v", b.BatchID, n, err)
				}
				rb.Quarantine = append(rb.Quarantine, &e)
				return true, nil
			}); err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, tee) // nothing left but the end, where the hash is checked
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("batch %s: quarantine output: %w: run `pawl audit verify`", b.BatchID, err)
		}
		if b.QuarantineFormat == actions.QuarantineByReference && b.Quarantined > 0 {
			// Its lines leave the records' bytes to the input blob, which
			// the package does not carry: the same entries with their
			// bytes, as format 1 lines, beside them.
			err := w.writeFrom("quarantine/"+b.BatchID+RecordsSuffix, func(out io.Writer) error {
				var line []byte
				var werr error
				err := p.Quarantined(ctx, b.BatchID, func(q *finding.QuarantineEntry) bool {
					line = finding.AppendQuarantineLine(line[:0], q)
					_, werr = out.Write(line)
					return werr == nil
				})
				if err != nil {
					return err
				}
				return werr
			})
			if err != nil {
				return nil, fmt.Errorf("batch %s: quarantined records with their bytes: %w", b.BatchID, err)
			}
		}
		for _, e := range byBatch[b.BatchID] {
			rb.Events = append(rb.Events, reportEvent{Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339), Operator: e.Operator,
				Action: e.Action, Reason: e.Reason, Summary: summarize(e)})
		}
		rbs = append(rbs, rb)
	}
	if err := write("batches.jsonl", buf.Bytes()); err != nil {
		return nil, err
	}

	if format == "html" {
		t, err := template.New("report.html.tmpl").Funcs(template.FuncMap{
			"thousands": func(n int64) string { return thousandsSep(n) },
			"next":      func(n int64) int64 { return n + 1 },
			"utc":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		}).ParseFS(reportFS, "report.html.tmpl")
		if err != nil {
			return nil, err
		}
		var events []reportEvent
		for _, e := range entries {
			events = append(events, reportEvent{Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339), Operator: e.Operator,
				Action: e.Action, Reason: e.Reason, Summary: e.Object + " " + summarize(e)})
		}
		xs := Exceptions(entries)
		reviews, err := esign.TrailReviews(ctx, p)
		if err != nil {
			return nil, err
		}
		var page bytes.Buffer
		err = t.Execute(&page, map[string]any{
			"Project": filepath.Base(p.Root), "TrailID": p.Trail.ID(), "Origin": c.Origin, "Size": c.Size,
			"Head": entries[len(entries)-1].Hash, "Checkpoint": string(cp), "Generated": time.Now().UTC().Format(time.RFC3339),
			"Batches": rbs, "Entries": events, "PawlVersion": version.Pawl(),
			"Exceptions": xs, "SelfApprovals": selfApprovals(xs), "Reviews": reviews,
		})
		if err != nil {
			return nil, err
		}
		if err := write("report.html", page.Bytes()); err != nil {
			return nil, err
		}
	}

	return &review{entries: entries, batches: batches, cp: cp, checkpoint: c}, nil
}

// summarize says in a line what an entry's details hold, for the report.
func summarize(e audit.Entry) string {
	var d map[string]any
	if json.Unmarshal(e.Details, &d) != nil {
		return ""
	}
	var parts []string
	// "name" is an enrolled operator's printed name; an e-signature's is
	// the manifest's "signer_name".
	for _, k := range []string{"name", "meaning", "signer_id", "allow", "deny", "destination", "match", "failure", "error", "plugin", "original_batch", "original_ordinal",
		"as_of_outside_window", "time_outside_window", "clock", "given", "head_seq", "refused_action", "refused_object"} {
		if v, ok := d[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	if m, ok := d["manifest"].(map[string]any); ok {
		for _, k := range []string{"meaning", "signer_name", "signer_id", "time"} {
			if v, ok := m[k]; ok {
				parts = append(parts, fmt.Sprintf("%s=%v", k, v))
			}
		}
	}
	return strings.Join(parts, " ")
}

func thousandsSep(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && c != '-' && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
