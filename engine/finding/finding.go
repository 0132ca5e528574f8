// Package finding is what the stages say about a record, in one type: a
// Finding names the stage, the rule, the JSON pointer, the message and,
// where it points at one byte, the input offset. A finding either rejects
// the record (a reason: the record goes to quarantine) or records an
// action the boundary took on a record it let through.
//
// The adapters turn each stage's own error type — records.Error,
// normalize.Finding, schema.Violation, a plugin's sandbox.Reason — into a
// Finding, so that every stage speaks the same language in quarantine.jsonl
// and actions.jsonl, whose line formats are defined here too. The package
// guarantees that those lines and the reasons digest of a lineage leaf are
// encoded one way only; it does not decide which stage runs when.
package finding

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/normalize"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/schema"
)

// The stages, in the order a record passes them.
const (
	StageFrame     = "frame"
	StageUTF8      = "utf8"
	StageDecode    = "decode"
	StageNormalize = "normalize"
	StageSchema    = "schema"
	StageValidate  = "validate"
)

// Stages lists the stages in order.
var Stages = []string{StageFrame, StageUTF8, StageDecode, StageNormalize, StageSchema, StageValidate}

// Finding is what one stage said about one record: a reason to quarantine
// it, or an action taken on it.
type Finding struct {
	Stage   string `json:"stage"`
	Rule    string `json:"rule"`
	Pointer string `json:"pointer"`
	Message string `json:"message"`
	// Offset is the byte offset in the input the finding points at, when it
	// points at one byte (an invalid UTF-8 sequence, a JSON syntax error).
	Offset *int64 `json:"offset,omitempty"`
}

func at(offset int64) *int64 { return &offset }

// FromRecordError is a framing or decoding error of the records package.
// base is added to its offset: the record's input offset for an error of
// DecodeJSON (whose offsets are within the record), 0 for framing and CSV
// errors (whose offsets are in the input already).
func FromRecordError(stage string, e *records.Error, base int64) Finding {
	return Finding{Stage: stage, Rule: e.Rule, Pointer: e.Pointer, Message: e.Message, Offset: at(base + e.Offset)}
}

// TooLong is the reason for a record over max_record_bytes.
func TooLong(offset, length int64) Finding {
	return Finding{Stage: StageFrame, Rule: "frame.too_long", Offset: at(offset),
		Message: fmt.Sprintf("record is %d bytes, over max_record_bytes; split it or raise max_record_bytes", length)}
}

// FromNormalize is a finding of the Unicode boundary; reject says whether
// it is a reason (true) or an action.
func FromNormalize(f normalize.Finding) (fd Finding, reject bool) {
	return Finding{Stage: StageNormalize, Rule: f.Rule, Pointer: f.Pointer, Message: f.Message}, f.Reject
}

// FromSchema is a violation of the JSON Schema contract.
func FromSchema(v schema.Violation) Finding {
	return Finding{Stage: StageSchema, Rule: v.Keyword, Pointer: v.Pointer, Message: v.Message}
}

// FromPlugin is a plugin's reason: its rule is prefixed with the plugin's
// name and its message names the plugin's id, so a reason says which
// validator gave it.
func FromPlugin(m *sandbox.Manifest, r sandbox.Reason, pointer string) Finding {
	// m.ID() spelled out: one allocation for the message, not two.
	return Finding{Stage: StageValidate, Rule: m.Name + "/" + r.Rule, Pointer: pointer, Message: r.Message + " (" + m.Name + "@" + m.Version + ")"}
}

// PluginFindings turns the reasons of one plugin call into findings, the
// same as FromPlugin's, without an allocation per reason: a rule is
// prefixed with the plugin's name once, not once a record, and the
// messages are parts of one string a call. Reset it before each call's
// reasons; the zero value is ready for Reset.
type PluginFindings struct {
	m     *sandbox.Manifest
	rules []string // pairs: a plugin's rule, the finding's rule
	msgs  strings.Builder
}

// maxInternedRules bounds how many rules of one plugin PluginFindings
// keeps prefixed.
const maxInternedRules = 32

// Reset prepares p for the reasons of one call of m's plugin, its
// verdicts: their messages are made in one string of the right size
// (at most MaxPluginReasons reasons of a verdict are kept).
func (p *PluginFindings) Reset(m *sandbox.Manifest, verdicts []sandbox.Verdict) {
	if p.m != m {
		p.m, p.rules = m, p.rules[:0]
	}
	suffix := len(" (") + len(m.Name) + len("@") + len(m.Version) + len(")")
	size := 0
	for i := range verdicts {
		for n, r := range verdicts[i].Reasons {
			if n == MaxPluginReasons {
				break
			}
			size += len(r.Message) + suffix
		}
	}
	// A new builder: the strings of the last call stay as they were.
	p.msgs = strings.Builder{}
	p.msgs.Grow(size)
}

