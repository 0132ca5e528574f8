package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

var ctx = context.Background()

func newTrail(t testing.TB) (*Trail, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "audit.db")
	tr, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, p
}

func mustAppend(t testing.TB, tr *Trail, e Entry) Entry {
	t.Helper()
	got, err := tr.Append(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustVerifyOK(t testing.TB, tr *Trail) *Report {
	t.Helper()
	rep, err := tr.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("Verify: entry %d: %s", rep.FirstBad, rep.Problem)
	}
	return rep
}

func fillTrail(t testing.TB, tr *Trail, n int) []Entry {
	t.Helper()
	var out []Entry
	for i := range n {
		out = append(out, mustAppend(t, tr, Entry{
			Operator: "alice",
			Action:   "batch.committed",
			Object:   fmt.Sprintf("batch:%d", i),
			Reason:   "scheduled run",
			Details:  fmt.Appendf(nil, `{"records":%d,"quarantined":0}`, i*10),
		}))
	}
	return out
}

func TestNewTrailHasGenesis(t *testing.T) {
	tr, _ := newTrail(t)
	g, err := tr.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if g.Action != ActionTrailCreated || g.Operator != SystemOperator || g.PrevHash != GenesisPrevHash {
		t.Fatalf("genesis = %+v", g)
	}
	var d genesisDetails
	if err := json.Unmarshal(g.Details, &d); err != nil {
		t.Fatal(err)
	}
	if d.TrailID != tr.ID() || len(d.TrailID) != 32 || d.SchemaVersion != 1 || tr.SchemaVersion() != 1 {
		t.Fatalf("genesis details %s, trail id %s", g.Details, tr.ID())
	}
	rep := mustVerifyOK(t, tr)
	if rep.Entries != 1 || rep.Head != g.Hash || rep.TrailID != tr.ID() {
		t.Fatalf("report %+v", rep)
	}
}

func TestAppendAndVerifyChain(t *testing.T) {
	tr, _ := newTrail(t)
	before := time.Now().UTC()
	entries := fillTrail(t, tr, 25)
	prev, err := tr.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if e.Seq != int64(i+2) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if e.PrevHash != prev.Hash {
			t.Fatalf("entry %d prev %s, want %s", e.Seq, e.PrevHash, prev.Hash)
		}
		if e.Hash != ComputeHash(e) {
			t.Fatalf("entry %d: returned hash does not follow the documented encoding", e.Seq)
		}
		if e.Time.Location() != time.UTC || e.Time.Before(before.Truncate(time.Second)) || e.OSUser == "" {
			t.Fatalf("entry %d: time %v os user %q", e.Seq, e.Time, e.OSUser)
		}
		got, err := tr.Get(ctx, e.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !entriesEqual(got, e) {
			t.Fatalf("Get(%d) = %+v, Append returned %+v", e.Seq, got, e)
		}
		prev = e
	}
	head, err := tr.Head(ctx)
	if err != nil || !entriesEqual(head, entries[len(entries)-1]) {
		t.Fatalf("Head = %+v, %v", head, err)
	}
	rep := mustVerifyOK(t, tr)
	if rep.Entries != 26 || rep.Head != head.Hash {
		t.Fatalf("report %+v", rep)
	}
	if _, err := tr.Get(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(99) = %v, want ErrNotFound", err)
	}
}

func entriesEqual(a, b Entry) bool {
	return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.Operator == b.Operator && a.OSUser == b.OSUser &&
		a.Action == b.Action && a.Object == b.Object && a.Reason == b.Reason &&
		bytes.Equal(a.Details, b.Details) && a.PrevHash == b.PrevHash && a.Hash == b.Hash
}

func TestAppendStoresCanonicalDetailsAndGivenTime(t *testing.T) {
	when := time.Date(2025, 6, 1, 9, 0, 0, 123, time.FixedZone("X", -5*3600))
	clock := setClock(t, when.Add(-time.Minute)) // the genesis entry
	tr, _ := newTrail(t)
	e := mustAppend(t, tr, Entry{
		Time: when, Operator: "bob", OSUser: "svc", Action: "pin.changed", Object: "file:jobs/x.yaml",
		Details: []byte(` { "to" : "sha256:bb", "from" : "sha256:aa" } `),
	})
	if string(e.Details) != `{"from":"sha256:aa","to":"sha256:bb"}` {
		t.Fatalf("details stored as %s", e.Details)
	}
	if !e.Time.Equal(when) || e.Time.Location() != time.UTC || e.OSUser != "svc" {
		t.Fatalf("time %v, os user %q", e.Time, e.OSUser)
	}
	var raw string
	tr.r.QueryRow("SELECT time FROM entries WHERE seq = ?", e.Seq).Scan(&raw)
	if raw != "2025-06-01T14:00:00.000000123Z" {
		t.Fatalf("time stored as %q", raw)
	}
	clock.set(when.Add(time.Second))
	e2 := mustAppend(t, tr, Entry{Operator: "bob", Action: "project.init", Object: "project"})
	if string(e2.Details) != "{}" {
		t.Fatalf("nil details stored as %q", e2.Details)
	}
	mustVerifyOK(t, tr)
}

func TestAppendRefuses(t *testing.T) {
	tr, _ := newTrail(t)
	cases := []struct {
		e    Entry
		want string
	}{
		{Entry{Action: "project.init"}, "operator required"},
		{Entry{Operator: "a"}, "action required"},
		{Entry{Operator: "a", Action: ActionTrailCreated}, "reserved"},
		{Entry{Operator: "a", Action: "trail.anything"}, "reserved"},
		{Entry{Operator: "a", Action: "project.init", Seq: 5}, "assigned by Append"},
		{Entry{Operator: "a", Action: "project.init", Hash: "sha256:00"}, "assigned by Append"},
		{Entry{Operator: "a", Action: "project.init", Details: []byte(`[1]`)}, "must be an object, found an array"},
		{Entry{Operator: "a", Action: "project.init", Details: []byte(`{"a":1,"a":2}`)}, "duplicate key"},
		{Entry{Operator: "a", Action: "project.init", Details: []byte(`{`)}, "details"},
		{Entry{Operator: "a\xff", Action: "project.init"}, "not valid UTF-8"},
		{Entry{Operator: "a", Action: "project.init", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "outside years"},
	}
	for _, c := range cases {
		_, err := tr.Append(ctx, c.e)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Append(%+v) = %v, want error containing %q", c.e, err, c.want)
		}
	}
	rep := mustVerifyOK(t, tr)
	if rep.Entries != 1 {
		t.Fatalf("refused appends left %d entries", rep.Entries)
	}
}

func TestFindAndList(t *testing.T) {
	tr, _ := newTrail(t)
	add := func(op, action, object string) Entry {
		return mustAppend(t, tr, Entry{Operator: op, Action: action, Object: object})
	}
	a := add("alice", "batch.committed", "batch:1")
	add("bob", "batch.failed", "batch:2")
	c := add("alice", "batch.committed", "batch:1")
	add("alice", "pin.changed", "file:jobs/x.yaml")
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	e := add("bob", "batch.committed", "batch:10")
	add("carol", "pin.changed", "file:jobs/BATCH%_")

	seqs := func(es []Entry, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, e := range es {
			s = append(s, strconv.FormatInt(e.Seq, 10))
		}
		return strings.Join(s, ",")
	}
	if got, want := seqs(tr.Find(ctx, "batch.committed", "batch:1")), fmt.Sprintf("%d,%d", a.Seq, c.Seq); got != want {
		t.Errorf("Find = %s, want %s", got, want)
	}
	checks := []struct {
		f    Filter
		want string
	}{
		{Filter{Action: "batch.committed"}, "2,4,6"},
		{Filter{ObjectPrefix: "batch:1"}, "2,4,6"},
		{Filter{ObjectPrefix: "batch:"}, "2,3,4,6"},
		{Filter{ObjectPrefix: "BATCH"}, ""}, // case-sensitive, unlike LIKE
		{Filter{ObjectPrefix: "file:jobs/BATCH%"}, "7"},
		{Filter{ObjectPrefix: "file:jobs/B_TCH"}, ""}, // _ is not a wildcard
		{Filter{Operator: "bob"}, "3,6"},
		{Filter{Since: mid}, fmt.Sprintf("%d,7", e.Seq)},
		{Filter{Operator: "alice", Limit: 2}, "2,4"},
		{Filter{Action: "batch.committed", AfterSeq: 2}, "4,6"},
		{Filter{AfterSeq: 7}, ""},
		{Filter{Action: "batch.committed", ObjectPrefix: "batch:1", Operator: "bob"}, "6"},
		{Filter{}, "1,2,3,4,5,6,7"},
	}
	for _, c := range checks {
		if got := seqs(tr.List(ctx, c.f)); got != c.want {
			t.Errorf("List(%+v) = %s, want %s", c.f, got, c.want)
		}
	}
}

func TestConnectionSettings(t *testing.T) {
	tr, _ := newTrail(t)
	for _, db := range []*sql.DB{tr.w, tr.r} {
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"synchronous":  "2", // FULL
			"foreign_keys": "1",
			"busy_timeout": strconv.Itoa(busyTimeoutMS),
		} {
			var got string
			if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
			}
		}
	}
	var appID int64
	tr.r.QueryRow("PRAGMA application_id").Scan(&appID)
	if appID != applicationID {
		t.Errorf("application_id = %#x", appID)
	}
}

