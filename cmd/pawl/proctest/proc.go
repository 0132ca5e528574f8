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
	"strings"
	"sync"
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
func Main(m *testing.M) {
	os.Setenv("PAWL_TIME_WINDOW_PAST", config.FormatDuration(enginetest.PastWindow))
	os.Exit(m.Run())
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
		dir, err := os.MkdirTemp("", "pawl-bin-*")
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
