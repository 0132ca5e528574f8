package ratchet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/normalize"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/records"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// A Distributor runs the stateless stages of a batch's chunks on workers
// elsewhere: engine/distrib does it over a NATS JetStream work queue. The
// committer — this process — reads the input, sends each chunk as a task,
// merges the chunks' outcomes in input order, runs what is left and
// commits, exactly as a run on one machine does.
type Distributor interface {
	// Queue names where the records go (the work queue's server, as
	// configured): the distribute policy decides on it, and the batch
	// record names it.
	Queue() string
	// Open begins the distributed work of a batch whose plan (stateless
	// plugins loaded) workers may run: its artefacts (Plan.Artefacts)
	// are put where workers fetch them; tasks go out by Send, outcomes
	// come back on Results, in any order and possibly more than once.
	Open(ctx context.Context, pl *Plan) (Dispatch, error)
}

// A Dispatch is one batch's traffic with the workers.
type Dispatch interface {
	Send(ctx context.Context, seq int, task []byte) error
	Results() <-chan ChunkResult
	// Close ends the batch's traffic; a result that arrives later is
	// dropped.
	Close() error
}

// ChunkResult is an outcome as a worker published it, or, with Err, why
// the distribution cannot go on (no worker took a chunk in time): the
// batch fails with it.
type ChunkResult struct {
	Worker string // who says it did the work, for the record
	Data   []byte // the outcome's bytes (ChunkWorker.Do)
	Err    error
}

// planManifest is what a plan's digest is over, and what a worker
// rebuilds the plan from (RebuildPlan).
type planManifest struct {
	Record     actions.BatchRecord             `json:"record"`
	Validators map[string]actions.ValidatorRef `json:"validators"`
}

const planDigestPrefix = "pawl-plan/1\n"

func (pl *Plan) manifest() []byte {
	b, err := json.Marshal(planManifest{pl.record(), pl.validatorRefs()})
	if err != nil {
		panic("ratchet: plan digest: " + err.Error()) // plain data: cannot fail
	}
	return b
}

