// Package distrib spreads the stateless stages of a batch over worker
// processes through a NATS JetStream work queue, inside one site: the
// committer (the process that owns the trail and runs the batch) publishes
// each chunk of records to the stream PAWL_WORK, workers run the chunk with
// the batch's Plan (ratchet.ChunkWorker: the very stage code of a local
// run) and publish its outcome to PAWL_RESULTS, and the committer merges
// the outcomes in input order and commits exactly as a run on one machine
// does (ratchet.RunOptions.Distribute). docs/architecture.md, "Worker
// scale-out", describes the protocol and its scaling model.
//
// A worker acknowledges a chunk only after its outcome is stored in
// PAWL_RESULTS: a worker that dies mid-chunk leaves the chunk
// unacknowledged and JetStream redelivers it, after the consumer's ack
// wait, to another worker. Outcomes are deterministic and published with
// the message id sha256(batch ‖ chunk ‖ outcome), so a chunk done twice is
// deduplicated by the stream and, past its window, by the committer, which
// keeps the first outcome and fails the batch on a different one.
//
// Workers run on other machines and hold no project: the committer puts a
// batch's Plan artefacts — its manifest (the bytes the Plan digest is
// over: the batch record as planned and the plugins loaded) and every blob
// it names (the job's pinned files, the plugin modules) — in the object
// store bucket PAWL_PLANS, keyed by sha256; a worker that does not hold
// the Plan of a chunk fetches them, checks each against its hash, rebuilds
// the Plan as Replay does (ratchet.RebuildPlan) and checks the rebuilt
// Plan's digest against the chunk's, or refuses the chunk with the reason
// (the batch fails with it). The committer, too, refuses an outcome for
// another plan or chunk.
package distrib

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/store"
)

// The streams, their subjects and the workers' consumer.
const (
	WorkStream     = "PAWL_WORK"    // retention WorkQueue: a chunk is gone once a worker acknowledges it
	ResultStream   = "PAWL_RESULTS" // a batch's outcomes, purged when the batch is done
	WorkSubject    = "pawl.work"    // + "." + batch id
	ResultSubject  = "pawl.results" // + "." + batch id
	WorkerConsumer = "pawl-workers" // the one durable pull consumer every worker fetches from
	// HeaderPlan names the Plan digest of a chunk; HeaderWorker the
	// worker that made an outcome.
	HeaderPlan   = "Pawl-Plan"
	HeaderWorker = "Pawl-Worker"
	// HeaderAttempt names the committer's attempt at the batch: a batch
	// run again (after a failure) has the same id and the same chunks, and
	// its messages must not be taken for duplicates of the last attempt's.
	HeaderAttempt = "Pawl-Attempt"
)

// PlanBucket is the object store of the Plans' artefacts: "plan-<hex>"
// is a Plan's manifest (hex: its digest's), "sha256-<hex>" a blob.
const PlanBucket = "PAWL_PLANS"

// artefactTTL is how long an artefact stays in PlanBucket after it was
// put; the committer puts again one older than refreshAfter.
const (
	artefactTTL  = 7 * 24 * time.Hour
	refreshAfter = 24 * time.Hour
)

// Options tune the protocol.
type Options struct {
	// AckWait is how long a chunk may stay unacknowledged before it is
	// given to another worker (default 30 s: well above a chunk's time).
	AckWait time.Duration
	// IdleTimeout is how long the committer waits, while chunks wait in
	// the queue, for a worker to take one (or for an outcome) before it
	// fails the batch (default 60 s; distribute.idle_timeout).
	IdleTimeout time.Duration
}

func (o *Options) defaults() {
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
}

// Setup creates the streams and the workers' consumer, or checks that they
// are there; the committer and the workers both call it.
func Setup(ctx context.Context, js jetstream.JetStream, o Options) error {
	o.defaults()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: WorkStream, Subjects: []string{WorkSubject + ".>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage}); err != nil {
		return fmt.Errorf("the stream %s: %w", WorkStream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: ResultStream, Subjects: []string{ResultSubject + ".>"},
		Storage: jetstream.FileStorage, MaxAge: 24 * time.Hour}); err != nil {
		return fmt.Errorf("the stream %s: %w", ResultStream, err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, WorkStream, jetstream.ConsumerConfig{Durable: WorkerConsumer, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: o.AckWait, MaxDeliver: -1, FilterSubject: WorkSubject + ".>"}); err != nil {
		return fmt.Errorf("the consumer %s of %s: %w", WorkerConsumer, WorkStream, err)
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: PlanBucket, Storage: jetstream.FileStorage, TTL: artefactTTL,
		Description: "pawl: the artefacts of distributed batches' Plans, by sha256"}); err != nil {
		return fmt.Errorf("the object store %s: %w", PlanBucket, err)
	}
	return nil
}

