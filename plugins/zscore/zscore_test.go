package zscore

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
	"github.com/pawl-dev/pawl/plugins/pdk"
)

// rec is one record; a nil pointer is an absent value or key.
type rec struct {
	key *string
	v   *float64
}

func r(key string, v float64) rec { return rec{&key, &v} }
func noValue(key string) rec      { return rec{key: &key} }
func noKey(v float64) rec         { return rec{v: &v} }

func batch(fields []sandbox.Field, recs []rec) *sandbox.Batch {
	b := sandbox.NewBatch(fields, len(recs))
	for i, x := range recs {
		if x.v != nil {
			b.SetNumber(colValue, i, *x.v)
		}
		if x.key != nil {
			b.SetString(colKey, i, *x.key)
		}
	}
	return b
}

// alternate returns n records of key alternating lo and hi, starting with lo.
func alternate(key string, n int, lo, hi float64) []rec {
	var out []rec
	for i := 0; i < n; i++ {
		out = append(out, r(key, []float64{lo, hi}[i%2]))
	}
	return out
}

func outlier(v, z, mean, key, k string) string {
	return "zscore.outlier on value: value " + v + " is " + z + " standard deviations from the rolling mean " + mean + " of key " + strconv.Quote(key) + " (limit " + k + ")"
}

