package distrib

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/policies"
)

// startNATS runs an embedded NATS server with JetStream (its store in a
// temporary directory) on a free local port and returns its URL.
func startNATS(t testing.TB) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{ServerName: "pawl-distrib-test", Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start within 10 s")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// statelessJob rewrites the scaffold's job without its ordered plugin
// (zscore), so that the workers finalize the records themselves.
func statelessJob(t testing.TB, p *project.Project) {
	t.Helper()
	path := filepath.Join(p.Root, "jobs", "sensor-feed.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("  - plugin: zscore@"))
	if i < 0 {
		t.Fatal("the scaffold's job has no zscore validator to take out")
	}
	if err := os.WriteFile(path, b[:i], 0o644); err != nil {
		t.Fatal(err)
	}
	enginetest.Pin(t, p, "tester", "a job of stateless plugins, to distribute")
}

// sameProjects returns n projects that are copies of one (the same pins,
// keys and trail), so that one input makes the same batch in each; their
// policy lets records go to the workers of the NATS server at url.
func sameProjects(t testing.TB, n int, stateless bool, url string) []*project.Project {
	t.Helper()
	ctx := context.Background()
	p := enginetest.NewProject(t)
	enginetest.AllowWorkers(t, p.Root, url)
	if stateless {
		statelessJob(t, p) // pins the policy too
	} else {
		enginetest.Pin(t, p, "tester", "records may go to the site's workers")
	}
	root := p.Root
	p.Close()
	var ps []*project.Project
	for i := 0; i < n; i++ {
		dst := filepath.Join(t.TempDir(), "copy")
		if out, err := exec.Command("cp", "-a", root, dst).CombinedOutput(); err != nil {
			t.Fatalf("cp -a: %v: %s", err, out)
		}
		q, err := engine.Open(ctx, dst, enginetest.Config())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		enginetest.UseTestCacheKey(t, q.Data)
		ps = append(ps, q)
	}
	return ps
}

func run(p *project.Project, input string, d ratchet.Distributor) (*ratchet.Result, error) {
	return ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: input, AsOf: enginetest.AsOf, Workers: 2,
		Operator: "tester", Reason: "test", Distribute: d})
}

// caches are the tests' worker compilation caches, one per test: its
// workers rebuild the Plans from their artefacts, compiling each plugin
// once.
var caches sync.Map // testing.TB → directory

func workerCache(t testing.TB) string {
	if d, ok := caches.Load(t); ok {
		return d.(string)
	}
	d := t.TempDir()
	caches.Store(t, d)
	t.Cleanup(func() { caches.Delete(t) })
	return d
}

// workers starts n workers on their own connections, sharing the test's
// compilation cache (each rebuilds the Plans from their artefacts); stop
// ends them.
func workers(t testing.TB, url string, n int, o Options, tweak func(i int, w *Worker)) (stop func() []error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make([]error, n)
	var wg sync.WaitGroup
	cache := workerCache(t)
	for i := 0; i < n; i++ {
		w, err := NewWorker(ctx, connect(t, url), "w"+string(rune('0'+i)), cache, o)
		if err != nil {
			t.Fatal(err)
		}
		if tweak != nil {
			tweak(i, w)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = w.Run(ctx) }()
	}
	return func() []error { cancel(); wg.Wait(); return errs }
}

