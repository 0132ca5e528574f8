package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/pdk"
	"github.com/pawl-dev/pawl/plugins/pdk/state"
)

// Validator is an initialised plugin that judges batches: a
// *sandbox.Instance of the committed module, or a *Native.
type Validator interface {
	Validate(ctx context.Context, b *sandbox.Batch) ([]sandbox.Verdict, error)
}

// Impl is one way of running a plugin: its Go code in the test process
// ("native", which is what measures the source's coverage), or its
// committed module in the sandbox ("wasm"). Running every case both ways
// checks the source and the committed module against the same table, so
// a change to the source that was not rebuilt fails one of the two.
type Impl struct {
	Name     string
	Manifest *sandbox.Manifest
	// New initialises an instance with config ("" means "{}") and
	// lookups, at AsOf with seed 1, and, when the manifest declares
	// state, a fresh empty state. Both ways fail with a
	// *sandbox.Error of KindConfig when the plugin refuses them.
	New func(t testing.TB, config string, lookup map[string][]byte) (Validator, error)
	// WithState is New with the given state (a plugin that declares
	// state).
	WithState func(t testing.TB, config string, lookup map[string][]byte, st sandbox.StateStore) (Validator, error)
}

// Impls returns the plugin's two ways: newPlugin's value (what the
// module's wasm/main.go registers) run natively with the manifest.json
// beside wasmFile, and the committed wasmFile in the sandbox. It fails
// the test when the module's embedded manifest is not that manifest.json.
func Impls(t testing.TB, wasmFile string, newPlugin func() pdk.Plugin) []Impl {
	t.Helper()
	m := ReadManifestJSON(t, filepath.Join(filepath.Dir(wasmFile), "manifest.json"))
	p := Load(t, wasmFile)
	if !reflect.DeepEqual(m, p.Manifest()) {
		t.Fatalf("%s embeds another manifest than manifest.json: run build/plugins.sh", wasmFile)
	}
	fresh := func() sandbox.StateStore {
		if m.State == nil {
			return nil
		}
		return sandbox.NewMemState()
	}
	native := func(t testing.TB, config string, lookup map[string][]byte, st sandbox.StateStore) (Validator, error) {
		n, err := NewNative(newPlugin(), m, config, lookup)
		if err != nil {
			return nil, err // a nil *Native must not become a non-nil Validator
		}
		n.State = st
		return n, nil
	}
	wasm := func(t testing.TB, config string, lookup map[string][]byte, st sandbox.StateStore) (Validator, error) {
		in, err := InstanceWithState(t, p, config, lookup, st)
		if err != nil {
			return nil, err
		}
		return in, nil
	}
	return []Impl{
		{"native", m, func(t testing.TB, config string, lookup map[string][]byte) (Validator, error) {
			return native(t, config, lookup, fresh())
		}, native},
		{"wasm", p.Manifest(), func(t testing.TB, config string, lookup map[string][]byte) (Validator, error) {
			return wasm(t, config, lookup, fresh())
		}, wasm},
	}
}

// ReadManifestJSON reads a plugin's manifest.json.
func ReadManifestJSON(t testing.TB, path string) *sandbox.Manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &sandbox.Manifest{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// Native runs a plugin's Go code in the test process through the wire
// format of the ABI, as pdk's wasip1 exports do in the guest: the host
// encodes the batch (sandbox.Batch.Encode), pdk.Run decodes it and calls
// Validate, and the host decodes the result with every check it applies
// to a guest (sandbox.DecodeResult).
type Native struct {
	p pdk.Plugin
	m *sandbox.Manifest
	r *pdk.Result
	// State is the plugin's state (Batch.State), for a plugin whose
	// manifest declares it.
	State sandbox.StateStore
}

// NewNative initialises p as the guest kit would: config "" is "{}", the
// lookups are never nil, the as-of time is AsOf and the seed 1. A refusal
// is a *sandbox.Error of KindConfig, like the sandbox's. The host's own
// checks of the lookups against the manifest are not made, so that the
// plugin's are reached.
func NewNative(p pdk.Plugin, m *sandbox.Manifest, config string, lookup map[string][]byte) (*Native, error) {
	if strings.TrimSpace(config) == "" {
		config = "{}"
	}
	if lookup == nil {
		lookup = map[string][]byte{}
	}
	if err := p.Init(pdk.Init{Config: []byte(config), Lookups: lookup, AsOf: AsOf, Seed: 1}); err != nil {
		return nil, &sandbox.Error{Plugin: m.ID(), Op: "init", Kind: sandbox.KindConfig, Detail: err.Error()}
	}
	return &Native{p: p, m: m, r: pdk.NewResult(0)}, nil
}

// Validate judges b at AsOf. A panic of the plugin is returned as a
// *sandbox.Error of KindTrap, as the sandbox reports a guest's.
func (n *Native) Validate(ctx context.Context, b *sandbox.Batch) (v []sandbox.Verdict, err error) {
	msg, err := b.Encode(n.m.Fields, AsOf)
	if err != nil {
		return nil, err
	}
	defer func() {
		if x := recover(); x != nil {
			v, err = nil, &sandbox.Error{Plugin: n.m.ID(), Op: "validate", Kind: sandbox.KindTrap, Detail: fmt.Sprint("panic: ", x), Records: b.N, First: b.First}
		}
	}()
	if n.State != nil {
		state.Use(n.State)
		defer state.Use(nil)
	}
	out, err := pdk.Run(n.p, msg, n.r)
	if err != nil {
		return nil, err
	}
	// The batch's strings are views of msg, valid only during the call
	// (pdk.Strings.Get): scribble over it so that a plugin keeping one
	// sees garbage in the next call, not a value that happens to last.
	for i := range msg {
		msg[i] = 0xA5
	}
	return sandbox.DecodeResult(out, b.N, n.m)
}

// Run makes an instance of impl with config and lookup, validates the
// batches in order on it and returns the Reasons of all their records.
func Run(t testing.TB, impl Impl, config string, lookup map[string][]byte, batches ...*sandbox.Batch) []string {
	t.Helper()
	in, err := impl.New(t, config, lookup)
	if err != nil {
		t.Fatalf("config %s: %v", config, err)
	}
	var out []string
	for _, b := range batches {
		v, err := in.Validate(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != b.N {
			t.Fatalf("%d verdicts for %d records", len(v), b.N)
		}
		out = append(out, Reasons(v)...)
	}
	return out
}

// Reasons returns each verdict as "" when it is OK, or else its reasons
// as "rule on field: message", joined by "; ".
func Reasons(v []sandbox.Verdict) []string {
	out := make([]string, len(v))
	for i, x := range v {
		var rs []string
		for _, r := range x.Reasons {
			s := r.Rule
			if r.Field != "" {
				s += " on " + r.Field
			}
			rs = append(rs, s+": "+r.Message)
		}
		out[i] = strings.Join(rs, "; ")
	}
	return out
}
