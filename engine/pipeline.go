package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/normalize"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/schema"
)

// Reason is why a record was quarantined: which stage, which rule, where.
type Reason struct {
	Stage   string `json:"stage"`
	Rule    string `json:"rule"`
	Pointer string `json:"pointer"`
	Message string `json:"message"`
	// Offset is the byte offset in the input the reason points at, when it
	// points at one byte (an invalid UTF-8 sequence, a JSON syntax error).
	Offset *int64 `json:"offset,omitempty"`
}

// Action is something the boundary changed in a record that it let pass.
type Action struct {
	Stage   string `json:"stage"`
	Rule    string `json:"rule"`
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// QuarantineEntry is one line of quarantine.jsonl.
type QuarantineEntry struct {
	Ordinal int64  `json:"ordinal"`
	Line    int64  `json:"line"`
	Offset  int64  `json:"offset"`
	Length  int64  `json:"length"`
	Raw     string `json:"raw,omitempty"`
	// RawBase64 holds the original bytes when they are not valid UTF-8.
	RawBase64 string `json:"raw_base64,omitempty"`
	// RawOmitted says why the bytes are not here (a record over the size
	// limit); they remain in the input blob at Offset.
	RawOmitted string   `json:"raw_omitted,omitempty"`
	Reasons    []Reason `json:"reasons"`
	Actions    []Action `json:"actions,omitempty"`
}

// RawBytes returns the record's original bytes, when the entry holds them.
func (q *QuarantineEntry) RawBytes() ([]byte, error) {
	if q.RawBase64 != "" {
		return base64.StdEncoding.DecodeString(q.RawBase64)
	}
	return []byte(q.Raw), nil
}

// stages holds what a worker needs to take one record through every stage.
type stages struct {
	format     string
	header     []string
	types      map[string]string
	schema     *schema.Schema
	norm       *normalize.Profile
	baseOffset int64 // bytes before record 1 that the reader never saw (a stripped BOM)
	// input reads the batch's input blob, for hashing the bytes of a record
	// too long to have been buffered.
	input io.ReaderAt
	// validators says whether the job has any: records that pass the schema
	// then enter the validate stage.
	validators bool
}

// skipLineage and skipNormalize turn a part of the pipeline off; only the
// benchmarks that measure what those parts cost set them.
var skipLineage, skipNormalize bool

// noReasons is the reasons digest of a record verified without any action.
var noReasons = func() [32]byte {
	d, err := audit.ReasonsDigest(nil, nil)
	if err != nil {
		panic(err)
	}
	return d
}()

// item is one record on its way through the pipeline.
type item struct {
	rec *records.Record
	// Set by evaluate and the validators:
	v       any      // the decoded, normalized value while the record passes
	stage   string   // the stage that rejected the record; "" while it passes
	reasons []Reason // why it was rejected
	actions []Action // what the boundary changed in it
	// Set by finalize:
	verified []byte // canonical JSON line (with LF) when verified
	quar     []byte // quarantine.jsonl line (with LF) otherwise
	actions2 []byte // actions.jsonl line (with LF) for a verified record the boundary changed
	leaf     [32]byte
	err      error // an infrastructure failure while processing the record
}

// ActionsEntry is one line of actions.jsonl: what the boundary changed in a
// record that it let through.
type ActionsEntry struct {
	Ordinal int64    `json:"ordinal"`
	Actions []Action `json:"actions"`
}

func ptrInt(v int64) *int64 { return &v }

// evaluate takes one record through the per-record stages. It stops at the
// first stage that rejects the record — later stages would read what that
// stage refused — and keeps every reason that stage found. A record that
// passes keeps its decoded, normalized value for the validators.
func (s *stages) evaluate(it *item, st *stats) {
	rec := it.rec
	rec.Offset += s.baseOffset
	for i := range rec.CellOffsets {
		rec.CellOffsets[i] += s.baseOffset
	}
	reject := func(stage string, rs ...Reason) {
		st.reject(stage, rs)
		it.stage, it.reasons = stage, rs
	}
	st.in["frame"]++
	if rec.TooLong {
		reject("frame", Reason{Stage: "frame", Rule: "frame.too_long", Offset: ptrInt(rec.Offset),
			Message: fmt.Sprintf("record is %d bytes, over max_record_bytes; split it or raise max_record_bytes", rec.Length)})
		return
	}
	if rec.Err != nil {
		reject("frame", Reason{Stage: "frame", Rule: rec.Err.Rule, Pointer: rec.Err.Pointer, Message: rec.Err.Message, Offset: ptrInt(rec.Err.Offset)})
		return
	}
	st.in["utf8"]++
	if !utf8.Valid(rec.Raw) {
		reject("utf8", utf8Reason(rec))
		return
	}
	st.in["decode"]++
	var v any
	if s.format == "csv" {
		m, errs := records.TypeCSV(s.header, rec.Cells, rec.CellOffsets, s.types)
		if len(errs) > 0 {
			rs := make([]Reason, 0, len(errs))
			for _, e := range errs {
				rs = append(rs, Reason{Stage: "decode", Rule: e.Rule, Pointer: e.Pointer, Message: e.Message, Offset: ptrInt(e.Offset)})
			}
			reject("decode", rs...)
			return
		}
		v = m
	} else {
		dv, err := records.DecodeJSON(rec.Raw, records.DecodeOptions{RequireObject: true})
		if err != nil {
			reject("decode", Reason{Stage: "decode", Rule: err.Rule, Pointer: err.Pointer,
				Message: err.Message, Offset: ptrInt(rec.Offset + err.Offset)})
			return
		}
		v = dv
	}
	st.in["normalize"]++
	var findings []normalize.Finding
	if !skipNormalize {
		v, findings = s.norm.Record(v, &st.norm)
	}
	var rs []Reason
	for _, f := range findings {
		if f.Reject {
			rs = append(rs, Reason{Stage: "normalize", Rule: f.Rule, Pointer: f.Pointer, Message: f.Message})
		} else {
			it.actions = append(it.actions, Action{Stage: "normalize", Rule: f.Rule, Pointer: f.Pointer, Message: f.Message})
		}
	}
	if len(rs) > 0 {
		reject("normalize", rs...)
		return
	}
	st.in["schema"]++
	if vs := s.schema.Validate(v); len(vs) > 0 {
		rs := make([]Reason, 0, len(vs))
		for _, x := range vs {
			rs = append(rs, Reason{Stage: "schema", Rule: x.Keyword, Pointer: x.Pointer, Message: x.Message})
		}
		reject("schema", rs...)
		return
	}
	it.v = v
	if s.validators {
		st.in["validate"]++
	}
}

// finalize renders the record's output line — verified or quarantined —
// and its lineage leaf, once every stage has had its say.
func (s *stages) finalize(it *item) {
	rec := it.rec
	if len(it.reasons) == 0 {
		it.verified = append(records.AppendCanonical(make([]byte, 0, len(rec.Raw)+1), it.v), '\n')
	}
	it.v = nil
	if skipLineage {
		if it.verified == nil {
			it.quar = encodeLine(QuarantineEntry{Ordinal: rec.Ordinal, Reasons: it.reasons})
		}
		return
	}
	leaf := audit.LineageLeaf{Ordinal: rec.Ordinal, Outcome: audit.OutcomeQuarantined}
	if rec.TooLong {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(s.input, rec.Offset, rec.Length)); err != nil {
			it.err = fmt.Errorf("hashing record %d (%d bytes at input offset %d): %w", rec.Ordinal, rec.Length, rec.Offset, err)
			return
		}
		h.Sum(leaf.Input[:0])
	} else {
		leaf.Input = sha256.Sum256(rec.Raw)
	}
	defer func() { it.leaf = leaf.Hash() }()
	if it.verified != nil {
		leaf.Outcome = audit.OutcomeVerified
		leaf.Output = sha256.Sum256(it.verified)
		leaf.Reasons = noReasons
		if len(it.actions) > 0 {
			it.actions2 = encodeLine(ActionsEntry{Ordinal: rec.Ordinal, Actions: it.actions})
			leaf.Reasons = reasonsDigest(it.actions, nil)
		}
		return
	}
	q := QuarantineEntry{Ordinal: rec.Ordinal, Line: rec.Line, Offset: rec.Offset, Length: rec.Length, Reasons: it.reasons, Actions: it.actions}
	switch {
	case rec.TooLong:
		q.RawOmitted = fmt.Sprintf("%d bytes, over max_record_bytes; they are in the batch's input blob at offset %d", rec.Length, rec.Offset)
	case utf8.Valid(rec.Raw):
		q.Raw = string(rec.Raw)
	default:
		q.RawBase64 = base64.StdEncoding.EncodeToString(rec.Raw)
	}
	it.quar = encodeLine(q)
	leaf.Output = sha256.Sum256(it.quar)
	leaf.Reasons = reasonsDigest(it.actions, it.reasons)
}