// Committer distributes the chunks of a batch run in this process; it is
// the ratchet.Distributor of RunOptions.Distribute.
type Committer struct {
	js    jetstream.JetStream
	objs  jetstream.ObjectStore
	queue string
	o     Options
}

// NewCommitter sets up the streams and the artefacts' bucket on nc's
// server and returns the committer that publishes to them; queue is the
// server's URL as configured (distribute.nats), which the distribute
// policy decides on and the batch record names.
func NewCommitter(ctx context.Context, nc *nats.Conn, queue string, o Options) (*Committer, error) {
	o.defaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if err := Setup(ctx, js, o); err != nil {
		return nil, err
	}
	objs, err := js.ObjectStore(ctx, PlanBucket)
	if err != nil {
		return nil, fmt.Errorf("the object store %s: %w", PlanBucket, err)
	}
	return &Committer{js: js, objs: objs, queue: queue, o: o}, nil
}

// Queue implements ratchet.Distributor.
func (c *Committer) Queue() string { return c.queue }

// putArtefacts puts the plan's manifest and every blob it names in the
// bucket, unless there already with the right content (the digest the
// bucket keeps of it) and put recently: a damaged or replaced object is
// put again.
func (c *Committer) putArtefacts(ctx context.Context, pl *ratchet.Plan, digest string) error {
	manifest, blobs := pl.Artefacts()
	put := func(name string, sha256Hex string, get func() ([]byte, error)) error {
		sum, err := hex.DecodeString(sha256Hex)
		if err != nil {
			return fmt.Errorf("artefact %s: %v", name, err)
		}
		want := "SHA-256=" + base64.URLEncoding.EncodeToString(sum)
		if info, err := c.objs.GetInfo(ctx, name); err == nil && info.Digest == want && time.Since(info.ModTime) < refreshAfter {
			return nil
		}
		b, err := get()
		if err != nil {
			return err
		}
		if _, err := c.objs.PutBytes(ctx, name, b); err != nil {
			return fmt.Errorf("putting %s in %s: %w", name, PlanBucket, err)
		}
		return nil
	}
	for _, d := range blobs {
		if err := put(blobName(d.Hex()), d.Hex(), func() ([]byte, error) { return pl.ReadArtefact(d) }); err != nil {
			return err
		}
	}
	ms := sha256.Sum256(manifest)
	return put(planName(digest), hex.EncodeToString(ms[:]), func() ([]byte, error) { return manifest, nil })
}

func blobName(hex string) string { return "sha256-" + hex }

func planName(digest string) string { return "plan-" + strings.TrimPrefix(digest, "sha256:") }

