package pdk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unsafe"
)

// ABIVersion is the plugin ABI this kit speaks.
const ABIVersion = 1

const (
	magicInit   = 0x31495750 // "PWI1"
	magicBatch  = 0x31425750 // "PWB1"
	magicResult = 0x31525750 // "PWR1"
)

// Type is a column type code.
type Type uint32

// Column types.
const (
	Number Type = 1
	String Type = 2
	Bool   Type = 3
)

// Init is what an instance is initialised with, once.
type Init struct {
	Config  []byte            // the plugin's config from the job spec, JSON ("{}" when none)
	Lookups map[string][]byte // the pinned lookup files the manifest names
	AsOf    time.Time         // the batch's as-of time (time.Now() returns it too)
	Seed    uint64            // the batch's seed (math/rand and crypto/rand are seeded from it already)
}

// Plugin is a validator (or transformer).
type Plugin interface {
	// Init checks the config and prepares; an error refuses the config
	// and is shown to the operator, so say what is wrong and where.
	Init(in Init) error
	// Validate judges the records of b, writing reasons into r.
	Validate(b *Batch, r *Result)
}

var registered Plugin

// Register makes p the plugin of this module. Call it from an init func.
func Register(p Plugin) {
	if registered != nil {
		panic("pdk: Register called twice")
	}
	registered = p
}

// Batch is one batch of records in columns, as the host laid them out.
type Batch struct {
	N     int       // records in the batch
	First uint64    // index in the run of record 0
	AsOf  time.Time // the batch's as-of time
	cols  []column
}

type column struct {
	typ     Type
	present []byte
	nums    []float64
	bools   []byte
	offs    []uint32
	data    []byte
}

// Columns is the number of columns (the manifest's fields, in order).
func (b *Batch) Columns() int { return len(b.cols) }

// Type returns column j's type.
func (b *Batch) Type(j int) Type { return b.cols[j].typ }

// Numbers returns column j, which must be a number column.
func (b *Batch) Numbers(j int) Numbers {
	c := &b.cols[j]
	if c.typ != Number {
		panic(fmt.Sprintf("pdk: column %d is not a number column", j))
	}
	return Numbers{present: c.present, v: c.nums}
}

// Strings returns column j, which must be a string column.
func (b *Batch) Strings(j int) Strings {
	c := &b.cols[j]
	if c.typ != String {
		panic(fmt.Sprintf("pdk: column %d is not a string column", j))
	}
	return Strings{present: c.present, offs: c.offs, data: c.data}
}

// Bools returns column j, which must be a bool column.
func (b *Batch) Bools(j int) Bools {
	c := &b.cols[j]
	if c.typ != Bool {
		panic(fmt.Sprintf("pdk: column %d is not a bool column", j))
	}
	return Bools{present: c.present, v: c.bools}
}

// Numbers is a number column.
type Numbers struct {
	present []byte
	v       []float64
}

// Get returns record i's value and whether it is present.
func (c Numbers) Get(i int) (float64, bool) {
	return c.v[i], c.present[i>>3]&(1<<(i&7)) != 0
}

// Strings is a string column.
type Strings struct {
	present []byte
	offs    []uint32
	data    []byte
}

// Get returns record i's value and whether it is present. The string
// shares the batch's memory: valid only during this Validate call.
func (c Strings) Get(i int) (string, bool) {
	if c.present[i>>3]&(1<<(i&7)) == 0 {
		return "", false
	}
	s, e := c.offs[i], c.offs[i+1]
	if s == e {
		return "", true
	}
	return unsafe.String(&c.data[s], int(e-s)), true
}

// Bools is a bool column.
type Bools struct {
	present []byte
	v       []byte
}

// Get returns record i's value and whether it is present.
func (c Bools) Get(i int) (bool, bool) {
	return c.v[i] != 0, c.present[i>>3]&(1<<(i&7)) != 0
}

var errShort = errors.New("pdk: truncated message")

