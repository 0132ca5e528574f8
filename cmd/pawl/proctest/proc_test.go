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
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
)

// demoAsOf is the as-of time of every batch these tests run.
var demoAsOf = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// TestMain gives the pawl processes these tests start the tests' time
// window (enginetest.PastWindow), so that demoAsOf needs no reason on any
// date.
func TestMain(m *testing.M) {
	os.Setenv("PAWL_TIME_WINDOW_PAST", config.FormatDuration(enginetest.PastWindow))
	os.Exit(m.Run())
}

// good is a reading that passes every stage.
const good = enginetest.GoodReading

var builds sync.Map // build tags → *built

type built struct {
	once sync.Once
	bin  string
	err  error
}

// build builds pawl (with the given build tags) once per test binary.
func build(t *testing.T, tags string) string {
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
		if out, err := exec.Command("go", append(args, "..")...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", tags, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// buildPawl is the release build.
func buildPawl(t *testing.T) string { return build(t, "") }

// pawl runs the release build and returns its exit status and output. A
// passphrase, when given, is on file descriptor 3.
func pawlPass(t *testing.T, pass string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(buildPawl(t), args...)
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

func pawl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return pawlPass(t, "", args...)
}

func mustPawl(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := pawl(t, args...)
	if code != 0 {
		t.Fatalf("pawl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// whitelist adds a destination to the project's bundle and pins it.
func whitelist(t *testing.T, dir, id, url string, classes ...string) {
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
	pinTwoPerson(t, dir, "whitelist "+id)
}

// changeIDRe finds the id of a change `pawl pin` proposed.
var changeIDRe = regexp.MustCompile(`change (chg-[0-9a-f]{12})`)

// pinTwoPerson runs `pawl pin` and, when the two-person rule holds a
// change back, has operator "approver" (enrolled if need be) approve it
// and applies it.
func pinTwoPerson(t *testing.T, dir, reason string) {
	t.Helper()
	const pass = "harbour violin thistle marmalade"
	out := mustPawl(t, "-C", dir, "pin", "--reason", reason)
	m := changeIDRe.FindStringSubmatch(out)
	if m == nil {
		return
	}
	if !strings.Contains(mustPawl(t, "-C", dir, "operator", "list"), "approver") {
		if code, out, errs := pawlPass(t, pass, "-C", dir, "operator", "add", "approver", "--name", "Ada Approver", "--reason", "second person", "--passphrase-fd", "3"); code != 0 {
			t.Fatalf("enrolling the approver: exit %d\n%s%s", code, out, errs)
		}
	}
	if code, out, errs := pawlPass(t, pass, "-C", dir, "change", "approve", m[1], "--operator", "approver", "--reason", "reviewed: "+reason, "--passphrase-fd", "3"); code != 0 {
		t.Fatalf("approving %s: exit %d\n%s%s", m[1], code, out, errs)
	}
	mustPawl(t, "-C", dir, "change", "apply", m[1])
}

// committedBatch is the id of the newest committed batch.
func committedBatch(t *testing.T, dir string) string {
	t.Helper()
	es := enginetest.TrailEntries(t, dir, actions.BatchCommitted, "")
	if len(es) == 0 {
		t.Fatal("no committed batch")
	}
	return strings.TrimPrefix(es[len(es)-1].Object, "batch:")
}

// quarantinedOrdinals lists a batch's quarantined records.
func quarantinedOrdinals(t *testing.T, dir, batch string) []int64 {
	t.Helper()
	out := mustPawl(t, "-C", dir, "quarantine", "list", batch, "--output", "json")
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