// Open implements ratchet.Distributor.
func (c *Committer) Open(ctx context.Context, pl *ratchet.Plan) (ratchet.Dispatch, error) {
	d := pl.Digest()
	batch := pl.BatchID
	if batch == "" || strings.ContainsAny(batch, ".*> \t\r\n") {
		return nil, fmt.Errorf("batch id %q cannot name a subject", batch)
	}
	if err := c.putArtefacts(ctx, pl, d); err != nil {
		return nil, fmt.Errorf("the artefacts of plan %s: %w", d, err)
	}
	b := &dispatch{c: c, batch: batch, digest: d, attempt: rand.Text(), results: make(chan ratchet.ChunkResult, 64), stop: make(chan struct{})}
	// Outcomes of an earlier attempt at this batch are the same bytes (the
	// stages are deterministic); they are purged anyway, so that the
	// committer reads only this attempt's traffic.
	if err := b.purge(ctx); err != nil {
		return nil, err
	}
	cons, err := c.js.OrderedConsumer(ctx, ResultStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{ResultSubject + "." + batch}})
	if err != nil {
		return nil, fmt.Errorf("reading the results of batch %s: %w", batch, err)
	}
	b.progress.Store(time.Now().UnixNano())
	b.cc, err = cons.Consume(func(m jetstream.Msg) {
		b.progress.Store(time.Now().UnixNano())
		select {
		case b.results <- ratchet.ChunkResult{Worker: m.Headers().Get(HeaderWorker), Data: m.Data()}:
		case <-b.stop:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("reading the results of batch %s: %w", batch, err)
	}
	go b.watch()
	return b, nil
}

type dispatch struct {
	c       *Committer
	batch   string
	digest  string
	attempt string
	results chan ratchet.ChunkResult
	stop    chan struct{}
	once    sync.Once
	cc      jetstream.ConsumeContext
	// progress is when the batch last saw a worker at work (a chunk
	// taken, an outcome), in Unix nanoseconds.
	progress atomic.Int64
}

// watch fails the batch when chunks wait in the queue and no worker takes
// one, nor sends an outcome, for the idle timeout.
func (b *dispatch) watch() {
	idle := b.c.o.IdleTimeout
	tick := min(idle/5, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	var delivered uint64
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), tick+time.Second)
		ci, err := b.consumerInfo(ctx)
		cancel()
		if err != nil {
			continue // the server is away: the next tick asks again, and the batch timeout bounds the wait
		}
		if ci.Delivered.Consumer != delivered {
			delivered = ci.Delivered.Consumer
			b.progress.Store(time.Now().UnixNano())
			continue
		}
		waited := time.Since(time.Unix(0, b.progress.Load()))
		if ci.NumPending+uint64(ci.NumAckPending) == 0 || waited < idle {
			continue
		}
		err = fmt.Errorf("no worker took a chunk of batch %s within %s (distribute.idle_timeout): start `pawl worker --nats %s` on a worker machine, or unset distribute.nats to run on this machine", b.batch, idle, b.c.queue)
		if ci.NumPending == 0 {
			err = fmt.Errorf("a worker has held a chunk of batch %s for %s (distribute.idle_timeout) without an outcome, and no other worker took it: start more `pawl worker --nats %s`, or raise distribute.idle_timeout", b.batch, idle, b.c.queue)
		}
		select {
		case b.results <- ratchet.ChunkResult{Err: err}:
		case <-b.stop:
		}
		return
	}
}

func (b *dispatch) consumerInfo(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	c, err := b.c.js.Consumer(ctx, WorkStream, WorkerConsumer)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

func (b *dispatch) Send(ctx context.Context, seq int, task []byte) error {
	m := nats.NewMsg(WorkSubject + "." + b.batch)
	m.Data = task
	m.Header.Set(HeaderPlan, b.digest)
	m.Header.Set(HeaderAttempt, b.attempt)
	_, err := b.c.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID(b.batch, b.attempt, seq, task)), jetstream.WithExpectStream(WorkStream))
	return err
}

func (b *dispatch) Results() <-chan ratchet.ChunkResult { return b.results }

func (b *dispatch) Close() error {
	var err error
	b.once.Do(func() {
		close(b.stop)
		b.cc.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = b.purge(ctx)
	})
	return err
}

// purge removes the batch's chunks and outcomes from the streams.
func (b *dispatch) purge(ctx context.Context) error {
	for _, s := range []struct{ stream, subject string }{{WorkStream, WorkSubject}, {ResultStream, ResultSubject}} {
		st, err := b.c.js.Stream(ctx, s.stream)
		if err != nil {
			return fmt.Errorf("the stream %s: %w", s.stream, err)
		}
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(s.subject+"."+b.batch)); err != nil {
			return fmt.Errorf("purging batch %s from %s: %w", b.batch, s.stream, err)
		}
	}
	return nil
}

// msgID is a message's JetStream id: sha256(batch ‖ attempt ‖ chunk ‖
// bytes), so a chunk or an outcome published twice in one attempt is
// stored once.
func msgID(batch, attempt string, seq int, b []byte) string {
	h := sha256.New()
	h.Write([]byte(batch))
	h.Write([]byte{0})
	h.Write([]byte(attempt))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(seq)))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// Worker runs chunks fetched from the work queue.
type Worker struct {
	Name string
	js   jetstream.JetStream
	objs jetstream.ObjectStore
	// Log, when set, hears what the worker does beside its chunks: a
	// Plan rebuilt, a compilation cache entry rejected.
	Log func(format string, args ...any)
	// cache is the worker's compilation cache directory ("" for none):
	// its key in cache/keys, the entries in cache/wasm.
	cache string
	rts   map[[2]int64]*sandbox.Runtime
	cws   map[string]*ratchet.ChunkWorker
	lru   []string // the Plans held, the most recently used last
	// dieAfter, in tests, makes the worker drop dead (connection closed,
	// nothing acknowledged) when it has fetched that many chunks.
	dieAfter int
	// forge, in tests, replaces an outcome before it is published; with
	// twice, it is published a second time under another message id.
	forge func([]byte) []byte
	twice bool
	// tamper, in tests, changes what the worker fetches from the bucket
	// (by object name) before it checks it.
	tamper func(name string, b []byte) []byte
	nc     *nats.Conn
}

