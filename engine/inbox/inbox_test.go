package inbox

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/egress"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// reading is a sensor reading of the example job taken an hour ago (fresh
// for a batch as of now), its value a number or, to be quarantined by the
// schema, a string.
func reading(value string) string {
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	return fmt.Sprintf(`{"device_id":"AB-123456","timestamp":%q,"value":%s,"unit":"celsius"}`, ts, value)
}

// gateProject is a project whose example job has two sources: lab-a
// (rename) notifies an outbox whitelisted for the job's classification
// (and for notices with records), lab-b (done-marker) one whitelisted only
// for phi; a CSV job has a source lab-c that asks for the records' bytes.
// It returns the project and the two outboxes.
func gateProject(t *testing.T) (p *project.Project, allowed, denied string, hook *webhook) {
	t.Helper()
	p = enginetest.NewProject(t)
	allowed, denied = t.TempDir(), t.TempDir()
	hook = newWebhook(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.srv.Certificate().Raw}), 0o644)
	p.Cfg.ExportCAFile = ca
	enginetest.AddDestinations(t, p, map[string]map[string]any{
		"lab-notices": {"url": "file://" + allowed + "/", "classifications": []string{"internal"}, "notice_records": true},
		"phi-only":    {"url": "file://" + denied + "/", "classifications": []string{"phi"}},
		"lims":        {"url": hook.srv.URL + "/notices/", "classifications": []string{"internal"}},
	})
	spec := filepath.Join(p.Root, "jobs", "sensor-feed.yaml")
	b, _ := os.ReadFile(spec)
	b = append(b, fmt.Sprintf("sources:\n"+
		"  - {name: lab-a, inbox: inbox/lab-a, notify: \"file://%s/lab-a/\"}\n"+
		"  - {name: lab-b, inbox: inbox/lab-b, complete: done-marker, notify: \"file://%s/\"}\n"+
		"  - {name: lab-d, inbox: inbox/lab-d, notify: \"%s/notices/\"}\n", allowed, denied, hook.srv.URL)...)
	os.WriteFile(spec, b, 0o644)
	// A second job, CSV, whose source asks for the records' bytes.
	os.WriteFile(filepath.Join(p.Root, "jobs", "csv-feed.yaml"), fmt.Appendf(nil, "name: csv-feed\nsource: lab\nclassification: internal\nformat: csv\n"+
		"schema: schemas/sensor-reading.json\nsources:\n  - {name: lab-c, inbox: inbox/lab-c, notify: \"file://%s/lab-c/\", notify_records: true}\n", allowed), 0o644)
	for _, s := range []string{"lab-a", "lab-b", "lab-c", "lab-d"} {
		os.MkdirAll(filepath.Join(p.Root, "inbox", s), 0o755)
	}
	enginetest.Pin(t, p, "tester", "sources and notice destinations")
	return p, allowed, denied, hook
}

// webhook is a loopback HTTPS notice endpoint that answers 503 while down
// and otherwise keeps each PUT body, confirming its sha256.
type webhook struct {
	srv   *httptest.Server
	mu    sync.Mutex
	down  bool
	files map[string][]byte
}

