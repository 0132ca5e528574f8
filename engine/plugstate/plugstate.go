package plugstate

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"slices"
)

// Magic starts every state file.
const Magic = "pawl-state-v1\n"

// The host's caps on one key and one value; a plugin's manifest declares
// its own, at most these.
const (
	MaxKeyBytes   = 1024
	MaxValueBytes = 64 << 10
	maxNSBytes    = 64
)

// EmptyDigest is the sha256 of the empty table's file ("sha256:" + hex), the
// state of a job before its first batch.
var EmptyDigest = func() string {
	s := sha256.Sum256([]byte(Magic))
	return "sha256:" + hex.EncodeToString(s[:])
}()

var nsRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// Table is a state: the entries of a loaded file and the changes made to
// it since.
type Table struct {
	base  []byte
	idx   []int // offset of each base entry
	over  map[string]uint64
	arena []byte
	count map[string]int64 // live keys per namespace
}

// New returns the empty table.
func New() *Table { return &Table{over: map[string]uint64{}, count: map[string]int64{}} }

// FormatError is a state file that is not canonical.
type FormatError struct {
	Offset int64
	Detail string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("state file: at byte %d: %s", e.Offset, e.Detail)
}

// Load reads a state file, refusing anything but the canonical encoding of
// a table. The table keeps b: do not change it.
func Load(b []byte) (*Table, error) {
	if !bytes.HasPrefix(b, []byte(Magic)) {
		return nil, &FormatError{0, fmt.Sprintf("not a state file (want the magic %q)", Magic)}
	}
	t := New()
	t.base = b
	le := binary.LittleEndian
	var prev []byte
	for off := len(Magic); off < len(b); {
		start := off
		fail := func(format string, args ...any) (*Table, error) {
			return nil, &FormatError{int64(start), fmt.Sprintf(format, args...)}
		}
		if len(b)-off < 4 {
			return fail("truncated key length")
		}
		kl := int(le.Uint32(b[off:]))
		off += 4
		if kl > maxNSBytes+1+MaxKeyBytes || kl > len(b)-off {
			return fail("key length %d: beyond the file or the cap of %d", kl, maxNSBytes+1+MaxKeyBytes)
		}
		key := b[off : off+kl]
		off += kl
		ns, own, ok := split(key)
		if !ok || !nsRE.Match(ns) || len(own) == 0 || len(own) > MaxKeyBytes {
			return fail("key %q: want a plugin name, a zero byte and 1..%d bytes", key, MaxKeyBytes)
		}
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			return fail("key %q is not after %q: keys are sorted and unique", key, prev)
		}
		prev = key
		if len(b)-off < 4 {
			return fail("truncated value length")
		}
		vl := int(le.Uint32(b[off:]))
		off += 4
		if vl == 0 || vl > MaxValueBytes || vl > len(b)-off {
			return fail("value length %d: want 1..%d bytes within the file", vl, MaxValueBytes)
		}
		off += vl
		t.idx = append(t.idx, start)
		t.count[string(ns)]++
	}
	return t, nil
}

func split(key []byte) (ns, own []byte, ok bool) {
	i := bytes.IndexByte(key, 0)
	if i <= 0 {
		return nil, nil, false
	}
	return key[:i], key[i+1:], true
}

// entry returns base entry i's key and value.
func (t *Table) entry(i int) (key, val []byte) {
	le := binary.LittleEndian
	off := t.idx[i]
	kl := int(le.Uint32(t.base[off:]))
	key = t.base[off+4 : off+4+kl]
	off += 4 + kl
	vl := int(le.Uint32(t.base[off:]))
	return key, t.base[off+4 : off+4+vl]
}

func (t *Table) baseGet(fk []byte) ([]byte, bool) {
	i, found := slices.BinarySearchFunc(t.idx, fk, func(off int, k []byte) int {
		kl := int(binary.LittleEndian.Uint32(t.base[off:]))
		return bytes.Compare(t.base[off+4:off+4+kl], k)
	})
	if !found {
		return nil, false
	}
	_, v := t.entry(i)
	return v, true
}