func cat(parts ...[]rec) []rec {
	var out []rec
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func impls(t *testing.T) []plugintest.Impl {
	return plugintest.Impls(t, "zscore.wasm", func() pdk.Plugin { return New() })
}

// zscoreCases: each case's records run on a fresh instance, split into
// batches at split (state carries over), and want lists the reasons of
// the records that are rejected (by index); every other record passes.
var zscoreCases = []struct {
	name   string
	config string
	recs   []rec
	split  []int
	want   map[int]string
}{
	{"per key, state across batches, rejected values stay out", `{"k": 3, "warmup": 5, "window": 10}`,
		// A alternates 9/11 (mean 10, sd 1); B has its own level.
		cat(alternate("A", 6, 9, 11), alternate("B", 6, 100, 102), []rec{
			r("A", 12.9), // 12: within 3 sd
			r("A", 50),   // 13: an outlier for A...
			r("B", 101),  // 14: ...normal for B
			r("A", 50),   // 15: still an outlier: a rejected value does not widen the band
			r("C", 1e6),  // 16: a new key warms up: passes
		}),
		[]int{7},
		map[int]string{
			13: outlier("50", "28.82", "10.4143", "A", "3"),
			15: outlier("50", "28.82", "10.4143", "A", "3"),
		}},
	{"k sd exactly is inside", `{"k": 3, "warmup": 10, "window": 10}`,
		// Each key's window is 9, 11, ... (mean 10 and sd 1, exactly).
		cat(alternate("lo", 10, 9, 11), alternate("hi", 10, 9, 11), alternate("up", 10, 9, 11), alternate("down", 10, 9, 11), []rec{
			r("lo", 7),             // 40: -3 sd
			r("hi", 13),            // 41: +3 sd
			r("up", 13.000000001),  // 42: just above
			r("down", 6.99999999),  // 43: just below
			r("down", math.Inf(1)), // 44
		}),
		nil,
		map[int]string{
			42: outlier("13.000000001", "3.00", "10", "up", "3"),
			43: outlier("6.99999999", "-3.00", "10", "down", "3"),
			44: outlier("+Inf", "+Inf", "10", "down", "3"),
		}},
	{"the warm-up counts accepted values", `{"k": 3, "warmup": 3, "window": 10}`,
		[]rec{
			r("two", 10), r("two", 12), // 0, 1: two values...
			r("two", 1000), // 2: ...are not enough to judge: accepted
			r("three", 10), r("three", 12), r("three", 10),
			r("three", 1000), // 6: judged after three
		},
		nil,
		map[int]string{6: outlier("1000", "1049.35", "10.6667", "three", "3")}},
	{"absent values are not counted", `{"k": 3, "warmup": 4, "window": 10}`,
		[]rec{
			r("gap", 9), noValue("gap"), r("gap", 11), {}, noValue("gap"), r("gap", 9),
			r("gap", 1000), // 6: only three values so far: accepted
			r("full", 9), r("full", 11), r("full", 9), r("full", 11),
			r("full", 1000), // 11: four: judged
		},
		nil,
		map[int]string{11: outlier("1000", "990.00", "10", "full", "3")}},
	{`an absent key is the key ""`, `{"k": 3, "warmup": 2, "window": 10}`,
		[]rec{
			noKey(9), r("", 11),
			noKey(100),   // 2
			r("", 100),   // 3
			r("x", 9),    // 4: another key
			noKey(10.5),  // 5: inside
			r("x", 1000), // 6: x has one value
		},
		nil,
		map[int]string{
			2: outlier("100", "90.00", "10", "", "3"),
			3: outlier("100", "90.00", "10", "", "3"),
		}},
	{"the window forgets", `{"k": 1, "warmup": 2, "window": 2}`,
		[]rec{
			r("w", 0), r("w", 2), // mean 1, sd 1
			r("w", 2), // 2: |2-1| = 1 sd: inside; the window is now 2, 2
			r("w", 5), // 3: sd 0: not judged; the window is 2, 5 (0 is gone)
			r("w", 0), // 4: mean 3.5, sd 1.5
			r("w", 5), // 5: exactly 1 sd: inside
		},
		nil,
		map[int]string{4: outlier("0", "-2.33", "3.5", "w", "1")}},
	{"a constant signal is not judged", `{"k": 3, "warmup": 5, "window": 8}`,
		cat(alternate("flat", 8, 5, 5), alternate("half", 8, 0.5, 0.5), []rec{
			r("flat", 6),    // 16: sd 0: not judged, accepted
			r("flat", 5),    // 17: mean 5.125, sd 0.33
			r("flat", 1000), // 18
			r("half", -1e9), // 19
		}),
		nil,
		map[int]string{18: outlier("1000", "3008.22", "5.125", "flat", "3")}},
	{"k and the limit in the reason", `{"k": 2.5, "warmup": 4, "window": 4}`,
		[]rec{
			r("k", 1), r("k", 3), r("k", 1), r("k", 3), // mean 2, sd 1
			r("k", 4.5),  // 4: 2.5 sd: inside; the window is now 3, 1, 3, 4.5
			r("k", 6),    // 5: mean 2.875, sd 1.2437
			r("k", -0.3), // 6
		},
		nil,
		map[int]string{
			5: outlier("6", "2.51", "2.875", "k", "2.5"),
			6: outlier("-0.3", "-2.55", "2.875", "k", "2.5"),
		}},
	{"NaN passes (JSON has none)", `{"k": 3, "warmup": 2, "window": 4}`,
		[]rec{r("n", 1), r("n", 3), r("m", math.NaN())},
		nil,
		nil},
	{"the default config: 3 sd, warm-up 30, every value", "",
		cat(alternate("d", 29, 9, 11),
			[]rec{r("d", 1000)}, // 29: 29 values are not yet 30: accepted
			alternate("d", 100, 9, 11),
			[]rec{r("d", 1000)}), // 130: the first 1000 is still counted, widening the band
		nil,
		map[int]string{130: outlier("1000", "11.36", "17.6077", "d", "3")}},
	{"an empty batch", "", nil, nil, nil},
}

func TestZscore(t *testing.T) {
	for _, impl := range impls(t) {
		if impl.Manifest.Mode != sandbox.ModeOrdered {
			t.Fatal("zscore must be ordered")
		}
		t.Run(impl.Name, func(t *testing.T) {
			for _, tc := range zscoreCases {
				var batches []*sandbox.Batch
				lo := 0
				for _, hi := range append(tc.split, len(tc.recs)) {
					batches = append(batches, batch(impl.Manifest.Fields, tc.recs[lo:hi]))
					lo = hi
				}
				got := plugintest.Run(t, impl, tc.config, nil, batches...)
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("%s: record %d:\n got %q\nwant %q", tc.name, i, got[i], tc.want[i])
					}
				}
			}
		})
	}
}

