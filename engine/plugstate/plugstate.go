package plugstate

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Magic starts every state file.
const Magic = "pawl-state-v1\n"

// The host's caps on one key and one value; a plugin's manifest declares
// its own, at most these.
const (
	MaxKeyBytes   = 1024
	MaxValueBytes = 64 << 10
	maxNSBytes    = 64 + 1 + 16 // a plugin's name, and ".format" past format 1
	maxFullKey    = maxNSBytes + 1 + MaxKeyBytes
)

// DefaultBuffer is how many bytes of changes a table holds in memory
// before it writes them to a sorted run on disk (Options.Buffer).
const DefaultBuffer = 16 << 20

const (
	// blockBytes: a file's sparse index holds the first key of every
	// block of about this many bytes; a lookup reads one block.
	blockBytes = 4096
	// maxRuns: when a table has spilled more runs than this, they are
	// merged into one.
	maxRuns = 8
	// memEntryBytes is what one buffered key costs beyond its bytes and
	// its value's (the map's slot and the key's allocation), counted
	// against the buffer.
	memEntryBytes = 64
	// bloomBits per key of a run's filter (about 1% false positives with
	// bloomHashes probes).
	bloomBits   = 10
	bloomHashes = 7
	readBuffer  = 64 << 10
)

// EmptyDigest is the sha256 of the empty table's file ("sha256:" + hex), the
// state of a job before its first batch.
var EmptyDigest = func() string {
	s := sha256.Sum256([]byte(Magic))
	return "sha256:" + hex.EncodeToString(s[:])
}()

var nsRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}(\.[a-z0-9][a-z0-9_-]{0,15})?$`)

// Namespace is where a plugin's keys in a state format live: the plugin's
// name for format "1" (and for every state written before formats), the
// name, a dot and the format for any other.
func Namespace(plugin, format string) string {
	if format == "" || format == "1" {
		return plugin
	}
	return plugin + "." + format
}

// Formats returns the state formats in which the table holds keys of the
// plugin, sorted.
func (t *Table) Formats(plugin string) []string {
	var out []string
	for ns, n := range t.count {
		if n <= 0 {
			continue
		}
		switch {
		case ns == plugin:
			out = append(out, "1")
		case strings.HasPrefix(ns, plugin+"."):
			out = append(out, ns[len(plugin)+1:])
		}
	}
	slices.Sort(out)
	return out
}

// Options says where a table keeps the changes it cannot hold in memory.
type Options struct {
	// Dir receives the sorted runs of spilled changes (removed by Close),
	// made (0700) on the first spill; "" is os.TempDir().
	Dir string
	// Buffer is the bytes of changes held in memory before they are
	// spilled; 0 is DefaultBuffer.
	Buffer int
}

// Table is a state: the entries of a file (read through a sparse index,
// never loaded whole) and the changes made to it since, the newest in
// memory and the older ones in sorted runs on disk. Its memory is bounded
// by Options.Buffer plus a few bytes per block of the file and the runs,
// whatever the number of keys. A Table is not safe for concurrent use.
type Table struct {
	opt      Options
	base     *sortedFile   // the loaded file; nil: the empty table
	runs     []*sortedFile // spilled changes, oldest first
	mem      map[string]uint64
	arena    []byte
	keyBytes int
	count    map[string]int64 // live keys per namespace
	changed  bool
	err      error // sticky: an I/O error reading or spilling
	buf      []byte
	seed     maphash.Seed
	digest   string
	lastNS   string // the namespace of the last Put, known valid
}

// New returns the empty table.
func New() *Table { return NewWith(Options{}) }

// NewWith returns the empty table with the given options.
func NewWith(opt Options) *Table {
	if opt.Buffer <= 0 {
		opt.Buffer = DefaultBuffer
	}
	if opt.Dir == "" {
		opt.Dir = os.TempDir()
	}
	return &Table{opt: opt, mem: map[string]uint64{}, count: map[string]int64{}, seed: maphash.MakeSeed(), digest: EmptyDigest}
}

// FormatError is a state file that is not canonical.
type FormatError struct {
	Offset int64
	Detail string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("state file: at byte %d: %s", e.Offset, e.Detail)
}

// Load reads a state file held in memory, refusing anything but the
// canonical encoding of a table. The table keeps b: do not change it.
func Load(b []byte) (*Table, error) {
	return Open(bytes.NewReader(b), int64(len(b)), Options{})
}

// Open reads a state file of size bytes through r, refusing anything but
// the canonical encoding of a table: one streaming pass checks it, hashes
// it (Digest) and keeps the first key of every block; lookups read a
// block through r, which must keep the same bytes while the table is in
// use.
func Open(r io.ReaderAt, size int64, opt Options) (*Table, error) {
	t := NewWith(opt)
	h := sha256.New()
	f, err := scan(r, size, h, func(ns []byte) { t.count[string(ns)]++ })
	if err != nil {
		return nil, err
	}
	t.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if f.entries > 0 {
		t.base = f
	}
	return t, nil
}

// scan checks a state file, hashing it into h and calling each with the
// namespace of every entry, and returns it indexed.
func scan(r io.ReaderAt, size int64, h hash.Hash, each func(ns []byte)) (*sortedFile, error) {
	br := bufio.NewReaderSize(io.TeeReader(io.NewSectionReader(r, 0, size), h), readBuffer)
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != Magic {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, err
		}
		return nil, &FormatError{0, fmt.Sprintf("not a state file (want the magic %q)", Magic)}
	}
	f := &sortedFile{r: r, start: int64(len(Magic)), size: size}
	var prev, key []byte
	var hdr [4]byte
	le := binary.LittleEndian
	lastBlock := int64(-blockBytes)
	for off := f.start; off < size; {
		start := off
		fail := func(format string, args ...any) (*sortedFile, error) {
			return nil, &FormatError{start, fmt.Sprintf(format, args...)}
		}
		if size-off < 4 {
			return fail("truncated key length")
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, err
		}
		off += 4
		kl := int64(le.Uint32(hdr[:]))
		if kl > maxFullKey || kl > size-off {
			return fail("key length %d: beyond the file or the cap of %d", kl, maxFullKey)
		}
		key = slices.Grow(key[:0], int(kl))[:kl]
		if _, err := io.ReadFull(br, key); err != nil {
			return nil, err
		}
		off += kl
		ns, own, ok := split(key)
		if !ok || !nsRE.Match(ns) || len(own) == 0 || len(own) > MaxKeyBytes {
			return fail("key %q: want a plugin name, a zero byte and 1..%d bytes", key, MaxKeyBytes)
		}
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			return fail("key %q is not after %q: keys are sorted and unique", key, prev)
		}
		prev = append(prev[:0], key...)
		if size-off < 4 {
			return fail("truncated value length")
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, err
		}
		off += 4
		vl := int64(le.Uint32(hdr[:]))
		if vl == 0 || vl > MaxValueBytes || vl > size-off {
			return fail("value length %d: want 1..%d bytes within the file", vl, MaxValueBytes)
		}
		if _, err := br.Discard(int(vl)); err != nil {
			return nil, err
		}
		off += vl
		if start-lastBlock >= blockBytes {
			f.index = append(f.index, sparse{string(key), start})
			lastBlock = start
		}
		f.entries++
		each(ns)
	}
	return f, nil
}

func split(key []byte) (ns, own []byte, ok bool) {
	i := bytes.IndexByte(key, 0)
	if i <= 0 {
		return nil, nil, false
	}
	return key[:i], key[i+1:], true
}

// FullKey is the key of ns's own key in the file: ns, a zero byte, key;
// appended to dst.
func FullKey(dst []byte, ns string, key []byte) []byte {
	dst = append(dst, ns...)
	dst = append(dst, 0)
	return append(dst, key...)
}

// Digest is the sha256 of the file the table was opened from ("sha256:" +
// hex; EmptyDigest for a new table), whatever changed since.
func (t *Table) Digest() string { return t.digest }

// Get returns the value of a full key (FullKey) and whether it is there.
// The value is the table's: valid until the next Get or Put, not to be
// changed. A read that fails reports the key absent and makes Err, Put and
// WriteTo fail.
func (t *Table) Get(fk []byte) ([]byte, bool) {
	if s, ok := t.mem[string(fk)]; ok {
		n := int(s & 0xFFFFFF)
		if n == 0 {
			return nil, false
		}
		off := int(s >> 24)
		return t.arena[off : off+n], true
	}
	if t.err != nil {
		return nil, false
	}
	for i := len(t.runs) - 1; i >= 0; i-- {
		r := t.runs[i]
		if !r.mayHold(t.seed, fk) {
			continue
		}
		v, ok, err := r.find(fk, &t.buf)
		if err != nil {
			t.err = err
			return nil, false
		}
		if ok {
			return v, len(v) > 0 // an empty value is a removal
		}
	}
	if t.base == nil {
		return nil, false
	}
	v, ok, err := t.base.find(fk, &t.buf)
	if err != nil {
		t.err = err
		return nil, false
	}
	return v, ok
}

// Put sets a full key's value; an empty value removes the key. It checks
// nothing but the host's caps: the sandbox checks a plugin's own limits.
// The table copies key and value.
func (t *Table) Put(fk, val []byte) error {
	ns, own, ok := split(fk)
	if ok && string(ns) != t.lastNS { // a plugin's puts share a namespace: checked once
		if ok = nsRE.Match(ns); ok {
			t.lastNS = string(ns)
		}
	}
	if !ok || len(own) == 0 || len(own) > MaxKeyBytes {
		return fmt.Errorf("state key %q: want a plugin name, a zero byte and 1..%d bytes", fk, MaxKeyBytes)
	}
	if len(val) > MaxValueBytes {
		return fmt.Errorf("state value of %d bytes: the cap is %d", len(val), MaxValueBytes)
	}
	_, had := t.Get(fk)
	if t.err != nil {
		return t.err
	}
	switch {
	case !had && len(val) > 0:
		t.count[string(ns)]++
	case had && len(val) == 0:
		t.count[string(ns)]--
	}
	t.changed = true
	s, ok := t.mem[string(fk)]
	if ok && int(s&0xFFFFFF) == len(val) {
		copy(t.arena[int(s>>24):], val) // in place: same length
		return nil
	}
	if !ok {
		t.keyBytes += len(fk)
	}
	off := len(t.arena)
	t.arena = append(t.arena, val...)
	t.mem[string(fk)] = uint64(off)<<24 | uint64(len(val))
	if t.keyBytes+cap(t.arena)+len(t.mem)*memEntryBytes >= t.opt.Buffer {
		return t.spill()
	}
	return nil
}

// Err is the first I/O error the table met, if any.
func (t *Table) Err() error { return t.err }

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
func (t *Table) Changed() bool { return t.changed }

// Runs is how many sorted runs of spilled changes the table holds now.
func (t *Table) Runs() int { return len(t.runs) }

// Close removes the table's spilled runs. The table is not to be used
// after.
func (t *Table) Close() error {
	var errs []error
	for _, r := range t.runs {
		errs = append(errs, r.remove())
	}
	t.runs = nil
	return errors.Join(errs...)
}

// spill writes the buffered changes to a sorted run and empties the
// buffer; more than maxRuns runs are merged into one.
func (t *Table) spill() error {
	w, err := t.newRun(len(t.mem))
	if err != nil {
		return t.fail(err)
	}
	for _, k := range t.memKeys() {
		w.add([]byte(k), t.memValue(k))
	}
	r, err := w.finish()
	if err != nil {
		return t.fail(err)
	}
	t.runs = append(t.runs, r)
	clear(t.mem)
	t.arena, t.keyBytes = t.arena[:0], 0
	if len(t.runs) <= maxRuns {
		return nil
	}
	var n int64
	srcs := make([]source, 0, len(t.runs))
	for i := len(t.runs) - 1; i >= 0; i-- {
		n += t.runs[i].entries
		srcs = append(srcs, t.runs[i].iter())
	}
	w, err = t.newRun(int(n))
	if err != nil {
		return t.fail(err)
	}
	if err := merge(srcs, true, w.add); err != nil {
		w.abandon()
		return t.fail(err)
	}
	if r, err = w.finish(); err != nil {
		return t.fail(err)
	}
	for _, old := range t.runs {
		old.remove()
	}
	t.runs = []*sortedFile{r}
	return nil
}

func (t *Table) fail(err error) error {
	if t.err == nil {
		t.err = fmt.Errorf("spilling the state's changes to %s: %w", t.opt.Dir, err)
	}
	return t.err
}

func (t *Table) memKeys() []string {
	keys := make([]string, 0, len(t.mem))
	for k := range t.mem {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// memValue is a buffered key's value (empty: removed).
func (t *Table) memValue(k string) []byte {
	s := t.mem[k]
	off, n := int(s>>24), int(s&0xFFFFFF)
	return t.arena[off : off+n]
}

// WriteTo writes the table's canonical file: the file's entries merged
// with the changes, in key order, removed keys left out. It streams: its
// memory is a read buffer per run and the sorted keys of the buffer.
func (t *Table) WriteTo(w io.Writer) (int64, error) {
	if t.err != nil {
		return 0, t.err
	}
	bw := bufio.NewWriterSize(w, readBuffer)
	cw := &countWriter{w: bw}
	cw.Write([]byte(Magic))
	keys := t.memKeys()
	srcs := []source{&memSource{keys: keys, t: t, i: -1}}
	for i := len(t.runs) - 1; i >= 0; i-- {
		srcs = append(srcs, t.runs[i].iter())
	}
	if t.base != nil {
		srcs = append(srcs, t.base.iter())
	}
	var hdr [4]byte
	err := merge(srcs, false, func(k, v []byte) {
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(k)))
		cw.Write(hdr[:])
		cw.Write(k)
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(v)))
		cw.Write(hdr[:])
		cw.Write(v)
	})
	if err != nil {
		return cw.n, err
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

// Each calls fn with every entry of the table in key order (the values
// valid during the call only), and stops at fn's first error.
func (t *Table) Each(fn func(key, val []byte) error) error {
	var ferr error
	err := t.eachEntry(func(k, v []byte) {
		if ferr == nil {
			ferr = fn(k, v)
		}
	})
	return errors.Join(err, ferr)
}

func (t *Table) eachEntry(fn func(k, v []byte)) error {
	if t.err != nil {
		return t.err
	}
	srcs := []source{&memSource{keys: t.memKeys(), t: t, i: -1}}
	for i := len(t.runs) - 1; i >= 0; i-- {
		srcs = append(srcs, t.runs[i].iter())
	}
	if t.base != nil {
		srcs = append(srcs, t.base.iter())
	}
	return merge(srcs, false, fn)
}

// source is a sorted stream of entries; an empty value is a removal.
type source interface {
	next() (key, val []byte, ok bool, err error)
}

// merge streams sources, the first the newest, in key order to emit: for
// a key in several, the newest's value; removals are left out unless
// keepRemovals.
func merge(srcs []source, keepRemovals bool, emit func(k, v []byte)) error {
	type head struct {
		k, v []byte
		ok   bool
	}
	heads := make([]head, len(srcs))
	advance := func(i int) error {
		k, v, ok, err := srcs[i].next()
		heads[i] = head{k, v, ok}
		return err
	}
	for i := range srcs {
		if err := advance(i); err != nil {
			return err
		}
	}
	for {
		min := -1
		for i, h := range heads {
			if h.ok && (min < 0 || bytes.Compare(h.k, heads[min].k) < 0) {
				min = i
			}
		}
		if min < 0 {
			return nil
		}
		if h := heads[min]; len(h.v) > 0 || keepRemovals {
			emit(h.k, h.v)
		}
		k := heads[min].k
		for i := len(heads) - 1; i >= min; i-- { // min last: k is its key
			if heads[i].ok && bytes.Equal(heads[i].k, k) {
				if err := advance(i); err != nil {
					return err
				}
			}
		}
	}
}

type memSource struct {
	keys []string
	t    *Table
	i    int
}

func (m *memSource) next() ([]byte, []byte, bool, error) {
	m.i++
	if m.i >= len(m.keys) {
		return nil, nil, false, nil
	}
	return []byte(m.keys[m.i]), m.t.memValue(m.keys[m.i]), true, nil
}

// sortedFile is a sorted sequence of entries from start to size in r: the
// loaded file, or a run of spilled changes (which may hold removals, and
// has a Bloom filter).
type sortedFile struct {
	r           io.ReaderAt
	start, size int64
	index       []sparse
	entries     int64
	bloom       []uint64
	f           *os.File // a run's own file
}

type sparse struct {
	key string // the first key of a block
	off int64
}

// find returns fk's value in the file (a view of *buf) and whether it is
// there.
func (f *sortedFile) find(fk []byte, buf *[]byte) ([]byte, bool, error) {
	i := sort.Search(len(f.index), func(i int) bool { return f.index[i].key > string(fk) }) - 1
	if i < 0 {
		return nil, false, nil
	}
	lo, hi := f.index[i].off, f.size
	if i+1 < len(f.index) {
		hi = f.index[i+1].off
	}
	b := slices.Grow((*buf)[:0], int(hi-lo))[:hi-lo]
	*buf = b
	if n, err := f.r.ReadAt(b, lo); n < len(b) {
		return nil, false, fmt.Errorf("reading the state at byte %d: %w", lo, err)
	}
	le := binary.LittleEndian
	for p := 0; p+4 <= len(b); {
		kl := int(le.Uint32(b[p:]))
		k := b[p+4 : p+4+kl]
		p += 4 + kl
		vl := int(le.Uint32(b[p:]))
		v := b[p+4 : p+4+vl]
		p += 4 + vl
		switch c := bytes.Compare(k, fk); {
		case c == 0:
			return v, true, nil
		case c > 0:
			return nil, false, nil
		}
	}
	return nil, false, nil
}

func (f *sortedFile) mayHold(seed maphash.Seed, k []byte) bool {
	if f.bloom == nil {
		return true
	}
	h := maphash.Bytes(seed, k)
	h1, h2 := h&0xFFFFFFFF, h>>32|1
	m := uint64(len(f.bloom)) * 64
	for i := uint64(0); i < bloomHashes; i++ {
		bit := (h1 + i*h2) % m
		if f.bloom[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

func (f *sortedFile) remove() error {
	if f.f == nil {
		return nil
	}
	f.f.Close()
	return os.Remove(f.f.Name())
}

// iter streams the file's entries.
func (f *sortedFile) iter() source {
	return &fileSource{br: bufio.NewReaderSize(io.NewSectionReader(f.r, f.start, f.size-f.start), readBuffer)}
}

type fileSource struct {
	br     *bufio.Reader
	k, v   []byte
	hdr    [4]byte
	closed bool
}

func (s *fileSource) next() ([]byte, []byte, bool, error) {
	if s.closed {
		return nil, nil, false, nil
	}
	if _, err := io.ReadFull(s.br, s.hdr[:]); err != nil {
		if err == io.EOF {
			s.closed = true
			return nil, nil, false, nil
		}
		return nil, nil, false, fmt.Errorf("reading the state: %w", err)
	}
	kl := int(binary.LittleEndian.Uint32(s.hdr[:]))
	s.k = slices.Grow(s.k[:0], kl)[:kl]
	if _, err := io.ReadFull(s.br, s.k); err != nil {
		return nil, nil, false, fmt.Errorf("reading the state: %w", err)
	}
	if _, err := io.ReadFull(s.br, s.hdr[:]); err != nil {
		return nil, nil, false, fmt.Errorf("reading the state: %w", err)
	}
	vl := int(binary.LittleEndian.Uint32(s.hdr[:]))
	s.v = slices.Grow(s.v[:0], vl)[:vl]
	if _, err := io.ReadFull(s.br, s.v); err != nil {
		return nil, nil, false, fmt.Errorf("reading the state: %w", err)
	}
	return s.k, s.v, true, nil
}

// runWriter writes a run: entries in key order, removals as empty values,
// indexed and filtered as it goes.
type runWriter struct {
	t         *Table
	f         *os.File
	bw        *bufio.Writer
	run       *sortedFile
	off, last int64
	hdr       [4]byte
}

func (t *Table) newRun(keys int) (*runWriter, error) {
	if err := os.MkdirAll(t.opt.Dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(t.opt.Dir, "state-run-*")
	if err != nil {
		return nil, err
	}
	words := (keys*bloomBits + 63) / 64
	run := &sortedFile{r: f, f: f, bloom: make([]uint64, max(words, 1))}
	return &runWriter{t: t, f: f, bw: bufio.NewWriterSize(f, readBuffer), run: run, last: -blockBytes}, nil
}

func (w *runWriter) add(k, v []byte) {
	if w.off-w.last >= blockBytes {
		w.run.index = append(w.run.index, sparse{string(k), w.off})
		w.last = w.off
	}
	le := binary.LittleEndian
	le.PutUint32(w.hdr[:], uint32(len(k)))
	w.bw.Write(w.hdr[:])
	w.bw.Write(k)
	le.PutUint32(w.hdr[:], uint32(len(v)))
	w.bw.Write(w.hdr[:])
	w.bw.Write(v)
	w.off += int64(8 + len(k) + len(v))
	w.run.entries++
	h := maphash.Bytes(w.t.seed, k)
	h1, h2 := h&0xFFFFFFFF, h>>32|1
	m := uint64(len(w.run.bloom)) * 64
	for i := uint64(0); i < bloomHashes; i++ {
		bit := (h1 + i*h2) % m
		w.run.bloom[bit/64] |= 1 << (bit % 64)
	}
}

func (w *runWriter) finish() (*sortedFile, error) {
	if err := w.bw.Flush(); err != nil {
		w.abandon()
		return nil, err
	}
	w.run.size = w.off
	return w.run, nil
}

func (w *runWriter) abandon() {
	w.f.Close()
	os.Remove(w.f.Name())
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
