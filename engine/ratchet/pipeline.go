package ratchet

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/normalize"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/schema"
	"github.com/pawl-dev/pawl/engine/store"
)

// chunkRecords bounds how many records travel together between goroutines.
// A full chunk is a perfect subtree of the lineage tree (a tile).
const chunkRecords = 512

// skipLineage and skipNormalize turn a part of the pipeline off; only the
// benchmarks that measure what those parts cost set them. skipFlat turns
// the flat path off (every record through the decoder), for the tests that
// compare the two and the benchmarks.
var skipLineage, skipNormalize, skipFlat bool

// noReasons is the reasons digest of a record verified without any action.
var noReasons = finding.ReasonsDigest(nil, nil)

// stages holds what a worker needs to take one record through every stage.
type stages struct {
	format     string
	header     []string
	types      map[string]string
	schema     *schema.Schema
	norm       *normalize.Profile
	baseOffset int64 // bytes before record 1 that the reader never saw (a stripped BOM)
	maxRecord  int64 // max_record_bytes: a Parquet row's canonical JSON is held to it
	// input reads the batch's input blob, for hashing the bytes of a record
	// too long to have been buffered.
	input io.ReaderAt
	// validators says whether the job has any: records that pass the schema
	// then enter the validate stage.
	validators bool
	// qformat is the batch's quarantine format (Plan.QuarantineFormat).
	qformat int
}

// byReference says whether a quarantined record's bytes stay out of its
// line: in actions.QuarantineByReference, when they are a span of the
// input (every record but a Parquet row).
func (s *stages) byReference() bool {
	return s.qformat == actions.QuarantineByReference && s.format != "parquet"
}

// item is one record on its way through the pipeline.
type item struct {
	rec *records.Record
	// Set by evaluate and the validators:
	v any // the decoded, normalized value while the record passes
	// flat, when not nil, stands for v: the members of a record the flat
	// path took (records.ScanFlat, sorted by key; parts of the record's
	// text), kept for the validators (batchFor) and finalize instead of a
	// decoded map. v is made from them when a plugin replaces a value.
	flat    []records.FlatMember
	stage   string            // the stage that rejected the record; "" while it passes
	reasons []finding.Finding // why it was rejected
	actions []finding.Finding // what the boundary changed in it
	// Set by finalize:
	verified []byte // canonical JSON line (with LF) when verified
	quar     []byte // quarantine.jsonl line (with LF) otherwise
	actLine  []byte // actions.jsonl line (with LF) for a verified record the boundary changed
	leaf     [32]byte
	err      error // an infrastructure failure while processing the record
	// validUTF8 says evaluate, in this process, found Raw valid UTF-8:
	// finalize need not look again (an item from a distributed worker
	// has it false, and is looked at).
	validUTF8 bool
	// inputHash, when set, is the sha256 of a too-long record's input
	// bytes, which a distributed worker does not hold.
	inputHash *[32]byte
}