// outcome is what must not depend on where the stages ran.
func outcome(t testing.TB, res *ratchet.Result) map[string]any {
	t.Helper()
	br := res.BatchRecord
	files := map[string]string{}
	for _, f := range []string{actions.VerifiedFile, actions.QuarantineFile, actions.ActionsFile, actions.LineageFile, actions.TilesFile} {
		b, err := os.ReadFile(filepath.Join(res.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	return map[string]any{"batch": br.BatchID, "records_in": br.RecordsIn, "verified": br.Verified, "quarantined": br.Quarantined,
		"stages": br.Stages, "rules": br.Rules, "normalize": br.Normalize, "outputs": br.Outputs, "lineage": br.Lineage, "files": files}
}

func same(t *testing.T, name string, want, got map[string]any) {
	t.Helper()
	for k := range want {
		a, _ := json.Marshal(want[k])
		b, _ := json.Marshal(got[k])
		if !bytes.Equal(a, b) {
			if len(a) > 300 {
				a, b = a[:300], b[:300]
			}
			t.Errorf("%s: %s differs from the local run's:\nlocal       %s\ndistributed %s", name, k, a, b)
		}
	}
}

// TestDistributedRunEqualsLocal: one input run on this machine, then
// distributed over 1 and 3 workers and over 3 of which one dies with a
// chunk in hand, gives the same bytes, lineage root and batch id — for the
// scaffold's job, whose zscore is ordered (the committer runs it), and,
// with forged and duplicated results, for the job without it (the workers
// finalize).
func TestDistributedRunEqualsLocal(t *testing.T) {
	url := startNATS(t)
	ps := sameProjects(t, 4, false, url)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 3000, 7))
	local, err := run(ps[0], in, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := outcome(t, local)
	if local.Quarantined == 0 || local.Verified == 0 || local.RecordsIn != 3000 {
		t.Fatalf("the local run should verify and quarantine some of 3000 records: %d in, %d verified, %d quarantined", local.RecordsIn, local.Verified, local.Quarantined)
	}
	o := Options{AckWait: 300 * time.Millisecond}
	com, err := NewCommitter(context.Background(), connect(t, url), url, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{1, 3} {
		stop := workers(t, url, n, o, nil)
		res, err := run(ps[1+i], in, com)
		for _, e := range stop() {
			if e != nil {
				t.Errorf("worker: %v", e)
			}
		}
		if err != nil {
			t.Fatalf("%d workers: %v", n, err)
		}
		if res.Status != ratchet.StatusCommitted {
			t.Fatalf("%d workers: status %s", n, res.Status)
		}
		same(t, strings.Repeat("w", n), want, outcome(t, res))
		if d := res.BatchRecord.Distributed; d == nil || d.Queue != url || len(d.Workers) == 0 || len(d.Workers) > n || d.Decision == "" {
			t.Fatalf("%d workers: the batch record should name the queue %s, its decision and the workers: %+v", n, url, d)
		}
	}
	if local.BatchRecord.Distributed != nil {
		t.Fatalf("the local run's record says it was distributed: %+v", local.BatchRecord.Distributed)
	}

	// A worker that dies with a chunk in hand (fetched, never
	// acknowledged): the others start only once it is dead, so the chunk
	// it held must come back to them, after the ack wait.
	doomed, err := NewWorker(context.Background(), connect(t, url), "doomed", workerCache(t), o)
	if err != nil {
		t.Fatal(err)
	}
	doomed.dieAfter = 1
	done := make(chan struct{})
	var res *ratchet.Result
	go func() { defer close(done); res, err = run(ps[3], in, com) }()
	if werr := doomed.Run(context.Background()); !errors.Is(werr, errDied) {
		t.Fatalf("the doomed worker should have died with a chunk in hand; it ended with %v", werr)
	}
	rest := workers(t, url, 2, o, nil)
	<-done
	for _, e := range rest() {
		if e != nil {
			t.Errorf("worker: %v", e)
		}
	}
	if err != nil {
		t.Fatalf("a run with a worker killed mid-way: %v", err)
	}
	same(t, "worker killed", want, outcome(t, res))

	// Input that starts with a byte order mark: offsets on record count
	// its three bytes, on the workers as on this machine (a new input: a
	// new batch in the same projects).
	bom := append([]byte("\xEF\xBB\xBF"), enginetest.GenInput(t, 700, 8)...)
	in = enginetest.WriteInput(t, t.TempDir(), "bom.jsonl", bom)
	if local, err = run(ps[0], in, nil); err != nil {
		t.Fatal(err)
	}
	if !local.BOMStripped || local.Quarantined == 0 {
		t.Fatalf("the BOM input should be stripped and quarantine some records: %+v", local.BatchRecord)
	}
	stop := workers(t, url, 2, o, nil)
	res, err = run(ps[1], in, com)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	same(t, "BOM", outcome(t, local), outcome(t, res))

	// Results a committer must refuse: each fails the batch with its
	// reason on record (batch.failed), and nothing is committed; then a
	// worker that publishes every outcome twice (under two message ids,
	// past JetStream's deduplication) changes nothing.
	ps = sameProjects(t, 2, true, url)
	if local, err = run(ps[0], in, nil); err != nil {
		t.Fatal(err)
	}
	want = outcome(t, local)
	p := ps[1]
	set := func(k string, f func(v any) any) func([]byte) []byte {
		return func(b []byte) []byte {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Error(err)
				return b
			}
			m[k] = f(m[k])
			out, _ := json.Marshal(m)
			return out
		}
	}
	for _, c := range []struct {
		name   string
		forge  func([]byte) []byte
		reason string
	}{
		{"other plan", set("plan", func(any) any { return "sha256:" + strings.Repeat("0", 64) }), "plan sha256:" + strings.Repeat("0", 64) + ", and this batch is"},
		{"other chunk", set("seq", func(v any) any { return v.(float64) + 1000 }), "which this batch never sent"},
		{"garbage", func([]byte) []byte { return []byte("\x00garbage") }, "does not decode"},
		// A result with no items to drop (a worker's refusal, say) goes
		// as it is; the next result with records is forged.
		{"fewer records", set("items", func(v any) any {
			if xs, ok := v.([]any); ok && len(xs) > 0 {
				return xs[1:]
			}
			return v
		}), "and the chunk has"},
	} {
		stop := workers(t, url, 1, o, func(_ int, w *Worker) { w.forge = c.forge; w.Name = "forger" })
		_, err := run(p, in, com)
		stop() // a forger's acknowledgements may fail once the batch's chunks are purged
		if !errors.Is(err, ratchet.ErrBadResult) || !strings.Contains(err.Error(), c.reason) || !strings.Contains(err.Error(), `worker "forger"`) {
			t.Fatalf("%s: want a refusal saying %q and naming the worker, got %v", c.name, c.reason, err)
		}
		fs := enginetest.Details[actions.BatchFailedDetails](t, p.Trail, "batch:"+local.BatchID)
		if len(fs) == 0 || !strings.Contains(fs[len(fs)-1].Error, c.reason) {
			t.Fatalf("%s: the refusal is not on record as batch.failed: %+v", c.name, fs)
		}
		if _, ok, err := p.CommittedEntry(context.Background(), local.BatchID); err != nil || ok {
			t.Fatalf("%s: the batch is committed (%v, %v)", c.name, ok, err)
		}
	}
	// An artefact that is not what its name says, as a worker fetches it
	// (a tampered bucket or link): the worker refuses the chunk, and says
	// why; the batch fails with the reason rather than wait.
	_, blobs := planOf(t, p).Artefacts()
	victim := blobName(blobs[0].Hex())
	stop = workers(t, url, 1, o, func(_ int, w *Worker) {
		w.Name = "stranger"
		w.tamper = func(name string, b []byte) []byte {
			if name == victim {
				return []byte("not what the pin says")
			}
			return b
		}
	})
	_, err = run(p, in, com)
	stop()
	if !errors.Is(err, ratchet.ErrBadResult) || !strings.Contains(err.Error(), `failed on worker "stranger": worker stranger: plan sha256:`) ||
		!strings.Contains(err.Error(), "the artefact fetched as "+string(blobs[0])+" hashes to sha256:") {
		t.Fatalf("a tampered artefact: want the worker's refusal, got %v", err)
	}
	// The bucket itself tampered with: the committer puts the artefact
	// again before it sends a chunk (the run below succeeds).
	if _, err := bucket(t, url).PutBytes(context.Background(), victim, []byte("not what the pin says")); err != nil {
		t.Fatal(err)
	}
	stop = workers(t, url, 2, o, func(_ int, w *Worker) { w.twice = true })
	res, err = run(p, in, com)
	for _, e := range stop() {
		if e != nil {
			t.Errorf("worker: %v", e)
		}
	}
	if err != nil {
		t.Fatalf("with every outcome twice: %v", err)
	}
	same(t, "every outcome twice", want, outcome(t, res))

	// No worker at all: the batch fails once no worker has taken a chunk
	// for the idle timeout, saying what to do, and the failure is on
	// record.
	ctx := context.Background()
	in = enginetest.WriteInput(t, t.TempDir(), "idle.jsonl", enginetest.GenInput(t, 600, 9))
	idle, err := NewCommitter(ctx, connect(t, url), url, Options{AckWait: o.AckWait, IdleTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = run(p, in, idle)
	if err == nil || !strings.Contains(err.Error(), "no worker took a chunk of batch ") || !strings.Contains(err.Error(), "within 300ms (distribute.idle_timeout): start `pawl worker --nats "+url+"`") {
		t.Fatalf("no worker: want the idle timeout's reason, got %v", err)
	}
	var ie *ratchet.InfraError
	if !errors.As(err, &ie) || len(enginetest.Details[actions.BatchFailedDetails](t, p.Trail, "batch:"+ie.BatchID)) == 0 {
		t.Fatalf("no worker: the failure is not on record as batch.failed: %v", err)
	}
	// A queue the policy does not name: refused before any record leaves,
	// the decision on record.
	other, err := NewCommitter(ctx, connect(t, url), "nats://elsewhere.example:4222", o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = run(p, in, other)
	if !errors.Is(err, gate.ErrDenied) || !strings.Contains(err.Error(), "distribute.not_allowed") || !strings.Contains(err.Error(), "policies/distribute") {
		t.Fatalf("a queue the policy does not name: want a denial saying what to do, got %v", err)
	}
	ds := enginetest.Details[actions.PolicyDecisionDetails](t, p.Trail, "batch:"+ie.BatchID)
	if len(ds) == 0 || ds[len(ds)-1].Decision.Kind != policies.KindDistribute || ds[len(ds)-1].Decision.Allow {
		t.Fatalf("the denial is not on record: %+v", ds)
	}
}

// bucket is the Plans' artefacts on the server at url.
func bucket(t testing.TB, url string) jetstream.ObjectStore {
	t.Helper()
	js, err := jetstream.New(connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := js.ObjectStore(context.Background(), PlanBucket)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// planOf is the plan of a run of the project's job, unbound.
func planOf(t testing.TB, p *project.Project) *ratchet.Plan {
	t.Helper()
	pl, err := ratchet.PlanRun(context.Background(), p, "sensor-feed")
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// TestWorkerRidesOutAnOutage: a worker whose server goes away waits for it
// (it says so) instead of exiting, and goes on when it is back; it stops,
// without an error, when told to.
func TestWorkerRidesOutAnOutage(t *testing.T) {
	store := t.TempDir()
	start := func(port int) *server.Server {
		ns, err := server.NewServer(&server.Options{ServerName: "pawl-outage-test", Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true,
			JetStream: true, StoreDir: store})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("the NATS server did not start within 10 s")
		}
		return ns
	}
	ns := start(-1)
	url := ns.ClientURL()
	port := ns.Addr().(*net.TCPAddr).Port
	nc, err := Connect(url, "worker outage", "", "", 5*time.Second, "flag")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	w, err := NewWorker(context.Background(), nc, "outage", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 16)
	w.Log = func(format string, args ...any) { logs <- fmt.Sprintf(format, args...) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	expect := func(what string) {
		t.Helper()
		select {
		case l := <-logs:
			if !strings.Contains(l, what) {
				t.Fatalf("the worker said %q, want %q", l, what)
			}
		case err := <-done:
			t.Fatalf("the worker ended (%v) before saying %q", err, what)
		case <-time.After(10 * time.Second):
			t.Fatalf("the worker did not say %q within 10 s", what)
		}
	}
	ns.Shutdown()
	expect("the work queue is unreachable")
	ns = start(port)
	defer ns.Shutdown()
	expect("the work queue is back")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the worker, told to stop, ended with %v", err)
	}
}
