package ratchet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/engine/version"
)

// RunOptions are the inputs of one batch.
type RunOptions struct {
	Job   string    // a job name (jobs/NAME.yaml) or a path to a spec
	Input string    // a file path, or "-" for Stdin
	Stdin io.Reader // read when Input is "-"
	// StdinName is the input's name on record when Input is "-" (default
	// "-"): the base name of a file a service's client opened.
	StdinName string
	Operator  string // default: the project's configured operator
	Reason    string
	// AsOf is the batch's as-of time; default: now, to the second. A time
	// given outside the configured window around now (time_window.past,
	// time_window.future) is refused unless Reason says why, and the
	// batch record then says it was outside the window.
	AsOf    time.Time
	Workers int // default: the project's setting, then one per CPU
	// Progress, when set, is called from the writer after each chunk.
	Progress func(Progress)
	// Inbox, when set, is the source and file the gate picked the input
	// up from; it goes into the batch record.
	Inbox *actions.InboxOrigin
	// Ingested, when set, is called once the input is in the store, before
	// anything is decided or run: an error stops the run there and nothing
	// is on record of it (the gate checks that the file it read did not
	// change while it was read).
	Ingested func(d store.Digest, size int64) error
	// Distribute, when set, runs the stateless stages of the batch's
	// chunks on workers elsewhere (engine/distrib, over NATS JetStream);
	// this process stays the committer: the outputs, lineage root and
	// batch id are those of a run on this machine.
	Distribute Distributor
}

// Progress is how far a run has got.
type Progress struct {
	Records int64
	Bytes   int64
	Total   int64
}

// Result is what a run reports: the batch on record and how this run went.
type Result struct {
	project.Batch
	Status  string        // "committed" or "already_committed"
	Elapsed time.Duration // the whole run, ingest included
	// RecordsPerSec is measured over the whole run, ingest included.
	RecordsPerSec float64
	// Warnings are what went wrong beside the batch without touching it:
	// an OpenLineage event that could not be written.
	Warnings []string
	// PluginLog is what each plugin wrote (stdout, stderr, pawl.log) while
	// it judged this batch, by name@version, at most MaxPluginLogBytes
	// each; only for a batch committed by this run (not on record: output
	// is for diagnosis, never part of a verdict).
	PluginLog map[string]string
}

// Statuses of a Result.
const (
	StatusCommitted        = "committed"
	StatusAlreadyCommitted = "already_committed"
)

// ErrBadInput is matched by errors about the input itself (missing, a
// directory, unreadable).
var ErrBadInput = errors.New("bad input")

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

// Run takes one batch through every stage and commits it. A batch that is
// already committed is answered from the record with status
// "already_committed" and nothing changes.
func Run(ctx context.Context, p *project.Project, opt RunOptions) (*Result, error) {
	start := time.Now()
	if opt.Operator == "" {
		opt.Operator = p.Cfg.Operator
	}
	var outside *actions.TimeWindow
	if !opt.AsOf.IsZero() {
		var err error
		outside, err = gate.WindowOf(p.Cfg).Admit(ctx, p, start, gate.GivenTime{Flag: "--as-of", Time: opt.AsOf, Operator: opt.Operator,
			Reason: opt.Reason, Record: "the batch record"}, "job:"+opt.Job)
		if err != nil {
			return nil, err
		}
	}
	// The input file is hashed while the job is planned: neither needs
	// the other, and each takes a core.
	hctx, stopHashing := context.WithCancel(ctx)
	defer stopHashing()
	hashed := make(chan identity, 1)
	go func() { hashed <- identify(hctx, opt) }()
	pl, err := PlanRun(ctx, p, opt.Job)
	if err != nil {
		return nil, err
	}
	name, d, size, src, err := ingest(p, pl, opt, <-hashed)
	if err != nil {
		return nil, err
	}
	if src != nil {
		defer src.Close()
		pl.source = src
	}
	if opt.Ingested != nil {
		if err := opt.Ingested(d, size); err != nil {
			return nil, err
		}
	}
	asOf := opt.AsOf
	if asOf.IsZero() {
		asOf = time.Now().Truncate(time.Second)
	}
	pl.Bind(name, d, size, asOf)
	res, err := execute(ctx, p, pl, execOptions{operator: opt.Operator, reason: opt.Reason, workers: opt.Workers, progress: opt.Progress, start: start,
		asOfOutside: outside, inbox: opt.Inbox, dist: opt.Distribute})
	if src != nil && !src.Committed() && !p.Store.Has(d) {
		// A run that stopped before it read its records (denied, failed,
		// answered from the record) keeps its input in the store all the
		// same, as one that copied it first did; an input that changed
		// since it was hashed is not stored (its run has failed saying so).
		if cerr := src.Commit(); cerr != nil && err == nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("the input %s was not stored: %v", opt.Input, cerr))
		}
	}
	return res, err
}