// FullKey is the key of ns's own key in the file: ns, a zero byte, key;
// appended to dst.
func FullKey(dst []byte, ns string, key []byte) []byte {
	dst = append(dst, ns...)
	dst = append(dst, 0)
	return append(dst, key...)
}

// Get returns the value of a full key (FullKey) and whether it is there.
// The value is the table's: valid until the next Put, not to be changed.
func (t *Table) Get(fk []byte) ([]byte, bool) {
	if s, ok := t.over[string(fk)]; ok {
		n := int(s & 0xFFFFFF)
		if n == 0 {
			return nil, false
		}
		off := int(s >> 24)
		return t.arena[off : off+n], true
	}
	return t.baseGet(fk)
}

// Put sets a full key's value; an empty value removes the key. It checks
// nothing but the host's caps: the sandbox checks a plugin's own limits.
func (t *Table) Put(fk, val []byte) error {
	ns, own, ok := split(fk)
	if !ok || !nsRE.Match(ns) || len(own) == 0 || len(own) > MaxKeyBytes {
		return fmt.Errorf("state key %q: want a plugin name, a zero byte and 1..%d bytes", fk, MaxKeyBytes)
	}
	if len(val) > MaxValueBytes {
		return fmt.Errorf("state value of %d bytes: the cap is %d", len(val), MaxValueBytes)
	}
	_, had := t.Get(fk)
	switch {
	case !had && len(val) > 0:
		t.count[string(ns)]++
	case had && len(val) == 0:
		t.count[string(ns)]--
	}
	if s, ok := t.over[string(fk)]; ok && int(s&0xFFFFFF) == len(val) {
		copy(t.arena[int(s>>24):], val) // in place: same length
		return nil
	}
	off := len(t.arena)
	t.arena = append(t.arena, val...)
	t.over[string(fk)] = uint64(off)<<24 | uint64(len(val))
	return nil
}

// Keys is the number of keys namespace ns holds.
func (t *Table) Keys(ns string) int64 { return t.count[ns] }

// Len is the number of keys of every namespace.
func (t *Table) Len() int64 {
	var n int64
	for _, c := range t.count {
		n += c
	}
	return n
}

// Changed says whether Put was called since Load.
func (t *Table) Changed() bool { return len(t.over) > 0 }

// WriteTo writes the table's canonical file: the base entries merged with
// the changes, in key order, removed keys left out.
func (t *Table) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countWriter{w: bw}
	keys := make([]string, 0, len(t.over))
	for k := range t.over {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var hdr [4]byte
	put := func(k, v []byte) {
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(k)))
		cw.Write(hdr[:])
		cw.Write(k)
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(v)))
		cw.Write(hdr[:])
		cw.Write(v)
	}
	cw.Write([]byte(Magic))
	i, j := 0, 0
	for (i < len(t.idx) || j < len(keys)) && cw.err == nil {
		var bk, bv []byte
		if i < len(t.idx) {
			bk, bv = t.entry(i)
		}
		switch {
		case j >= len(keys) || (i < len(t.idx) && bytes.Compare(bk, []byte(keys[j])) < 0):
			put(bk, bv)
			i++
		default:
			if i < len(t.idx) && string(bk) == keys[j] {
				i++ // changed: the overlay's value wins
			}
			if v, ok := t.Get([]byte(keys[j])); ok {
				put([]byte(keys[j]), v)
			}
			j++
		}
	}
	if cw.err != nil {
		return cw.n, cw.err
	}
	return cw.n, bw.Flush()
}

// Bytes is the table's canonical file in memory (for tests and small
// tables).
func (t *Table) Bytes() []byte {
	var b bytes.Buffer
	t.WriteTo(&b)
	return b.Bytes()
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
