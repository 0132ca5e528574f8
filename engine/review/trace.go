package review

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/store"
)

// RecordTrace is one record's whole history: the batch it came in with (who,
// when, why), its input bytes' hash, what every stage said about it, its
// outcome, its lineage leaf and the proof that the leaf is in the batch's
// Merkle root, and what happened to the batch afterwards: exports,
// e-signatures and other audited events.
type RecordTrace struct {
	BatchID        string          `json:"batch_id"`
	Job            string          `json:"job"`
	Source         string          `json:"source"`
	Classification string          `json:"classification"`
	AsOf           string          `json:"as_of"`
	CommittedAt    audit.EntryTime `json:"committed_at"` // the batch.committed entry's time
	Operator       string          `json:"operator"`
	OSUser         string          `json:"os_user"`
	Reason         string          `json:"reason"`
	AuditSeq       int64           `json:"audit_seq"`
	AuditEntry     string          `json:"audit_entry"`
	Input          store.Digest    `json:"input_blob"`
	InputName      string          `json:"input_name"`
	// Inbox is the source and file the gate picked the input up from,
	// when it did.
	Inbox  *actions.InboxOrigin `json:"inbox,omitempty"`
	Schema actions.SchemaRef    `json:"schema"`
	// State is the plugin state the record was judged against (state_in:
	// the job's state when its batch began) and the one its batch
	// produced, for a job whose plugins keep state.
	State *actions.StateRef `json:"state,omitempty"`

	Record     TraceRecord        `json:"record"`
	Stages     []StageVerdict     `json:"stages"`
	Lineage    TraceLineage       `json:"lineage"`
	Exports    []TraceEvent       `json:"exports"`
	Signatures []esign.ESignature `json:"signatures"`
	// Events are the batch's other audit entries (failed signing attempts,
	// replays, …).
	Events []TraceEvent `json:"events"`
	// Corrections is the record's correction chain: its original record
	// and every correction of it, oldest first; present when the record
	// was corrected or is itself a correction.
	Corrections *project.CorrectionChain `json:"corrections,omitempty"`
}

// TraceRecord is the record itself.
type TraceRecord struct {
	Ordinal int64 `json:"ordinal"`
	Line    int64 `json:"line"`
	Offset  int64 `json:"offset"` // of its first byte in the input blob
	Length  int64 `json:"length"` // bytes, without the line terminator
	// InputHash is "sha256:" and the hex SHA-256 of the record's input
	// bytes, recomputed from the input blob.
	InputHash string `json:"input_hash"`
	Outcome   string `json:"outcome"` // "verified" or "quarantined"
	// Output is the verified record as written (canonical JSON, no LF).
	Output string `json:"output,omitempty"`
	// OutputHash is the SHA-256 of its output line (verified.jsonl or
	// quarantine.jsonl), LF included.
	OutputHash string            `json:"output_hash"`
	Reasons    []finding.Finding `json:"reasons"`
	Actions    []finding.Finding `json:"actions"`
}

// Verdicts of a stage on one record.
const (
	VerdictPassed     = "passed"
	VerdictRejected   = "rejected"
	VerdictNotReached = "not reached"
)

// StageVerdict is what one stage (or one validator: "validate:NAME") said.
type StageVerdict struct {
	Stage   string            `json:"stage"`
	Verdict string            `json:"verdict"`
	Reasons []finding.Finding `json:"reasons,omitempty"`
	Actions []finding.Finding `json:"actions,omitempty"`
}

// TraceLineage is the record's place in the batch's Merkle tree.
type TraceLineage struct {
	// Leaf is the leaf hash recomputed from the input blob and the batch's
	// outputs; LeafOnRecord is the one in the batch's lineage file.
	Leaf         string                `json:"leaf"`
	LeafOnRecord string                `json:"leaf_on_record"`
	Root         string                `json:"root"`
	Proof        *audit.InclusionProof `json:"proof"`
	// Proved is true when the recomputed leaf is the one on record and the
	// proof leads from it to the root the batch's audit entry carries.
	Proved  bool   `json:"proved"`
	Problem string `json:"problem,omitempty"`
}

// TraceEvent is one audit entry about the batch.
type TraceEvent struct {
	Seq      int64           `json:"seq"`
	Time     audit.EntryTime `json:"time"`
	Operator string          `json:"operator"`
	Action   string          `json:"action"`
	Reason   string          `json:"reason"`
	Details  json.RawMessage `json:"details"`
}