// keepPlans is how many Plans a worker keeps rebuilt (their plugins
// compiled, their instances warm): a batch in flight and the next.
const keepPlans = 2

// NewWorker is a worker named name (it signs its outcomes with it, for the
// record), with its compilation cache in cacheDir (none when empty).
func NewWorker(ctx context.Context, nc *nats.Conn, name, cacheDir string, o Options) (*Worker, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if err := Setup(ctx, js, o); err != nil {
		return nil, err
	}
	objs, err := js.ObjectStore(ctx, PlanBucket)
	if err != nil {
		return nil, fmt.Errorf("the object store %s: %w", PlanBucket, err)
	}
	return &Worker{Name: name, js: js, objs: objs, cache: cacheDir, rts: map[[2]int64]*sandbox.Runtime{}, cws: map[string]*ratchet.ChunkWorker{}, nc: nc}, nil
}

// errDied is how a worker told to die (in tests) ends.
var errDied = errors.New("worker died")

// Run fetches and runs chunks until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	defer func() {
		for _, cw := range w.cws {
			cw.Close(context.WithoutCancel(ctx))
		}
		for _, rt := range w.rts {
			rt.Close(context.WithoutCancel(ctx))
		}
	}()
	var cons jetstream.Consumer
	fetched := 0
	// While the server is away (a restart, a broken link) the connection
	// reconnects; the worker waits for it rather than exit. A chunk it
	// held then comes back to some worker after the ack wait.
	outage := false
	away := func(err error) bool {
		if w.nc.IsClosed() || ctx.Err() != nil {
			return false
		}
		if !outage {
			w.logf("the work queue is unreachable (%v): waiting for it", err)
			outage = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
		return true
	}
	for ctx.Err() == nil {
		if !w.nc.IsConnected() {
			if away(nats.ErrConnectionReconnecting) {
				continue
			}
			return fmt.Errorf("fetching work: %w", nats.ErrConnectionClosed)
		}
		if outage {
			w.logf("the work queue is back")
			outage = false
		}
		if cons == nil {
			lctx, cancel := context.WithTimeout(ctx, time.Second) // a request sent as the link breaks waits for nothing
			c, err := w.js.Consumer(lctx, WorkStream, WorkerConsumer)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if away(fmt.Errorf("the consumer %s of %s: %w", WorkerConsumer, WorkStream, err)) {
					continue
				}
				return fmt.Errorf("the consumer %s of %s: %w", WorkerConsumer, WorkStream, err)
			}
			cons = c
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if away(err) {
				continue
			}
			return fmt.Errorf("fetching work: %w", err)
		}
		for m := range batch.Messages() {
			fetched++
			if w.dieAfter > 0 && fetched >= w.dieAfter {
				w.nc.Close() // mid-chunk: fetched, never acknowledged
				return errDied
			}
			if err := w.handle(ctx, m); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if w.nc.IsClosed() {
					return err
				}
				// A link that broke, or a batch that is over (its chunks
				// purged: the acknowledgement fails): the worker goes on,
				// and a chunk still wanted is given out again after the
				// ack wait.
				w.logf("a chunk not done: %v", err)
				break
			}
		}
	}
	return nil
}

// handle runs one chunk, stores its outcome, then acknowledges the chunk.
func (w *Worker) handle(ctx context.Context, m jetstream.Msg) error {
	batch := strings.TrimPrefix(m.Subject(), WorkSubject+".")
	attempt := m.Headers().Get(HeaderAttempt)
	task := m.Data()
	_, plan, seq, err := ratchet.TaskPlan(task)
	var out []byte
	switch {
	case err != nil:
		out = ratchet.Refusal(task, fmt.Sprintf("worker %s: %v", w.Name, err))
	case plan != m.Headers().Get(HeaderPlan):
		out = ratchet.Refusal(task, fmt.Sprintf("worker %s: chunk %d names plan %s and its message plan %s", w.Name, seq, plan, m.Headers().Get(HeaderPlan)))
	default:
		cw, err := w.chunkWorker(ctx, plan)
		if err == nil {
			out, err = cw.Do(ctx, task)
		}
		if err != nil {
			out = ratchet.Refusal(task, fmt.Sprintf("worker %s: %v", w.Name, err))
		}
	}
	if w.forge != nil {
		out = w.forge(out)
	}
	r := nats.NewMsg(ResultSubject + "." + batch)
	r.Data = out
	r.Header.Set(HeaderWorker, w.Name)
	if _, err := w.js.PublishMsg(ctx, r, jetstream.WithMsgID(msgID(batch, attempt, seq, out)), jetstream.WithExpectStream(ResultStream)); err != nil {
		return fmt.Errorf("storing the outcome of chunk %d of batch %s: %w", seq, batch, err)
	}
	if w.twice {
		if _, err := w.js.PublishMsg(ctx, r, jetstream.WithMsgID(msgID(batch, attempt, seq, out)+"-again"), jetstream.WithExpectStream(ResultStream)); err != nil {
			return err
		}
	}
	if err := m.DoubleAck(ctx); err != nil {
		return fmt.Errorf("acknowledging chunk %d of batch %s: %w", seq, batch, err)
	}
	return nil
}

