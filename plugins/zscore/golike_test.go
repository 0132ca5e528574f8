package zscore

import (
	"context"
	"maps"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
)

// TestZscoreCLikeGo runs one random stream — keys of very different
// levels and spreads (so the z-scores, means and values cover 'f' 2, 'g'
// 6 and shortest formatting widely), spikes, keys needing quotes, absent
// values and keys, an overflow — through the Go reference and the C
// module, with and without a window, and requires the same reasons, byte
// for byte, and the same state, bit for bit, after every batch.
func TestZscoreCLikeGo(t *testing.T) {
	const n = 2000
	rng := rand.New(rand.NewPCG(16, 3))
	keys := []string{"a", "dev \"7\"", "é\x01", "", "big", "tiny"}
	level := []float64{20, -300, 1e4, 0.001, 1e200, 1e-200}
	spread := []float64{1, 25, 0.5, 1e-5, 1e198, 3e-201}
	recs := make([]rec, n)
	for i := range recs {
		k := rng.IntN(len(keys))
		v := level[k] + spread[k]*rng.NormFloat64()
		if rng.IntN(25) == 0 {
			v += spread[k] * (3 + 30*rng.Float64()) * float64(1-2*rng.IntN(2))
		}
		recs[i] = r(keys[k], v)
		switch rng.IntN(60) {
		case 0:
			recs[i].v = nil
		case 1:
			recs[i].key = nil
		}
	}
	recs[n/2] = r("big", math.MaxFloat64) // overflows the statistics of "big"
	impls := impls(t)
	for _, config := range []string{`{"warmup": 5}`, `{"k": 2.5, "warmup": 4, "window": 9}`} {
		var states [2]*sandbox.MemState
		var ins [2]plugintest.Validator
		for k, impl := range impls {
			states[k] = sandbox.NewMemState()
			in, err := impl.WithState(t, config, nil, states[k])
			if err != nil {
				t.Fatal(err)
			}
			ins[k] = in
		}
		rejected := 0
		for lo := 0; lo < n; {
			hi := min(n, lo+1+rng.IntN(400))
			var got [2][]string
			for k, impl := range impls {
				v, err := ins[k].Validate(context.Background(), batch(impl.Manifest.Fields, recs[lo:hi]))
				if err != nil {
					t.Fatal(err)
				}
				got[k] = plugintest.Reasons(v)
			}
			for i := range got[0] {
				if got[0][i] != got[1][i] {
					t.Fatalf("%s: record %d: %s says %q, %s says %q", config, lo+i, impls[0].Name, got[0][i], impls[1].Name, got[1][i])
				}
				if got[0][i] != "" {
					rejected++
				}
			}
			if !maps.EqualFunc(states[0].M, states[1].M, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Fatalf("%s: after records %d..%d the states differ", config, lo, hi)
			}
			lo = hi
		}
		if rejected < n/40 {
			t.Errorf("%s: only %d rejected: the stream does not exercise the rule", config, rejected)
		}
		t.Logf("%s: %d rejected, %d keys", config, rejected, len(states[0].M))
	}
}