type execOptions struct {
	operator, reason string
	workers          int
	progress         func(Progress)
	start            time.Time
	// asOfOutside is the window the as-of time was given outside of, with
	// a reason; nil when it was inside, or not given.
	asOfOutside *actions.TimeWindow
	inbox       *actions.InboxOrigin // where the gate picked the input up
	dist        Distributor          // RunOptions.Distribute
}

// execute commits a bound plan: answered from the record when the batch is
// committed already; otherwise the classification decision, the plugins
// (each admitted by the policy), every record through every stage, the
// audit entry (the commit point), the folder and the signature.
func execute(ctx context.Context, p *project.Project, pl *Plan, o execOptions) (*Result, error) {
	id := pl.BatchID
	if e, ok, err := p.CommittedEntry(ctx, id); err != nil {
		return nil, err
	} else if ok {
		return resultOf(p, e, StatusAlreadyCommitted, o.start)
	}
	// A job that keeps state takes an input once: the same input again,
	// met by a later state, is the batch already committed (counting its
	// readings twice would corrupt the statistics).
	if pl.stateful && pl.Resubmits == nil {
		if b, err := committedBase(ctx, p, pl.Job.Name, pl.BaseID); err != nil {
			return nil, err
		} else if b != nil {
			e, _, err := p.CommittedEntry(ctx, b.BatchID)
			if err != nil {
				return nil, err
			}
			return resultOf(p, e, StatusAlreadyCommitted, o.start)
		}
	}
	br := pl.record()
	br.PawlVersion = version.Pawl()
	br.Binary = binaryRef()
	if o.asOfOutside != nil {
		br.AsOfOutsideWindow, br.AsOfWindow = true, o.asOfOutside
	}
	var events *lineageEvents // written once the records begin to flow
	br.Inbox = o.inbox
	fail := func(err error) (*Result, error) {
		// An append can report an error after its entry reached the disk:
		// then the batch is committed, and what remains is rolled forward.
		if e, ok, cerr := p.CommittedEntry(context.WithoutCancel(ctx), id); cerr == nil && ok {
			if ferr := finishCommit(p, id, e); ferr != nil {
				return nil, fmt.Errorf("batch %s is committed (audit entry %d) but its folder is not finished; it will be finished when the project is next opened: %w", id, e.Seq, ferr)
			}
			res, rerr := resultOf(p, e, StatusCommitted, o.start)
			if rerr == nil {
				events.complete(&res.BatchRecord, e.Seq)
				res.Warnings = events.Warnings()
			}
			return res, rerr
		}
		os.RemoveAll(p.PendingBatch(id))
		// The decisions asked are on record before the failure.
		if rerr := pl.recordAsked(ctx, p.Trail); rerr != nil {
			err = fmt.Errorf("%w (and %v)", err, rerr)
		}
		fe, aerr := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: o.operator, Object: "batch:" + id, Reason: o.reason,
			Details: actions.BatchFailedDetails{BatchID: id, Job: pl.Job.Name, Classification: pl.Job.Classification, Input: pl.Input, Error: err.Error()}})
		events.fail(fe.Seq, err.Error())
		return nil, &InfraError{BatchID: id, Err: errors.Join(err, aerr)}
	}
	// The classification: a deny goes on record at once and ends the run;
	// an allow goes on record with the plugins' admissions, in one
	// transaction, before any record is read (loadValidators).
	a := gate.AskClassification(ctx, pl.Policy, pl.Job, pl.Schema, br.Schema.Name+"@"+br.Schema.Version, id, br.AsOf, o.operator, o.reason)
	pl.asked = append(pl.asked, a)
	if !a.Allowed() {
		if err := pl.recordAsked(ctx, p.Trail); err != nil {
			return nil, err
		}
		return nil, a.Err()
	}
	if pl.stateful {
		var err error
		defer pl.releaseState()
		if err = pl.loadState(p, pl.StateIn); err != nil {
			return fail(err)
		}
	}
	if err := pl.loadValidators(ctx, p, o.operator, true); err != nil {
		return nil, err
	}
	if err := pl.migrateStates(ctx); err != nil {
		return fail(err)
	}
	br.Validators = pl.validatorRefs()
	workers := o.workers
	if workers <= 0 {
		workers = p.Cfg.Workers
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if o.dist != nil {
		if err := pl.distribute(ctx, p, &br, o.dist, o.operator, o.reason); errors.Is(err, gate.ErrDenied) {
			return nil, err // the decision is on record
		} else if err != nil {
			return fail(err)
		}
	}
	events = newLineageEvents(p, pl, &br)
	events.start()
	if err := processWithin(ctx, p, pl, &br, workers, o.progress, p.PendingBatch(id), true); err != nil {
		return fail(err)
	}
	// The state the batch produced goes into the store before the commit
	// point; the batch.committed entry naming it is what makes it the
	// job's. A crash in between leaves a blob nobody names.
	var err error
	if br.State, err = pl.stateRecord(p); err != nil {
		return fail(err)
	}
	if br.State != nil {
		failpoint.Hit("run.state-stored")
	}
	if err := step("run.before-audit"); err != nil {
		return nil, err
	}
	if pl.stateful && pl.Resubmits == nil {
		cur, err := JobStateNow(ctx, p, pl.Job.Name)
		if err != nil {
			return fail(err)
		}
		if cur.State != pl.StateIn {
			return fail(fmt.Errorf("%w: batch %s of job %s was judged against the job's state %s, but %s has changed it since and the job's state is now %s; nothing of this batch is committed: run it again to judge it against the new state",
				ErrStaleState, id, pl.Job.Name, pl.StateIn, cur.By(), cur.State))
		}
	}
	e, err := actions.Append(ctx, p.Trail, actions.Record{Operator: o.operator, Object: "batch:" + id, Reason: o.reason, Details: br})
	if err != nil {
		return fail(fmt.Errorf("appending the audit entry: %w", err))
	}
	if err := step("run.after-audit"); err != nil {
		return nil, err
	}
	// From here on the batch is committed: what remains is rolled forward,
	// now or by the next process that opens the project.
	if err := finishCommit(p, id, e); err != nil {
		return nil, fmt.Errorf("batch %s is committed (audit entry %d) but its folder is not finished; it will be finished when the project is next opened: %w", id, e.Seq, err)
	}
	res, err := resultOf(p, e, StatusCommitted, o.start)
	if err != nil {
		return nil, err
	}
	if s := res.Elapsed.Seconds(); s > 0 {
		res.RecordsPerSec = float64(res.RecordsIn) / s
	}
	events.complete(&res.BatchRecord, e.Seq)
	res.Warnings = events.Warnings()
	res.PluginLog = pl.PluginLogs()
	return res, nil
}