func TestZscoreRefusesBadConfig(t *testing.T) {
	cases := map[string]string{
		`{"k": 0}`:                   "zscore config: k 0: want a positive number of standard deviations",
		`{"k": -1}`:                  "k -1: want a positive",
		`{"window": 1}`:              "zscore config: window 1: want 2..1000, or none",
		`{"window": 1001}`:           "window 1001: want 2..1000",
		`{"warmup": 1}`:              "zscore config: warmup 1: want 2 or more",
		`{"window": 5, "warmup": 6}`: "warmup 6: want 2..window (5)",
		`{"window": 20}`:             "warmup 30: want 2..window (20)", // the default warm-up is more than that window
		`{"kk": 3}`:                  `zscore config: json: unknown field "kk"`,
		`{"k": "3"}`:                 "cannot unmarshal string",
		`{"warmup": 2.5}`:            "cannot unmarshal number 2.5",
	}
	for _, impl := range impls(t) {
		t.Run(impl.Name, func(t *testing.T) {
			for cfg, want := range cases {
				_, err := impl.New(t, cfg, nil)
				if sandbox.KindOf(err) != sandbox.KindConfig || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "zscore@2.1.0") {
					t.Errorf("config %s: want a config error containing %q, got %v", cfg, want, err)
				}
			}
			// The edges that are accepted.
			for _, cfg := range []string{`{"window": 2, "warmup": 2}`, `{"window": 1000, "warmup": 1000}`, `{"warmup": 1000000}`, `{"k": 1e-9}`, `{"k": null}`} {
				if _, err := impl.New(t, cfg, nil); err != nil {
					t.Errorf("config %s: %v", cfg, err)
				}
			}
		})
	}
}

// reference is zscore as its doc says, computed the slow way: a list of
// each key's last window accepted values, the mean and standard deviation
// in two passes.
type reference struct {
	k              float64
	warmup, window int
	keys           map[string][]float64
}

// judge returns whether v is an outlier of key, and whether that is a
// close call, where rounding decides: the plugin's variance, sumsq/n -
// mean², loses about eps·mean²/variance of its precision, so |v-mean| and
// k sd closer than that (and than 1e-9) are not compared.
func (r *reference) judge(key string, v float64) (out, near bool) {
	w := r.keys[key]
	if len(w) < r.warmup {
		return false, false
	}
	var mean, ss float64
	for _, x := range w {
		mean += x
	}
	mean /= float64(len(w))
	for _, x := range w {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / float64(len(w)))
	d, lim := math.Abs(v-mean), r.k*sd
	rel := max(1e-9, 1e-13*mean*mean/(sd*sd))
	return sd > 0 && d > lim, math.Abs(d-lim) <= rel*math.Max(1, lim)
}

func (r *reference) add(key string, v float64) {
	w := append(r.keys[key], v)
	if len(w) > r.window {
		w = w[1:]
	}
	r.keys[key] = w
}

// TestZscoreLikeReference runs a long random stream (three keys of
// different levels and spreads, spikes, absent values and keys) through
// the plugin, in batches of random sizes, and checks every verdict
// against the reference: the ring buffer, the running sums and their
// recomputation once per lap of the window, and the state across batches.
func TestZscoreLikeReference(t *testing.T) {
	const n = 5000
	rng := rand.New(rand.NewPCG(5, 6))
	keys := []string{"a", "b", "c"}
	level := map[string]float64{"a": 20, "b": -300, "c": 1e4}
	spread := map[string]float64{"a": 1, "b": 25, "c": 0.5}
	recs := make([]rec, n)
	for i := range recs {
		k := keys[rng.IntN(len(keys))]
		v := level[k] + spread[k]*rng.NormFloat64()
		switch rng.IntN(40) {
		case 0:
			v += spread[k] * (3 + 10*rng.Float64()) // a spike
		case 1:
			v -= spread[k] * (3 + 10*rng.Float64())
		}
		recs[i] = r(k, v)
		switch rng.IntN(50) {
		case 0:
			recs[i].v = nil
		case 1:
			recs[i].key = nil
		}
	}
	var splits []int
	for at := rng.IntN(300); at < n; at += 1 + rng.IntN(300) {
		splits = append(splits, at)
	}
	const config = `{"k": 3, "warmup": 5, "window": 16}`
	for _, impl := range impls(t) {
		t.Run(impl.Name, func(t *testing.T) {
			var batches []*sandbox.Batch
			lo := 0
			for _, hi := range append(splits, n) {
				batches = append(batches, batch(impl.Manifest.Fields, recs[lo:hi]))
				lo = hi
			}
			got := plugintest.Run(t, impl, config, nil, batches...)
			ref := &reference{k: 3, warmup: 5, window: 16, keys: map[string][]float64{}}
			rejected, closeCalls := 0, 0
			for i, x := range recs {
				if x.v == nil {
					if got[i] != "" {
						t.Fatalf("record %d has no value: %q", i, got[i])
					}
					continue
				}
				key := ""
				if x.key != nil {
					key = *x.key
				}
				out, near := ref.judge(key, *x.v)
				if near {
					closeCalls++
					out = got[i] != "" // rounding decides: follow the plugin
				} else if out != (got[i] != "") {
					t.Fatalf("record %d (key %q, value %v): %q, the reference says outlier %v", i, key, *x.v, got[i], out)
				}
				if out {
					rejected++
					if !strings.HasPrefix(got[i], "zscore.outlier on value: value "+strconv.FormatFloat(*x.v, 'g', -1, 64)+" is ") {
						t.Fatalf("record %d: %q", i, got[i])
					}
				} else {
					ref.add(key, *x.v)
				}
			}
			t.Logf("%d records, %d rejected, %d close calls", n, rejected, closeCalls)
			if rejected < n/50 {
				t.Errorf("only %d rejected: the stream does not exercise the rule", rejected)
			}
		})
	}
}