// Trace assembles the history of record ordinal (1-based) of a committed
// batch (id or unique prefix). A record whose bytes or outputs no longer
// hash to its lineage leaf is reported in Lineage.Problem, not as an error.
func Trace(ctx context.Context, p *project.Project, batch string, ordinal int64) (*RecordTrace, error) {
	b, err := p.Batch(ctx, batch)
	if err != nil {
		return nil, err
	}
	if ordinal < 1 || ordinal > b.RecordsIn {
		return nil, fmt.Errorf("batch %s has %d records: ORDINAL must be between 1 and %d", b.BatchID, b.RecordsIn, b.RecordsIn)
	}
	be, err := p.Trail.Get(ctx, b.AuditSeq)
	if err != nil {
		return nil, err
	}
	t := &RecordTrace{BatchID: b.BatchID, Job: b.Job, Source: b.Source, Classification: b.Classification, AsOf: b.AsOf,
		CommittedAt: audit.EntryTime{Time: be.Time.UTC()}, Operator: be.Operator, OSUser: be.OSUser, Reason: be.Reason,
		AuditSeq: be.Seq, AuditEntry: be.Hash, Input: b.Input, InputName: b.InputName, Inbox: b.Inbox, Schema: b.Schema,
		Exports: []TraceEvent{}, Events: []TraceEvent{}, State: b.State}
	r := &t.Record
	r.Ordinal = ordinal
	r.Reasons, r.Actions = []finding.Finding{}, []finding.Finding{}

	if err := b.CheckQuarantineFormat(); err != nil {
		return nil, err
	}
	// The quarantine says whether the record is there, and how many
	// quarantined records come before it (to find a verified one's line).
	qline, q, before, err := findQuarantined(p, b, ordinal)
	if err != nil {
		return nil, err
	}
	leaf := audit.LineageLeaf{Ordinal: ordinal}
	// A Parquet row's bytes are its canonical JSON, not a span of the
	// input: read the row again, as the run did.
	var pqRaw []byte
	var pqLine, pqOffset int64
	if b.Format == "parquet" {
		if pqRaw, pqLine, pqOffset, err = parquetRecord(p, b, ordinal); err != nil {
			return nil, err
		}
	}
	if q != nil {
		r.Outcome, r.Line, r.Offset, r.Length = "quarantined", q.Line, q.Offset, q.Length
		r.Reasons = append(r.Reasons, q.Reasons...)
		r.Actions = append(r.Actions, q.Actions...)
		leaf.Outcome = audit.OutcomeQuarantined
		leaf.Output = sha256.Sum256(qline)
		if b.QuarantineFormat != actions.QuarantineByReference {
			leaf.Reasons = finding.ReasonsDigest(q.Actions, q.Reasons)
		} // else zero: the line holds the reasons
	} else {
		r.Outcome = "verified"
		if pqRaw != nil {
			r.Offset, r.Length, r.Line = pqOffset, int64(len(pqRaw)), pqLine
		} else if r.Offset, r.Length, r.Line, err = locateRecord(p, b, ordinal); err != nil {
			return nil, err
		}
		line, err := nthLine(p.Store, b.Outputs[actions.VerifiedFile].Hash, ordinal-1-before)
		if err != nil {
			return nil, fmt.Errorf("batch %s: verified output: %w", b.BatchID, err)
		}
		r.Output = strings.TrimSuffix(string(line), "\n")
		acts, err := actionsOf(p, b, ordinal)
		if err != nil {
			return nil, err
		}
		r.Actions = append(r.Actions, acts...)
		leaf.Outcome = audit.OutcomeVerified
		leaf.Output = sha256.Sum256(line)
		leaf.Reasons = finding.ReasonsDigest(acts, nil)
	}
	r.OutputHash = "sha256:" + hex.EncodeToString(leaf.Output[:])
	if pqRaw != nil {
		leaf.Input = sha256.Sum256(pqRaw)
	} else if leaf.Input, err = hashInput(p, b.Input, r.Offset, r.Length); err != nil {
		return nil, err
	}
	r.InputHash = "sha256:" + hex.EncodeToString(leaf.Input[:])
	t.Stages = stageVerdicts(b, r)

	lh := leaf.Hash()
	t.Lineage = TraceLineage{Leaf: hex.EncodeToString(lh[:]), Root: b.Lineage.Root}
	pr, _, err := Prove(ctx, p, b.BatchID, ordinal)
	switch {
	case err != nil:
		t.Lineage.Problem = err.Error()
	default:
		t.Lineage.Proof, t.Lineage.LeafOnRecord = pr, pr.LeafHash
		if verr := pr.Verify(); verr != nil {
			t.Lineage.Problem = verr.Error()
		} else if pr.LeafHash != t.Lineage.Leaf {
			t.Lineage.Problem = fmt.Sprintf("the record's bytes and outputs hash to leaf %s, but the lineage on record has %s: the input blob or an output was altered; run `pawl audit verify`", t.Lineage.Leaf, pr.LeafHash)
		} else if pr.Root != b.Lineage.Root {
			t.Lineage.Problem = fmt.Sprintf("the proof ends in root %s, the batch entry records %s", pr.Root, b.Lineage.Root)
		} else {
			t.Lineage.Proved = true
		}
	}

	if t.Signatures, err = esign.Of(ctx, p, b); err != nil {
		return nil, err
	}
	chain, err := p.Corrections(ctx, b.BatchID, ordinal)
	if err != nil {
		return nil, err
	}
	if len(chain.Corrections) > 0 || chain.Original.OriginalBatch != b.BatchID {
		t.Corrections = chain
	}
	es, err := p.Trail.Find(ctx, "", "batch:"+b.BatchID)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		ev := TraceEvent{Seq: e.Seq, Time: audit.EntryTime{Time: e.Time.UTC()}, Operator: e.Operator, Action: e.Action, Reason: e.Reason, Details: e.Details}
		switch e.Action {
		case actions.BatchCommitted, actions.ESignSigned:
		case actions.BatchExported:
			t.Exports = append(t.Exports, ev)
		default:
			t.Events = append(t.Events, ev)
		}
	}
	return t, nil
}