// DecodeBatch reads a batch message (ABI version 1). The Batch's columns
// are views of msg.
func DecodeBatch(msg []byte) (*Batch, error) {
	le := binary.LittleEndian
	if len(msg) < 32 || le.Uint32(msg) != magicBatch {
		return nil, errors.New("pdk: not a batch message")
	}
	if v := le.Uint32(msg[4:]); v != ABIVersion {
		return nil, fmt.Errorf("pdk: batch message of ABI %d; this kit speaks %d", v, ABIVersion)
	}
	n := int(le.Uint32(msg[8:]))
	ncols := int(le.Uint32(msg[12:]))
	b := &Batch{N: n, First: le.Uint64(msg[16:]), AsOf: time.Unix(0, int64(le.Uint64(msg[24:]))).UTC()}
	if 32+16*ncols > len(msg) {
		return nil, errShort
	}
	b.cols = make([]column, ncols)
	section := func(off, size int) ([]byte, error) {
		if off < 0 || size < 0 || off+size > len(msg) {
			return nil, errShort
		}
		return msg[off : off+size], nil
	}
	for j := range b.cols {
		d := msg[32+16*j:]
		c := &b.cols[j]
		c.typ = Type(le.Uint32(d))
		var err error
		if c.present, err = section(int(le.Uint32(d[4:])), (n+7)/8); err != nil {
			return nil, err
		}
		data, err := section(int(le.Uint32(d[8:])), int(le.Uint32(d[12:])))
		if err != nil {
			return nil, err
		}
		switch c.typ {
		case Number:
			if len(data) < 8*n {
				return nil, errShort
			}
			c.nums = f64s(data, n)
		case Bool:
			if len(data) < n {
				return nil, errShort
			}
			c.bools = data[:n]
		case String:
			if len(data) < 4*(n+1) {
				return nil, errShort
			}
			c.offs = u32s(data, n+1)
			c.data = data[4*(n+1):]
			if int(c.offs[n]) > len(c.data) {
				return nil, errShort
			}
			for i := 0; i < n; i++ {
				if c.offs[i] > c.offs[i+1] {
					return nil, errShort
				}
			}
		default:
			return nil, fmt.Errorf("pdk: column %d has unknown type %d", j, c.typ)
		}
	}
	return b, nil
}

// f64s views data as n float64s in place when it is aligned (the host
// aligns every section to 8) and little-endian; otherwise it copies.
func f64s(data []byte, n int) []float64 {
	if n == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&data[0]))%8 == 0 && littleEndian {
		return unsafe.Slice((*float64)(unsafe.Pointer(&data[0])), n)
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	return v
}

