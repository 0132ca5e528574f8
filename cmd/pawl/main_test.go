package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/validate"

	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/version"
)

// TestMain gives the projects of every test the tests' time window
// (enginetest.PastWindow): they pin as-of times in November 2026 and must
// pass on any date. TestGolden clears PAWL_* and writes the window into its
// project's pawl.yaml; the tests of the window set their own.
func TestMain(m *testing.M) {
	validate.MaybeChild() // pawl validate's crash challenge starts this binary
	os.Setenv("PAWL_TIME_WINDOW_PAST", config.FormatDuration(enginetest.PastWindow))
	os.Exit(m.Run())
}

// pawl runs one command line in process and returns its exit status and output.
func pawl(t testing.TB, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &streams{in: strings.NewReader(stdin), out: &out, err: &errb})
	if code == 0 && len(args) > 1 && args[0] == "init" {
		enginetest.UseTestCacheKey(t, filepath.Join(args[1], project.DefaultDataDir))
	}
	return code, out.String(), errb.String()
}

func mustPawl(t testing.TB, args ...string) string {
	t.Helper()
	code, out, errs := pawl(t, "", args...)
	if code != 0 {
		t.Fatalf("pawl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

const good = `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`

func TestInitRunJSONAndRerun(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"+`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":"hot","unit":"celsius"}`+"\n"), 0o644)

	var first map[string]any
	out := mustPawl(t, "-C", dir, "run", "sensor-feed", "--input", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatalf("--output json is not JSON: %v\n%s", err, out)
	}
	for k, want := range map[string]any{"status": "committed", "records_in": 2.0, "records_verified": 1.0, "records_quarantined": 1.0} {
		if first[k] != want {
			t.Errorf("%s = %v, want %v", k, first[k], want)
		}
	}
	outs, _ := first["outputs"].(map[string]any)
	if _, ok := outs["verified.jsonl"]; !ok {
		t.Errorf("outputs lack verified.jsonl: %v", first["outputs"])
	}
	var second map[string]any
	out = mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json")
	json.Unmarshal([]byte(out), &second)
	if second["status"] != "already_committed" || second["batch_id"] != first["batch_id"] {
		t.Fatalf("rerun: %v %v", second["status"], second["batch_id"])
	}

	// Standard input works and is the same batch.
	code, out, _ := pawl(t, string(mustRead(t, in)), "-C", dir, "run", "sensor-feed", "--input", "-", "--output", "json")
	var third map[string]any
	json.Unmarshal([]byte(out), &third)
	if code != 0 || third["batch_id"] != first["batch_id"] {
		t.Fatalf("stdin run: exit %d id %v", code, third["batch_id"])
	}

	id := first["batch_id"].(string)
	text := mustPawl(t, "-C", dir, "batches", "show", id[:8])
	for _, want := range []string{id, "2 in, 1 verified, 1 quarantined", "schema", "type", "verified.jsonl", "signature.json"} {
		if !strings.Contains(text, want) {
			t.Errorf("batches show lacks %q:\n%s", want, text)
		}
	}
	list := mustPawl(t, "-C", dir, "quarantine", "list")
	if !strings.Contains(list, "/value") || !strings.Contains(list, "hot") {
		t.Errorf("quarantine list:\n%s", list)
	}
	show := mustPawl(t, "-C", dir, "quarantine", "show", id, "2")
	if !strings.Contains(show, "record 2") || !strings.Contains(show, "schema/type at /value") {
		t.Errorf("quarantine show:\n%s", show)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "quarantine", "show", id, "1"); code == 0 || !strings.Contains(errs, "not in quarantine") {
		t.Errorf("show of a verified record: %d %s", code, errs)
	}
	sig := mustPawl(t, "-C", dir, "verify-signature", filepath.Join(dir, ".pawl", "batches", id, "signature.json"))
	if !strings.HasPrefix(sig, "OK") || strings.Contains(sig, "WARNING") {
		t.Errorf("verify-signature:\n%s", sig)
	}
	ver := mustPawl(t, "-C", dir, "audit", "verify")
	if !strings.Contains(ver, "everything verifies") {
		t.Errorf("audit verify:\n%s", ver)
	}
}

func mustRead(t testing.TB, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestErrorsSayWhatToDo: a one-line error, non-zero exit, and a hint.
func TestErrorsSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)

	cases := []struct {
		name  string
		setup func()
		args  []string
		code  int
		want  string
	}{
		{"unknown job", nil, []string{"-C", dir, "run", "nope", "-i", in}, 1, "known jobs: sensor-feed"},
		{"no input flag", nil, []string{"-C", dir, "run", "sensor-feed"}, 2, "input"},
		{"bad as-of", nil, []string{"-C", dir, "run", "sensor-feed", "-i", in, "--as-of", "yesterday"}, 2, "RFC 3339"},
		{"bad ordinal", nil, []string{"-C", dir, "audit", "trace", "abcdef", "0"}, 2, "1 is the first record"},
		{"not a project", nil, []string{"-C", t.TempDir(), "batches", "list"}, 1, "pawl init"},
		{"init twice", nil, []string{"init", dir}, 1, "refusing to overwrite"},
		{"unknown config key", func() {
			os.WriteFile(filepath.Join(dir, "pawl.yaml"), append(mustRead(t, filepath.Join(dir, "pawl.yaml")), []byte("colour: red\n")...), 0o644)
		}, []string{"-C", dir, "batches", "list"}, 1, "colour"},
		{"schema changed", func() {
			os.WriteFile(filepath.Join(dir, "pawl.yaml"), []byte("data_dir: .pawl\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "schemas", "sensor-reading.json"), []byte(`{"type":"object"}`), 0o644)
		}, []string{"-C", dir, "run", "sensor-feed", "-i", in}, 1, "run `pawl pin`"},
		{"schema unreadable", func() {
			os.WriteFile(filepath.Join(dir, "schemas", "sensor-reading.json"), []byte(`{"type":`), 0o644)
		}, []string{"-C", dir, "pin"}, 1, `sensor-reading.json": invalid JSON at line 1`},
		{"schema missing", func() {
			os.Remove(filepath.Join(dir, "schemas", "sensor-reading.json"))
		}, []string{"-C", dir, "run", "sensor-feed", "-i", in}, 1, "schemas/sensor-reading.json"},
		{"data dir unusable", func() {
			os.WriteFile(filepath.Join(dir, "pawl.yaml"), []byte("data_dir: "+filepath.Join(dir, "pawl.lock", "x")+"\n"), 0o644)
		}, []string{"-C", dir, "batches", "list"}, 1, "data directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			code, _, errs := pawl(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errs)
			}
			if strings.Count(strings.TrimSpace(errs), "\n") > 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("error %q: want one line mentioning %q", errs, tc.want)
			}
		})
	}
}