// stageVerdicts says, stage by stage, what happened to the record: the
// stages before the one that rejected it passed it, that one rejected it
// with its reasons, and later ones never saw it. Every validator sees every
// record that passed the schema, so each has its own verdict.
func stageVerdicts(b *project.Batch, r *TraceRecord) []StageVerdict {
	names := []string{"frame", "utf8", "decode", "normalize", "schema"}
	var validators []string
	for n := range b.Validators {
		validators = append(validators, n)
	}
	sort.Strings(validators)
	for _, v := range validators {
		names = append(names, "validate:"+v)
	}
	rejectedAt := ""
	if len(r.Reasons) > 0 {
		rejectedAt = r.Reasons[0].Stage
	}
	stageOf := func(name string) string { s, _, _ := strings.Cut(name, ":"); return s }
	mine := func(name, stage, rule string) bool {
		if stage != stageOf(name) {
			return false
		}
		if _, plugin, ok := strings.Cut(name, ":"); ok {
			return strings.HasPrefix(rule, plugin+"/")
		}
		return true
	}
	out := make([]StageVerdict, 0, len(names))
	reached := true
	for _, n := range names {
		sv := StageVerdict{Stage: n, Verdict: VerdictPassed}
		if !reached {
			sv.Verdict = VerdictNotReached
		}
		for _, x := range r.Reasons {
			if mine(n, x.Stage, x.Rule) {
				sv.Reasons = append(sv.Reasons, x)
			}
		}
		for _, x := range r.Actions {
			if mine(n, x.Stage, x.Rule) {
				sv.Actions = append(sv.Actions, x)
			}
		}
		if len(sv.Reasons) > 0 {
			sv.Verdict = VerdictRejected
		}
		// Validators all run on a record that reached them; other stages
		// stop it.
		if stageOf(n) == rejectedAt && stageOf(n) != "validate" {
			reached = false
		}
		out = append(out, sv)
	}
	return out
}

// findQuarantined looks record ordinal up in the batch's quarantine output
// (the store's blob under the hash on record), bisecting it
// (finding.SeekQuarantine): the store does not check the blob's hash on
// this path, so an altered line is caught by the lineage leaf rebuilt from
// it. It returns the record's exact line and entry when it is there, and
// else how many quarantined records precede it (the lines before the
// place it would have, counted): a verified record's line in the verified
// output.
func findQuarantined(p *project.Project, b *project.Batch, ordinal int64) (line []byte, q *finding.QuarantineEntry, before int64, err error) {
	name := "quarantine output of batch " + b.BatchID
	path := p.Store.Path(b.Outputs[actions.QuarantineFile].Hash)
	if path == "" {
		return nil, nil, 0, fmt.Errorf("batch %s: its record names its quarantine output by %q, not a sha256 digest: run `pawl audit verify`", b.BatchID, b.Outputs[actions.QuarantineFile].Hash)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("batch %s: quarantine output: %w", b.BatchID, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("batch %s: quarantine output: %w", b.BatchID, err)
	}
	q, line, at, err := finding.SeekQuarantineEntry(f, fi.Size(), name, ordinal)
	if err != nil || q != nil {
		return line, q, 0, err
	}
	before, err = countLines(io.NewSectionReader(f, 0, at))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("batch %s: quarantine output: %w", b.BatchID, err)
	}
	if at == fi.Size() && at > 0 { // past the last line: count it when no LF ends it
		var last [1]byte
		if _, err := f.ReadAt(last[:], at-1); err == nil && last[0] != '\n' {
			before++
		}
	}
	return nil, nil, before, nil
}