func u32s(data []byte, n int) []uint32 {
	if uintptr(unsafe.Pointer(&data[0]))%4 == 0 && littleEndian {
		return unsafe.Slice((*uint32)(unsafe.Pointer(&data[0])), n)
	}
	v := make([]uint32, n)
	for i := range v {
		v[i] = binary.LittleEndian.Uint32(data[4*i:])
	}
	return v
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Result collects a batch's reasons and replacement values.
type Result struct {
	n       int
	reasons []byte
	nReason uint32
	repl    []byte
	nRepl   uint32
	out     []byte
}

// NewResult returns an empty result for a batch of n records (the kit
// makes one per call; tests and benchmarks use this).
func NewResult(n int) *Result { return &Result{n: n} }

func (r *Result) reset(n int) {
	r.n, r.reasons, r.nReason, r.repl, r.nRepl = n, r.reasons[:0], 0, r.repl[:0], 0
}

// Whole is the field index of a reason about the record as a whole.
const Whole = -1

// Reject records that record i breaks rule (a short stable id such as
// "range.min") at column field (or Whole), with a message for a person.
func (r *Result) Reject(i, field int, rule, message string) {
	le := binary.LittleEndian
	r.reasons = le.AppendUint32(r.reasons, uint32(i))
	r.reasons = le.AppendUint32(r.reasons, uint32(int32(field)))
	r.reasons = le.AppendUint32(r.reasons, uint32(len(rule)))
	r.reasons = append(r.reasons, rule...)
	r.reasons = le.AppendUint32(r.reasons, uint32(len(message)))
	r.reasons = append(r.reasons, message...)
	r.nReason++
}

// Rejected counts the reasons so far.
func (r *Result) Rejected() int { return int(r.nReason) }

func (r *Result) replHeader(i, field int, t byte) {
	le := binary.LittleEndian
	r.repl = le.AppendUint32(r.repl, uint32(i))
	r.repl = le.AppendUint32(r.repl, uint32(field))
	r.repl = append(r.repl, t)
	r.nRepl++
}

// ReplaceNumber sets record i's number column field to v (transformers
// only: the manifest must say "transforms": true).
func (r *Result) ReplaceNumber(i, field int, v float64) {
	r.replHeader(i, field, byte(Number))
	r.repl = binary.LittleEndian.AppendUint64(r.repl, math.Float64bits(v))
}

// ReplaceString sets record i's string column field to v.
func (r *Result) ReplaceString(i, field int, v string) {
	r.replHeader(i, field, byte(String))
	r.repl = binary.LittleEndian.AppendUint32(r.repl, uint32(len(v)))
	r.repl = append(r.repl, v...)
}

// ReplaceBool sets record i's bool column field to v.
func (r *Result) ReplaceBool(i, field int, v bool) {
	r.replHeader(i, field, byte(Bool))
	c := byte(0)
	if v {
		c = 1
	}
	r.repl = append(r.repl, c)
}

// Remove removes field from record i.
func (r *Result) Remove(i, field int) { r.replHeader(i, field, 0) }

// Bytes encodes the result message.
func (r *Result) Bytes() []byte {
	le := binary.LittleEndian
	out := r.out[:0]
	out = le.AppendUint32(out, magicResult)
	out = le.AppendUint32(out, uint32(r.n))
	out = le.AppendUint32(out, r.nReason)
	out = le.AppendUint32(out, r.nRepl)
	out = append(out, r.reasons...)
	out = append(out, r.repl...)
	r.out = out
	return out
}

// DecodeInit reads an init message.
func DecodeInit(msg []byte) (Init, error) {
	le := binary.LittleEndian
	var in Init
	if len(msg) < 32 || le.Uint32(msg) != magicInit {
		return in, errors.New("pdk: not an init message")
	}
	if v := le.Uint32(msg[4:]); v != ABIVersion {
		return in, fmt.Errorf("pdk: init message of ABI %d; this kit speaks %d", v, ABIVersion)
	}
	in.AsOf = time.Unix(0, int64(le.Uint64(msg[8:]))).UTC()
	in.Seed = le.Uint64(msg[16:])
	clen := int(le.Uint32(msg[24:]))
	nl := int(le.Uint32(msg[28:]))
	p := 32
	if p+clen > len(msg) {
		return in, errShort
	}
	in.Config = append([]byte(nil), msg[p:p+clen]...)
	p += clen
	in.Lookups = map[string][]byte{}
	next := func() ([]byte, error) {
		if p+4 > len(msg) {
			return nil, errShort
		}
		l := int(le.Uint32(msg[p:]))
		p += 4
		if p+l > len(msg) {
			return nil, errShort
		}
		s := msg[p : p+l]
		p += l
		return s, nil
	}
	for k := 0; k < nl; k++ {
		name, err := next()
		if err != nil {
			return in, err
		}
		data, err := next()
		if err != nil {
			return in, err
		}
		in.Lookups[string(name)] = append([]byte(nil), data...)
	}
	return in, nil
}

// Run decodes msg, runs p over it and returns the result message: what
// pawl_validate does, callable natively for tests and benchmarks.
func Run(p Plugin, msg []byte, r *Result) ([]byte, error) {
	b, err := DecodeBatch(msg)
	if err != nil {
		return nil, err
	}
	r.reset(b.N)
	p.Validate(b, r)
	return r.Bytes(), nil
}

// MaxQuotedValue is how many bytes of a record's value QuoteValue quotes.
const MaxQuotedValue = 200

// QuoteValue is strconv.Quote of a record's value for a reason's message,
// of at most its first MaxQuotedValue bytes (cut where a UTF-8 sequence
// starts), followed by "… (N bytes)" when the value is longer: the ABI
// refuses a message over 4096 bytes, and a long value in a record must cost
// that record, not the batch. The C helper pawl_say_quote_value
// (plugins/c/pawl.h) writes the same bytes.
func QuoteValue(s string) string {
	if len(s) <= MaxQuotedValue {
		return strconv.Quote(s)
	}
	cut := MaxQuotedValue
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return strconv.Quote(s[:cut]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}
