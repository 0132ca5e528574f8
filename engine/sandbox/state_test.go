package sandbox

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func stateInstance(t *testing.T, p *Plugin, config string, st StateStore) (*Instance, error) {
	t.Helper()
	in, err := p.NewInstance(context.Background(), InstanceConfig{Config: []byte(config), AsOf: asOf, Seed: 42, State: st})
	if err == nil {
		t.Cleanup(func() { in.Close(context.Background()) })
	}
	return in, err
}

// TestStateCarriesAcrossInstances: what one instance puts, the next reads
// through the same store; a removal removes.
func TestStateCarriesAcrossInstances(t *testing.T) {
	rt := newRuntime(t, Config{})
	p := load(t, rt, "stateprobe")
	st := NewMemState()
	in, err := stateInstance(t, p, "", st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Validate(context.Background(), numbers(1, 1)); err != nil {
		t.Fatal(err)
	}
	if st.Keys() != 2 || string(st.M["k/0"]) != "12345678" {
		t.Fatalf("state after two puts: %q", st.M)
	}
	in2, err := stateInstance(t, p, "", st)
	if err != nil {
		t.Fatal(err)
	}
	v, err := in2.Validate(context.Background(), numbers(5, 6, 5))
	if err != nil {
		t.Fatal(err)
	}
	if got := v[0].Reasons[0].Message + "|" + v[2].Reasons[0].Message; got != `"12345678" true|"" false` {
		t.Fatalf("reads: %s", got)
	}
}

// TestStateViolations: each way of breaking the declared state fails the
// call with KindState and a message naming what and the limit, and is not
// a trap (a trap would be bisected and the record quarantined; a broken
// declaration is the plugin's fault and fails the batch).
func TestStateViolations(t *testing.T) {
	rt := newRuntime(t, Config{})
	p := load(t, rt, "stateprobe")
	for _, c := range []struct {
		name  string
		vals  []float64
		wants []string
	}{
		{"key over max_key_bytes", []float64{2}, []string{"a key of 33 bytes; its manifest declares max_key_bytes 32"}},
		{"value over max_value_bytes", []float64{3}, []string{`key "k/big": a value of 65 bytes; its manifest declares max_value_bytes 64`}},
		{"a key it did not declare", []float64{4}, []string{`key "other", which it did not declare: its manifest declares the prefixes k/`}},
		{"more keys than max_keys", []float64{1, 1, 1, 1, 1}, []string{`a new key "k/4": it holds 4 keys; its manifest declares max_keys 4`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := NewMemState()
			in, err := stateInstance(t, p, "", st)
			if err != nil {
				t.Fatal(err)
			}
			_, err = in.Validate(context.Background(), numbers(c.vals...))
			e := wantErr(t, err, KindState, "stateprobe@0.0.1", append(c.wants, "broke its declared state")...)
			if e.Deterministic() || IsTrap(err) {
				t.Fatal("a state violation is reported as a trap")
			}
			if _, err := in.Validate(context.Background(), numbers(1)); KindOf(err) != KindClosed {
				t.Fatalf("the instance was not closed: %v", err)
			}
		})
	}
	// Writing an existing key again is not a new key.
	st := NewMemState()
	in, _ := stateInstance(t, p, "", st)
	if _, err := in.Validate(context.Background(), numbers(1, 1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	in2, _ := stateInstance(t, p, "", st)
	b := numbers(1)
	b.First = 3
	if _, err := in2.Validate(context.Background(), b); err != nil {
		t.Fatalf("rewriting a held key at max_keys: %v", err)
	}
	// Nor is removing a key it does not hold (k/0; it holds k/0 to k/3
	// here, so first k/0 goes, then it is removed again).
	if _, err := in2.Validate(context.Background(), numbers(6, 6)); err != nil {
		t.Fatalf("removing keys at max_keys: %v", err)
	}
	full := NewMemState()
	in3, _ := stateInstance(t, p, "", full)
	b = numbers(1, 1, 1, 1)
	b.First = 1 // k/1 to k/4: max_keys, without k/0
	if _, err := in3.Validate(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if _, err := in3.Validate(context.Background(), numbers(6)); err != nil || full.Keys() != 4 {
		t.Fatalf("removing a key it does not hold, at max_keys: %v, %d keys", err, full.Keys())
	}
}

func TestStateOutsideValidate(t *testing.T) {
	rt := newRuntime(t, Config{})
	p := load(t, rt, "stateprobe")
	_, err := stateInstance(t, p, `{"init_put": true}`, NewMemState())
	wantErr(t, err, KindState, "stateprobe@0.0.1", "state_put outside pawl_validate")
}

// TestStateDeclared: a module that imports the state functions without
// declaring state is refused at load; one that declares it gets state
// exactly when given one.
func TestStateDeclared(t *testing.T) {
	rt := newRuntime(t, Config{})
	b := readWasm(t, "stateundeclared")
	_, err := rt.Load(context.Background(), b, Pin(b))
	wantErr(t, err, KindLoad, "stateundeclared@0.0.1", "imports pawl.state_get but its manifest declares no state")

	p := load(t, rt, "stateprobe")
	_, err = stateInstance(t, p, "", nil)
	wantErr(t, err, KindConfig, "stateprobe@0.0.1", "keeps state in the host, and none was given")
	_, err = load(t, rt, "ok").NewInstance(context.Background(), InstanceConfig{AsOf: asOf, State: NewMemState()})
	wantErr(t, err, KindConfig, "hostile-ok@0.0.1", "was given state, and its manifest declares none")
}

func TestStateManifestChecks(t *testing.T) {
	base := func() *Manifest {
		return &Manifest{ABI: 1, Name: "x", Version: "1", Mode: ModeOrdered,
			State: &StateDecl{MaxKeyBytes: 8, MaxValueBytes: 8}}
	}
	if err := base().check(); err != nil {
		t.Fatal(err)
	}
	if m := base(); m.State.StateFormat() != "1" {
		t.Fatalf("a state without format is in format %q, want 1", m.State.StateFormat())
	}
	for want, edit := range map[string]func(m *Manifest){
		"only an ordered plugin may keep state": func(m *Manifest) { m.Mode = ModeStateless },
		"state.max_key_bytes 0: want 1..1024":   func(m *Manifest) { m.State.MaxKeyBytes = 0 },
		"state.max_key_bytes 1025":              func(m *Manifest) { m.State.MaxKeyBytes = 1025 },
		"state.max_value_bytes 65537":           func(m *Manifest) { m.State.MaxValueBytes = 65537 },
		"state.max_keys -1":                     func(m *Manifest) { m.State.MaxKeys = -1 },
		`state.prefixes[0] ""`:                  func(m *Manifest) { m.State.Prefixes = []string{""} },
		`state.format "v.2"`:                    func(m *Manifest) { m.State.Format = "v.2" },
		`state.format "Two"`:                    func(m *Manifest) { m.State.Format = "Two" },
	} {
		m := base()
		edit(m)
		if err := m.check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
	fields := func(n int) []Field {
		fs := make([]Field, n)
		for i := range fs {
			fs[i] = Field{Name: fmt.Sprintf("f%d", i), Type: TypeNumber}
		}
		return fs
	}
	// Each bound is inclusive: at it, the manifest is good; one past, not.
	for name, edit := range map[string]func(m *Manifest){
		"max_key_bytes 1":           func(m *Manifest) { m.State.MaxKeyBytes = 1 },
		"max_key_bytes 1024":        func(m *Manifest) { m.State.MaxKeyBytes = MaxStateKeyBytes },
		"max_value_bytes 1":         func(m *Manifest) { m.State.MaxValueBytes = 1 },
		"max_value_bytes 65536":     func(m *Manifest) { m.State.MaxValueBytes = MaxStateValueBytes },
		"max_keys 0 (no bound)":     func(m *Manifest) { m.State.MaxKeys = 0 },
		"a prefix of max_key_bytes": func(m *Manifest) { m.State.Prefixes = []string{"12345678"} },
		"64 fields":                 func(m *Manifest) { m.Fields = fields(maxFields) },
	} {
		m := base()
		edit(m)
		if err := m.check(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for want, edit := range map[string]func(m *Manifest){
		`state.prefixes[0] "123456789"`: func(m *Manifest) { m.State.Prefixes = []string{"123456789"} },
		"65 fields: at most 64":         func(m *Manifest) { m.Fields = fields(maxFields + 1) },
		"state.max_value_bytes 0":       func(m *Manifest) { m.State.MaxValueBytes = 0 },
	} {
		m := base()
		edit(m)
		if err := m.check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
}

// TestClipTextKeepsCharactersWhole: a refusal cut to its bound is cut
// between characters, never inside one, and says it was cut.
func TestClipTextKeepsCharactersWhole(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"ééé", 3, "é…"}, // é is 2 bytes: 3 bytes hold one and a half
		{"abcdef", 4, "abcd…"},
		{"a\xffb", 10, "a\uFFFDb"},
		{"exact", 5, "exact"},       // exactly the bound: not cut
		{"\x80\x80\x80abc", 2, "…"}, // no character starts before the bound
	} {
		if got := clipText([]byte(c.in), c.n); got != c.want {
			t.Errorf("clipText(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// TestStateDeclarationEdges: a value of exactly max_value_bytes is taken
// (stateprobe 0.0.5 declares 8, what its puts write); with no prefixes
// declared any key is the plugin's, and with no max_keys any number of
// keys; one byte over the value bound still fails the batch.
func TestStateDeclarationEdges(t *testing.T) {
	rt := newRuntime(t, Config{})
	p := load(t, rt, "stateprobe5")
	st := NewMemState()
	in, err := stateInstance(t, p, "", st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Validate(context.Background(), numbers(1, 1, 1, 1, 1, 4)); err != nil {
		t.Fatalf("puts of 8-byte values (the bound), five keys (no bound), a key outside k/ (no prefixes): %v", err)
	}
	if st.Keys() != 6 || string(st.M["k/4"]) != "12345678" || string(st.M["other"]) != "v" {
		t.Fatalf("state: %q", st.M)
	}
	_, err = in.Validate(context.Background(), numbers(3))
	wantErr(t, err, KindState, "stateprobe@0.0.5", `key "k/big": a value of 65 bytes; its manifest declares max_value_bytes 8`)
}