// countLines counts the LFs r reads.
func countLines(r io.Reader) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// actionsOf reads what the boundary changed in a verified record from the
// batch's actions.jsonl.
func actionsOf(p *project.Project, b *project.Batch, ordinal int64) (acts []finding.Finding, err error) {
	rd, err := p.Store.Open(b.Lineage.Actions.Hash)
	if err != nil {
		return nil, fmt.Errorf("batch %s: %s: %w", b.BatchID, actions.ActionsFile, err)
	}
	defer rd.Close()
	err = finding.EachLine(rd, func(n int64, l []byte) (bool, error) {
		var a finding.ActionsEntry
		if err := json.Unmarshal(l, &a); err != nil {
			return false, fmt.Errorf("line %d is damaged: %v: run `pawl audit verify`", n, err)
		}
		if a.Ordinal == ordinal {
			acts = a.Actions
		}
		return a.Ordinal < ordinal, nil
	})
	if err != nil {
		return nil, fmt.Errorf("batch %s: %s: %w", b.BatchID, actions.ActionsFile, err)
	}
	return acts, nil
}

// locateRecord frames the batch's input again, as the run did, up to
// record ordinal and returns where its bytes are in the input blob.
func locateRecord(p *project.Project, b *project.Batch, ordinal int64) (offset, length, line int64, err error) {
	in, err := p.Store.Open(b.Input)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("batch %s: input blob: %w", b.BatchID, err)
	}
	defer in.Close()
	src := bufio.NewReaderSize(in, 1<<20)
	var base int64
	if b.BOMStripped {
		if _, err := src.Discard(3); err != nil {
			return 0, 0, 0, fmt.Errorf("batch %s: input blob: %w", b.BatchID, err)
		}
		base = 3
	}
	opts := records.Options{MaxRecordBytes: b.RecordedLimits().MaxRecordBytes}
	var rd records.Reader
	if b.Format == "csv" {
		if rd, _, err = records.NewCSVReader(src, opts); err != nil {
			return 0, 0, 0, fmt.Errorf("batch %s: input blob: %w", b.BatchID, err)
		}
	} else {
		rd = records.NewJSONLReader(src, opts)
	}
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return 0, 0, 0, fmt.Errorf("batch %s: its input has fewer than %d records: run `pawl audit verify`", b.BatchID, ordinal)
		}
		if err != nil {
			return 0, 0, 0, fmt.Errorf("batch %s: reading the input blob: %w", b.BatchID, err)
		}
		if rec.Ordinal == ordinal {
			return rec.Offset + base, rec.Length, rec.Line, nil
		}
	}
}

// parquetRecord reads row ordinal of a Parquet batch's input again and
// returns its bytes (the canonical JSON of the row), its line (its number
// in the file) and offset (its row group's).
func parquetRecord(p *project.Project, b *project.Batch, ordinal int64) (raw []byte, line, offset int64, err error) {
	f, err := os.Open(p.Store.Path(b.Input))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("batch %s: input blob: %w", b.BatchID, err)
	}
	defer f.Close()
	rd, err := records.NewParquetReader(f, b.InputBytes, nil)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("batch %s: input blob: %w: run `pawl audit verify`", b.BatchID, err)
	}
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil, 0, 0, fmt.Errorf("batch %s: its input has fewer than %d rows: run `pawl audit verify`", b.BatchID, ordinal)
		}
		if err != nil {
			return nil, 0, 0, fmt.Errorf("batch %s: reading the input blob: %w", b.BatchID, err)
		}
		if rec.Ordinal == ordinal {
			return canonjson.Append(nil, rec.Value), rec.Line, rec.Offset, nil
		}
	}
}

// hashInput hashes length bytes of the input blob from offset.
func hashInput(p *project.Project, d store.Digest, offset, length int64) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(p.Store.Path(d))
	if err != nil {
		return sum, fmt.Errorf("input blob %s: %w", d, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, offset, length))
	if err != nil {
		return sum, fmt.Errorf("input blob %s: %w", d, err)
	}
	if n != length {
		return sum, fmt.Errorf("input blob %s ends before byte %d: run `pawl audit verify`", d, offset+length)
	}
	h.Sum(sum[:0])
	return sum, nil
}

// nthLine returns line i (0-based, LF included) of a stored blob.
func nthLine(s *store.Store, d store.Digest, i int64) (line []byte, err error) {
	rd, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	err = finding.EachLine(rd, func(n int64, l []byte) (bool, error) {
		if n == i+1 {
			line = bytes.Clone(l)
		}
		return line == nil, nil
	})
	if err != nil {
		return nil, err
	}
	if line == nil {
		return nil, fmt.Errorf("line %d not found: the blob is shorter: run `pawl audit verify`", i+1)
	}
	return line, nil
}