// reasonsDigest is the lineage digest of what the stages said about a record.
func reasonsDigest(actions []Action, reasons []Reason) [32]byte {
	var a, r []byte
	if len(actions) > 0 {
		a = mustJSON(actions)
	}
	if len(reasons) > 0 {
		r = mustJSON(reasons)
	}
	d, err := audit.ReasonsDigest(a, r)
	if err != nil {
		panic(err) // the JSON is built here from valid UTF-8 strings
	}
	return d
}

// encodeLine renders v as one JSON line. HTML escaping is off so that the
// quarantined bytes read as they were.
func encodeLine(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only called with values built here
	}
	return b.Bytes()
}

// utf8Reason locates the first invalid UTF-8 sequence of a record.
func utf8Reason(rec *records.Record) Reason {
	b := rec.Raw
	i := 0
	for i < len(b) {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		i += size
	}
	end := i + 1
	for end < len(b) && end < i+4 && b[end]&0xC0 == 0x80 {
		end++
	}
	bad := make([]string, 0, 4)
	for _, c := range b[i:end] {
		bad = append(bad, fmt.Sprintf("0x%02X", c))
	}
	n := 0
	for j := 0; j < len(b); {
		r, size := utf8.DecodeRune(b[j:])
		if r == utf8.RuneError && size <= 1 {
			n++
		}
		j += size
	}
	return Reason{Stage: "utf8", Rule: "utf8.invalid", Offset: ptrInt(rec.Offset + int64(i)),
		Message: fmt.Sprintf("invalid UTF-8 at byte %d of the record (input byte %d): %s; %d invalid byte(s) in the record; re-export the source as UTF-8",
			i, rec.Offset+int64(i), joinHex(bad), n)}
}

func joinHex(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}