// Of is FromPlugin(m, r, pointer) for the m of the last Reset.
func (p *PluginFindings) Of(r sandbox.Reason, pointer string) Finding {
	m := p.m
	rule := ""
	for k := 0; k < len(p.rules); k += 2 {
		if p.rules[k] == r.Rule {
			rule = p.rules[k+1]
			break
		}
	}
	if rule == "" {
		rule = m.Name + "/" + r.Rule
		if len(p.rules) < 2*maxInternedRules {
			p.rules = append(p.rules, r.Rule, rule)
		}
	}
	start := p.msgs.Len()
	p.msgs.WriteString(r.Message)
	p.msgs.WriteString(" (")
	p.msgs.WriteString(m.Name)
	p.msgs.WriteByte('@')
	p.msgs.WriteString(m.Version)
	p.msgs.WriteByte(')')
	return Finding{Stage: StageValidate, Rule: rule, Pointer: pointer, Message: p.msgs.String()[start:]}
}

// PluginRejected is the reason for a record a plugin rejected without
// giving one.
func PluginRejected(m *sandbox.Manifest) Finding {
	return Finding{Stage: StageValidate, Rule: m.Name + "/rejected", Message: "rejected without a reason (" + m.ID() + ")"}
}

// MaxPluginReasons is how many reasons of one plugin a record keeps: a
// plugin that gives more (a valid result may carry thousands) cannot make
// the quarantine grow without bound; the rest are counted in one reason of
// their own (PluginReasonsCapped).
const MaxPluginReasons = 16

// PluginReasonsCapped is the reason that stands for the reasons of a
// plugin beyond MaxPluginReasons for one record.
func PluginReasonsCapped(m *sandbox.Manifest, more int) Finding {
	return Finding{Stage: StageValidate, Rule: m.Name + "/reasons.capped",
		Message: fmt.Sprintf("%d more reasons of %s for this record are not kept (at most %d per plugin and record)", more, m.ID(), MaxPluginReasons)}
}

// PluginTrap is the reason for a record that made a plugin trap.
func PluginTrap(m *sandbox.Manifest, err error) Finding {
	return Finding{Stage: StageValidate, Rule: m.Name + "/plugin.trap",
		Message: fmt.Sprintf("the plugin trapped on this record and it was set aside: %v", err)}
}

// PluginReplaced is the action of a transforming plugin that replaced a
// value.
func PluginReplaced(m *sandbox.Manifest, pointer string) Finding {
	return Finding{Stage: StageValidate, Rule: m.Name + "/replace", Pointer: pointer, Message: "value replaced by " + m.ID()}
}

// InvalidUTF8 locates the first invalid UTF-8 sequence of a record whose
// bytes start at input offset offset.
func InvalidUTF8(raw []byte, offset int64) Finding {
	i := 0
	for i < len(raw) {
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		i += size
	}
	end := i + 1
	for end < len(raw) && end < i+4 && raw[end]&0xC0 == 0x80 {
		end++
	}
	var bad bytes.Buffer
	for k, c := range raw[i:end] {
		if k > 0 {
			bad.WriteByte(' ')
		}
		fmt.Fprintf(&bad, "0x%02X", c)
	}
	n := 0
	for j := 0; j < len(raw); {
		r, size := utf8.DecodeRune(raw[j:])
		if r == utf8.RuneError && size <= 1 {
			n++
		}
		j += size
	}
	return Finding{Stage: StageUTF8, Rule: "utf8.invalid", Offset: at(offset + int64(i)),
		Message: fmt.Sprintf("invalid UTF-8 at byte %d of the record (input byte %d): %s; %d invalid byte(s) in the record; re-export the source as UTF-8",
			i, offset+int64(i), bad.String(), n)}
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
	RawOmitted string    `json:"raw_omitted,omitempty"`
	Reasons    []Finding `json:"reasons"`
	Actions    []Finding `json:"actions,omitempty"`
}

// RawBytes returns the record's original bytes, when the entry holds them.
func (q *QuarantineEntry) RawBytes() ([]byte, error) {
	if q.RawBase64 != "" {
		return base64.StdEncoding.DecodeString(q.RawBase64)
	}
	return []byte(q.Raw), nil
}

// HasBytes says whether the entry's line holds the record's bytes, or says
// why not (raw_omitted). A line of a batch in quarantine format 2
// (actions.QuarantineByReference) does not when they are the input's
// span at Offset, Length: FillRaw reads them from there.
func (q *QuarantineEntry) HasBytes() bool {
	return q.Raw != "" || q.RawBase64 != "" || q.RawOmitted != ""
}