// chunkWorker is the worker of plan's chunks: held, or rebuilt from the
// plan's artefacts.
func (w *Worker) chunkWorker(ctx context.Context, plan string) (*ratchet.ChunkWorker, error) {
	if cw, ok := w.cws[plan]; ok {
		w.lru = append(slices.DeleteFunc(w.lru, func(d string) bool { return d == plan }), plan)
		return cw, nil
	}
	pl, err := w.rebuild(ctx, plan)
	if err != nil {
		return nil, err
	}
	cw, err := pl.NewChunkWorker()
	if err != nil {
		return nil, err
	}
	// The Plans used least recently go, their plugin instances closed.
	for len(w.lru) >= keepPlans {
		w.cws[w.lru[0]].Close(context.WithoutCancel(ctx))
		delete(w.cws, w.lru[0])
		w.lru = w.lru[1:]
	}
	w.cws[plan] = cw
	w.lru = append(w.lru, plan)
	return cw, nil
}

// rebuild fetches a Plan's artefacts and rebuilds it (ratchet.RebuildPlan
// checks every hash and the rebuilt Plan's digest).
func (w *Worker) rebuild(ctx context.Context, plan string) (*ratchet.Plan, error) {
	manifest, err := w.fetch(ctx, planName(plan))
	if err != nil {
		return nil, fmt.Errorf("this worker does not hold plan %s, and cannot fetch it from %s: %v", plan, PlanBucket, err)
	}
	scratch, err := os.MkdirTemp("", "pawl-worker-plan-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	blobs := func(d store.Digest) ([]byte, error) { return w.fetch(ctx, blobName(d.Hex())) }
	pl, err := ratchet.RebuildPlan(ctx, plan, manifest, blobs, w.runtime, scratch)
	for _, rt := range w.rts {
		for _, r := range rt.TakeCacheRejections() {
			w.logf("compilation cache entry rejected (deleted, the module compiled afresh): %s", r)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", plan, err)
	}
	w.logf("rebuilt plan %s of batch %s (job %s) from its artefacts", plan, pl.BatchID, pl.Job.Name)
	return pl, nil
}

func (w *Worker) fetch(ctx context.Context, name string) ([]byte, error) {
	b, err := w.objs.GetBytes(ctx, name)
	if err == nil && w.tamper != nil {
		b = w.tamper(name, b)
	}
	return b, err
}

func (w *Worker) logf(format string, args ...any) {
	if w.Log != nil {
		w.Log(format, args...)
	}
}

// runtime is the worker's sandbox for a memory limit and a call timeout,
// with its compilation cache.
func (w *Worker) runtime(pages uint32, timeout time.Duration) (*sandbox.Runtime, error) {
	k := [2]int64{int64(pages), int64(timeout)}
	if rt, ok := w.rts[k]; ok {
		return rt, nil
	}
	cfg := sandbox.Config{MemoryLimitPages: pages, CallTimeout: timeout}
	if w.cache != "" {
		keys := filepath.Join(w.cache, "keys")
		if err := os.MkdirAll(keys, 0o700); err != nil {
			return nil, fmt.Errorf("the worker's cache: %w", err)
		}
		key, err := seal.CacheKey(keys)
		if err != nil {
			return nil, fmt.Errorf("the worker's cache: %w", err)
		}
		cfg.CacheDir, cfg.CacheKey, cfg.StageDir = filepath.Join(w.cache, "wasm"), key, filepath.Join(w.cache, "wasm-stage")
	}
	rt, err := sandbox.NewRuntime(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	w.rts[k] = rt
	return rt, nil
}
