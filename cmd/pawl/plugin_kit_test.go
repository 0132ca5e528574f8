package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/build/tooltest"
)

// howToBlocks returns the fenced blocks of docs/plugin-how-to.md that
// follow a <!-- kit:NAME --> marker, by NAME.
func howToBlocks(t *testing.T) map[string]string {
	t.Helper()
	doc := string(mustRead(t, filepath.Join("..", "..", "docs", "plugin-how-to.md")))
	re := regexp.MustCompile("(?s)<!-- kit:([a-z]+) -->\n```[a-z]*\n(.*?)```")
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		out[m[1]] = m[2]
	}
	for _, k := range []string{"go", "c", "wat", "job", "project"} {
		if out[k] == "" {
			t.Fatalf("docs/plugin-how-to.md has no block marked <!-- kit:%s -->", k)
		}
	}
	return out
}

// runHowTo runs the pawl command lines of a how-to block in the current
// directory and returns the last one's output.
func runHowTo(t *testing.T, block string) string {
	t.Helper()
	var last string
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		w := shellWords(line)
		if len(w) == 0 || w[0] != "pawl" {
			t.Fatalf("how-to line %q is not a pawl command", line)
		}
		last = mustPawl(t, w[1:]...)
	}
	return last
}

// TestPluginKitThreeCommands: from `pawl plugin new` to a quarantine
// reason from the skeleton's rule in the three commands the how-to shows,
// in each language, with the toolchains build/setup-tools.sh installs (Go
// is the test's own, with no module proxy: the skeleton carries its PDK).
// The C module then goes into a project by the how-to's commands, to a
// quarantined record with the rule's reason.
func TestPluginKitThreeCommands(t *testing.T) {
	blocks := howToBlocks(t)
	want := `ok   cases.jsonl:1 empty: quarantined
       sensor.too_short on value: the value has 0 characters; at least 1 required
ok   cases.jsonl:2 long enough: verified
ok   cases.jsonl:3 absent: the job's schema decides whether it may be: verified
ok   cases.jsonl:4 another type is absent to the plugin: verified
sensor@0.1.0: 4 of 4 cases passed
`
	for _, lang := range []string{"wat", "c", "go"} {
		t.Run(lang, func(t *testing.T) {
			switch lang {
			case "wat":
				tooltest.Need(t, "wat2wasm")
			case "c":
				tooltest.Need(t, "clang-14")
				tooltest.Need(t, "wasm-ld-14")
			case "go":
				t.Setenv("GOPROXY", "off")
			}
			dir := t.TempDir()
			t.Chdir(dir)
			if got := runHowTo(t, blocks[lang]); got != want {
				t.Fatalf("pawl plugin test printed\n%s\nwant\n%s", got, want)
			}
			if lang == "go" {
				// The skeleton's own tests, natively, as its README says:
				// the rule, the strict config and config_schema in step
				// with Config.
				cmd := exec.Command("go", "test", "./...")
				cmd.Dir = "sensor"
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go test in the Go skeleton: %v\n%s", err, out)
				}
				return
			}
			if lang == "wat" {
				// A config the manifest's config_schema refuses is refused
				// before any case runs, with the host's pointer.
				if err := os.WriteFile("bad.json", []byte(`{"min_length": 3}`), 0o644); err != nil {
					t.Fatal(err)
				}
				code, out, errOut := pawl(t, "", "plugin", "test", filepath.Join("sensor", "sensor.wasm"), "--cases", filepath.Join("sensor", "cases.jsonl"), "--config", "bad.json")
				if code != 1 || out != "" || !strings.Contains(errOut, `bad.json: config does not match the plugin's config schema: /min_length`) {
					t.Fatalf("plugin test with a config outside config_schema: exit %d\n%s\n%s", code, out, errOut)
				}
			}
			// The same source, manifest and toolchain give the same bytes
			// (the Go build is left out: it costs seconds, and
			// plugins' TestReproducible shows it for Go guests).
			first := mustRead(t, filepath.Join("sensor", "sensor.wasm"))
			mustPawl(t, "plugin", "build", "sensor")
			if again := mustRead(t, filepath.Join("sensor", "sensor.wasm")); string(again) != string(first) {
				t.Fatal("a second build of the same skeleton gave other bytes")
			}
			if lang != "c" {
				return
			}
			// Into a project: add, approve, pin, run, the reason.
			mustPawl(t, "init", "proj", "--operator", "alice", "--single-person")
			if err := os.WriteFile(filepath.Join("proj", "jobs", "units.yaml"), []byte(blocks["job"]), 0o644); err != nil {
				t.Fatal(err)
			}
			readings := `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}
{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":280,"unit":"kelvin"}
`
			if err := os.WriteFile("readings.jsonl", []byte(readings), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Chdir(filepath.Join(dir, "proj"))
			got := runHowTo(t, blocks["project"])
			if !regexp.MustCompile(`(?m)^[0-9a-f]{12} +2  validate  sensor/sensor\.too_short  /unit the value has 6 characters; at least 7 required \(sensor@0\.1\.0\)$`).MatchString(got) ||
				strings.Count(strings.TrimSpace(got), "\n") != 0 {
				t.Fatalf("pawl quarantine list:\n%s", got)
			}
		})
	}
}
