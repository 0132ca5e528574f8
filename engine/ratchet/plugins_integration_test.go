package ratchet_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/plugins"
)

// TestTamperedPluginIsRefusedAndAudited: a module whose bytes no longer
// match its pin is refused before it is compiled, with both hashes, and the
// refusal is on record; nothing is committed.
func TestTamperedPluginIsRefusedAndAudited(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 50, 30))
	pins, _ := lockfile.Read(p.Root)
	pin := pins["plugin:range@1.1.0"]
	path := p.Store.Path(pin)
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 0xff
	os.Chmod(path, 0o644)
	os.WriteFile(path, b, 0o644)
	_, err := ratchet.Run(context.Background(), p, ratchet.RunOptions{Job: "sensor-feed", Input: in, AsOf: enginetest.AsOf})
	if err == nil || !strings.Contains(err.Error(), "range@1.1.0") || !strings.Contains(err.Error(), pin.Hex()) {
		t.Fatalf("want a refusal naming the plugin and its pin, got %v", err)
	}
	es, _ := p.Trail.Find(context.Background(), actions.PluginRefused, "plugin:range@1.1.0")
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
	if err != nil || added || m.ID() != "range@1.1.0" || d != store.HashBytes(plugins.FirstParty()[0].Wasm) {
		t.Fatalf("re-adding a pinned module: %v %v %v %s", err, added, m, d)
	}
	ps, err := p.Plugins(context.Background(), true)
	if err != nil || len(ps) != 4 {
		t.Fatalf("plugins: %v %d", err, len(ps))
	}
	for _, pp := range ps {
		if pp.Problem != "" {
			t.Errorf("%s: %s", pp.ID, pp.Problem)
		}
		// The first-party plugins are C and import nothing, but zscore the
		// host's state.
		want := []string(nil)
		if strings.HasPrefix(pp.ID, "zscore@") {
			want = []string{"pawl.state_get", "pawl.state_put"}
		}
		if !slices.Equal(pp.Imports, want) {
			t.Errorf("%s imports %q, want %q", pp.ID, pp.Imports, want)
		}
	}
}

// TestRefusedPluginAddLeavesNothing: a module that plugin add refuses (its
// name@version already pinned to other bytes; no manifest; not WebAssembly)
// leaves the store and pawl.lock as they were, and the refusal is a
// plugin.add_refused entry that names the module by its hash.
func TestRefusedPluginAddLeavesNothing(t *testing.T) {
	p := enginetest.NewProject(t)
	ctx := context.Background()
	rangeWasm := plugins.FirstParty()[0].Wasm
	other := append(append([]byte{}, rangeWasm...), 0, 3, 1, 'x', 0) // one more custom section: other bytes, same manifest
	noManifest := []byte("\x00asm\x01\x00\x00\x00")                  // an empty module
	cases := []struct {
		name, object, plugin, err string
		wasm                      []byte
		pinned                    store.Digest
	}{
		{"same name@version, other bytes", "plugin:range@1.1.0", "range@1.1.0", "new version", other, store.HashBytes(rangeWasm)},
		{"no manifest", "plugin:" + string(store.HashBytes(noManifest)), "", "manifest", noManifest, ""},
		{"not WebAssembly", "plugin:" + string(store.HashBytes([]byte("not wasm"))), "", "", []byte("not wasm"), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			blobs, lock := storeFiles(t, p.Store.Dir()), mustReadFile(t, p.LockPath())
			_, _, _, err := p.AddPlugin(ctx, c.wasm, "tester", "try it")
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "nothing kept or pinned") {
				t.Fatalf("want a refusal, got %v", err)
			}
			if after := storeFiles(t, p.Store.Dir()); !slices.Equal(after, blobs) {
				t.Errorf("the store changed: %d files before, %d after", len(blobs), len(after))
			}
			if p.Store.Has(store.HashBytes(c.wasm)) {
				t.Error("the refused module is in the store")
			}
			if !bytes.Equal(mustReadFile(t, p.LockPath()), lock) {
				t.Error("pawl.lock changed")
			}
			es, err := p.Trail.Find(ctx, actions.PluginAddRefused, c.object)
			if err != nil || len(es) != 1 {
				t.Fatalf("%s %s entries: %v %+v", actions.PluginAddRefused, c.object, err, es)
			}
			det, err := actions.Decode[actions.PluginAddRefusedDetails](es[0])
			if err != nil {
				t.Fatal(err)
			}
			if det.Plugin != c.plugin || det.Hash != store.HashBytes(c.wasm) || det.Pinned != c.pinned || det.Error == "" ||
				es[0].Operator != "tester" || es[0].Reason != "try it" {
				t.Errorf("entry: %+v %+v", es[0], det)
			}
		})
	}
}

// storeFiles lists every file under the store, temporary ones included.
func storeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