func TestConcurrentAppendsGoroutines(t *testing.T) {
	tr, _ := newTrail(t)
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := tr.Append(ctx, Entry{Operator: fmt.Sprintf("w%d", w), Action: "batch.committed", Object: fmt.Sprintf("batch:%d-%d", w, i)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	// Readers run alongside the writers: Verify must see a consistent
	// snapshot, never a half-written chain.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			rep, err := tr.Verify(ctx)
			if err != nil {
				errs <- err
				return
			}
			if !rep.OK {
				errs <- fmt.Errorf("Verify during appends: %s", rep.Problem)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := mustVerifyOK(t, tr)
	if rep.Entries != 1+workers*each {
		t.Fatalf("%d entries, want %d", rep.Entries, 1+workers*each)
	}
}

func TestTwoHandlesSameFile(t *testing.T) {
	tr1, p := newTrail(t)
	tr2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	if tr1.ID() != tr2.ID() {
		t.Fatal("second Open changed the trail id")
	}
	const each = 40
	var wg sync.WaitGroup
	for i, tr := range []*Trail{tr1, tr2, tr1, tr2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if _, err := tr.Append(ctx, Entry{Operator: "h" + strconv.Itoa(i), Action: "batch.committed", Object: fmt.Sprintf("batch:%d", j)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, tr := range []*Trail{tr1, tr2} {
		if rep := mustVerifyOK(t, tr); rep.Entries != 1+4*each {
			t.Fatalf("%d entries, want %d", rep.Entries, 1+4*each)
		}
	}
}

// TestHelperProcessAppend is not a test: it is the body of the child
// processes started by TestConcurrentAppendsProcesses.
func TestHelperProcessAppend(t *testing.T) {
	path := os.Getenv("PAWL_AUDIT_HELPER_TRAIL")
	if path == "" {
		t.Skip("helper process only")
	}
	n, _ := strconv.Atoi(os.Getenv("PAWL_AUDIT_HELPER_N"))
	who := os.Getenv("PAWL_AUDIT_HELPER_WHO")
	tr, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := range n {
		if _, err := tr.Append(ctx, Entry{Operator: who, Action: "batch.committed", Object: fmt.Sprintf("batch:%s-%d", who, i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConcurrentAppendsProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	// The file does not exist yet: the processes race to create it too.
	p := filepath.Join(t.TempDir(), "audit.db")
	const procs, each = 4, 25
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessAppend$", "-test.count=1")
			cmd.Env = append(os.Environ(),
				"PAWL_AUDIT_HELPER_TRAIL="+p,
				"PAWL_AUDIT_HELPER_N="+strconv.Itoa(each),
				"PAWL_AUDIT_HELPER_WHO=proc"+strconv.Itoa(i))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("process %d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	tr, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rep := mustVerifyOK(t, tr)
	if rep.Entries != 1+procs*each {
		t.Fatalf("%d entries, want %d (one genesis: the trail was created once)", rep.Entries, 1+procs*each)
	}
	for i := range procs {
		es, err := tr.List(ctx, Filter{Operator: "proc" + strconv.Itoa(i)})
		if err != nil || len(es) != each {
			t.Fatalf("process %d: %d entries, %v", i, len(es), err)
		}
	}
}

// TestOSUserIsTheAccount: an entry's os_user is the account the process
// runs as, not what $USER claims.
func TestOSUserIsTheAccount(t *testing.T) {
	u, err := user.Current()
	if err != nil || u.Username == "" || u.Username == "someone-else" {
		t.Skipf("no usable account name here: %+v %v", u, err)
	}
	p := filepath.Join(t.TempDir(), "audit.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessAppend$", "-test.count=1")
	cmd.Env = append(os.Environ(), "USER=someone-else", "PAWL_AUDIT_HELPER_TRAIL="+p, "PAWL_AUDIT_HELPER_N=1", "PAWL_AUDIT_HELPER_WHO=alice")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	tr, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	es, err := tr.List(ctx, Filter{Operator: "alice"})
	if err != nil || len(es) != 1 || es[0].OSUser != u.Username {
		t.Fatalf("entries %+v (%v), want one with os_user %q", es, err, u.Username)
	}
}

func TestTriggersBlockUpdateAndDelete(t *testing.T) {
	tr, p := newTrail(t)
	fillTrail(t, tr, 3)
	raw, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, stmt := range []string{
		"UPDATE entries SET reason = 'nothing happened' WHERE seq = 2",
		"DELETE FROM entries WHERE seq = 4",
		"DELETE FROM entries",
		"UPDATE meta SET value = '2' WHERE key = 'schema_version'",
		"DELETE FROM meta WHERE key = 'trail_id'",
		// REPLACE deletes without firing delete triggers; the insert
		// guard must catch it.
		"INSERT OR REPLACE INTO entries SELECT * FROM entries WHERE seq = 2",
		"REPLACE INTO entries SELECT * FROM entries WHERE seq = 4",
		"INSERT OR REPLACE INTO entries SELECT seq + 1, time, operator, os_user, action, object, reason, details, hash, hash FROM entries WHERE seq = 4",
		"INSERT INTO entries SELECT 5, time, operator, os_user, action, object, reason, details, prev_hash, 'sha256:x' FROM entries WHERE seq = 4",
		"INSERT INTO entries (seq, time, operator, os_user, action, object, reason, details, prev_hash, hash) VALUES (2, 't', 'o', '', 'a', '', '', '{}', 'p', 'h') ON CONFLICT (seq) DO UPDATE SET reason = 'x'",
		"INSERT OR REPLACE INTO meta (key, value) VALUES ('trail_id', 'forged')",
	} {
		_, err := raw.Exec(stmt)
		if err == nil || !strings.Contains(err.Error(), "audit trail is append-only") {
			t.Errorf("%s: %v, want the append-only error", stmt, err)
		}
	}
	rep := mustVerifyOK(t, tr)
	if rep.Entries != 4 {
		t.Fatalf("%d entries", rep.Entries)
	}
}

func fileFingerprint(t *testing.T, p string) (string, time.Time) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%x (%d bytes)", sum, len(b)), fi.ModTime()
}

func TestOpenReadOnlyDoesNotModify(t *testing.T) {
	p := filepath.Join(t.TempDir(), "audit.db")
	tr, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fillTrail(t, tr, 10)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	sum0, mtime0 := fileFingerprint(t, p)
	time.Sleep(10 * time.Millisecond) // so an mtime change would show

	ro, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	rep := mustVerifyOK(t, ro)
	if rep.Entries != 11 {
		t.Fatalf("%d entries", rep.Entries)
	}
	if _, err := ro.List(ctx, Filter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Append(ctx, Entry{Operator: "x", Action: "project.init"}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Append on read-only trail = %v", err)
	}
	// Even raw SQL through its connections cannot write.
	if _, err := ro.r.Exec("INSERT INTO meta (key, value) VALUES ('x', 'y')"); err == nil {
		t.Fatal("read-only connection accepted an INSERT")
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	sum1, mtime1 := fileFingerprint(t, p)
	if sum0 != sum1 || !mtime0.Equal(mtime1) {
		t.Fatalf("OpenReadOnly changed the file: %s %v -> %s %v", sum0, mtime0, sum1, mtime1)
	}

	if _, err := OpenReadOnly(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Fatal("OpenReadOnly created a missing trail")
	}
}

func TestOpenReadOnlySeesLiveWriter(t *testing.T) {
	tr, p := newTrail(t)
	fillTrail(t, tr, 3)
	ro, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if rep := mustVerifyOK(t, ro); rep.Entries != 4 {
		t.Fatalf("%d entries", rep.Entries)
	}
	fillTrail(t, tr, 2)
	if rep := mustVerifyOK(t, ro); rep.Entries != 6 {
		t.Fatalf("%d entries after more appends", rep.Entries)
	}
}

func TestOpenRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()

	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("this is not a database, it is a long enough text file\n"), 0o644)

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite3", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'x')"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	foreignApp := filepath.Join(dir, "foreign.db")
	db, _ = sql.Open("sqlite3", foreignApp)
	db.Exec("PRAGMA application_id = 1234; CREATE TABLE t (x)")
	db.Close()

	for _, p := range []string{text, other, foreignApp} {
		sum0, mtime0 := fileFingerprint(t, p)
		for name, open := range map[string]func(string) (*Trail, error){"Open": Open, "OpenReadOnly": OpenReadOnly} {
			tr, err := open(p)
			if err == nil {
				tr.Close()
				t.Fatalf("%s(%s) succeeded", name, filepath.Base(p))
			}
			if !errors.Is(err, ErrNotTrail) || !strings.Contains(err.Error(), p) {
				t.Errorf("%s(%s) = %v, want ErrNotTrail naming the path", name, filepath.Base(p), err)
			}
			// And why: someone else's application, or a database of no application.
			if why := map[string]string{other: "an SQLite database with 1 schema objects and no pawl application_id",
				foreignApp: fmt.Sprintf("SQLite application_id is 0x4d2, not pawl's %#x", applicationID)}[p]; !strings.Contains(err.Error(), why) {
				t.Errorf("%s(%s) = %v, want it to say %q", name, filepath.Base(p), err, why)
			}
		}
		if sum1, mtime1 := fileFingerprint(t, p); sum0 != sum1 || !mtime0.Equal(mtime1) {
			t.Errorf("refusing %s changed it", filepath.Base(p))
		}
	}
	if _, err := Open(dir); !errors.Is(err, ErrNotTrail) {
		t.Errorf("Open(directory) = %v", err)
	}

	// An empty file (e.g. from touch) becomes a trail.
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o644)
	tr, err := Open(empty)
	if err != nil {
		t.Fatalf("Open(empty file) = %v", err)
	}
	tr.Close()
}

func TestReopenKeepsIdentity(t *testing.T) {
	tr, p := newTrail(t)
	fillTrail(t, tr, 2)
	id := tr.ID()
	tr.Close()
	tr2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	if tr2.ID() != id {
		t.Fatal("reopen changed the trail id")
	}
	if rep := mustVerifyOK(t, tr2); rep.Entries != 3 {
		t.Fatalf("%d entries after reopen", rep.Entries)
	}
}

// TestMigrationFramework exercises the upgrade path with a stand-in
// version 2, and the refusal of a newer schema by the real build.
func TestMigrationFramework(t *testing.T) {
	tr, p := newTrail(t)
	fillTrail(t, tr, 2)
	tr.Close()

	orig := migrations
	t.Cleanup(func() { migrations = orig })
	migrations = append(append([]migration(nil), orig...), migration{version: 2, up: func(context.Context, *sql.Tx) error { return nil }})

	// Opening never migrates: the writer refuses with the command that
	// does, and a read-only open reads the old schema as it is.
	before, _ := os.ReadFile(p)
	if _, err := Open(p); !errors.Is(err, ErrOldSchema) || !strings.Contains(err.Error(), "pawl audit migrate") {
		t.Fatalf("Open of an older trail = %v, want ErrOldSchema naming pawl audit migrate", err)
	}
	ro, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	if ro.SchemaVersion() != 1 {
		t.Fatalf("a read-only open reads schema version %d", ro.SchemaVersion())
	}
	ro.Close()
	if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
		t.Fatal("refusing to migrate changed the file")
	}

	tr2, err := Migrate(p)
	if err != nil {
		t.Fatal(err)
	}
	if tr2.SchemaVersion() != 2 {
		t.Fatalf("schema version %d after migration", tr2.SchemaVersion())
	}
	head, _ := tr2.Head(ctx)
	if head.Action != ActionTrailMigrated || string(head.Details) != `{"from":1,"to":2}` || head.Seq != 4 {
		t.Fatalf("migration entry %+v", head)
	}
	mustVerifyOK(t, tr2)
	tr2.Close()

	// Opening again does not migrate twice.
	tr3, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if rep := mustVerifyOK(t, tr3); rep.Entries != 4 {
		t.Fatalf("%d entries after reopening", rep.Entries)
	}
	tr3.Close()

	migrations = orig
	for name, open := range map[string]func(string) (*Trail, error){"Open": Open, "OpenReadOnly": OpenReadOnly} {
		_, err := open(p)
		if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "schema version 2") {
			t.Errorf("%s of a newer trail = %v, want ErrNewerSchema", name, err)
		}
	}
}

func TestPathWithURISyntax(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd ?dir# 100%")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "audit?.db")
	tr, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fillTrail(t, tr, 1)
	tr.Close()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("trail not created at the literal path: %v", err)
	}
	ro, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	mustVerifyOK(t, ro)
}

func TestContextCancelled(t *testing.T) {
	tr, _ := newTrail(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tr.Append(c, Entry{Operator: "a", Action: "project.init"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with cancelled context = %v", err)
	}
	mustVerifyOK(t, tr)
}

// TestClosedTrailIsOneFile: once closed, the trail is one self-contained
// file: the write-ahead log is folded into it and removed, so the file alone
// can be copied and handed over.
func TestClosedTrailIsOneFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "audit.db")
	tr, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fillTrail(t, tr, 5)
	if _, err := tr.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(p + side); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left after Close: %v", filepath.Base(p+side), err)
		}
	}
	b, _ := os.ReadFile(p)
	alone := filepath.Join(t.TempDir(), "copy.db")
	os.WriteFile(alone, b, 0o600)
	if rep := verifyFile(t, alone); !rep.OK || rep.Entries != 6 {
		t.Fatalf("the file alone: %+v", rep)
	}
}

// TestOpenWaitsToSwitchToWAL: switching a trail to WAL mode needs the file
// to itself; while another connection is in the middle of a write
// transaction, SQLite answers busy at once instead of waiting. Open retries
// within the busy timeout instead of failing.
func TestOpenWaitsToSwitchToWAL(t *testing.T) {
	tr, p := newTrail(t)
	fillTrail(t, tr, 2)
	tr.Close()
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode = DELETE").Scan(&mode); err != nil || mode != "delete" {
		t.Fatalf("journal_mode: %s %v", mode, err)
	}
	writer, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	if _, err := writer.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		writer.ExecContext(ctx, "ROLLBACK")
		close(released)
	}()
	tr2, err := Open(p)
	<-released
	if err != nil {
		t.Fatalf("Open while another connection writes: %v", err)
	}
	defer tr2.Close()
	if err := tr2.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode after Open: %s %v", mode, err)
	}
	mustVerifyOK(t, tr2)
}