func resultOf(p *project.Project, e audit.Entry, status string, start time.Time) (*Result, error) {
	b, err := p.BatchOf(e)
	if err != nil {
		return nil, err
	}
	return &Result{Batch: *b, Status: status, Elapsed: time.Since(start)}, nil
}

// ResultOf is a committed batch as a run's result would report it.
func ResultOf(b *project.Batch) *Result {
	return &Result{Batch: *b, Status: StatusCommitted}
}

// testHook lets in-process tests stop a run at a step, with an error.
var testHook func(step string) error

// step marks a step of the commit protocol: a crash point (see package
// failpoint) and, in tests, a place to stop with an error.
func step(name string) error {
	failpoint.Hit(name)
	if testHook != nil {
		return testHook(name)
	}
	return nil
}

// identity is what identify learnt of a file input.
type identity struct {
	d    store.Digest
	size int64
	err  error // the file cannot be read, or is a directory
	// hashed says d and size were read from the file: a regular file
	// given by path, not standard input or a pipe.
	hashed bool
}

// identify hashes the input file, when it is a regular file given by path:
// its digest names it (Plan.Bind). It stops when ctx is done.
func identify(ctx context.Context, opt RunOptions) identity {
	if opt.Input == "" || opt.Input == "-" {
		return identity{}
	}
	fi, err := os.Stat(opt.Input)
	if err != nil {
		return identity{err: fmt.Errorf("%w: cannot read input %s: %v", ErrBadInput, opt.Input, errors.Unwrap(err))}
	}
	if fi.IsDir() {
		return identity{err: fmt.Errorf("%w: input %s is a directory; pass a file", ErrBadInput, opt.Input)}
	}
	if !fi.Mode().IsRegular() {
		return identity{} // a pipe, a device: read once, by the copy
	}
	f, err := os.Open(opt.Input)
	if err != nil {
		return identity{err: fmt.Errorf("%w: cannot read input %s: %v", ErrBadInput, opt.Input, errors.Unwrap(err))}
	}
	defer f.Close()
	d, size, err := store.HashReader(ctxReader{ctx, f})
	if err != nil {
		return identity{err: &InfraError{Err: fmt.Errorf("storing input %s: %w", opt.Input, err)}}
	}
	return identity{d: d, size: size, hashed: true}
}

