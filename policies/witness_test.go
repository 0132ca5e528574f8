package policies

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// witnessBundle is the default bundle with the witness module and one
// witness in its data.
func witnessBundle(t *testing.T, witnesses string) string {
	return egressBundle(t, WitnessFS(), "witnesses", witnesses)
}

// egressBundle is the default bundle with one more module (its files) and
// data.egress[key] set to value, JSON.
func egressBundle(t *testing.T, module fs.FS, key, value string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, DefaultFS()); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, module); err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	p := filepath.Join(dir, "data.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		t.Fatal(err)
	}
	data["egress"].(map[string]any)[key] = v
	b, _ = json.Marshal(data)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestWitnessDecisions: the shipped witness module's Rego tests pass in a
// bundle; a push to the listed witness is allowed, to another URL or with
// another key denied with the reason; the default bundle, which has no
// witness module, denies every push ("no decision"); malformed
// data.egress.witnesses refuses the bundle.
func TestWitnessDecisions(t *testing.T) {
	ctx := context.Background()
	const vkey = "witness.example/w1+01234567+BAAA"
	dir := witnessBundle(t, `{"w1": {"url": "https://witness.example/w1", "vkey": "`+vkey+`"}}`)
	rep, err := Test(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Passed < 6 {
		t.Fatalf("the witness module's tests: %d passed\n%s", rep.Passed, rep)
	}
	e, err := Open(ctx, dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ws := e.Witnesses(); len(ws) != 1 || ws[0] != (Witness{ID: "w1", URL: "https://witness.example/w1", VKey: vkey}) {
		t.Fatalf("witnesses: %+v", ws)
	}
	in := WitnessInput{Time: "2026-11-24T10:00:00Z", Principal: Principal{ID: "pawl-engine"}, Via: "https",
		Witness:    WitnessTarget{ID: "w1", URL: "https://witness.example/w1", VKey: vkey},
		Checkpoint: WitnessCheckpoint{Origin: "pawl.dev/audit/x", Size: 9, OldSize: 4}}
	if d, err := e.Decide(ctx, KindWitness, in); err != nil || !d.Allow || d.ID == "" {
		t.Fatalf("push to the listed witness: %+v, %v", d, err)
	}
	in.Witness.URL = "https://evil.example/"
	if d, err := e.Decide(ctx, KindWitness, in); err != nil || d.Allow || len(d.Deny) != 1 || !strings.HasPrefix(d.Deny[0], "witness.url:") {
		t.Fatalf("push to another URL: %+v, %v", d, err)
	}
	// The network's hub as a witness: no url, its cosignatures come over
	// the network link.
	hub, err := Open(ctx, witnessBundle(t, `{"w1": {"url": "https://witness.example/w1", "vkey": "`+vkey+`"}, "hub": {"network": true, "vkey": "`+vkey+`"}}`), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ws := hub.Witnesses(); len(ws) != 2 || ws[0] != (Witness{ID: "hub", VKey: vkey, Network: true}) || ws[1].Network {
		t.Fatalf("witnesses with the network's hub: %+v", ws)
	}
	def, err := NewEngine(ctx, mustLoadFS(t, DefaultFS()))
	if err != nil {
		t.Fatal(err)
	}
	if def.Answers(KindWitness) || len(def.Witnesses()) != 0 {
		t.Fatal("the default bundle decides witness pushes")
	}
	in.Witness.URL = "https://witness.example/w1"
	if d, err := def.Decide(ctx, KindWitness, in); err != nil || d.Allow || len(d.Deny) != 1 || !strings.Contains(d.Deny[0], "no decision") {
		t.Fatalf("the default bundle: %+v, %v", d, err)
	}
	for name, bad := range map[string]string{
		"not an object": `["w1"]`,
		"ftp url":       `{"w1": {"url": "ftp://witness.example/", "vkey": "` + vkey + `"}}`,
		"no vkey":       `{"w1": {"url": "https://witness.example/"}}`,
		"extra member":  `{"w1": {"url": "https://witness.example/", "vkey": "` + vkey + `", "trust": true}}`,
		"hub with url":  `{"hub": {"network": true, "url": "https://hub.example/", "vkey": "` + vkey + `"}}`,
		"hub not true":  `{"hub": {"network": "yes", "vkey": "` + vkey + `"}}`,
		"two hubs":      `{"a": {"network": true, "vkey": "` + vkey + `"}, "b": {"network": true, "vkey": "` + vkey + `"}}`,
	} {
		if _, err := LoadBundle(witnessBundle(t, bad), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "egress.witnesses") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
