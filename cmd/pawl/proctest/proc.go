package proctest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
)

// DemoAsOf is the as-of time of every batch these tests run.
var DemoAsOf = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// Main is each test package's TestMain: it gives the pawl processes
// these tests start the tests' time window (enginetest.PastWindow), so that DemoAsOf needs no reason on any
// date.
// It also removes the binaries Build made when the tests end, and those
// earlier test processes left when they were killed before they could.
func Main(m *testing.M) {
	os.Setenv("PAWL_TIME_WINDOW_PAST", config.FormatDuration(enginetest.PastWindow))
	removeLeftBuilds(os.TempDir())
	code := m.Run()
	builds.Range(func(_, v any) bool {
		if b := v.(*built); b.bin != "" {
			os.RemoveAll(filepath.Dir(b.bin))
		}
		return true
	})
	os.Exit(code)
}

// buildDirPrefix starts the name of the directory of Build's binaries, in
// the system's temporary directory: then the building process's id, so
// that a directory whose process is gone (killed by a test timeout, say)
// is known to be left behind.
const buildDirPrefix = "pawl-bin-"

// removeLeftBuilds removes, in dir, the build directories of test
// processes that no longer run (about 80 MB each). A directory of a
// process still running is kept, and so is one whose name carries no
// process id (made before the id was in the name) unless it is a day old.
func removeLeftBuilds(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), buildDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		left := false
		if pid, _, ok := strings.Cut(rest, "-"); ok {
			n, err := strconv.Atoi(pid)
			left = err == nil && n > 0 && errors.Is(syscall.Kill(n, 0), syscall.ESRCH)
		} else if fi, err := e.Info(); err == nil {
			left = time.Since(fi.ModTime()) > 24*time.Hour
		}
		if left {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// Good is a reading that passes every stage.
const Good = enginetest.GoodReading

var builds sync.Map // build tags → *built

type built struct {
	once sync.Once
	bin  string
	err  error
}

// Build builds pawl (with the given build tags) once per test binary.
func Build(t *testing.T, tags string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(tags, &built{})
	b := v.(*built)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-*", buildDirPrefix, os.Getpid()))
		if err != nil {
			b.err = err
			return
		}
		b.bin = filepath.Join(dir, "pawl")
		args := []string{"build", "-o", b.bin}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		if out, err := exec.Command("go", append(args, "github.com/pawl-dev/pawl/cmd/pawl")...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", tags, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// BuildPawl is the release build.
func BuildPawl(t *testing.T) string { return Build(t, "") }

// PawlPass runs the release build and returns its exit status and output. A
// passphrase, when given, is on file descriptor 3.
func PawlPass(t *testing.T, pass string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(BuildPawl(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if pass != "" {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString(pass + "\n")
		w.Close()
		defer r.Close()
		cmd.ExtraFiles = []*os.File{r}
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	case err != nil:
		t.Fatal(err)
	}
	if len(args) > 1 && args[0] == "init" {
		enginetest.UseTestCacheKey(t, filepath.Join(args[1], project.DefaultDataDir))
	}
	return 0, out.String(), errb.String()
}

func Pawl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return PawlPass(t, "", args...)
}

func MustPawl(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := Pawl(t, args...)
	if code != 0 {
		t.Fatalf("pawl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// Whitelist adds a destination to the project's bundle and pins it.
func Whitelist(t *testing.T, dir, id, url string, classes ...string) {
	t.Helper()
	path := filepath.Join(dir, "policies", "data.json")
	var data map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	dests := data["egress"].(map[string]any)["destinations"].(map[string]any)
	dests[id] = map[string]any{"url": url, "classifications": classes, "requires_approval": false}
	b, _ = json.MarshalIndent(data, "", "  ")
	os.WriteFile(path, b, 0o644)
	PinTwoPerson(t, dir, "whitelist "+id)
}

// changeIDRe finds the id of a change `pawl pin` proposed.
var changeIDRe = regexp.MustCompile(`change (chg-[0-9a-f]{12})`)

// PinTwoPerson runs `pawl pin` and, when the two-person rule holds a
// change back, has operator "approver" (enrolled if need be) approve it
// and applies it.
func PinTwoPerson(t *testing.T, dir, reason string) {
	t.Helper()
	const pass = "harbour violin thistle marmalade"
	out := MustPawl(t, "-C", dir, "pin", "--reason", reason)
	m := changeIDRe.FindStringSubmatch(out)
	if m == nil {
		return
	}
	if !strings.Contains(MustPawl(t, "-C", dir, "operator", "list"), "approver") {
		if code, out, errs := PawlPass(t, pass, "-C", dir, "operator", "add", "approver", "--name", "Ada Approver", "--reason", "second person", "--passphrase-fd", "3"); code != 0 {
			t.Fatalf("enrolling the approver: exit %d\n%s%s", code, out, errs)
		}
	}
	if code, out, errs := PawlPass(t, pass, "-C", dir, "change", "approve", m[1], "--operator", "approver", "--reason", "reviewed: "+reason, "--passphrase-fd", "3"); code != 0 {
		t.Fatalf("approving %s: exit %d\n%s%s", m[1], code, out, errs)
	}
	MustPawl(t, "-C", dir, "change", "apply", m[1])
}

// CommittedBatch is the id of the newest committed batch.
func CommittedBatch(t *testing.T, dir string) string {
	t.Helper()
	es := enginetest.TrailEntries(t, dir, actions.BatchCommitted, "")
	if len(es) == 0 {
		t.Fatal("no committed batch")
	}
	return strings.TrimPrefix(es[len(es)-1].Object, "batch:")
}

// QuarantinedOrdinals lists a batch's quarantined records.
func QuarantinedOrdinals(t *testing.T, dir, batch string) []int64 {
	t.Helper()
	out := MustPawl(t, "-C", dir, "quarantine", "list", batch, "--output", "json")
	var rows []struct {
		Ordinal int64 `json:"ordinal"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) == 0 {
		t.Fatalf("quarantine list: %v\n%s", err, out)
	}
	var o []int64
	for _, r := range rows {
		o = append(o, r.Ordinal)
	}
	return o
}

// KillRecords makes one run long enough for kill points to land inside it.
const KillRecords = 20000

// WriteGen writes KillRecords generated readings (seed, 2% failures,
// Unicode) into dir once, and returns the file.
func WriteGen(t *testing.T, dir string, seed uint64) string {
	t.Helper()
	path := filepath.Join(dir, "in-"+string(rune('a'+seed))+".jsonl")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := demo.GenerateSensorReadings(f, demo.GenOptions{Records: KillRecords, Seed: seed, AsOf: DemoAsOf, FailureRate: 0.02, Unicode: true}); err != nil {
		t.Fatal(err)
	}
	return path
}
