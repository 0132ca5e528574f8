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
// This first version hands workers the Plan in process: the committer puts
// it in a Registry under its digest and a worker takes it from there. The
// digest still travels with every chunk and is checked by the worker (it
// refuses a chunk of a plan it does not hold) and by the committer (it
// refuses an outcome for another plan or chunk).
package distrib

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pawl-dev/pawl/engine/ratchet"
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

// Options tune the protocol.
type Options struct {
	// AckWait is how long a chunk may stay unacknowledged before it is
	// given to another worker (default 30 s: well above a chunk's time).
	AckWait time.Duration
}

// Registry holds the Plans of the batches in flight, by digest: filled by
// the committer, read by in-process workers.
type Registry struct {
	mu    sync.Mutex
	plans map[string]*ratchet.Plan
}

// NewRegistry is an empty registry.
func NewRegistry() *Registry { return &Registry{plans: map[string]*ratchet.Plan{}} }

func (r *Registry) put(d string, pl *ratchet.Plan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plans[d] = pl
}

func (r *Registry) drop(d string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.plans, d)
}

func (r *Registry) get(d string) *ratchet.Plan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plans[d]
}

// Setup creates the streams and the workers' consumer, or checks that they
// are there; the committer and the workers both call it.
func Setup(ctx context.Context, js jetstream.JetStream, o Options) error {
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
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
	return nil
}

// Committer distributes the chunks of a batch run in this process; it is
// the ratchet.Distributor of RunOptions.Distribute.
type Committer struct {
	js  jetstream.JetStream
	reg *Registry
}

// NewCommitter sets up the streams on nc's server and returns the
// committer that publishes to them.
func NewCommitter(ctx context.Context, nc *nats.Conn, reg *Registry, o Options) (*Committer, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if err := Setup(ctx, js, o); err != nil {
		return nil, err
	}
	return &Committer{js: js, reg: reg}, nil
}

// Open implements ratchet.Distributor.
func (c *Committer) Open(ctx context.Context, pl *ratchet.Plan) (ratchet.Dispatch, error) {
	d := pl.Digest()
	batch := pl.BatchID
	if batch == "" || strings.ContainsAny(batch, ".*> \t\r\n") {
		return nil, fmt.Errorf("batch id %q cannot name a subject", batch)
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
	b.cc, err = cons.Consume(func(m jetstream.Msg) {
		select {
		case b.results <- ratchet.ChunkResult{Worker: m.Headers().Get(HeaderWorker), Data: m.Data()}:
		case <-b.stop:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("reading the results of batch %s: %w", batch, err)
	}
	c.reg.put(d, pl)
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
		b.c.reg.drop(b.digest)
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
	reg  *Registry
	cws  map[string]*ratchet.ChunkWorker
	// dieAfter, in tests, makes the worker drop dead (connection closed,
	// nothing acknowledged) when it has fetched that many chunks.
	dieAfter int
	// forge, in tests, replaces an outcome before it is published; with
	// twice, it is published a second time under another message id.
	forge func([]byte) []byte
	twice bool
	nc    *nats.Conn
}

// NewWorker is a worker named name (it signs its outcomes with it, for the
// record) taking Plans from reg.
func NewWorker(ctx context.Context, nc *nats.Conn, reg *Registry, name string, o Options) (*Worker, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if err := Setup(ctx, js, o); err != nil {
		return nil, err
	}
	return &Worker{Name: name, js: js, reg: reg, cws: map[string]*ratchet.ChunkWorker{}, nc: nc}, nil
}

// errDied is how a worker told to die (in tests) ends.
var errDied = errors.New("worker died")

// Run fetches and runs chunks until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	defer func() {
		for _, cw := range w.cws {
			cw.Close(context.WithoutCancel(ctx))
		}
	}()
	cons, err := w.js.Consumer(ctx, WorkStream, WorkerConsumer)
	if err != nil {
		return fmt.Errorf("the consumer %s of %s: %w", WorkerConsumer, WorkStream, err)
	}
	fetched := 0
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				return nil
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
				return err
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
		cw, err := w.chunkWorker(plan)
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

func (w *Worker) chunkWorker(plan string) (*ratchet.ChunkWorker, error) {
	if cw, ok := w.cws[plan]; ok {
		return cw, nil
	}
	pl := w.reg.get(plan)
	if pl == nil {
		return nil, fmt.Errorf("this worker does not hold plan %s", plan)
	}
	// The plugin instances of batches that are over (their plans gone
	// from the registry) are closed before new ones are made.
	for d, cw := range w.cws {
		if w.reg.get(d) == nil {
			cw.Close(context.Background())
			delete(w.cws, d)
		}
	}
	cw, err := pl.NewChunkWorker()
	if err != nil {
		return nil, err
	}
	w.cws[plan] = cw
	return cw, nil
}