func manifestDigest(m []byte) string {
	sum := sha256.Sum256(append([]byte(planDigestPrefix), m...))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Digest pins everything the stateless stages of the plan depend on: the
// batch record as planned (job, pins, schema, limits, input, as-of time,
// batch id) and the plugins loaded. A worker runs a chunk only for the
// plan whose digest the chunk names.
func (pl *Plan) Digest() string { return manifestDigest(pl.manifest()) }

// Artefacts are what a worker needs to rebuild the plan (RebuildPlan):
// its manifest — the bytes its digest is over: the batch record as
// planned and the plugins loaded — and the blobs it names, by sha256:
// every pinned file of the job (spec, schema and the files its $refs
// reach, reference and lookup files) and every plugin module. ReadArtefact
// reads a blob from the committer's store.
func (pl *Plan) Artefacts() (manifest []byte, blobs []store.Digest) {
	seen := map[store.Digest]bool{}
	for k, d := range pl.Pins {
		if (lockfile.IsFile(k) || strings.HasPrefix(k, lockfile.PluginPrefix)) && !seen[d] {
			seen[d] = true
			blobs = append(blobs, d)
		}
	}
	slices.Sort(blobs)
	return pl.manifest(), blobs
}

// ReadArtefact reads one of the plan's artefacts from the committer's
// store.
func (pl *Plan) ReadArtefact(d store.Digest) ([]byte, error) {
	if pl.blobs == nil {
		return nil, errors.New("the plan has no store to read artefacts from (internal error)")
	}
	return pl.blobs.ReadBlob(d)
}

// checkedBlobs reads a worker's artefacts, each checked against its
// sha256 before it is used.
type checkedBlobs func(store.Digest) ([]byte, error)

func (f checkedBlobs) ReadBlob(d store.Digest) ([]byte, error) {
	b, err := f(d)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", d, err)
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != string(d) {
		return nil, fmt.Errorf("the artefact fetched as %s hashes to %s: refusing it", d, got)
	}
	return b, nil
}

// RebuildPlan rebuilds, on a worker, the plan whose digest a chunk names,
// as Replay rebuilds a batch's plan from the store: from its manifest
// (which must hash to digest) and the blobs it names (fetched by blobs,
// each checked against its sha256), the pinned files laid out under
// scratch, the contract compiled, the plugins loaded by runtime (a runtime
// for the plan's memory limit and call timeout). The rebuilt plan's digest
// must be digest. The plan runs stateless stages only (NewChunkWorker); no
// policy is asked and nothing is recorded: the committer did both.
func RebuildPlan(ctx context.Context, digest string, manifest []byte, blobs func(store.Digest) ([]byte, error),
	runtime func(pages uint32, timeout time.Duration) (*sandbox.Runtime, error), scratch string) (*Plan, error) {
	if got := manifestDigest(manifest); got != digest {
		return nil, fmt.Errorf("the manifest fetched for plan %s hashes to %s: refusing it", digest, got)
	}
	var m planManifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("the manifest of plan %s does not decode: %v", digest, err)
	}
	read := checkedBlobs(blobs)
	pl, err := planFromRecord(read, &m.Record, scratch)
	if err != nil {
		return nil, err
	}
	pl.Resubmits, pl.onWorker = m.Record.Resubmits, true
	rt, err := runtime(pl.Limits.PluginMemoryPages, time.Duration(pl.Limits.PluginCallTimeoutMS)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	for _, spec := range pl.Job.Validators {
		pin, ok := pl.Pins[lockfile.PluginKey(spec.Plugin)]
		if !ok {
			return nil, fmt.Errorf("job %s: plugin %s is not pinned in plan %s", pl.Job.Name, spec.Plugin, digest)
		}
		wasm, err := read.ReadBlob(pin)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", spec.Plugin, err)
		}
		pg, err := rt.Load(ctx, wasm, string(pin))
		if err != nil {
			return nil, err
		}
		if id := pg.Manifest().ID(); id != spec.Plugin {
			return nil, fmt.Errorf("the module pinned as %s says it is %s", spec.Plugin, id)
		}
		v, err := pl.newValidator(spec, pg, read)
		if err != nil {
			return nil, err
		}
		pl.validators = append(pl.validators, v)
	}
	if got := pl.Digest(); got != digest {
		return nil, fmt.Errorf("the plan rebuilt from the artefacts of plan %s has digest %s: refusing to run its chunks (a worker of another pawl version?)", digest, got)
	}
	return pl, nil
}

// distributable says why the plan cannot be distributed, if it cannot.
func (pl *Plan) distributable() error {
	if pl.Job.Format == "parquet" {
		return fmt.Errorf("job %s: a distributed run takes JSONL or CSV input, and this job's input is Parquet: run it without distribution", pl.Job.Name)
	}
	return nil
}

// wireTask is a chunk on its way to a worker.
type wireTask struct {
	Batch   string       `json:"batch"`
	Plan    string       `json:"plan"`
	Seq     int          `json:"seq"`
	First   int64        `json:"first"`
	Base    int64        `json:"base_offset"`
	Header  []string     `json:"header,omitempty"`
	Records []wireRecord `json:"records"`
}

type wireRecord struct {
	Ordinal     int64    `json:"ordinal"`
	Line        int64    `json:"line"`
	Offset      int64    `json:"offset"`
	Length      int64    `json:"length"`
	Raw         []byte   `json:"raw,omitempty"`
	TooLong     bool     `json:"too_long,omitempty"`
	InputSHA256 []byte   `json:"input_sha256,omitempty"` // of a too-long record's bytes, which do not travel
	Cells       []string `json:"cells,omitempty"`
	CellOffsets []int64  `json:"cell_offsets,omitempty"`
	Err         *wireErr `json:"err,omitempty"`
}

