package sandbox

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Wire format of ABI version 1 (docs/plugin-abi.md is the reference; keep
// the two in step). All integers are little-endian; every section of a
// batch message starts 8-byte aligned so that a guest can view an f64
// column in place.
const (
	magicInit   = 0x31495750 // "PWI1"
	magicBatch  = 0x31425750 // "PWB1"
	magicResult = 0x31525750 // "PWR1"

	batchHeaderSize = 32
	colDescSize     = 16

	maxRuleBytes    = 128
	maxMessageBytes = 4096
)

// Batch is one call's worth of records in columns: Columns[j] holds the
// values of the plugin's j-th declared field (Manifest.Fields[j]) for
// records 0..N-1. The host fills it from records it has already parsed;
// the guest never sees JSON.
type Batch struct {
	N int
	// First is the index in the run of record 0 of this batch; reasons and
	// errors use it, and ordered plugins may too.
	First   uint64
	Columns []Column
}

// Column is one field's values. Exactly the slice for the field's type is
// used: Num for number, Str for string, Bool for bool, each of length N.
// Present[i] is false when record i has no value of the declared type at
// the field's pointer (absent, null, or another type); a nil Present
// means every value is present.
type Column struct {
	Present []bool
	Num     []float64
	Str     []string
	Bool    []bool
}

// NewBatch returns an empty batch of n records shaped for fields, every
// value absent; set values with Set*.
func NewBatch(fields []Field, n int) *Batch {
	b := &Batch{N: n, Columns: make([]Column, len(fields))}
	for j, f := range fields {
		c := &b.Columns[j]
		c.Present = make([]bool, n)
		switch f.Type {
		case TypeNumber:
			c.Num = make([]float64, n)
		case TypeString:
			c.Str = make([]string, n)
		case TypeBool:
			c.Bool = make([]bool, n)
		}
	}
	return b
}

// Reuse returns NewBatch(fields, n) made in b's arrays where they have
// room (b may be nil): a caller that fills batch after batch for one
// plugin allocates its columns once. What b held is dropped.
func (b *Batch) Reuse(fields []Field, n int) *Batch {
	if b == nil {
		return NewBatch(fields, n)
	}
	b.N, b.First = n, 0
	if cap(b.Columns) < len(fields) {
		b.Columns = make([]Column, len(fields))
	}
	b.Columns = b.Columns[:len(fields)]
	for j, f := range fields {
		c := &b.Columns[j]
		num, str, bools := c.Num, c.Str, c.Bool
		*c = Column{Present: resized(c.Present, n)}
		switch f.Type {
		case TypeNumber:
			c.Num = resized(num, n)
		case TypeString:
			c.Str = resized(str, n)
		case TypeBool:
			c.Bool = resized(bools, n)
		}
	}
	return b
}

// resized is s with n zero elements, in s's array when it has room.
func resized[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// SetNumber sets record i's value of column j.
func (b *Batch) SetNumber(j, i int, v float64) {
	b.Columns[j].Num[i], b.Columns[j].Present[i] = v, true
}

// SetString sets record i's value of column j.
func (b *Batch) SetString(j, i int, v string) {
	b.Columns[j].Str[i], b.Columns[j].Present[i] = v, true
}

// SetBool sets record i's value of column j.
func (b *Batch) SetBool(j, i int, v bool) {
	b.Columns[j].Bool[i], b.Columns[j].Present[i] = v, true
}

// Subset returns a batch of the records idx (indices into b) in that
// order. First is kept; it is only a label for errors.
func (b *Batch) Subset(idx []int) *Batch {
	s := &Batch{N: len(idx), First: b.First, Columns: make([]Column, len(b.Columns))}
	for j, c := range b.Columns {
		sc := &s.Columns[j]
		if c.Present != nil {
			sc.Present = make([]bool, len(idx))
			for k, i := range idx {
				sc.Present[k] = c.Present[i]
			}
		}
		if c.Num != nil {
			sc.Num = make([]float64, len(idx))
			for k, i := range idx {
				sc.Num[k] = c.Num[i]
			}
		}
		if c.Str != nil {
			sc.Str = make([]string, len(idx))
			for k, i := range idx {
				sc.Str[k] = c.Str[i]
			}
		}
		if c.Bool != nil {
			sc.Bool = make([]bool, len(idx))
			for k, i := range idx {
				sc.Bool[k] = c.Bool[i]
			}
		}
	}
	return s
}

func (b *Batch) check(fields []Field) error {
	if b.N < 0 || b.N > math.MaxInt32/8 {
		return fmt.Errorf("batch of %d records", b.N)
	}
	if len(b.Columns) != len(fields) {
		return fmt.Errorf("batch has %d columns; the plugin declares %d fields", len(b.Columns), len(fields))
	}
	for j, f := range fields {
		c := b.Columns[j]
		if c.Present != nil && len(c.Present) != b.N {
			return fmt.Errorf("column %q: %d presence flags for %d records", f.Name, len(c.Present), b.N)
		}
		var n int
		switch f.Type {
		case TypeNumber:
			n = len(c.Num)
		case TypeString:
			n = len(c.Str)
		case TypeBool:
			n = len(c.Bool)
		}
		if n != b.N {
			return fmt.Errorf("column %q (%s): %d values for %d records", f.Name, f.Type, n, b.N)
		}
	}
	return nil
}

func pad8(n int) int { return (n + 7) &^ 7 }

// Encode returns b's batch message as the guest receives it (for tests
// and native benchmarks of guest code; Validate writes it straight into
// guest memory instead).
func (b *Batch) Encode(fields []Field, asOf time.Time) ([]byte, error) {
	if err := b.check(fields); err != nil {
		return nil, err
	}
	msg := make([]byte, b.encodedSize(fields))
	b.encode(msg, fields, asOf.UnixNano())
	return msg, nil
}

// encodedSize is the size of b's batch message.
func (b *Batch) encodedSize(fields []Field) int {
	size := batchHeaderSize + colDescSize*len(fields)
	size = pad8(size)
	for j, f := range fields {
		size += pad8((b.N + 7) / 8)
		switch f.Type {
		case TypeNumber:
			size += 8 * b.N
		case TypeBool:
			size += pad8(b.N)
		case TypeString:
			n := 4 * (b.N + 1)
			for _, s := range b.Columns[j].Str {
				n += len(s)
			}
			size += pad8(n)
		}
	}
	return size
}

// encode writes b's batch message into dst, which is exactly
// encodedSize bytes (and may be a view of guest memory).
func (b *Batch) encode(dst []byte, fields []Field, asOfNanos int64) {
	le := binary.LittleEndian
	clear(dst)
	le.PutUint32(dst[0:], magicBatch)
	le.PutUint32(dst[4:], ABIVersion)
	le.PutUint32(dst[8:], uint32(b.N))
	le.PutUint32(dst[12:], uint32(len(fields)))
	le.PutUint64(dst[16:], b.First)
	le.PutUint64(dst[24:], uint64(asOfNanos))
	off := pad8(batchHeaderSize + colDescSize*len(fields))
	for j, f := range fields {
		c := b.Columns[j]
		desc := dst[batchHeaderSize+colDescSize*j:]
		le.PutUint32(desc[0:], f.Type.code())
		// presence bitmap
		le.PutUint32(desc[4:], uint32(off))
		pres := dst[off : off+(b.N+7)/8]
		if c.Present == nil {
			for i := range pres {
				pres[i] = 0xff
			}
			if r := b.N % 8; r != 0 {
				pres[len(pres)-1] = byte(1<<r) - 1
			}
		} else {
			for i, p := range c.Present {
				if p {
					pres[i>>3] |= 1 << (i & 7)
				}
			}
		}
		off += pad8((b.N + 7) / 8)
		le.PutUint32(desc[8:], uint32(off))
		switch f.Type {
		case TypeNumber:
			d := dst[off:]
			for i, v := range c.Num {
				le.PutUint64(d[8*i:], math.Float64bits(v))
			}
			le.PutUint32(desc[12:], uint32(8*b.N))
			off += 8 * b.N
		case TypeBool:
			d := dst[off:]
			for i, v := range c.Bool {
				if v {
					d[i] = 1
				}
			}
			le.PutUint32(desc[12:], uint32(b.N))
			off += pad8(b.N)
		case TypeString:
			offs := dst[off:]
			data := off + 4*(b.N+1)
			pos := 0
			for i, s := range c.Str {
				le.PutUint32(offs[4*i:], uint32(pos))
				copy(dst[data+pos:], s)
				pos += len(s)
			}
			le.PutUint32(offs[4*b.N:], uint32(pos))
			n := 4*(b.N+1) + pos
			le.PutUint32(desc[12:], uint32(n))
			off += pad8(n)
		}
	}
}

// Verdict is a plugin's judgement of one record: OK, or the reasons it is
// not. Replacements are new values a transformer returns for the record.
type Verdict struct {
	OK           bool
	Reasons      []Reason
	Replacements []Replacement
}

// Reason is one rule a record broke. Field is the manifest name of the
// field (FieldIndex its column), or "" and -1 for the record as a whole.
type Reason struct {
	Rule       string
	Field      string
	FieldIndex int
	Message    string
}

// Replacement is a transformer's new value for one field of one record.
type Replacement struct {
	Field      string
	FieldIndex int
	Value      Value
}

// Value is a replacement value. Absent means "remove the field".
type Value struct {
	Absent bool
	Num    float64
	Str    string
	Bool   bool
}

// decodeResult parses a result message for a batch of n records.
// Every length and index is checked: the guest is not trusted.
func decodeResult(msg []byte, n int, fields []Field, transforms bool) ([]Verdict, error) {
	return decodeResultInto(msg, n, fields, transforms, nil)
}

// okVerdicts returns n verdicts, every one OK with nothing else: dst's
// array when it has room (its old contents dropped), else a new one.
func okVerdicts(dst []Verdict, n int) []Verdict {
	if cap(dst) < n {
		dst = make([]Verdict, n)
	}
	dst = dst[:n]
	for i := range dst {
		dst[i] = Verdict{OK: true}
	}
	return dst
}

// decodeResultInto is decodeResult with the verdicts written into dst's
// array when it has room. A record's reasons, and every rule, message and
// string value, share a few allocations per call, not one each: the
// strings are cut from one copy of the message, and the reasons of a
// result that lists them record by record (as the PDK and pawl.h write
// them) are parts of one slice.
func decodeResultInto(msg []byte, n int, fields []Field, transforms bool, dst []Verdict) ([]Verdict, error) {
	le := binary.LittleEndian
	if len(msg) == 0 {
		// The empty result (ptr|len = 0, docs/plugin-abi.md §3): every
		// record passes, nothing replaced.
		return okVerdicts(dst, n), nil
	}
	if len(msg) < 16 {
		return nil, fmt.Errorf("result of %d bytes: shorter than its 16-byte header", len(msg))
	}
	if m := le.Uint32(msg); m != magicResult {
		return nil, fmt.Errorf("result starts with 0x%08x, not the result magic \"PWR1\"", m)
	}
	if got := le.Uint32(msg[4:]); got != uint32(n) {
		return nil, fmt.Errorf("result is for %d records; the batch had %d", got, n)
	}
	nReasons := le.Uint32(msg[8:])
	nRepl := le.Uint32(msg[12:])
	// Each reason takes at least 16 bytes, each replacement at least 9 (a
	// removal: record, field, type 0 and no value): refuse impossible
	// counts before allocating anything for them.
	if uint64(nReasons)*16+uint64(nRepl)*9 > uint64(len(msg)-16) {
		return nil, fmt.Errorf("result claims %d reasons and %d replacements in %d bytes", nReasons, nRepl, len(msg))
	}
	verdicts := okVerdicts(dst, n)
	r := &reader{b: msg, off: 16}
	u32 := func() (uint32, error) {
		b, err := r.bytes(4)
		if err != nil {
			return 0, err
		}
		return le.Uint32(b), nil
	}
	// text is the message after its header, copied once out of guest
	// memory; every string of the result is a part of it.
	var text string
	if nReasons+nRepl > 0 {
		text = string(msg[16:])
	}
	str := func(what string, max int) (string, error) {
		l, err := u32()
		if err != nil {
			return "", err
		}
		if int64(l) > int64(max) {
			return "", fmt.Errorf("%s of %d bytes (at most %d)", what, l, max)
		}
		b, err := r.bytes(l)
		if err != nil {
			return "", err
		}
		if !utf8.Valid(b) {
			return "", fmt.Errorf("%s %q is not valid UTF-8", what, b)
		}
		return text[r.off-16-len(b) : r.off-16], nil
	}
	field := func(v uint32, allowWhole bool) (string, int, error) {
		if v == math.MaxUint32 && allowWhole {
			return "", -1, nil
		}
		if int64(v) >= int64(len(fields)) {
			return "", 0, fmt.Errorf("field index %d (the plugin declares %d fields)", int32(v), len(fields))
		}
		return fields[v].Name, int(v), nil
	}
	var reasons []Reason // in the result's order
	var recs []uint32    // the record of each
	if nReasons > 0 {
		reasons, recs = make([]Reason, nReasons), make([]uint32, nReasons)
	}
	inOrder := true
	for k := uint32(0); k < nReasons; k++ {
		rec, err := u32()
		if err != nil {
			return nil, fmt.Errorf("reason %d: %w", k, err)
		}
		if int64(rec) >= int64(n) {
			return nil, fmt.Errorf("reason %d is for record %d of a batch of %d", k, rec, n)
		}
		fv, err := u32()
		if err != nil {
			return nil, fmt.Errorf("reason %d: %w", k, err)
		}
		fname, fidx, err := field(fv, true)
		if err != nil {
			return nil, fmt.Errorf("reason %d: %w", k, err)
		}
		rule, err := str("rule", maxRuleBytes)
		if err != nil {
			return nil, fmt.Errorf("reason %d: %w", k, err)
		}
		if rule == "" {
			return nil, fmt.Errorf("reason %d: empty rule id", k)
		}
		text, err := str("message", maxMessageBytes)
		if err != nil {
			return nil, fmt.Errorf("reason %d: %w", k, err)
		}
		reasons[k], recs[k] = Reason{Rule: rule, Field: fname, FieldIndex: fidx, Message: text}, rec
		inOrder = inOrder && (k == 0 || rec >= recs[k-1])
	}
	if inOrder {
		// Each record's reasons are one run of the slice: a view of it.
		for k := 0; k < len(reasons); {
			end := k + 1
			for end < len(reasons) && recs[end] == recs[k] {
				end++
			}
			v := &verdicts[recs[k]]
			v.OK, v.Reasons = false, reasons[k:end:end]
			k = end
		}
	} else {
		for k := range reasons {
			v := &verdicts[recs[k]]
			v.OK = false
			v.Reasons = append(v.Reasons, reasons[k])
		}
	}
	if nRepl > 0 && !transforms {
		return nil, fmt.Errorf("%d replacement values from a plugin whose manifest does not declare \"transforms\"", nRepl)
	}
	for k := uint32(0); k < nRepl; k++ {
		rec, err := u32()
		if err != nil {
			return nil, fmt.Errorf("replacement %d: %w", k, err)
		}
		if int64(rec) >= int64(n) {
			return nil, fmt.Errorf("replacement %d is for record %d of a batch of %d", k, rec, n)
		}
		fv, err := u32()
		if err != nil {
			return nil, fmt.Errorf("replacement %d: %w", k, err)
		}
		fname, fidx, err := field(fv, false)
		if err != nil {
			return nil, fmt.Errorf("replacement %d: %w", k, err)
		}
		t, err := r.byte()
		if err != nil {
			return nil, fmt.Errorf("replacement %d: %w", k, err)
		}
		var val Value
		switch {
		case t == 0:
			val.Absent = true
		case uint32(t) != fields[fidx].Type.code():
			return nil, fmt.Errorf("replacement %d: type code %d for %s field %q", k, t, fields[fidx].Type, fname)
		case t == 1:
			b, err := r.bytes(8)
			if err != nil {
				return nil, fmt.Errorf("replacement %d: %w", k, err)
			}
			val.Num = math.Float64frombits(le.Uint64(b))
		case t == 2:
			if val.Str, err = str("string value", math.MaxInt32); err != nil {
				return nil, fmt.Errorf("replacement %d: %w", k, err)
			}
		case t == 3:
			c, err := r.byte()
			if err != nil || c > 1 {
				return nil, fmt.Errorf("replacement %d: bad bool", k)
			}
			val.Bool = c == 1
		}
		v := &verdicts[rec]
		v.Replacements = append(v.Replacements, Replacement{Field: fname, FieldIndex: fidx, Value: val})
	}
	if r.off != len(msg) {
		return nil, fmt.Errorf("%d bytes after the last entry", len(msg)-r.off)
	}
	return verdicts, nil
}

// encodeInit builds the init message.
func encodeInit(config []byte, lookups []namedBytes, asOfNanos int64, seed uint64) []byte {
	le := binary.LittleEndian
	b := make([]byte, 32, 32+len(config)+64)
	le.PutUint32(b[0:], magicInit)
	le.PutUint32(b[4:], ABIVersion)
	le.PutUint64(b[8:], uint64(asOfNanos))
	le.PutUint64(b[16:], seed)
	le.PutUint32(b[24:], uint32(len(config)))
	le.PutUint32(b[28:], uint32(len(lookups)))
	b = append(b, config...)
	for _, l := range lookups {
		b = le.AppendUint32(b, uint32(len(l.name)))
		b = append(b, l.name...)
		b = le.AppendUint32(b, uint32(len(l.data)))
		b = append(b, l.data...)
	}
	return b
}

type namedBytes struct {
	name string
	data []byte
}

// DecodeResult parses a plugin's result message for a batch of n records,
// with every check the sandbox applies to a guest's answer. It lets a
// native build of the same plugin code (a benchmark baseline) go through
// exactly the host side of the ABI.
func DecodeResult(msg []byte, n int, m *Manifest) ([]Verdict, error) {
	return decodeResult(msg, n, m.Fields, m.Transforms)
}
