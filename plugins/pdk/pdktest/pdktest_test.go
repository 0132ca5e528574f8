package pdktest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/plugins/pdk/pdktest"
)

func load(t *testing.T, path string) *pdktest.Plugin {
	t.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pdktest.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// The WAT plugin notblank, through the real sandbox: the column is read at
// the manifest's pointer, a value of another type is absent.
func TestRun(t *testing.T) {
	p := load(t, "../../notblank/notblank.wasm")
	out, err := p.Run(context.Background(), pdktest.Options{},
		[]byte(`{"device_id": " \t"}`), []byte(`{"device_id": "d-1"}`), []byte(`{"device_id": 7}`), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, o := range out {
		got = append(got, strings.Join(o.Rules(), ","))
	}
	if want := "notblank.blank,,,"; strings.Join(got, ",") != want {
		t.Fatalf("rules %q, want %q", strings.Join(got, ","), want)
	}
	if _, err := p.Run(context.Background(), pdktest.Options{}, []byte(`[1]`)); err == nil || !strings.Contains(err.Error(), "record 1: not a JSON object") {
		t.Fatalf("an array record: %v", err)
	}
}

// A config the plugin refuses fails the run with the plugin's words.
func TestConfigRefused(t *testing.T) {
	p := load(t, "../../range/range.wasm")
	_, err := p.Run(context.Background(), pdktest.Options{Config: []byte(`{"min": "x"}`)}, []byte(`{"value": 1}`))
	if err == nil || !strings.Contains(err.Error(), "config") {
		t.Fatalf("a refused config: %v", err)
	}
	out, err := p.Run(context.Background(), pdktest.Options{Config: []byte(`{"min": 0, "max": 10}`)}, []byte(`{"value": 11}`), []byte(`{"value": 5}`))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Verdict.OK || out[0].Rules()[0] != "range.max" || !out[1].Verdict.OK {
		t.Fatalf("range with max 10: %+v", out)
	}
}

// A record that traps is found by the host's bisection and carries the
// trap as its reason; the others keep their verdicts.
func TestTrapIsBisected(t *testing.T) {
	p := load(t, "../../../engine/sandbox/testdata/trap13.wasm")
	out, err := p.Run(context.Background(), pdktest.Options{}, []byte(`{"value": 1}`), []byte(`{"value": 13}`), []byte(`{"value": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].Verdict.OK || !out[1].Trapped || out[1].Rules()[0] != "hostile-trap13/plugin.trap" || !out[2].Verdict.OK {
		t.Fatalf("outcomes %+v", out)
	}
}

func TestCases(t *testing.T) {
	p := load(t, "../../notblank/notblank.wasm")
	f, err := os.Open("testdata/notblank.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cs, err := pdktest.ReadCases(f, "notblank.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.RunCases(context.Background(), pdktest.Options{}, cs)
	if err != nil {
		t.Fatal(err)
	}
	// The file's last three cases are wrong on purpose.
	want := []string{"", "", "",
		"expected verified, quarantined by notblank.blank",
		"expected quarantined, verified",
		"expected the rules notblank.empty, got notblank.blank"}
	if len(res) != len(want) {
		t.Fatalf("%d results for %d cases", len(res), len(want))
	}
	for i, r := range res {
		if r.Failure != want[i] {
			t.Errorf("case on line %d: failure %q, want %q", r.Case.Line, r.Failure, want[i])
		}
	}
	if res[5].Case.Line != 7 {
		t.Errorf("the last case is on line %d, want 7 (a blank line is skipped, and counted)", res[5].Case.Line)
	}
}

func TestReadCasesRefuses(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"record": {}, "expect": "ok"}`, `c.jsonl:1: "expect" is "ok": say "verified" or "quarantined"`},
		{`{"record": {}, "expect": "verified", "rules": ["x"]}`, `c.jsonl:1: a verified record breaks no rules`},
		{`{"expect": "verified"}`, `c.jsonl:1: the case has no "record"`},
		{`{"record": [], "expect": "verified"}`, `c.jsonl:1: record: not a JSON object`},
		{`{"record": {}, "expect": "verified", "why": 1}`, `c.jsonl:1: json: unknown field "why"`},
		{"\n{\"record\": {}, \"expect\": \"verified\"} {}", `c.jsonl:2: one case a line`},
		{"\n\n", `c.jsonl holds no cases`},
	} {
		_, err := pdktest.ReadCases(strings.NewReader(c.in), "c.jsonl")
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q…", c.in, err, c.want)
		}
	}
}