func newWebhook(t *testing.T) *webhook {
	h := &webhook{down: true, files: map[string][]byte{}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.down || r.Method != http.MethodPut {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		h.files[r.URL.Path] = b
		w.Header().Set("X-Content-SHA256", string(store.HashBytes(b)))
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// land writes a file into an inbox as a source would: under a temporary
// name, then renamed into place.
func land(t *testing.T, p *project.Project, source, name string, lines ...string) store.Digest {
	t.Helper()
	b := []byte(strings.Join(lines, "\n") + "\n")
	dir := filepath.Join(p.Root, "inbox", source)
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return store.HashBytes(b)
}

func scan(t *testing.T, s *Scanner, p *project.Project) *Report {
	t.Helper()
	rep, err := s.Scan(context.Background(), p, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Fatalf("problems: %q", rep.Problems)
	}
	return rep
}

// outcome is the scan's outcome for a file.
func outcome(t *testing.T, rep *Report, file string) Outcome {
	t.Helper()
	for _, o := range rep.Files {
		if o.File == file {
			return o
		}
	}
	t.Fatalf("no outcome for %s in %+v", file, rep.Files)
	return Outcome{}
}

// committedPerInput counts the batch.committed entries of each input.
func committedPerInput(t *testing.T, p *project.Project) map[store.Digest]int {
	n := map[store.Digest]int{}
	for _, br := range enginetest.Details[actions.BatchRecord](t, p.Trail, "") {
		n[br.Input]++
	}
	return n
}

// TestGate: files landed in two sources' inboxes are gated — the partial
// ones left alone —, moved by content hash, each run once across a crash
// between commit and move and a restart; a file that changes while it is
// read commits nothing; a notice reaches an allowed outbox with the
// counts and no record bytes, is refused for a destination of another
// classification (the batch stays committed), and one that cannot be
// delivered waits in the queue and goes once its pause is over.
func TestGate(t *testing.T) {
	p, allowed, denied, hook := gateProject(t)
	ctx := context.Background()
	good, hot := reading("21.5"), reading(`"hot"`)
	outer := t

	a1 := land(t, p, "lab-a", "a1.jsonl", good, hot)
	land(t, p, "lab-a", "a2.jsonl.part", good)
	os.WriteFile(filepath.Join(p.Root, "inbox/lab-a/a3.jsonl.tmp"), []byte(good+"\n"), 0o644)
	b1 := land(t, p, "lab-b", "b1.jsonl", hot, good)
	os.WriteFile(filepath.Join(p.Root, "inbox/lab-b/b1.jsonl.done"), nil, 0o644)
	land(t, p, "lab-b", "b2.jsonl", good) // no marker yet

	s := NewScanner()
	rep := scan(t, s, p)
	if len(rep.Files) != 2 {
		t.Fatalf("gated %+v, want a1.jsonl and b1.jsonl only", rep.Files)
	}
	oa1, ob1 := outcome(t, rep, "a1.jsonl"), outcome(t, rep, "b1.jsonl")
	if oa1.Status != ratchet.StatusCommitted || oa1.Quarantined != 1 || oa1.Input != a1 || ob1.Status != ratchet.StatusCommitted || ob1.Input != b1 {
		t.Fatalf("outcomes %+v %+v", oa1, ob1)
	}
	for rel, want := range map[string]bool{
		"inbox/lab-a/processed/" + a1.Hex() + "-a1.jsonl": true, "inbox/lab-a/a1.jsonl": false,
		"inbox/lab-a/a2.jsonl.part": true, "inbox/lab-a/a3.jsonl.tmp": true,
		"inbox/lab-b/processed/" + b1.Hex() + "-b1.jsonl": true, "inbox/lab-b/b1.jsonl.done": false, "inbox/lab-b/b2.jsonl": true,
	} {
		if _, err := os.Stat(filepath.Join(p.Root, rel)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", rel, err == nil, want)
		}
	}
	// Where the records came from is in the batch record.
	b, err := p.Batch(ctx, oa1.BatchID)
	if err != nil || b.Inbox == nil || *b.Inbox != (actions.InboxOrigin{Source: "lab-a", File: "a1.jsonl"}) || b.InputName != "a1.jsonl" {
		t.Fatalf("batch record inbox %+v (%v)", b, err)
	}
	recv := enginetest.Details[actions.SourceReceivedDetails](t, p.Trail, "source:sensor-feed/lab-a")
	if len(recv) != 1 || recv[0].BatchID != oa1.BatchID || recv[0].MovedTo != "processed/"+a1.Hex()+"-a1.jsonl" {
		t.Fatalf("source.received %+v", recv)
	}

	t.Run("notice delivered without record bytes", func(t *testing.T) {
		m, _ := filepath.Glob(filepath.Join(allowed, "lab-a", "notice-"+oa1.BatchID+"-*.json"))
		if len(m) != 1 {
			t.Fatalf("notices in the outbox: %q", m)
		}
		raw, _ := os.ReadFile(m[0])
		var n Notice
		if err := json.Unmarshal(raw, &n); err != nil {
			t.Fatal(err)
		}
		off := int64(len(good) + 1) // the second line
		if n.Format != NoticeFormat || n.Source != "lab-a" || n.File != "a1.jsonl" || n.SHA256 != a1.Hex() || n.RecordsIn != 2 || n.Quarantined != 1 ||
			len(n.Reasons) != 1 || n.Reasons[0].Ordinal != 2 || n.Reasons[0].Offset != off || n.Reasons[0].Pointer != "/value" || len(n.Rules) == 0 {
			t.Fatalf("notice %s", raw)
		}
		if strings.Contains(string(raw), `"raw`) || strings.Contains(string(raw), "AB-123456") || len(n.Records) != 0 {
			t.Errorf("the notice carries record bytes: %s", raw)
		}
		sent := enginetest.Details[actions.NoticeSentDetails](t, p.Trail, "source:sensor-feed/lab-a")
		if len(sent) != 1 || sent[0].BatchID != oa1.BatchID || sent[0].Records || sent[0].Hash != store.HashBytes(raw) || sent[0].DecisionSeq == 0 {
			t.Errorf("notice.sent %+v", sent)
		}
	})

	t.Run("notice to another classification's destination refused, batch committed", func(t *testing.T) {
		if m, _ := filepath.Glob(filepath.Join(denied, "*")); len(m) != 0 {
			t.Fatalf("written to the denied destination: %q", m)
		}
		failed := enginetest.Details[actions.NoticeFailedDetails](t, p.Trail, "source:sensor-feed/lab-b")
		if len(failed) != 1 || failed[0].Problem != "denied" || failed[0].Queued || !strings.Contains(failed[0].Error, "egress.classification") {
			t.Fatalf("notice.failed %+v", failed)
		}
		var d actions.PolicyDecisionDetails
		for _, e := range enginetest.Entries(t, p.Trail, actions.PolicyDecision, "source:sensor-feed/lab-b") {
			d, _ = actions.Decode[actions.PolicyDecisionDetails](e)
		}
		if d.Kind != policies.KindEgress || d.Allow || !strings.Contains(string(d.Input), `"kind":"notice"`) {
			t.Errorf("the denial on record: %+v", d)
		}
		if _, err := p.Batch(ctx, ob1.BatchID); err != nil {
			t.Errorf("the batch whose notice was refused: %v", err)
		}
		if ents, _ := os.ReadDir(PendingDir(p)); len(ents) != 0 {
			t.Errorf("a denied notice stays queued: %v", ents)
		}
	})

	t.Run("crash between commit and move, restart: nothing lost, nothing run twice", func(t *testing.T) {
		a4 := land(t, p, "lab-a", "a01.jsonl", reading("22"), reading("23")) // first in name order
		land(t, p, "lab-a", "a1-again.jsonl", good, hot)                     // a1's bytes under another name
		testHook = func(step string) error {
			if step == "inbox.before-move" {
				return errors.New("killed")
			}
			return nil
		}
		_, err := NewScanner().Scan(ctx, p, Options{Workers: 1})
		testHook = nil
		if err == nil || err.Error() != "killed" {
			t.Fatalf("scan stopped with %v", err)
		}
		// Stopped after a01's commit point, before its move.
		if _, err := os.Stat(filepath.Join(p.Root, "inbox/lab-a/a01.jsonl")); err != nil || committedPerInput(t, p)[a4] != 1 {
			t.Fatalf("after the stop: a01 in the inbox: %v, committed %d times", err, committedPerInput(t, p)[a4])
		}
		// A restart: the project opened afresh, a new scanner, more files.
		p.Close()
		p2, err := engine.Open(ctx, p.Root, p.Cfg)
		if err != nil {
			t.Fatal(err)
		}
		outer.Cleanup(func() { p2.Close() })
		b3 := land(t, p2, "lab-b", "b3.jsonl", reading("24"))
		os.WriteFile(filepath.Join(p2.Root, "inbox/lab-b/b3.jsonl.done"), nil, 0o644)
		os.WriteFile(filepath.Join(p2.Root, "inbox/lab-b/b2.jsonl.done"), nil, 0o644)
		rep := scan(t, NewScanner(), p2)
		if o := outcome(t, rep, "a1-again.jsonl"); o.Status != ratchet.StatusAlreadyCommitted || o.BatchID != oa1.BatchID {
			t.Errorf("a1's bytes again: %+v", o)
		}
		for _, f := range []string{"b2.jsonl", "b3.jsonl"} {
			if o := outcome(t, rep, f); o.Status != ratchet.StatusCommitted {
				t.Errorf("%s: %+v", f, o)
			}
		}
		// a01 was committed before the stop: found committed, and moved.
		if o := outcome(t, rep, "a01.jsonl"); o.Status != ratchet.StatusAlreadyCommitted || o.Input != a4 || o.MovedTo != "processed/"+a4.Hex()+"-a01.jsonl" {
			t.Errorf("a01: %+v", o)
		}
		counts := committedPerInput(t, p2)
		for _, d := range []store.Digest{a1, b1, a4, b3} {
			if counts[d] != 1 {
				t.Errorf("input %s committed %d times", d, counts[d])
			}
		}
		if ents, _ := os.ReadDir(filepath.Join(p2.Root, "inbox/lab-a")); len(ents) != 3 { // processed/, a2.jsonl.part, .a3.jsonl.tmp
			t.Errorf("lab-a's inbox holds %d entries", len(ents))
		}
		p = p2
	})

	t.Run("undeliverable notice queued, delivered once due", func(t *testing.T) {
		away := allowed + ".away"
		os.Rename(allowed, away)
		a5 := land(t, p, "lab-a", "a5.jsonl", reading(`"warm"`))
		s := NewScanner()
		rep := scan(t, s, p)
		if o := outcome(t, rep, "a5.jsonl"); o.Status != ratchet.StatusCommitted || o.Input != a5 {
			t.Fatalf("a5 was not committed while its notice could not go: %+v", o)
		}
		if len(rep.Notices) != 1 || rep.Notices[0].Status != "queued" {
			t.Fatalf("notices %+v", rep.Notices)
		}
		if ents, _ := os.ReadDir(PendingDir(p)); len(ents) != 1 {
			t.Fatalf("queue holds %d notices", len(ents))
		}
		os.Rename(away, allowed)
		// Not due yet: the next scan leaves it (no entry every interval).
		entries := len(enginetest.Entries(t, p.Trail, "", ""))
		if rep = scan(t, s, p); len(rep.Notices) != 0 || len(enginetest.Entries(t, p.Trail, "", "")) != entries {
			t.Fatalf("a notice retried before it was due: %+v", rep.Notices)
		}
		s.now = func() time.Time { return time.Now().Add(egress.RetryPause(1)) }
		rep = scan(t, s, p)
		if len(rep.Notices) != 1 || rep.Notices[0].Status != "sent" || len(rep.Files) != 0 {
			t.Fatalf("retry: %+v", rep)
		}
		if ents, _ := os.ReadDir(PendingDir(p)); len(ents) != 0 {
			t.Errorf("queue holds %d notices after delivery", len(ents))
		}
		sent := enginetest.Details[actions.NoticeSentDetails](t, p.Trail, "source:sensor-feed/lab-a")
		if last := sent[len(sent)-1]; last.Attempt != 2 {
			t.Errorf("notice.sent %+v, want attempt 2", last)
		}
		var queued int
		for _, f := range enginetest.Details[actions.NoticeFailedDetails](t, p.Trail, "source:sensor-feed/lab-a") {
			if f.Problem == "undeliverable" && f.Queued && strings.Contains(f.Error, "is not an existing directory") {
				queued++
			}
		}
		if queued != 1 {
			t.Errorf("%d undeliverable notices on record, want 1", queued)
		}
	})

	t.Run("a file changed while read commits nothing and stays", func(t *testing.T) {
		land(t, p, "lab-a", "a6.jsonl", reading("25"))
		path := filepath.Join(p.Root, "inbox/lab-a/a6.jsonl")
		before := len(committedPerInput(t, p))
		testHook = func(step string) error {
			if step == "inbox.ingested" {
				f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
				f.WriteString(reading("26") + "\n")
				f.Close()
			}
			return nil
		}
		s := NewScanner()
		rep := scan(t, s, p)
		testHook = nil
		o := outcome(t, rep, "a6.jsonl")
		if o.Status != StatusDeferred || !strings.Contains(o.Reason, "changed while it was read") {
			t.Fatalf("a6: %+v", o)
		}
		if _, err := os.Stat(path); err != nil || len(committedPerInput(t, p)) != before {
			t.Fatalf("the changed file moved, or a batch was committed: %v", err)
		}
		def := enginetest.Details[actions.SourceDeferredDetails](t, p.Trail, "source:sensor-feed/lab-a")
		if len(def) != 1 || def[0].File != "a6.jsonl" {
			t.Fatalf("source.deferred %+v", def)
		}
		// The next scan reads it whole.
		if o := outcome(t, scan(t, s, p), "a6.jsonl"); o.Status != ratchet.StatusCommitted {
			t.Errorf("a6 next scan: %+v", o)
		}
	})

	t.Run("records in the notice when source and policy allow; a failed file", func(t *testing.T) {
		c1 := land(t, p, "lab-c", "c1.csv", "device_id,timestamp,value,unit", "AB-123456,2026-11-24T10:00:00Z,hot,celsius")
		c2 := land(t, p, "lab-c", "c2.csv") // empty but for a line break: no header row
		rep := scan(t, NewScanner(), p)
		o1, o2 := outcome(t, rep, "c1.csv"), outcome(t, rep, "c2.csv")
		if o1.Status != ratchet.StatusCommitted || o1.Quarantined != 1 {
			t.Fatalf("c1: %+v", o1)
		}
		if o2.Status != StatusFailed || o2.MovedTo != "failed/"+c2.Hex()+"-c2.csv" || o2.BatchID == "" {
			t.Fatalf("c2: %+v", o2)
		}
		reason, err := os.ReadFile(filepath.Join(p.Root, "inbox/lab-c", o2.MovedTo+".reason"))
		if err != nil || !strings.Contains(string(reason), "header") {
			t.Errorf("c2's reason: %q, %v", reason, err)
		}
		if f := enginetest.Details[actions.SourceFailedDetails](t, p.Trail, "source:csv-feed/lab-c"); len(f) != 1 || f[0].BatchID != o2.BatchID || f[0].Input != c2 {
			t.Errorf("source.failed %+v", f)
		}
		read := func(batch string) Notice {
			m, _ := filepath.Glob(filepath.Join(allowed, "lab-c", "notice-"+batch+"-*.json"))
			if len(m) != 1 {
				t.Fatalf("notices of %s: %q", batch, m)
			}
			b, _ := os.ReadFile(m[0])
			var n Notice
			if err := json.Unmarshal(b, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := read(o1.BatchID); n.SHA256 != c1.Hex() || len(n.Records) != 1 || n.Records[0].Ordinal != 1 || !strings.Contains(n.Records[0].Raw, "AB-123456,2026-11-24T10:00:00Z,hot") {
			t.Errorf("c1's notice with records: %+v", n)
		}
		if n := read(o2.BatchID); n.Status != StatusFailed || !strings.Contains(n.Error, "header") || n.SHA256 != c2.Hex() {
			t.Errorf("c2's notice: %+v", n)
		}
		for _, s := range enginetest.Details[actions.NoticeSentDetails](t, p.Trail, "source:csv-feed/lab-c") {
			if s.Records != (s.BatchID == o1.BatchID) {
				t.Errorf("notice.sent %+v", s)
			}
		}
	})

	t.Run("webhook down: notice queued, delivered once it is up", func(t *testing.T) {
		d1 := land(t, p, "lab-d", "d1.jsonl", reading(`"cold"`))
		s := NewScanner()
		rep := scan(t, s, p)
		if o := outcome(t, rep, "d1.jsonl"); o.Status != ratchet.StatusCommitted || o.Input != d1 || len(rep.Notices) != 1 || rep.Notices[0].Status != "queued" ||
			!strings.Contains(rep.Notices[0].Error, "503") {
			t.Fatalf("with the webhook down: %+v", rep)
		}
		hook.mu.Lock()
		hook.down = false
		hook.mu.Unlock()
		s.now = func() time.Time { return time.Now().Add(time.Hour) }
		rep = scan(t, s, p)
		if len(rep.Notices) != 1 || rep.Notices[0].Status != "sent" {
			t.Fatalf("with the webhook up: %+v", rep.Notices)
		}
		sent := enginetest.Details[actions.NoticeSentDetails](t, p.Trail, "source:sensor-feed/lab-d")
		hook.mu.Lock()
		defer hook.mu.Unlock()
		body := hook.files["/notices/"+sent[0].File]
		if len(sent) != 1 || sent[0].Attempt != 2 || body == nil || store.HashBytes(body) != sent[0].Hash || !strings.Contains(string(body), d1.Hex()) {
			t.Errorf("notice.sent %+v; the webhook holds %q", sent, body)
		}
	})

	t.Run("a backlog taken a few files per scan", func(t *testing.T) {
		land(t, p, "lab-a", "m1.jsonl", reading("27"))
		land(t, p, "lab-a", "m2.jsonl", reading("28"))
		s := NewScanner()
		rep, err := s.Scan(ctx, p, Options{Workers: 1, MaxFiles: 1})
		if err != nil || !rep.More || len(rep.Files) != 1 || rep.Files[0].File != "m1.jsonl" {
			t.Fatalf("first scan: %+v, %v", rep, err)
		}
		rep, err = s.Scan(ctx, p, Options{Workers: 1, MaxFiles: 1})
		if err != nil || len(rep.Files) != 1 || rep.Files[0].File != "m2.jsonl" {
			t.Fatalf("second scan: %+v, %v", rep, err)
		}
		if rep, _ = s.Scan(ctx, p, Options{Workers: 1, MaxFiles: 1}); rep.More || len(rep.Files) != 0 {
			t.Errorf("third scan: %+v", rep)
		}
	})
}

// TestQueuedNoticeKeepsItsBytes: a notice read back from the queue is
// byte for byte the one queued (a retry sends what the first attempt
// did: the outbox accepts a repeat only when its bytes are the same).
func TestQueuedNoticeKeepsItsBytes(t *testing.T) {
	report := []byte(`{"message":"value <b> & \u00e9 is not a number"}`)
	path := filepath.Join(t.TempDir(), "q.json")
	if err := writeQueued(path, &queued{Job: "j", Report: report, WithRecords: report}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var q queued
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if string(q.Report) != string(report) || string(q.WithRecords) != string(report) {
		t.Errorf("read back %q, queued %q", q.Report, report)
	}
}

// TestBackoff: the pause after each undeliverable attempt doubles from 5 s
// and stops at an hour.
func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 5: 80 * time.Second, 10: 2560 * time.Second, 11: time.Hour, 1000: time.Hour} {
		if got := egress.RetryPause(n); got != want {
			t.Errorf("RetryPause(%d) = %v, want %v", n, got, want)
		}
	}
}