// evaluate takes one record through the per-record stages. It stops at the
// first stage that rejects the record — later stages would read what that
// stage refused — and keeps every reason that stage found. A record that
// passes keeps its decoded, normalized value for the validators.
//
// With fs, a JSON record that the flat path takes passes the decode,
// normalize and schema stages here without a decoded value (see flat).
func (s *stages) evaluate(it *item, st *stats, fs *flatSink) {
	rec := it.rec
	rec.Offset += s.baseOffset
	for i := range rec.CellOffsets {
		rec.CellOffsets[i] += s.baseOffset
	}
	reject := func(stage string, rs ...finding.Finding) {
		st.reject(stage, rs)
		it.stage, it.reasons = stage, rs
	}
	st.in[finding.StageFrame]++
	if rec.Value != nil {
		// A Parquet row: its bytes are its canonical JSON (strings byte
		// for byte, so a value that is not UTF-8 stays as it was).
		rec.Raw = canonjson.Append(nil, rec.Value)
		rec.Length = int64(len(rec.Raw))
		if rec.Err == nil && rec.Length > s.maxRecord {
			rec.Err = &records.Error{Rule: records.RuleParquetTooLong, Offset: rec.Offset,
				Message: fmt.Sprintf("row %d of the file is %d bytes as JSON, over max_record_bytes (%d)", rec.Ordinal, rec.Length, s.maxRecord)}
		}
	}
	if rec.TooLong {
		reject(finding.StageFrame, finding.TooLong(rec.Offset, rec.Length))
		return
	}
	if rec.Err != nil {
		reject(finding.StageFrame, finding.FromRecordError(finding.StageFrame, rec.Err, 0))
		return
	}
	st.in[finding.StageUTF8]++
	if !utf8.Valid(rec.Raw) {
		reject(finding.StageUTF8, finding.InvalidUTF8(rec.Raw, rec.Offset))
		return
	}
	it.validUTF8 = true
	st.in[finding.StageDecode]++
	var v any
	if rec.Value != nil {
		// Typed by the Parquet reader: the value DecodeJSON would give
		// for Raw.
		v = rec.Value
		rec.Value = nil
	} else if s.format == "csv" {
		m, errs := records.TypeCSV(s.header, rec.Cells, rec.CellOffsets, s.types)
		if len(errs) > 0 {
			rs := make([]finding.Finding, 0, len(errs))
			for _, e := range errs {
				rs = append(rs, finding.FromRecordError(finding.StageDecode, e, 0))
			}
			reject(finding.StageDecode, rs...)
			return
		}
		v = m
	} else if fs != nil && s.flat(it, st, fs) {
		return
	} else {
		dv, err := records.DecodeJSON(rec.Raw, records.DecodeOptions{RequireObject: true})
		if err != nil {
			reject(finding.StageDecode, finding.FromRecordError(finding.StageDecode, err, rec.Offset))
			return
		}
		v = dv
	}
	st.in[finding.StageNormalize]++
	var found []normalize.Finding
	if !skipNormalize {
		v, found = s.norm.Record(v, &st.norm)
	}
	var rs []finding.Finding
	for _, f := range found {
		if fd, rej := finding.FromNormalize(f); rej {
			rs = append(rs, fd)
		} else {
			it.actions = append(it.actions, fd)
		}
	}
	if len(rs) > 0 {
		reject(finding.StageNormalize, rs...)
		return
	}
	st.in[finding.StageSchema]++
	if vs := s.schema.Validate(v); len(vs) > 0 {
		rs := make([]finding.Finding, 0, len(vs))
		for _, x := range vs {
			rs = append(rs, finding.FromSchema(x))
		}
		reject(finding.StageSchema, rs...)
		return
	}
	it.v = v
	if s.validators {
		st.in[finding.StageValidate]++
	}
}

// flatKinds maps the kinds of the records package's flat members to the
// schema's.
var flatKinds = [...]schema.Kind{records.FlatNull: schema.KindNull, records.FlatBool: schema.KindBool,
	records.FlatNumber: schema.KindNumber, records.FlatString: schema.KindString}