// ctxReader stops reading when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ingest names the input: its digest and size, from identify for a file.
// A JSONL or CSV file is copied into the store as the pipeline reads it
// (src, store.Ingest): one read instead of two, the copy and its fsync
// beside the pipeline instead of before it; the copy is stored under the
// digest only if the pipeline's bytes hash to it. A Parquet file (read by
// offset, footer first) and a distributed run's input are copied now, and
// must hash the same; standard input and pipes are copied now, hashed on
// the way.
func ingest(p *project.Project, pl *Plan, opt RunOptions, id identity) (name string, d store.Digest, size int64, src *store.Ingest, err error) {
	if opt.Input == "" {
		return "", "", 0, nil, fmt.Errorf("%w: no input: pass --input FILE, or --input - to read standard input", ErrBadInput)
	}
	if opt.Input == "-" {
		if opt.Stdin == nil {
			return "", "", 0, nil, fmt.Errorf("%w: --input - given but there is no standard input", ErrBadInput)
		}
		d, size, err = p.Store.Put(opt.Stdin)
		if err != nil {
			return "", "", 0, nil, &InfraError{Err: fmt.Errorf("storing standard input: %w", err)}
		}
		if opt.StdinName != "" {
			return opt.StdinName, d, size, nil, nil
		}
		return "-", d, size, nil, nil
	}
	if id.err != nil {
		return "", "", 0, nil, id.err
	}
	if !id.hashed {
		d, size, err = p.Store.PutFile(opt.Input)
		if err != nil {
			return "", "", 0, nil, &InfraError{Err: fmt.Errorf("storing input %s: %w", opt.Input, err)}
		}
		return filepath.Base(opt.Input), d, size, nil, nil
	}
	d, size = id.d, id.size
	src, err = p.Store.Ingest(opt.Input, d, size)
	if err != nil {
		return "", "", 0, nil, &InfraError{Err: fmt.Errorf("storing input %s: %w", opt.Input, err)}
	}
	if err := step("run.input-hashed"); err != nil {
		src.Close()
		return "", "", 0, nil, err
	}
	if pl.Job.Format == "parquet" || opt.Distribute != nil {
		err := src.Commit()
		src.Close()
		if err != nil {
			return "", "", 0, nil, &InfraError{Err: fmt.Errorf("storing input %s: %w", opt.Input, err)}
		}
		return filepath.Base(opt.Input), d, size, nil, nil
	}
	return filepath.Base(opt.Input), d, size, src, nil
}

// ErrBatchTimeout is why a batch that ran past batch.timeout failed.
var ErrBatchTimeout = errors.New("the batch ran past its time budget")

// processWithin is process bounded by the plan's batch.timeout, when it
// has one: running over it fails the batch with ErrBatchTimeout, naming
// the limit.
func processWithin(ctx context.Context, p *project.Project, pl *Plan, br *actions.BatchRecord, workers int, progress func(Progress), dir string, keep bool) error {
	if pl.Limits.BatchTimeoutMS <= 0 {
		return process(ctx, p, pl, br, workers, progress, dir, keep)
	}
	budget := time.Duration(pl.Limits.BatchTimeoutMS) * time.Millisecond
	tctx, cancel := context.WithTimeoutCause(ctx, budget, ErrBatchTimeout)
	defer cancel()
	err := process(tctx, p, pl, br, workers, progress, dir, keep)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), ErrBatchTimeout) {
		return fmt.Errorf("%w (batch.timeout %s, pinned in pawl.yaml#limits): nothing of it is committed; raise batch.timeout, or split the input", ErrBatchTimeout, budget)
	}
	return err
}

// binaryRef identifies the running executable for a batch record.
func binaryRef() *actions.BinaryRef {
	b := &actions.BinaryRef{}
	if sum, err := version.BinarySHA256(); err != nil {
		b.Error = "hashing the executable: " + err.Error()
	} else {
		b.SHA256 = "sha256:" + sum
	}
	b.VCSRevision, b.VCSTime, b.VCSModified = version.VCS()
	return b
}