// wireErr is a records.Error; its message travels as bytes, which JSON
// keeps as they are even when they are not UTF-8.
type wireErr struct {
	Rule    string `json:"rule"`
	Offset  int64  `json:"offset"`
	Pointer string `json:"pointer,omitempty"`
	Message []byte `json:"message"`
}

// wireOutcome is what a worker made of a chunk.
type wireOutcome struct {
	Batch string     `json:"batch"`
	Plan  string     `json:"plan"`
	Seq   int        `json:"seq"`
	First int64      `json:"first"`
	Error string     `json:"error,omitempty"` // the chunk could not be done (a plugin that timed out; a plan this worker does not hold)
	Items []wireItem `json:"items,omitempty"`
	Stats wireStats  `json:"stats"`
}

// wireItem is one record's outcome: finalized (its output line and leaf)
// when the job has no ordered plugin; otherwise what the stateless stages
// said of it and its value, for the committer to run the ordered plugins
// on and finalize.
type wireItem struct {
	Verified   []byte `json:"v,omitempty"`
	Quarantine []byte `json:"q,omitempty"`
	Actions    []byte `json:"a,omitempty"`
	Leaf       []byte `json:"leaf,omitempty"`

	Stage    string            `json:"stage,omitempty"`
	Reasons  []finding.Finding `json:"reasons,omitempty"`
	Changes  []finding.Finding `json:"changes,omitempty"`
	Value    []byte            `json:"value,omitempty"` // canonical JSON
	HasValue bool              `json:"has_value,omitempty"`
}

type wireStats struct {
	In       map[string]int64 `json:"in,omitempty"`
	Rejected map[string]int64 `json:"rejected,omitempty"`
	Rules    []wireRule       `json:"rules,omitempty"`
	Norm     normalize.Stats  `json:"normalize"`
}

type wireRule struct {
	Stage   string `json:"stage"`
	Rule    string `json:"rule"`
	Records int64  `json:"records"`
}

// decodeStrict decodes one JSON value of exactly the type's fields.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the message")
	}
	return nil
}

// ChunkWorker runs chunks of one plan on a worker: the stateless stages of
// the local pipeline (runChunk), on plugin instances of its own.
type ChunkWorker struct {
	pl        *Plan
	digest    string
	stateless []*validator
	insts     []checker
	finalize  bool // no ordered plugin: the worker renders the outputs
}

// NewChunkWorker is a worker of the plan's chunks; one goroutine uses it.
func (pl *Plan) NewChunkWorker() (*ChunkWorker, error) {
	if err := pl.distributable(); err != nil {
		return nil, err
	}
	w := &ChunkWorker{pl: pl, digest: pl.Digest(), finalize: true}
	for _, v := range pl.validators {
		if v.ordered {
			w.finalize = false // the committer runs the ordered plugins, then finalizes
		} else {
			w.stateless = append(w.stateless, v)
		}
	}
	w.insts = make([]checker, len(w.stateless))
	return w, nil
}

// Close closes the worker's plugin instances, keeping what they wrote.
func (w *ChunkWorker) Close(ctx context.Context) { closeAll(ctx, w.stateless, w.insts) }

// TaskPlan reads the batch id, plan digest and chunk index a task names.
func TaskPlan(task []byte) (batch, plan string, seq int, err error) {
	var t wireTask
	if err := decodeStrict(task, &t); err != nil {
		return "", "", 0, fmt.Errorf("a chunk task that does not decode: %v", err)
	}
	return t.Batch, t.Plan, t.Seq, nil
}

// Refusal is the outcome of a task a worker cannot do, saying why: the
// committer fails the batch with the reason rather than wait for it.
func Refusal(task []byte, reason string) []byte {
	var t wireTask
	json.Unmarshal(task, &t) // best effort: a task that does not decode is refused by its header's names
	b, _ := json.Marshal(wireOutcome{Batch: t.Batch, Plan: t.Plan, Seq: t.Seq, First: t.First, Error: reason})
	return b
}