func TestVersionAndDemo(t *testing.T) {
	v := mustPawl(t, "version")
	for _, want := range []string{"pawl", "go1.", "sqlite", "3."} {
		if !strings.Contains(v, want) {
			t.Errorf("version lacks %q:\n%s", want, v)
		}
	}
	dir1, dir2 := filepath.Join(t.TempDir(), "d"), filepath.Join(t.TempDir(), "d")
	out1 := mustPawl(t, "demo", "--dir", dir1, "--records", "2000")
	out2 := mustPawl(t, "demo", "--dir", dir2, "--records", "2000")
	for _, want := range []string{"COMMITTED", "already_committed", "everything verifies", "signature: OK", "reason:", "where everything is"} {
		if !strings.Contains(out1, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out1)
		}
	}
	if n := strings.Count(out1, "\nrecord "); n != 3 {
		t.Errorf("demo shows %d quarantined records, want 3:\n%s", n, out1)
	}
	id := func(s string) string {
		i := strings.Index(s, "batch ")
		return s[i : i+6+32]
	}
	if id(out1) != id(out2) {
		t.Errorf("the demo is not deterministic: %s vs %s", id(out1), id(out2))
	}
}

// TestVersionSaysWhichBinary: the version comes from the build info (a
// test binary has none: the default), a linker flag overrides it, and the
// binary's sha256 is the hash of the file that runs.
func TestVersionSaysWhichBinary(t *testing.T) {
	var v map[string]string
	if err := json.Unmarshal([]byte(mustPawl(t, "version", "--output", "json")), &v); err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	sum := sha256.Sum256(mustRead(t, exe))
	if v["binary_sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("binary_sha256 %q is not the hash of %s", v["binary_sha256"], exe)
	}
	if v["pawl"] != version.Devel || v["pawl_source"] != "default" {
		t.Errorf("a test binary's version: %q from %q", v["pawl"], v["pawl_source"])
	}
	version.Version = "v9.9.9"
	t.Cleanup(func() { version.Version = "" })
	if err := json.Unmarshal([]byte(mustPawl(t, "version", "--output", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v["pawl"] != "v9.9.9" || v["pawl_source"] != "ldflags" {
		t.Errorf("the linker's version: %q from %q", v["pawl"], v["pawl_source"])
	}
}

// TestProfilesFromEnvironment: PAWL_CPUPROFILE and PAWL_MEMPROFILE write
// pprof profiles of the process (gzipped protocol buffers), and a profile
// that cannot be written is said, without stopping the command.
func TestProfilesFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	t.Setenv("PAWL_CPUPROFILE", cpu)
	t.Setenv("PAWL_MEMPROFILE", mem)
	var errb bytes.Buffer
	stop := startProfiles(&errb)
	mustPawl(t, "version")
	stop()
	for _, f := range []string{cpu, mem} {
		if b := mustRead(t, f); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s is not a gzipped profile: % x", f, b[:min(len(b), 8)])
		}
	}
	if errb.Len() > 0 {
		t.Errorf("profiles written, yet: %s", errb.String())
	}
	t.Setenv("PAWL_CPUPROFILE", filepath.Join(dir, "no-such-dir", "cpu.prof"))
	t.Setenv("PAWL_MEMPROFILE", "")
	startProfiles(&errb)()
	if got := errb.String(); !strings.Contains(got, "PAWL_CPUPROFILE") || !strings.Contains(got, "no CPU profile written") || strings.Count(got, "\n") != 1 {
		t.Errorf("an unwritable profile says: %q", got)
	}
}