// flat is the decode, normalize and schema stages for the common record,
// straight from its bytes: a flat object of printable-ASCII strings and
// plain numbers (records.ScanFlat) that the normalization profile leaves
// as it is (normalize.PlainRecord) and that the compiled schema verifies
// (schema.ValidFlat). Its canonical line is its members sorted by key,
// written as they are in the input — the bytes canonjson.Append writes for
// the decoded map — so the record's outputs are those of the full path; no
// map is built. It returns false, having counted nothing, for any other
// record (rejected ones included): those take the full path, which decides
// and gives the reasons.
//
// In a job without validators (fs.lines) the record is verified here: its
// line is written and it.verified set. In a job with validators the record
// keeps its members (it.flat, in fs.members) for them to read and for
// finalize to write its line once they have had their say.
func (s *stages) flat(it *item, st *stats, fs *flatSink) bool {
	text := it.rec.Text
	if text == "" {
		text = string(it.rec.Raw)
	}
	// The members go into the chunk's slab (on the stack, an array
	// would escape through it.flat): kept there in a job with validators,
	// written over by the next record without.
	if fs.lines != nil {
		fs.members = fs.members[:0]
	}
	if cap(fs.members)-len(fs.members) < records.MaxFlatMembers {
		// A new slab; the items already in the old one keep it.
		fs.members = make([]records.FlatMember, 0, max(2*cap(fs.members), 64*records.MaxFlatMembers))
	}
	ms, ok := records.ScanFlat(text, fs.members[len(fs.members):len(fs.members)]) // (not nil, even for {})
	if !ok {
		return false
	}
	var sbuf [records.MaxFlatMembers]schema.Member
	sm := sbuf[:len(ms)]
	for i := range ms {
		m := &ms[i]
		sm[i] = schema.Member{Key: m.Key, Text: m.Value, Kind: flatKinds[m.Kind]}
		if m.Kind == records.FlatString {
			sm[i].Text = m.Value[1 : len(m.Value)-1]
		}
	}
	if !s.schema.ValidFlat(sm) || !s.norm.PlainRecord(&st.norm) {
		return false
	}
	st.in[finding.StageNormalize]++
	st.in[finding.StageSchema]++
	if fs.lines == nil {
		fs.members = fs.members[:len(fs.members)+len(ms)]
		it.flat = ms[:len(ms):len(ms)]
		st.in[finding.StageValidate]++
		return true
	}
	n := len(*fs.lines)
	*fs.lines = append(records.AppendFlat(*fs.lines, ms), '\n')
	it.verified = (*fs.lines)[n:len(*fs.lines):len(*fs.lines)]
	return true
}

// flatSink is where the flat path puts what it keeps of the records it
// takes: with lines (a job without validators), their verified lines; else
// their members, in members (a chunk's slab, reused with the chunk; the
// scratch of one record's members with lines).
type flatSink struct {
	lines   *[]byte
	members []records.FlatMember
}

// flatValue is the decoded value of a record the flat path took: what
// DecodeJSON gives for its text (records.ScanFlat says why).
func flatValue(ms []records.FlatMember) map[string]any {
	m := make(map[string]any, len(ms))
	for _, x := range ms {
		switch x.Kind {
		case records.FlatString:
			m[x.Key] = x.Value[1 : len(x.Value)-1]
		case records.FlatNumber:
			m[x.Key] = json.Number(x.Value)
		case records.FlatBool:
			m[x.Key] = x.Value == "true"
		default:
			m[x.Key] = nil
		}
	}
	return m
}

// finalize renders the record's output line — verified or quarantined —
// and its lineage leaf, once every stage has had its say. The line is
// appended to *lines, the chunk's buffer, and it.verified or it.quar is
// its part of it.
func (s *stages) finalize(it *item, lines *[]byte) {
	rec := it.rec
	if len(it.reasons) == 0 && it.verified == nil { // (flat wrote the line of a record it verified)
		n := len(*lines)
		if it.v == nil && it.flat != nil {
			*lines = records.AppendFlat(*lines, it.flat)
		} else {
			*lines = canonjson.Append(*lines, it.v)
		}
		*lines = append(*lines, '\n')
		it.verified = (*lines)[n:len(*lines):len(*lines)]
	}
	it.v, it.flat = nil, nil
	if skipLineage {
		if it.verified == nil {
			it.quar = finding.Line(finding.QuarantineEntry{Ordinal: rec.Ordinal, Reasons: it.reasons})
		}
		return
	}
	leaf := audit.LineageLeaf{Ordinal: rec.Ordinal, Outcome: audit.OutcomeQuarantined}
	if it.inputHash != nil {
		leaf.Input = *it.inputHash // hashed by the committer, which holds the input (distribute.go)
	} else if rec.TooLong {
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
			it.actLine = finding.Line(finding.ActionsEntry{Ordinal: rec.Ordinal, Actions: it.actions})
			leaf.Reasons = finding.ReasonsDigest(it.actions, nil)
		}
		return
	}
	// The quarantine line goes into the chunk's buffer too, after the
	// verified lines before it; the record's bytes are written from Raw
	// as they are, not copied into a string first.
	q := finding.QuarantineEntry{Ordinal: rec.Ordinal, Line: rec.Line, Offset: rec.Offset, Length: rec.Length, Reasons: it.reasons, Actions: it.actions}
	var raw []byte
	switch {
	case rec.TooLong:
		q.RawOmitted = finding.RawOmittedNote(rec.Length, rec.Offset)
	case s.byReference():
		// The bytes are the input's at Offset, Length: not copied.
	case it.validUTF8 || utf8.Valid(rec.Raw):
		raw = rec.Raw
	default:
		q.RawBase64 = base64.StdEncoding.EncodeToString(rec.Raw)
	}
	n := len(*lines)
	*lines = finding.AppendQuarantineRecord(*lines, &q, raw)
	it.quar = (*lines)[n:len(*lines):len(*lines)]
	leaf.Output = sha256.Sum256(it.quar)
	if s.qformat != actions.QuarantineByReference {
		leaf.Reasons = finding.ReasonsDigest(it.actions, it.reasons)
	} // else zero: the line the output hash covers holds the reasons
}