// FillRaw gives an entry whose line leaves the record's bytes to the input
// (!HasBytes) the Raw or RawBase64 a line of format 1 holds: the bytes
// read from input, the batch's input blob, at Offset, Length. A line
// whose span is longer than maxRecordBytes (no record the batch buffered
// is) or outside the input is damaged, and an error.
func (q *QuarantineEntry) FillRaw(input io.ReaderAt, maxRecordBytes int64) error {
	if q.HasBytes() || q.Length == 0 {
		return nil
	}
	if q.Offset < 0 || q.Length < 0 || q.Length > maxRecordBytes {
		return fmt.Errorf("record %d: its quarantine line names %d bytes at input offset %d, which no quarantined record has (max_record_bytes %d): the line is damaged: run `pawl audit verify`", q.Ordinal, q.Length, q.Offset, maxRecordBytes)
	}
	b := make([]byte, q.Length)
	if n, err := input.ReadAt(b, q.Offset); n < len(b) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("record %d: reading its %d bytes at input offset %d: %w", q.Ordinal, q.Length, q.Offset, err)
	}
	if utf8.Valid(b) {
		q.Raw = string(b)
	} else {
		q.RawBase64 = base64.StdEncoding.EncodeToString(b)
	}
	return nil
}

// RawOmittedNote is a quarantine entry's raw_omitted for a record of length
// bytes at offset that was over max_record_bytes.
func RawOmittedNote(length, offset int64) string {
	return fmt.Sprintf("%d bytes, over max_record_bytes; they are in the batch's input blob at offset %d", length, offset)
}

// ActionsEntry is one line of actions.jsonl: what the boundary changed in a
// record that it let through.
type ActionsEntry struct {
	Ordinal int64     `json:"ordinal"`
	Actions []Finding `json:"actions"`
}

// Line renders v as one JSON line (a quarantine.jsonl or actions.jsonl
// line, or a line of an export), LF-terminated. HTML escaping is off so
// that quarantined bytes read as they were.
func Line(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only called with types that always encode
	}
	return b.Bytes()
}

// AppendQuarantineLine appends q's quarantine.jsonl line to dst: the
// bytes Line(q) gives (encoding/json, HTML escaping off, then LF), written
// without reflection: in a batch that quarantines every record this line
// is most of the work per record (TestQuarantineLineIsLine holds the two
// to the same bytes).
func AppendQuarantineLine(dst []byte, q *QuarantineEntry) []byte {
	return appendQuarantineLine(dst, q, nil)
}

// AppendQuarantineRecord is AppendQuarantineLine of q with raw, the
// record's bytes, as its Raw: the same bytes, without copying raw into a
// string first. q.Raw must be empty.
func AppendQuarantineRecord(dst []byte, q *QuarantineEntry, raw []byte) []byte {
	return appendQuarantineLine(dst, q, raw)
}

func appendQuarantineLine(dst []byte, q *QuarantineEntry, raw []byte) []byte {
	dst = append(dst, `{"ordinal":`...)
	dst = strconv.AppendInt(dst, q.Ordinal, 10)
	dst = append(dst, `,"line":`...)
	dst = strconv.AppendInt(dst, q.Line, 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, q.Offset, 10)
	dst = append(dst, `,"length":`...)
	dst = strconv.AppendInt(dst, q.Length, 10)
	if q.Raw != "" {
		dst = append(dst, `,"raw":`...)
		dst = appendJSONString(dst, q.Raw)
	} else if len(raw) > 0 {
		dst = append(dst, `,"raw":`...)
		dst = appendJSONString(dst, raw)
	}
	if q.RawBase64 != "" {
		dst = append(dst, `,"raw_base64":`...)
		dst = appendJSONString(dst, q.RawBase64)
	}
	if q.RawOmitted != "" {
		dst = append(dst, `,"raw_omitted":`...)
		dst = appendJSONString(dst, q.RawOmitted)
	}
	dst = append(dst, `,"reasons":`...)
	dst = appendJSONFindings(dst, q.Reasons)
	if len(q.Actions) > 0 {
		dst = append(dst, `,"actions":`...)
		dst = appendJSONFindings(dst, q.Actions)
	}
	return append(dst, '}', '\n')
}

// QuarantineLine is AppendQuarantineLine into a buffer sized for q.
func QuarantineLine(q *QuarantineEntry) []byte {
	n := 128 + len(q.Raw) + len(q.RawBase64) + len(q.RawOmitted)
	for _, fs := range [2][]Finding{q.Reasons, q.Actions} {
		for i := range fs {
			n += 64 + len(fs[i].Stage) + len(fs[i].Rule) + len(fs[i].Pointer) + len(fs[i].Message)
		}
	}
	return AppendQuarantineLine(make([]byte, 0, n+n/8), q)
}