// TestZscoreWelford checks Welford's running statistics against the
// two-pass mean and variance, and that an update that would overflow is
// refused and leaves them as they were.
func TestZscoreWelford(t *testing.T) {
	var s Stats
	var all []float64
	for i := 1; i <= 1000; i++ {
		v := float64(i*i%97) + 0.25
		var ok bool
		if s, ok = s.Add(v); !ok {
			t.Fatal("a small value overflowed")
		}
		all = append(all, v)
	}
	var mean, ss float64
	for _, x := range all {
		mean += x
	}
	mean /= float64(len(all))
	for _, x := range all {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / float64(len(all)))
	if s.N != 1000 || math.Abs(s.Mean-mean) > 1e-12*mean || math.Abs(s.SD()-sd) > 1e-12*sd {
		t.Fatalf("n %d mean %v sd %v, two-pass %v %v", s.N, s.Mean, s.SD(), mean, sd)
	}
	if got, ok := s.Add(math.MaxFloat64); ok || got != s {
		t.Fatalf("MaxFloat64 after small values: %+v %v, want refused and unchanged", got, ok)
	}
}

// TestZscoreStateCarries: the statistics live in the state, not the
// instance: a new instance given the state continues (the warm-up counted
// across them), one given an empty state starts over.
func TestZscoreStateCarries(t *testing.T) {
	for _, impl := range impls(t) {
		t.Run(impl.Name, func(t *testing.T) {
			const cfg = `{"warmup": 12}`
			st := sandbox.NewMemState()
			for half := 0; half < 2; half++ { // 6 values, then 6 more on another instance
				in, err := impl.WithState(t, cfg, nil, st)
				if err != nil {
					t.Fatal(err)
				}
				v, err := in.Validate(context.Background(), batch(impl.Manifest.Fields, alternate("A", 6, 9, 11)))
				if err != nil || plugintest.Reasons(v)[5] != "" {
					t.Fatalf("warm-up: %v %q", err, plugintest.Reasons(v))
				}
			}
			in, err := impl.WithState(t, cfg, nil, st)
			if err != nil {
				t.Fatal(err)
			}
			v, err := in.Validate(context.Background(), batch(impl.Manifest.Fields, []rec{r("A", 50)}))
			if err != nil || plugintest.Reasons(v)[0] != outlier("50", "40.00", "10", "A", "3") {
				t.Fatalf("after a warm-up over two instances: %v %q", err, plugintest.Reasons(v))
			}
			if got := plugintest.Run(t, impl, cfg, nil, batch(impl.Manifest.Fields, []rec{r("A", 50)}))[0]; got != "" {
				t.Fatalf("an empty state judged a key it has not seen: %q", got)
			}
		})
	}
}