// Do runs one task and returns its outcome, serialised deterministically
// (the same task gives the same bytes on any worker). It refuses a task
// that does not decode or names another plan.
func (w *ChunkWorker) Do(ctx context.Context, task []byte) ([]byte, error) {
	var t wireTask
	if err := decodeStrict(task, &t); err != nil {
		return nil, fmt.Errorf("a chunk task that does not decode: %v", err)
	}
	if t.Plan != w.digest || t.Batch != w.pl.BatchID {
		return nil, fmt.Errorf("chunk %d of batch %s is for plan %s, and this worker holds plan %s of batch %s", t.Seq, t.Batch, t.Plan, w.digest, w.pl.BatchID)
	}
	if len(t.Records) == 0 || len(t.Records) > chunkRecords || t.Seq < 0 || t.First < 0 || t.Base < 0 {
		return nil, fmt.Errorf("chunk %d of batch %s: %d records from record %d: not a chunk the committer sends", t.Seq, t.Batch, len(t.Records), t.First)
	}
	pl := w.pl
	st := &stages{format: pl.Job.Format, schema: pl.Schema, norm: pl.Profile, baseOffset: t.Base, validators: len(pl.validators) > 0, maxRecord: pl.Limits.MaxRecordBytes, header: t.Header, qformat: pl.QuarantineFormat}
	if pl.Job.Format == "csv" {
		st.types = pl.Schema.PropertyTypes()
	}
	c := &chunk{seq: t.Seq, first: t.First, items: make([]item, len(t.Records))}
	for i, r := range t.Records {
		rec := &records.Record{Ordinal: r.Ordinal, Line: r.Line, Offset: r.Offset, Length: r.Length, Raw: r.Raw, TooLong: r.TooLong, Cells: r.Cells, CellOffsets: r.CellOffsets}
		if e := r.Err; e != nil {
			rec.Err = &records.Error{Rule: e.Rule, Offset: e.Offset, Pointer: e.Pointer, Message: string(e.Message)}
		}
		c.items[i].rec = rec
		if r.TooLong {
			if len(r.InputSHA256) != sha256.Size {
				return nil, fmt.Errorf("chunk %d of batch %s: too-long record %d comes without the sha256 of its bytes", t.Seq, t.Batch, r.Ordinal)
			}
			h := [32]byte(r.InputSHA256)
			c.items[i].inputHash = &h
		}
		if len(r.CellOffsets) != len(r.Cells) {
			return nil, fmt.Errorf("chunk %d of batch %s: record %d has %d cells and %d cell offsets", t.Seq, t.Batch, r.Ordinal, len(r.Cells), len(r.CellOffsets))
		}
	}
	st.runChunk(ctx, c, w.stateless, w.insts, w.finalize)
	o := wireOutcome{Batch: t.Batch, Plan: t.Plan, Seq: t.Seq, First: t.First}
	if c.err != nil {
		o.Error = c.err.Error()
	} else {
		o.Items = make([]wireItem, len(c.items))
		for i := range c.items {
			it := &c.items[i]
			if it.err != nil {
				o.Error, o.Items = it.err.Error(), nil
				break
			}
			if !w.finalize {
				o.Items[i] = wireItem{Stage: it.stage, Reasons: it.reasons, Changes: it.actions, HasValue: it.v != nil || it.flat != nil}
				if it.v != nil {
					o.Items[i].Value = canonjson.Append(nil, it.v)
				} else if it.flat != nil {
					o.Items[i].Value = records.AppendFlat(nil, it.flat) // (canonjson.Append of its decoded value)
				}
				continue
			}
			o.Items[i] = wireItem{Verified: it.verified, Quarantine: it.quar, Actions: it.actLine, Leaf: slices.Clone(it.leaf[:])}
		}
		o.Stats = wireStats{In: c.st.in, Rejected: c.st.rejected, Norm: c.st.norm}
		for k, n := range c.st.rules {
			o.Stats.Rules = append(o.Stats.Rules, wireRule{Stage: k[0], Rule: k[1], Records: n})
		}
		sort.Slice(o.Stats.Rules, func(i, j int) bool {
			a, b := o.Stats.Rules[i], o.Stats.Rules[j]
			return a.Stage < b.Stage || a.Stage == b.Stage && a.Rule < b.Rule
		})
	}
	return json.Marshal(o) // maps come out with sorted keys: deterministic
}

