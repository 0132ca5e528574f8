package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/serve/tlstest"
)

// TestWorkerCommand: `pawl worker` (in process, on a NATS server with TLS
// that knows the committer and the worker by their nkeys) runs the chunks
// of `pawl run` with distribute.nats set: the batch id, outputs and
// lineage root are those of a local run of the same input in a copy of the
// project, and the batch's audit entry names the queue and the worker.
// Usage and connection errors exit 2 and 1; the worker exits 0 when
// interrupted.
func TestWorkerCommand(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := pawl(t, "", "worker"); code != 2 || !strings.Contains(errOut, "--nats URL is required") {
		t.Fatalf("worker without --nats: exit %d: %s", code, errOut)
	}
	pki := tlstest.New(t)
	committerCreds, workerCreds := filepath.Join(dir, "committer.nk"), filepath.Join(dir, "worker.nk")
	var users []*server.NkeyUser
	for _, f := range []string{committerCreds, workerCreds} {
		users = append(users, &server.NkeyUser{Nkey: strings.TrimSpace(mustPawl(t, "network", "credentials", "--out", f))})
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.ServerCert, KeyFile: pki.ServerKey})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{ServerName: "pawl-worker-test", Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir(), Nkeys: users, TLS: true, TLSConfig: tc})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start within 10 s")
	}
	defer ns.Shutdown()
	url := "tls://" + ns.Addr().String()

	// One project whose policy lets records go to the queue, and a copy
	// of it that runs on its own.
	root, local := filepath.Join(dir, "site"), filepath.Join(dir, "local")
	mustPawl(t, "init", root, "--single-person")
	enginetest.AllowWorkers(t, root, url)
	mustPawl(t, "-C", root, "pin", "--reason", "records may go to the site's workers")
	if out, err := exec.Command("cp", "-a", root, local).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	f, err := os.OpenFile(filepath.Join(root, "pawl.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "distribute:\n  nats: %s\n  credentials: %s\n  ca: %s\n  idle_timeout: 20s\n", url, committerCreds, pki.CA)
	f.Close()
	in := enginetest.WriteInput(t, dir, "in.jsonl", enginetest.GenInput(t, 1200, 5))

	if code, _, errOut := pawl(t, "", "worker", "--nats", url, "--credentials", filepath.Join(dir, "missing.nk"), "--ca", pki.CA); code != 1 || !strings.Contains(errOut, "--credentials: stat ") {
		t.Fatalf("worker with missing credentials: exit %d: %s", code, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var werr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"worker", "--nats", url, "--credentials", workerCreds, "--ca", pki.CA, "--name", "w1", "--cache", filepath.Join(dir, "cache")},
			&streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &werr})
	}()
	stopWorker := func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Fatal("the worker did not stop within 10 s of its interrupt")
			return -1
		}
	}
	defer func() {
		if ctx.Err() == nil {
			stopWorker()
		}
	}()

	runJSON := func(root string) map[string]any {
		var m map[string]any
		out := mustPawl(t, "-C", root, "run", "sensor-feed", "--input", in, "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("run --output json: %v\n%s", err, out)
		}
		return m
	}
	dist, loc := runJSON(root), runJSON(local)
	if code := stopWorker(); code != 0 {
		t.Fatalf("the interrupted worker exited %d: %s", code, werr.String())
	}
	if !strings.Contains(werr.String(), "pawl worker w1: taking chunks from "+url) || !strings.Contains(werr.String(), "rebuilt plan sha256:") {
		t.Errorf("the worker's log should say where it takes chunks from and which plan it rebuilt:\n%s", werr.String())
	}
	if dist["status"] != "committed" || dist["batch_id"] != loc["batch_id"] {
		t.Fatalf("distributed: status %v batch %v; local batch %v", dist["status"], dist["batch_id"], loc["batch_id"])
	}
	a, _ := json.Marshal([]any{dist["outputs"].(map[string]any)["verified.jsonl"].(map[string]any)["hash"], dist["outputs"].(map[string]any)["quarantine.jsonl"].(map[string]any)["hash"], dist["records_verified"], dist["records_quarantined"], dist["rules"]})
	b, _ := json.Marshal([]any{loc["outputs"].(map[string]any)["verified.jsonl"].(map[string]any)["hash"], loc["outputs"].(map[string]any)["quarantine.jsonl"].(map[string]any)["hash"], loc["records_verified"], loc["records_quarantined"], loc["rules"]})
	if !bytes.Equal(a, b) {
		t.Fatalf("the distributed run's outputs differ from the local run's:\n%s\n%s", a, b)
	}
	id := dist["batch_id"].(string)
	record := func(root string) actions.BatchRecord {
		p, err := engine.Open(context.Background(), root, config.Defaults())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		rs := enginetest.Details[actions.BatchRecord](t, p.Trail, "batch:"+id)
		if len(rs) != 1 {
			t.Fatalf("%s: %d batch.committed entries for batch %s", root, len(rs), id)
		}
		return rs[0]
	}
	dr, lr := record(root), record(local)
	if dr.Lineage.Root == "" || dr.Lineage.Root != lr.Lineage.Root || dr.Lineage.Actions.Hash != lr.Lineage.Actions.Hash {
		t.Fatalf("lineage: distributed %+v, local %+v", dr.Lineage, lr.Lineage)
	}
	if d := dr.Distributed; d == nil || d.Queue != url || len(d.Workers) != 1 || d.Workers[0] != "w1" || d.Decision == "" {
		t.Fatalf("the distributed batch's entry should name the queue %s and worker w1: %+v", url, d)
	}
	if lr.Distributed != nil {
		t.Fatalf("the local batch's entry says it was distributed: %+v", lr.Distributed)
	}
	if dd, ok := dist["distributed"].(map[string]any); !ok || dd["queue"] != url {
		t.Fatalf("run --output json should say where the records went: %v", dist["distributed"])
	}
}