// outFile is an output being written: buffered, hashed as it is written
// (store.File), counted.
type outFile struct {
	name    string
	f       *store.File
	w       *bufio.Writer
	bytes   int64
	records int64
	digest  store.Digest // set by close
}

func createOut(path string) (*outFile, error) {
	f, err := store.Create(path)
	if err != nil {
		return nil, err
	}
	o := &outFile{name: filepath.Base(path), f: f}
	o.w = bufio.NewWriterSize(f, 256<<10)
	return o, nil
}

func (o *outFile) write(b []byte) error {
	o.records++
	o.bytes += int64(len(b))
	_, err := o.w.Write(b)
	return err
}

func (o *outFile) close() error {
	if err := o.w.Flush(); err != nil {
		o.f.Finish()
		return err
	}
	d, _, err := o.f.Finish()
	if err != nil {
		return err
	}
	o.digest = d
	failpoint.Hit("run.fsynced." + o.name)
	return nil
}

func (o *outFile) ref() actions.OutputRef {
	return actions.OutputRef{Hash: o.digest, Bytes: o.bytes, Records: o.records}
}

// outputs are the files a batch writes into its pending folder.
type outputs struct {
	verified, quarantine, actions, lineage, tiles *outFile
	// maxQuarantine is the most bytes the quarantine may hold
	// (Limits.QuarantineBound).
	maxQuarantine int64
}

func createOutputs(dir string) (*outputs, error) {
	o := &outputs{}
	var err error
	for _, f := range []struct {
		dst  **outFile
		name string
	}{
		{&o.verified, actions.VerifiedFile}, {&o.quarantine, actions.QuarantineFile}, {&o.actions, actions.ActionsFile},
		{&o.lineage, actions.LineageFile}, {&o.tiles, actions.TilesFile},
	} {
		if *f.dst, err = createOut(filepath.Join(dir, f.name)); err != nil {
			o.close()
			return nil, err
		}
	}
	return o, nil
}

