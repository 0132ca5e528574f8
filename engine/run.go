package engine

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/normalize"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/schema"
	"github.com/pawl-dev/pawl/engine/store"
)

// RunOptions are the inputs of one batch.
type RunOptions struct {
	Job      string    // a job name (jobs/NAME.yaml) or a path to a spec
	Input    string    // a file path, or "-" for Stdin
	Stdin    io.Reader // read when Input is "-"
	Operator string    // default: the project's configured operator
	Reason   string
	AsOf     time.Time // default: now, to the second
	Workers  int       // default: the project's setting, then one per CPU
	// Progress, when set, is called from the writer after each chunk.
	Progress func(Progress)

	root      string        // where the job's files are, when not the project (resubmission)
	resubmits *Resubmission // the quarantined record this batch corrects
}

// Progress is how far a run has got.
type Progress struct {
	Records int64
	Bytes   int64
	Total   int64
}

// Result is what a run reports: the batch on record and how this run went.
type Result struct {
	BatchRecord
	Status      string        `json:"status"` // "committed" or "already_committed"
	Dir         string        `json:"dir"`
	Signature   string        `json:"signature"`
	OutputPaths []string      `json:"output_paths"`
	AuditSeq    int64         `json:"audit_seq"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	// RecordsPerSec is measured over the whole run, ingest included.
	RecordsPerSec float64 `json:"records_per_sec"`
}

// Run errors that callers may want to tell apart.
var (
	ErrBadInput = errors.New("bad input")
)

// InfraError is a failure that is not the data's fault: the batch is failed,
// nothing is committed and the failure is audited.
type InfraError struct {
	BatchID string
	Err     error
}

func (e *InfraError) Error() string {
	if e.BatchID == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("batch %s failed, nothing committed: %v", e.BatchID, e.Err)
}
func (e *InfraError) Unwrap() error { return e.Err }

// chunkRecords bounds how many records travel together between goroutines.
const chunkRecords = 512

// Run takes one batch through every stage and commits it. A batch that is
// already committed is answered from the record with status
// "already_committed" and nothing changes.
func (p *Project) Run(ctx context.Context, opt RunOptions) (*Result, error) {
	start := time.Now()
	if opt.Operator == "" {
		opt.Operator = p.Cfg.Operator
	}
	// The files a batch depends on come from the project, or, for a
	// resubmission, from the original batch's pins laid out in a scratch tree.
	root := p.Root
	if opt.root != "" {
		root = opt.root
	}
	jobRel, err := JobPath(root, opt.Job)
	if err != nil {
		return nil, err
	}
	job, err := LoadJob(root, jobRel)
	if err != nil {
		return nil, err
	}
	pins, err := ReadPins(root)
	if err != nil {
		return nil, err
	}
	jobPins, err := CheckPins(root, pins, append(job.References(), job.PluginRefs()...))
	if err != nil {
		return nil, err
	}
	sch, err := schema.Compile(filepath.Join(root, filepath.FromSlash(job.Schema)))
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", job.Name, err)
	}
	prof, err := p.normalizeProfile(root, job)
	if err != nil {
		return nil, err
	}
	// Every pinned file is kept in the store so that the batch can be
	// replayed from the store alone.
	for f, d := range jobPins {
		if strings.HasPrefix(f, "plugin:") {
			continue // modules are in the store already, checked when loaded
		}
		got, _, err := p.Store.PutFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return nil, &InfraError{Err: err}
		}
		if got != d {
			return nil, &PinMismatchError{File: f, Pinned: d, Actual: got}
		}
	}
	// The policy bundle: loaded (signature checked when required), checked
	// against its pin, and pinned into the batch.
	if err := p.pinPolicy(ctx, pins, jobPins); err != nil {
		return nil, err
	}

	inputName, inDigest, inSize, err := p.ingest(opt)
	if err != nil {
		return nil, err
	}
	id := BatchID(jobPins[job.Path], inDigest, jobPins.Digest())
	if e, ok, err := p.committedEntry(ctx, id); err != nil {
		return nil, err
	} else if ok {
		res, err := p.resultFromEntry(e)
		if err != nil {
			return nil, err
		}
		res.Status = "already_committed"
		res.Elapsed = time.Since(start)
		return res, nil
	}

	asOf := opt.AsOf
	if asOf.IsZero() {
		asOf = time.Now().Truncate(time.Second)
	}
	br := BatchRecord{
		BatchID: id, Job: job.Name, Source: job.Source, Classification: job.Classification, Format: job.Format,
		JobSpec: jobPins[job.Path], Input: inDigest, InputBytes: inSize, InputName: inputName,
		Pins: jobPins, PinsDigest: jobPins.Digest(),
		Schema: SchemaRef{Name: sch.Title(), Version: schemaVersion(jobPins[job.Schema]), Path: job.Schema, Hash: jobPins[job.Schema]},
		AsOf:   asOf.UTC().Format(time.RFC3339Nano), PawlVersion: Version, Resubmits: opt.resubmits,
	}
	if br.Schema.Name == "" {
		br.Schema.Name = strings.TrimSuffix(filepath.Base(job.Schema), filepath.Ext(job.Schema))
	}

	fail := func(err error) (*Result, error) {
		os.RemoveAll(p.pendingDir(id))
		_, aerr := p.Trail.Append(context.WithoutCancel(ctx), audit.Entry{
			Operator: opt.Operator, Action: audit.ActionBatchFailed, Object: "batch:" + id, Reason: opt.Reason,
			Details: mustJSON(map[string]any{"batch_id": id, "job": job.Name, "input": inDigest, "error": err.Error()}),
		})
		return nil, &InfraError{BatchID: id, Err: errors.Join(err, aerr)}
	}

	if err := p.decideClassification(ctx, job, sch, &br, opt.Operator, opt.Reason); err != nil {
		return nil, err
	}
	vs, vrefs, err := p.loadValidators(ctx, job, jobPins, opt.Operator, asOf, id)
	if err != nil {
		return nil, err
	}
	br.Validators = vrefs
	workers := opt.Workers
	if workers <= 0 {
		workers = p.Cfg.Workers
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if err := p.process(ctx, &br, job, sch, prof, vs, workers, opt.Progress, p.pendingDir(id), true); err != nil {
		return fail(err)
	}
	if testHook != nil {
		if err := testHook("before-audit"); err != nil {
			return nil, err
		}
	}
	e, err := p.Trail.Append(ctx, audit.Entry{
		Operator: opt.Operator, Action: audit.ActionBatchCommitted, Object: "batch:" + id, Reason: opt.Reason,
		Details: mustJSON(br),
	})
	if err != nil {
		return fail(fmt.Errorf("appending the audit entry: %w", err))
	}
	// From here on the batch is committed: what remains is rolled forward,
	// now or by the next process that opens the project.
	if err := p.finishCommit(id, e); err != nil {
		return nil, fmt.Errorf("batch %s is committed (audit entry %d) but its folder is not finished; it will be finished when the project is next opened: %w", id, e.Seq, err)
	}
	res, err := p.resultFromEntry(e)
	if err != nil {
		return nil, err
	}
	res.Status = "committed"
	res.Elapsed = time.Since(start)
	if s := res.Elapsed.Seconds(); s > 0 {
		res.RecordsPerSec = float64(res.RecordsIn) / s
	}
	return res, nil
}

// normalizeProfile builds the job's Unicode profile, with the reference
// values of its identifier fields read from their (pinned) files.
func (p *Project) normalizeProfile(root string, job *Job) (*normalize.Profile, error) {
	refs := map[string][]string{}
	for ptr, file := range job.Normalize.References {
		f, err := os.Open(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			return nil, fmt.Errorf("job %s: normalize reference file for %s: %w", job.Name, ptr, err)
		}
		vals, err := normalize.ParseReferences(f, file)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", job.Name, err)
		}
		refs[ptr] = vals
	}
	prof, err := normalize.NewProfile(job.Normalize, refs)
	if err != nil {
		return nil, fmt.Errorf("job %s: normalize: %w", job.Name, err)
	}
	return prof, nil
}

// testHook lets crash tests stop a run between commit steps.
var testHook func(step string) error

func schemaVersion(d store.Digest) string {
	h := d.Hex()
	if len(h) > 12 {
		h = h[:12]
	}
	return "sha256:" + h
}

// ingest streams the input into the store, hashing it on the way.
func (p *Project) ingest(opt RunOptions) (name string, d store.Digest, size int64, err error) {
	if opt.Input == "" {
		return "", "", 0, fmt.Errorf("%w: no input: pass --input FILE, or --input - to read standard input", ErrBadInput)
	}
	if opt.Input == "-" {
		if opt.Stdin == nil {
			return "", "", 0, fmt.Errorf("%w: --input - given but there is no standard input", ErrBadInput)
		}
		d, size, err = p.Store.Put(opt.Stdin)
		if err != nil {
			return "", "", 0, &InfraError{Err: fmt.Errorf("storing standard input: %w", err)}
		}
		return "-", d, size, nil
	}
	fi, err := os.Stat(opt.Input)
	if err != nil {
		return "", "", 0, fmt.Errorf("%w: cannot read input %s: %v", ErrBadInput, opt.Input, errors.Unwrap(err))
	}
	if fi.IsDir() {
		return "", "", 0, fmt.Errorf("%w: input %s is a directory; pass a file", ErrBadInput, opt.Input)
	}
	d, size, err = p.Store.PutFile(opt.Input)
	if err != nil {
		return "", "", 0, &InfraError{Err: fmt.Errorf("storing input %s: %w", opt.Input, err)}
	}
	return filepath.Base(opt.Input), d, size, nil
}

// outFile is an output being written: buffered, hashed, counted.
type outFile struct {
	f       *os.File
	w       *bufio.Writer
	h       hash.Hash
	bytes   int64
	records int64
}

func createOut(path string) (*outFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	o := &outFile{f: f, h: sha256.New()}
	o.w = bufio.NewWriterSize(io.MultiWriter(f, o.h), 256<<10)
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
		o.f.Close()
		return err
	}
	if err := o.f.Sync(); err != nil {
		o.f.Close()
		return fmt.Errorf("fsync %s: %w", o.f.Name(), err)
	}
	return o.f.Close()
}

func (o *outFile) ref() OutputRef {
	return OutputRef{Hash: store.Digest("sha256:" + hex.EncodeToString(o.h.Sum(nil))), Bytes: o.bytes, Records: o.records}
}

type chunk struct {
	err   error // an infrastructure failure (a plugin that timed out, say): the batch fails
	seq   int
	first int64 // index of the chunk's first record among all records
	items []item
	tree  *audit.LineageTree // the lineage tree over this chunk's leaves
	bytes int64              // input bytes read when the chunk was cut
	st    *stats
}

// process streams the input blob through the stages with workers goroutines
// and writes the outputs to pending/<id>/ in input order, whatever the
// worker count. Memory is bounded: at most 4 chunks per worker are in flight.
// The outputs go to dir; with keep, they are also added to the store (a
// replay compares them and throws them away).
func (p *Project) process(ctx context.Context, br *BatchRecord, job *Job, sch *schema.Schema, prof *normalize.Profile, vs []*validator, workers int, progress func(Progress), dir string, keep bool) error {
	var stateless, ordered []*validator
	for _, v := range vs {
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
	in, err := p.Store.Open(br.Input)
	if err != nil {
		return fmt.Errorf("reading the input blob %s: %w", br.Input, err)
	}
	defer in.Close()

	blob, err := os.Open(p.Store.Path(br.Input))
	if err != nil {
		return fmt.Errorf("reading the input blob %s: %w", br.Input, err)
	}
	defer blob.Close()
	src := bufio.NewReaderSize(in, 1<<20)
	st := &stages{format: job.Format, schema: sch, norm: prof, input: blob, validators: len(vs) > 0}
	if bom, _ := src.Peek(3); len(bom) == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF {
		src.Discard(3)
		st.baseOffset = 3
		br.BOMStripped = true
	}
	opts := records.Options{MaxRecordBytes: p.Cfg.MaxRecordBytes}
	var rd records.Reader
	if job.Format == "csv" {
		var hdr []string
		rd, hdr, err = records.NewCSVReader(src, opts)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		st.header = hdr
		st.types = sch.PropertyTypes()
	} else {
		rd = records.NewJSONLReader(src, opts)
	}

	verified, err := createOut(filepath.Join(dir, VerifiedFile))
	if err != nil {
		return err
	}
	quarantine, err := createOut(filepath.Join(dir, QuarantineFile))
	if err != nil {
		verified.close()
		return err
	}
	actionsOut, err := createOut(filepath.Join(dir, ActionsFile))
	if err != nil {
		verified.close()
		quarantine.close()
		return err
	}
	lineage, err := createOut(filepath.Join(dir, LineageFile))
	if err != nil {
		verified.close()
		quarantine.close()
		actionsOut.close()
		return err
	}
	tiles, err := createOut(filepath.Join(dir, TilesFile))
	if err != nil {
		verified.close()
		quarantine.close()
		actionsOut.close()
		lineage.close()
		return err
	}
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
			c := &chunk{seq: seq, first: first, items: make([]item, 0, chunkRecords)}
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
				cancel(fmt.Errorf("reading the input: %w", rerr))
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			insts := make([]checker, len(stateless))
			defer closeAll(ctx, insts)
			for c := range work {
				c.st = newStats()
				for i := range c.items {
					st.evaluate(&c.items[i], c.st)
				}
				if len(stateless) > 0 {
					c.err = st.runValidators(ctx, stateless, insts, c.items, c.st)
				}
				if c.err == nil && len(ordered) == 0 {
					st.finalizeChunk(c)
				}
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
	defer closeAll(ctx, orderedInsts)
	total := newStats()
	held := map[int]*chunk{}
	next := 0
	var nrec int64
	var werr error
	for c := range done {
		if werr != nil {
			continue
		}
		held[c.seq] = c
		for {
			c, ok := held[next]
			if !ok {
				break
			}
			delete(held, next)
			next++
			if c.err == nil && len(ordered) > 0 {
				if c.err = st.runValidators(ctx, ordered, orderedInsts, c.items, c.st); c.err == nil {
					st.finalizeChunk(c)
				}
			}
			if c.err != nil {
				werr = c.err
				cancel(werr)
				break
			}
			for i := range c.items {
				it := &c.items[i]
				if it.err != nil {
					werr = it.err
					cancel(werr)
					break
				}
				if it.verified != nil {
					werr = verified.write(it.verified)
				} else {
					werr = quarantine.write(it.quar)
				}
				if werr == nil && it.actions2 != nil {
					werr = actionsOut.write(it.actions2)
				}
				if werr == nil {
					werr = lineage.write(it.leaf[:])
				}
				if werr != nil {
					werr = fmt.Errorf("writing batch output: %w", werr)
					cancel(werr)
					break
				}
			}
			if werr == nil {
				// A full chunk is a complete subtree of 512 leaves: its root
				// is a tile, which keeps proofs from reading the whole file.
				if root, ok := c.tree.SubtreeRoot(); ok {
					werr = tiles.write(root)
				}
			}
			if werr == nil {
				werr = tree.AppendSegment(c.tree)
			}
			if werr != nil {
				cancel(werr)
			}
			total.add(c.st)
			nrec += int64(len(c.items))
			<-tokens
			if progress != nil {
				progress(Progress{Records: nrec, Bytes: c.bytes, Total: br.InputBytes})
			}
		}
	}
	cerr := errors.Join(verified.close(), quarantine.close(), actionsOut.close(), lineage.close(), tiles.close())
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
		return fmt.Errorf("reading the input blob %s: %w", br.Input, err)
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	br.RecordsIn = nrec
	br.Verified = verified.records
	br.Quarantined = quarantine.records
	if jr, ok := rd.(interface{ BlankLines() int64 }); ok {
		br.BlankLines = jr.BlankLines()
	}
	br.Stages = total.stageStats()
	br.Rules = total.ruleCounts()
	br.Normalize = total.norm
	br.Outputs = map[string]OutputRef{VerifiedFile: verified.ref(), QuarantineFile: quarantine.ref()}
	br.Lineage = LineageRef{Root: hex.EncodeToString(tree.Root()), Size: tree.Size(), Leaves: lineage.ref().Hash, Tiles: tiles.ref().Hash, Actions: actionsOut.ref()}
	if br.Verified+br.Quarantined != br.RecordsIn || tree.Size() != br.RecordsIn {
		return fmt.Errorf("internal error: %d records in but %d verified + %d quarantined, %d lineage leaves", br.RecordsIn, br.Verified, br.Quarantined, tree.Size())
	}
	stored := map[string]store.Digest{LineageFile: br.Lineage.Leaves, TilesFile: br.Lineage.Tiles, ActionsFile: br.Lineage.Actions.Hash}
	for name, o := range br.Outputs {
		stored[name] = o.Hash
	}
	for name, want := range stored {
		if !keep {
			break
		}
		d, _, err := p.Store.Adopt(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("storing %s: %w", name, err)
		}
		if d != want {
			return fmt.Errorf("%s changed while it was stored: wrote %s, stored %s", name, want, d)
		}
	}
	return nil
}

// finalizeChunk renders the chunk's output lines and lineage leaves and
// hashes its leaves into a subtree.
func (s *stages) finalizeChunk(c *chunk) {
	c.tree = audit.NewLineageSegment(c.first)
	for i := range c.items {
		s.finalize(&c.items[i])
		c.tree.Append(c.items[i].leaf)
	}
}

func closeAll(ctx context.Context, insts []checker) {
	for _, in := range insts {
		if in != nil {
			in.Close(context.WithoutCancel(ctx))
		}
	}
}

// committedEntry finds a batch's batch.committed entry.
func (p *Project) committedEntry(ctx context.Context, id string) (audit.Entry, bool, error) {
	es, err := p.Trail.Find(ctx, audit.ActionBatchCommitted, "batch:"+id)
	if err != nil {
		return audit.Entry{}, false, err
	}
	if len(es) == 0 {
		return audit.Entry{}, false, nil
	}
	return es[len(es)-1], true, nil
}

func (p *Project) resultFromEntry(e audit.Entry) (*Result, error) {
	var br BatchRecord
	if err := json.Unmarshal(e.Details, &br); err != nil {
		return nil, fmt.Errorf("audit entry %d: batch details unreadable: %w", e.Seq, err)
	}
	dir := p.batchDir(br.BatchID)
	res := &Result{BatchRecord: br, Dir: dir, Signature: filepath.Join(dir, SignatureFile), AuditSeq: e.Seq}
	for _, n := range []string{VerifiedFile, QuarantineFile} {
		res.OutputPaths = append(res.OutputPaths, filepath.Join(dir, n))
	}
	return res, nil
}
