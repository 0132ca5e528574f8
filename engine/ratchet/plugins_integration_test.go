package ratchet_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/plugins"
)

// TestTamperedPluginIsRefusedAndAudited: a module whose bytes no longer
// match its pin is refused before it is compiled, with both hashes, and the
// refusal is on record; nothing is committed.
func TestTamperedPluginIsRefusedAndAudited(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 50, 30))
	pins, _ := lockfile.Read(p.Root)
	pin := pins["plugin:range@1.0.0"]
	path := p.Store.Path(pin)
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 0xff
	os.Chmod(path, 0o644)
	os.WriteFile(path, b, 0o644)
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	if err == nil || !strings.Contains(err.Error(), "range@1.0.0") || !strings.Contains(err.Error(), pin.Hex()) {
		t.Fatalf("want a refusal naming the plugin and its pin, got %v", err)
	}
	es, _ := p.Trail.Find(context.Background(), actions.PluginRefused, "plugin:range@1.0.0")
	if len(es) != 1 {
		t.Fatalf("refusal not on record: %+v", es)
	}
	if bs, _ := p.Batches(context.Background()); len(bs) != 0 {
		t.Fatal("a batch was committed with a tampered plugin")
	}
}

func TestAddPlugin(t *testing.T) {
	p := enginetest.NewProject(t)
	m, d, added, err := p.AddPlugin(context.Background(), plugins.FirstParty()[0].Wasm, "tester", "")
	if err != nil || added || m.ID() != "range@1.0.0" {
		t.Fatalf("re-adding a pinned module: %v %v %v", err, added, m)
	}
	other := append([]byte{}, plugins.FirstParty()[0].Wasm...)
	other = append(other, 0, 3, 1, 'x', 0) // one more custom section: other bytes, same manifest
	if _, _, _, err := p.AddPlugin(context.Background(), other, "tester", ""); err == nil || !strings.Contains(err.Error(), "new version") {
		t.Fatalf("same name@version, other bytes: %v", err)
	}
	if _, _, _, err := p.AddPlugin(context.Background(), []byte("not wasm"), "tester", ""); err == nil {
		t.Fatal("a file that is not WebAssembly was pinned")
	}
	ps, err := p.Plugins(context.Background(), true)
	if err != nil || len(ps) != 4 {
		t.Fatalf("plugins: %v %d", err, len(ps))
	}
	for _, pp := range ps {
		if pp.Problem != "" || len(pp.Imports) == 0 {
			t.Errorf("%s: %s", pp.ID, pp.Problem)
		}
	}
	_ = d
}