// close finishes every output that was created: flushed, fsynced, closed;
// the files side by side, so their fsyncs overlap.
func (o *outputs) close() error {
	files := []*outFile{o.verified, o.quarantine, o.actions, o.lineage, o.tiles}
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		if f != nil {
			wg.Go(func() { errs[i] = f.close() })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

type chunk struct {
	err   error // an infrastructure failure (a plugin that timed out, say): the batch fails
	seq   int
	first int64 // index of the chunk's first record among all records
	items []item
	tree  *audit.LineageTree // the lineage tree over this chunk's leaves
	bytes int64              // input bytes read when the chunk was cut
	st    *stats
	// lines holds the verified lines of the chunk's items, one after
	// another (item.verified are parts of it).
	lines []byte
	// members holds the members the flat path kept (item.flat are parts
	// of it), in a job with validators.
	members []records.FlatMember
	// fin is closed when the chunk's lines and leaves are rendered.
	fin chan struct{}
}

// chunkPool keeps written chunks for the reader to fill again: their items
// and lines buffer are reused, a few allocations per chunk instead of
// 100 KiB of items and an output line per record.
var chunkPool = sync.Pool{New: func() any { return &chunk{items: make([]item, 0, chunkRecords)} }}

// newChunk returns an empty chunk from the pool.
func newChunk(seq int, first int64) *chunk {
	c := chunkPool.Get().(*chunk)
	items, lines, members := c.items, c.lines, c.members
	clear(items)   // the items the chunk held; those past them were never used
	clear(members) // (their strings are parts of the input's text)
	*c = chunk{seq: seq, first: first, items: items[:0], lines: lines[:0], members: members[:0]}
	return c
}

// recycle gives a chunk whose lines and leaves are written back to the
// pool. Nothing may hold its items or lines any more.
func recycle(c *chunk) {
	if cap(c.lines) > 4<<20 {
		c.lines = nil // a chunk of huge records: do not keep their memory
	}
	chunkPool.Put(c)
}

// process streams the plan's input blob through the stages with workers
// goroutines and writes the outputs to dir in input order, whatever the
// worker count, filling in br's outcome. Memory is bounded: at most 4
// chunks per worker are in flight. With keep, the outputs are also added to
// the store (a replay compares them and throws them away).
func process(ctx context.Context, p *project.Project, pl *Plan, br *actions.BatchRecord, workers int, progress func(Progress), dir string, keep bool) error {
	var stateless, ordered []*validator
	for _, v := range pl.validators {
		if v.ordered {
			ordered = append(ordered, v)
		} else {
			stateless = append(stateless, v)
		}
	}
	os.RemoveAll(dir) // leftovers of a run that never reached the trail
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s: %w (is the data directory writable?)", dir, err)
	}
	// in is checked at its end: its bytes must hash to pl.Input.
	var in io.Reader
	var blob io.ReaderAt
	var err error
	if pl.source != nil {
		in, blob = pl.source, pl.source // the input file, copied as it is read
	} else {
		r, err := p.Store.Open(pl.Input)
		if err != nil {
			return fmt.Errorf("reading the input blob %s: %w", pl.Input, err)
		}
		defer r.Close()
		f, err := os.Open(p.Store.Path(pl.Input))
		if err != nil {
			return fmt.Errorf("reading the input blob %s: %w", pl.Input, err)
		}
		defer f.Close()
		in, blob = r, f
	}
	src := bufio.NewReaderSize(in, 1<<20)
	st := &stages{format: pl.Job.Format, schema: pl.Schema, norm: pl.Profile, input: blob, validators: len(pl.validators) > 0, maxRecord: pl.Limits.MaxRecordBytes, qformat: pl.QuarantineFormat}
	if st.maxRecord <= 0 {
		st.maxRecord = records.DefaultMaxRecordBytes
	}
	if pl.Job.Format == "parquet" {
		// Parquet is read from the blob by offset (its footer is at the
		// end); the blob's hash is still checked at the end, when the
		// checked reader in is drained.
	} else if bom, _ := src.Peek(3); len(bom) == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF {
		src.Discard(3)
		st.baseOffset = 3
		br.BOMStripped = true
	}
	opts := records.Options{MaxRecordBytes: pl.Limits.MaxRecordBytes}
	var rd records.Reader
	switch pl.Job.Format {
	case "parquet":
		prd, err := records.NewParquetReader(blob, pl.InputBytes, pl.Schema.PropertyTypes())
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		rd = prd
	case "csv":
		d := pl.Job.CSV
		opts.Delimiter, opts.Quote = d.Delim(), d.QuoteChar()
		if !d.HasHeader() {
			opts.Columns = d.Columns
		}
		var hdr []string
		rd, hdr, err = records.NewCSVReader(src, opts)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		st.header = hdr
		st.types = pl.Schema.PropertyTypes()
	default:
		rd = records.NewJSONLReader(src, opts)
	}

	var dr *distRun
	if pl.dist != nil {
		if dr, err = pl.openDistributed(ctx); err != nil {
			return err
		}
		defer dr.d.Close()
	}
	out, err := createOutputs(dir)
	if err != nil {
		return err
	}
	out.maxQuarantine = pl.Limits.QuarantineBound(pl.InputBytes)
	tree := audit.NewLineageTree()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tokens := make(chan struct{}, 4*workers)
	work := make(chan *chunk, workers)
	done := make(chan *chunk, 4*workers)

	// The reader cuts the input into chunks.
	go func() {
		defer close(work)
		var first int64
		for seq := 0; ; seq++ {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			c := newChunk(seq, first)
			var rerr error
			for len(c.items) < chunkRecords {
				rec, err := rd.Next()
				if err != nil {
					rerr = err
					break
				}
				c.items = append(c.items, item{rec: rec})
			}
			c.bytes = rd.BytesRead() + st.baseOffset
			first += int64(len(c.items))
			if len(c.items) > 0 {
				select {
				case work <- c:
				case <-ctx.Done():
					return
				}
			}
			if rerr == io.EOF {
				return
			}
			if rerr != nil {
				if re := (*records.Error)(nil); errors.As(rerr, &re) {
					// A file that breaks off (a damaged Parquet page):
					// the input, not the machine.
					rerr = fmt.Errorf("%w: %v", ErrBadInput, rerr)
				}
				cancel(fmt.Errorf("reading the input: %w", rerr))
				return
			}
		}
	}()

	var wg sync.WaitGroup
	if pl.dist != nil {
		// A distributed run: the stateless stages run on workers elsewhere
		// (distribute.go), and the chunks come back from them.
		wg.Add(1)
		go func() { defer wg.Done(); dr.run(ctx, cancel, st, work, done) }()
		workers = 0
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			insts := make([]checker, len(stateless))
			defer closeAll(ctx, stateless, insts)
			for c := range work {
				st.runChunk(ctx, c, stateless, insts, len(ordered) == 0)
				select {
				case done <- c:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	// The writer puts chunks back in input order; ordered plugins run here,
	// on one instance each, in record order.
	orderedInsts := make([]checker, len(ordered))
	defer closeAll(ctx, ordered, orderedInsts)
	total := newStats()
	held := map[int]*chunk{}
	next := 0
	var nrec int64
	var werr error
	// With ordered plugins, a chunk's lines and leaves are rendered after
	// them: on a goroutine of its own, while the plugins take the next
	// chunk, instead of on this one. pend holds the chunks in input order
	// until their rendering is done (fin); at most 4 per worker are in
	// flight (tokens), so at most that many renderings.
	rendered := make(chan struct{})
	close(rendered)
	var pend []*chunk
	stopped := false // a chunk failed: the chunks after it are not looked at
	write := func(c *chunk) error {
		if c.err != nil {
			return c.err
		}
		err := out.writeChunk(c)
		if err == nil {
			err = tree.AppendSegment(c.tree)
		}
		if err != nil {
			return err
		}
		total.add(c.st)
		nrec += int64(len(c.items))
		bytesRead := c.bytes
		recycle(c)
		<-tokens
		if progress != nil {
			progress(Progress{Records: nrec, Bytes: bytesRead, Total: pl.InputBytes})
		}
		return nil
	}
	for in := done; in != nil || len(pend) > 0; {
		var head chan struct{}
		if len(pend) > 0 {
			head = pend[0].fin
		}
		select {
		case c, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			if stopped || werr != nil {
				continue
			}
			held[c.seq] = c
			for !stopped {
				c, ok := held[next]
				if !ok {
					break
				}
				delete(held, next)
				next++
				c.fin = rendered
				if c.err == nil && len(ordered) > 0 {
					if c.err = runValidators(ctx, ordered, orderedInsts, c.items, c.st); c.err == nil {
						c.fin = make(chan struct{})
						go func() {
							st.finalizeChunk(c)
							close(c.fin)
						}()
					}
				}
				stopped = c.err != nil
				pend = append(pend, c)
			}
		case <-head:
			c := pend[0]
			pend = pend[1:]
			if werr != nil {
				continue
			}
			if werr = write(c); werr != nil {
				cancel(werr)
			}
		}
	}
	// The input's copy is made durable and stored beside the outputs'
	// fsyncs (its bytes have all been read and checked by now).
	var inputStored chan error
	if pl.source != nil && context.Cause(ctx) == nil && werr == nil {
		inputStored = make(chan error, 1)
		go func() { inputStored <- pl.source.Commit() }()
	}
	cerr := out.close()
	if inputStored != nil {
		if err := <-inputStored; err != nil {
			cerr = errors.Join(cerr, fmt.Errorf("storing the input: %w", err))
		}
	}
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	if werr != nil {
		return werr
	}
	if cerr != nil {
		return cerr
	}
	// A corrupt blob is only known at its end: the reader reports it then.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return fmt.Errorf("reading the input blob %s: %w", pl.Input, err)
	}
	var parquetOut *actions.OutputRef
	if slices.Contains(pl.Job.Outputs, "parquet") {
		ref, err := writeVerifiedParquet(filepath.Join(dir, actions.VerifiedFile), filepath.Join(dir, actions.VerifiedParquetFile), pl.Schema.PropertyTypes())
		if err != nil {
			return err
		}
		parquetOut = &ref
	}
	if err := durable.SyncDir(dir); err != nil {
		return err
	}
	failpoint.Hit("run.pending-synced")
	br.RecordsIn = nrec
	br.Verified = out.verified.records
	br.Quarantined = out.quarantine.records
	if jr, ok := rd.(interface{ BlankLines() int64 }); ok {
		br.BlankLines = jr.BlankLines()
	}
	br.Stages = total.stageStats()
	br.Rules = total.ruleCounts()
	br.Normalize = total.norm
	br.Outputs = map[string]actions.OutputRef{actions.VerifiedFile: out.verified.ref(), actions.QuarantineFile: out.quarantine.ref()}
	if parquetOut != nil {
		if parquetOut.Records != br.Verified {
			return fmt.Errorf("internal error: %s holds %d records, %s %d", actions.VerifiedParquetFile, parquetOut.Records, actions.VerifiedFile, br.Verified)
		}
		br.Outputs[actions.VerifiedParquetFile] = *parquetOut
	}
	br.Lineage = actions.LineageRef{Root: hex.EncodeToString(tree.Root()), Size: tree.Size(), Leaves: out.lineage.ref().Hash, Tiles: out.tiles.ref().Hash, Actions: out.actions.ref()}
	if br.Verified+br.Quarantined != br.RecordsIn || tree.Size() != br.RecordsIn {
		return fmt.Errorf("internal error: %d records in but %d verified + %d quarantined, %d lineage leaves", br.RecordsIn, br.Verified, br.Quarantined, tree.Size())
	}
	if !keep {
		return nil
	}
	// The outputs go into the store under the hashes computed as they
	// were written (store.AdoptFile says why those are trustworthy); the
	// Parquet file, written by a library, is hashed again.
	for _, o := range []*outFile{out.verified, out.quarantine, out.actions, out.lineage, out.tiles} {
		if _, _, err := p.Store.AdoptFile(o.f); err != nil {
			return fmt.Errorf("storing %s: %w", o.name, err)
		}
	}
	if parquetOut != nil {
		d, _, err := p.Store.Adopt(filepath.Join(dir, actions.VerifiedParquetFile))
		if err != nil {
			return fmt.Errorf("storing %s: %w", actions.VerifiedParquetFile, err)
		}
		if d != parquetOut.Hash {
			return fmt.Errorf("%s changed while it was stored: wrote %s, stored %s", actions.VerifiedParquetFile, parquetOut.Hash, d)
		}
	}
	failpoint.Hit("run.stored")
	return nil
}

// ErrQuarantineGrowth is why a batch whose quarantine grew past its bound
// failed.
var ErrQuarantineGrowth = errors.New("the batch's quarantine grew past its bound")

// writeChunk writes one finished chunk's lines and lineage leaves, and its
// tile when it is full.
func (o *outputs) writeChunk(c *chunk) error {
	for i := range c.items {
		it := &c.items[i]
		if it.err != nil {
			return it.err
		}
		var err error
		if it.verified != nil {
			err = o.verified.write(it.verified)
		} else {
			err = o.quarantine.write(it.quar)
			if err == nil && o.quarantine.bytes > o.maxQuarantine {
				return fmt.Errorf("%w: it reached %d bytes at record %d, past its bound of %d (batch.max_quarantine_growth times the input's bytes, plus 1 MiB); nothing of it is committed: most records fail the same way — fix the input or the contract, or raise batch.max_quarantine_growth",
					ErrQuarantineGrowth, o.quarantine.bytes, it.rec.Ordinal, o.maxQuarantine)
			}
		}
		if err == nil && it.actLine != nil {
			err = o.actions.write(it.actLine)
		}
		if err == nil {
			err = o.lineage.write(it.leaf[:])
		}
		if err != nil {
			return fmt.Errorf("writing batch output: %w", err)
		}
	}
	// A full chunk is a complete subtree of 512 leaves: its root is a tile,
	// which keeps proofs from reading the whole file.
	if root, ok := c.tree.SubtreeRoot(); ok {
		if err := o.tiles.write(root); err != nil {
			return fmt.Errorf("writing batch output: %w", err)
		}
	}
	return nil
}

// runChunk takes a chunk through the stateless stages: every record
// through evaluate, the stateless plugins (on the caller's instances, insts)
// over the chunk, and, with finalize (when no ordered plugin is left to
// run), the output lines and lineage leaves. A local worker and a
// distributed one (ChunkWorker) both run it.
func (s *stages) runChunk(ctx context.Context, c *chunk, stateless []*validator, insts []checker, finalize bool) {
	c.st = newStats()
	var fs *flatSink
	switch {
	case skipNormalize || skipFlat:
	case finalize && !s.validators:
		// No validator reads the records' values: the flat path may
		// write the lines of the records it verifies (evaluate).
		c.sizeLines()
		fs = &flatSink{lines: &c.lines, members: c.members}
	case s.validators:
		// The validators read the members the flat path keeps
		// (batchFor); finalize writes the lines.
		fs = &flatSink{members: c.members}
	}
	for i := range c.items {
		s.evaluate(&c.items[i], c.st, fs)
	}
	if fs != nil {
		c.members = fs.members
	}
	if len(stateless) > 0 {
		c.err = runValidators(ctx, stateless, insts, c.items, c.st)
	}
	if c.err == nil && finalize {
		s.finalizeChunk(c)
	}
}

// finalizeChunk renders the chunk's output lines and lineage leaves and
// hashes its leaves into a subtree.
func (s *stages) finalizeChunk(c *chunk) {
	c.tree = audit.NewLineageSegment(c.first)
	c.sizeLines()
	for i := range c.items {
		s.finalize(&c.items[i], &c.lines)
		c.tree.Append(c.items[i].leaf)
	}
}

// sizeLines gives a chunk without a lines buffer one that holds its records'
// lines when they are about as long as the records.
func (c *chunk) sizeLines() {
	if want := 0; cap(c.lines) == 0 {
		for i := range c.items {
			want += len(c.items[i].rec.Raw) + 1
		}
		c.lines = make([]byte, 0, want+want/4)
	}
}

func closeAll(ctx context.Context, vs []*validator, insts []checker) {
	for k, in := range insts {
		if in != nil {
			vs[k].collect(in)
			in.Close(context.WithoutCancel(ctx))
		}
	}
}