// appendJSONFindings is encoding/json's encoding of fs (struct field
// order; a nil slice is null).
func appendJSONFindings(dst []byte, fs []Finding) []byte {
	if fs == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i := range fs {
		f := &fs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"stage":`...)
		dst = appendJSONString(dst, f.Stage)
		dst = append(dst, `,"rule":`...)
		dst = appendJSONString(dst, f.Rule)
		dst = append(dst, `,"pointer":`...)
		dst = appendJSONString(dst, f.Pointer)
		dst = append(dst, `,"message":`...)
		dst = appendJSONString(dst, f.Message)
		if f.Offset != nil {
			dst = append(dst, `,"offset":`...)
			dst = strconv.AppendInt(dst, *f.Offset, 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping
// off: '"' and '\\' escaped, control characters as \b \f \n \r \t or
// \u00xx, an invalid UTF-8 byte as \ufffd, U+2028 and U+2029 escaped,
// everything else as it is.
//
// It writes by index into room made once (every byte as it is or as two,
// the quotes of a JSON record), not an append per escape: in a batch that
// quarantines every record, the record's bytes in its line are most of
// the line's cost.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = slices.Grow(dst, 2*len(s)+2)
	n := len(dst)
	dst = dst[:cap(dst)]
	dst[n] = '"'
	n++
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c] {
			dst[n] = c
			n++
			i++
			continue
		}
		if c == '"' || c == '\\' {
			dst[n], dst[n+1] = '\\', c
			n += 2
			i++
			continue
		}
		// The rare cases, by append; then room again for the rest.
		dst = dst[:n]
		if c < utf8.RuneSelf {
			switch c {
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
		} else {
			r, size := decodeRune(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(dst, `\ufffd`...)
			case r == '\u2028' || r == '\u2029':
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			default:
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
		dst = slices.Grow(dst, 2*(len(s)-i)+1)
		n = len(dst)
		dst = dst[:cap(dst)]
	}
	dst[n] = '"'
	return dst[:n+1]
}

// jsonPlain says which bytes appendJSONString writes as they are: the
// ASCII ones but control characters, '"' and '\\'.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// decodeRune is utf8.DecodeRuneInString or utf8.DecodeRune, as s is.
func decodeRune[S string | []byte](s S) (rune, int) {
	switch v := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	panic("unreachable")
}

// ReasonsDigest is the lineage digest of what the stages said about a
// record: the SHA-256 of the canonical JSON object
// {"actions":[...],"reasons":[...]} (audit.ReasonsDigest), written here
// directly in canonical form: a quarantined record costs one hash, not an
// encode and a re-parse.
func ReasonsDigest(actions, reasons []Finding) [32]byte {
	var buf [1024]byte // on the stack: most records' findings fit
	b := buf[:0]
	b = append(b, `{"actions":`...)
	b = appendFindings(b, actions)
	b = append(b, `,"reasons":`...)
	b = appendFindings(b, reasons)
	b = append(b, '}')
	return sha256.Sum256(b)
}

// appendFindings writes fs as a canonical JSON array: each finding's keys
// in byte order (message, offset, pointer, rule, stage).
func appendFindings(b []byte, fs []Finding) []byte {
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"message":`...)
		b = canonjson.AppendString(b, f.Message)
		if f.Offset != nil {
			b = append(b, `,"offset":`...)
			b = strconv.AppendInt(b, *f.Offset, 10)
		}
		b = append(b, `,"pointer":`...)
		b = canonjson.AppendString(b, f.Pointer)
		b = append(b, `,"rule":`...)
		b = canonjson.AppendString(b, f.Rule)
		b = append(b, `,"stage":`...)
		b = canonjson.AppendString(b, f.Stage)
		b = append(b, '}')
	}
	return append(b, ']')
}

// EachLine calls fn with each line of r (LF included) and its 1-based
// number, until fn returns false or an error, or r ends. The line is only
// valid during the call.
func EachLine(r io.Reader, fn func(n int64, line []byte) (more bool, err error)) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<20)
	}
	for n := int64(1); ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it whole.
			long := bytes.Clone(line)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			more, ferr := fn(n, line)
			if ferr != nil || !more {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// ReadQuarantine reads quarantine.jsonl lines from r (name says which file,
// for errors), calling fn for each entry until fn returns false.
func ReadQuarantine(r io.Reader, name string, fn func(*QuarantineEntry) bool) error {
	return EachLine(r, func(n int64, line []byte) (bool, error) {
		var q QuarantineEntry
		if err := json.Unmarshal(line, &q); err != nil {
			return false, fmt.Errorf("%s line %d is damaged: %v: run `pawl audit verify`", name, n, err)
		}
		return fn(&q), nil
	})
}