// distribute makes the batch a distributed one, if the policy lets its
// records go to the distributor's work queue: the distribute decision is
// asked of the batch's pinned bundle and put on record, allow or deny
// (a denial is a *gate.DeniedError); the batch record names the queue,
// the decision and, once the batch is done, the workers whose outcomes
// were taken.
func (pl *Plan) distribute(ctx context.Context, p *project.Project, br *actions.BatchRecord, d Distributor, operator, reason string) error {
	if err := pl.distributable(); err != nil {
		return err // before the policy is asked: nothing would go
	}
	q := d.Queue()
	in := policies.DistributeInput{Workers: q, Job: pl.Job.Name, Principal: policies.Principal{ID: operator}, Time: br.AsOf,
		Resource: policies.Resource{BatchID: pl.BatchID, State: "pending", Classification: pl.Job.Classification, Signatures: []policies.ESignature{}}}
	dec, _, err := gate.Decide(ctx, p.Trail, pl.Policy, gate.Question{Kind: policies.KindDistribute, Input: in, Operator: operator, Object: "batch:" + pl.BatchID,
		Reason: reason, BatchID: pl.BatchID, Job: pl.Job.Name, What: fmt.Sprintf("sending the records of batch %s (job %s, classification %q) to the workers of %s", pl.BatchID, pl.Job.Name, pl.Job.Classification, q)})
	var de *gate.DeniedError
	if errors.As(err, &de) {
		de.Hint = fmt.Sprintf("to allow it, add the module pawl ships (policies/distribute) to %s/ with the queue in data.egress.workers (docs/policy-guide.md, \"Distributed runs\"), then `pawl pin`; or run on this machine: unset distribute.nats", project.PolicyDir)
	}
	if err != nil {
		return err
	}
	pl.dist, pl.blobs = d, p
	br.Distributed = &actions.Distribution{Queue: q, Decision: dec.ID, Workers: []string{}}
	pl.distRef = br.Distributed
	return nil
}

// distRun is the committer's side of a distributed batch.
type distRun struct {
	d      Dispatch
	batch  string
	digest string
	// ordered: the job has ordered plugins, so outcomes come back
	// unfinalized; base is the bytes before record 1 (a stripped BOM).
	ordered bool
	base    int64
	// ref is the batch record's distribution: the workers whose outcomes
	// were taken go into it.
	ref     *actions.Distribution
	workers map[string]bool
}

func (pl *Plan) openDistributed(ctx context.Context) (*distRun, error) {
	if err := pl.distributable(); err != nil {
		return nil, err
	}
	d, err := pl.dist.Open(ctx, pl)
	if err != nil {
		return nil, fmt.Errorf("distributing the batch: %w", err)
	}
	r := &distRun{d: d, batch: pl.BatchID, digest: pl.Digest(), ref: pl.distRef, workers: map[string]bool{}}
	for _, v := range pl.validators {
		r.ordered = r.ordered || v.ordered
	}
	return r, nil
}

// ErrBadResult is why a distributed batch failed on a worker's result:
// for another plan or chunk, garbage, or two different results of one
// chunk. Nothing of the batch is committed.
var ErrBadResult = errors.New("a worker's result was refused")

