// Package plugintest runs the committed first-party plugins through the
// real sandbox for their tests.
package plugintest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/sandbox"
)

// AsOf is the as-of time of the tests.
var AsOf = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// loaded memoises Load: compiling a Go-built module takes seconds, and
// every test of a package uses the same one. The runtimes stay open until
// the test binary exits.
var loaded struct {
	sync.Mutex
	m map[string]*sandbox.Plugin // by pin
}

// Load loads a committed .wasm, compiled once per test binary (each
// instance is still a fresh one: see Instance).
func Load(t testing.TB, path string) *sandbox.Plugin {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (build/plugins.sh builds it)", err)
	}
	pin := sandbox.Pin(b)
	loaded.Lock()
	defer loaded.Unlock()
	if p := loaded.m[pin]; p != nil {
		return p
	}
	rt, err := sandbox.NewRuntime(context.Background(), sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := rt.Load(context.Background(), b, pin)
	if err != nil {
		rt.Close(context.Background())
		t.Fatal(err)
	}
	if loaded.m == nil {
		loaded.m = map[string]*sandbox.Plugin{}
	}
	loaded.m[pin] = p
	return p
}

// Instance makes an instance with config and lookups at AsOf (and a fresh
// state, for a plugin that declares one).
func Instance(t testing.TB, p *sandbox.Plugin, config string, lookup map[string][]byte) (*sandbox.Instance, error) {
	t.Helper()
	var st sandbox.StateStore
	if p.Manifest().State != nil {
		st = sandbox.NewMemState()
	}
	return InstanceWithState(t, p, config, lookup, st)
}

// InstanceWithState makes an instance with config, lookups and state at
// AsOf.
func InstanceWithState(t testing.TB, p *sandbox.Plugin, config string, lookup map[string][]byte, st sandbox.StateStore) (*sandbox.Instance, error) {
	t.Helper()
	in, err := p.NewInstance(context.Background(), sandbox.InstanceConfig{Config: []byte(config), Lookup: lookup, AsOf: AsOf, Seed: 1, State: st})
	if err == nil {
		t.Cleanup(func() { in.Close(context.Background()) })
	}
	return in, err
}

// Rules returns the first rule of each verdict ("" for OK).
func Rules(v []sandbox.Verdict) []string {
	out := make([]string, len(v))
	for i, x := range v {
		if !x.OK {
			out[i] = x.Reasons[0].Rule
		}
	}
	return out
}