// run sends every chunk of work to the workers and hands their outcomes to
// done, each chunk once, as the local workers would. A result it refuses
// cancels the batch with the reason.
func (r *distRun) run(ctx context.Context, cancel context.CancelCauseFunc, st *stages, work <-chan *chunk, done chan<- *chunk) {
	var mu sync.Mutex
	pending := map[int]*chunk{}
	allSent := make(chan int, 1)
	go func() {
		n := 0
		for c := range work {
			task, err := r.task(st, c)
			if err == nil {
				mu.Lock()
				pending[c.seq] = c
				mu.Unlock()
				err = r.d.Send(ctx, c.seq, task)
			}
			if err != nil {
				cancel(fmt.Errorf("sending chunk %d to the workers: %w", c.seq, err))
				return
			}
			n++
		}
		allSent <- n
	}()
	taken := map[int][32]byte{} // chunk → sha256 of the outcome taken
	total, received := -1, 0
	for total < 0 || received < total {
		select {
		case n := <-allSent:
			total = n
		case res, ok := <-r.d.Results():
			if !ok {
				cancel(errors.New("the workers' results stopped before every chunk of the batch was done"))
				return
			}
			if res.Err != nil {
				cancel(res.Err)
				return
			}
			mu.Lock()
			c, err := r.accept(res, pending, taken)
			mu.Unlock()
			if err != nil {
				cancel(fmt.Errorf("%w: %v; nothing of the batch is committed", ErrBadResult, err))
				return
			}
			if c == nil {
				continue // the same result again: redelivery is harmless
			}
			if r.ref != nil && !r.workers[res.Worker] {
				r.workers[res.Worker] = true
				r.ref.Workers = append(r.ref.Workers, res.Worker)
				slices.Sort(r.ref.Workers)
			}
			received++
			select {
			case done <- c:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// task serialises chunk c for a worker.
func (r *distRun) task(st *stages, c *chunk) ([]byte, error) {
	r.base = st.baseOffset
	t := wireTask{Batch: r.batch, Plan: r.digest, Seq: c.seq, First: c.first, Base: st.baseOffset, Header: st.header, Records: make([]wireRecord, len(c.items))}
	for i := range c.items {
		rec := c.items[i].rec
		w := wireRecord{Ordinal: rec.Ordinal, Line: rec.Line, Offset: rec.Offset, Length: rec.Length, Raw: rec.Raw, TooLong: rec.TooLong, Cells: rec.Cells, CellOffsets: rec.CellOffsets}
		if e := rec.Err; e != nil {
			w.Err = &wireErr{Rule: e.Rule, Offset: e.Offset, Pointer: e.Pointer, Message: []byte(e.Message)}
		}
		if rec.TooLong {
			h := sha256.New()
			off := rec.Offset + st.baseOffset
			if _, err := io.Copy(h, io.NewSectionReader(st.input, off, rec.Length)); err != nil {
				return nil, fmt.Errorf("hashing record %d (%d bytes at input offset %d): %w", rec.Ordinal, rec.Length, off, err)
			}
			w.InputSHA256 = h.Sum(nil)
		}
		t.Records[i] = w
	}
	return json.Marshal(t)
}

// accept checks one result and turns it into the chunk it completes; nil
// for a result identical to the one taken already.
func (r *distRun) accept(res ChunkResult, pending map[int]*chunk, taken map[int][32]byte) (*chunk, error) {
	var o wireOutcome
	if err := decodeStrict(res.Data, &o); err != nil {
		return nil, fmt.Errorf("worker %q sent a result that does not decode: %v", res.Worker, err)
	}
	if o.Batch != r.batch || o.Plan != r.digest {
		return nil, fmt.Errorf("worker %q sent a result of chunk %d for batch %s plan %s, and this batch is %s plan %s", res.Worker, o.Seq, o.Batch, o.Plan, r.batch, r.digest)
	}
	sum := sha256.Sum256(res.Data)
	if prev, ok := taken[o.Seq]; ok {
		if prev == sum {
			return nil, nil
		}
		return nil, fmt.Errorf("worker %q sent a result of chunk %d that differs from the one already taken (the stages are deterministic: this is a faulty or forged worker)", res.Worker, o.Seq)
	}
	c, ok := pending[o.Seq]
	if !ok {
		return nil, fmt.Errorf("worker %q sent a result of chunk %d, which this batch never sent", res.Worker, o.Seq)
	}
	if o.Error != "" {
		return nil, fmt.Errorf("chunk %d failed on worker %q: %s", o.Seq, res.Worker, o.Error)
	}
	if o.First != c.first || len(o.Items) != len(c.items) {
		return nil, fmt.Errorf("worker %q sent a result of chunk %d with %d records from record %d, and the chunk has %d from record %d", res.Worker, o.Seq, len(o.Items), o.First, len(c.items), c.first)
	}
	if r.ordered {
		for i := range o.Items {
			w, it := &o.Items[i], &c.items[i]
			if w.Verified != nil || w.Quarantine != nil || w.Actions != nil || w.Leaf != nil || w.HasValue != (w.Stage == "" || w.Stage == finding.StageValidate) {
				return nil, fmt.Errorf("worker %q sent a result of chunk %d whose record %d is malformed (the stages' findings and the value, for the ordered plugins)", res.Worker, o.Seq, c.first+int64(i)+1)
			}
			it.stage, it.reasons, it.actions = w.Stage, w.Reasons, w.Changes
			if w.HasValue {
				v, err := records.DecodeJSON(w.Value, records.DecodeOptions{RequireObject: true})
				if err != nil {
					return nil, fmt.Errorf("worker %q sent a result of chunk %d whose record %d has a value that does not decode: %v", res.Worker, o.Seq, c.first+int64(i)+1, err)
				}
				it.v = v
			}
			// The offsets as evaluate left them on the worker, for
			// finalize here.
			it.rec.Offset += r.base
			for k := range it.rec.CellOffsets {
				it.rec.CellOffsets[k] += r.base
			}
		}
	}
	if !r.ordered {
		c.tree = audit.NewLineageSegment(c.first)
	}
	for i := range o.Items {
		if r.ordered {
			break
		}
		w, it := &o.Items[i], &c.items[i]
		if w.Stage != "" || w.Reasons != nil || w.Changes != nil || w.Value != nil || w.HasValue {
			return nil, fmt.Errorf("worker %q sent a result of chunk %d whose record %d is not finalized, and this job has no ordered plugin", res.Worker, o.Seq, c.first+int64(i)+1)
		}
		if len(w.Leaf) != sha256.Size || (w.Verified == nil) == (w.Quarantine == nil) || (w.Actions != nil && w.Verified == nil) {
			return nil, fmt.Errorf("worker %q sent a result of chunk %d whose record %d is malformed (one output line, a 32-byte leaf)", res.Worker, o.Seq, c.first+int64(i)+1)
		}
		it.verified, it.quar, it.actLine, it.leaf = w.Verified, w.Quarantine, w.Actions, [32]byte(w.Leaf)
		c.tree.Append(it.leaf)
	}
	c.st = newStats()
	for k, n := range o.Stats.In {
		c.st.in[k] = n
	}
	for k, n := range o.Stats.Rejected {
		c.st.rejected[k] = n
	}
	for _, x := range o.Stats.Rules {
		c.st.rules[[2]string{x.Stage, x.Rule}] = x.Records
	}
	for k := range c.st.in {
		if !slices.Contains(finding.Stages, k) {
			return nil, fmt.Errorf("worker %q sent a result of chunk %d counting a stage %q pawl does not have", res.Worker, o.Seq, k)
		}
	}
	c.st.norm = o.Stats.Norm
	delete(pending, o.Seq)
	taken[o.Seq] = sum
	return c, nil
}
