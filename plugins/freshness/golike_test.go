package freshness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
	"github.com/pawl-dev/pawl/plugins/pdk"
)

// TestFreshnessCLikeGo runs random timestamps — near and far from the
// as-of time, with and without fractions and offsets, and mangled ones —
// through the Go reference and the C module, at several as-of times
// (before 1970, with a fraction) and with configs of many duration
// spellings, and requires the same verdicts and messages byte for byte:
// the C module's durations are Go's Duration.String, its as-of time Go's
// RFC3339Nano, its config read as Go's ParseDuration reads it.
func TestFreshnessCLikeGo(t *testing.T) {
	p := plugintest.Load(t, "freshness.wasm")
	m := p.Manifest()
	rng := rand.New(rand.NewPCG(16, 4))
	asOfs := []time.Time{
		plugintest.AsOf,
		time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(2262, 4, 11, 23, 47, 16, 854_775_807, time.UTC), // the last int64 nanosecond
		time.Date(1677, 9, 21, 0, 12, 43, 145_224_192, time.UTC),  // the first
		time.Date(2000, 2, 29, 0, 0, 0, 120, time.UTC),
	}
	configs := []string{
		"", `{"max_age": "1.5h", "max_skew": "0s"}`, `{"max_age": "90m", "max_skew": "1µs"}`,
		`{"max_age": "1h2m3.004005006s", "max_skew": "2562047h"}`, `{"max_age": "0.000000001s", "max_skew": ".5ms"}`,
		`{"max_age": "2562047h47m16.854775807s", "max_skew": "1μs999ns"}`, `{"max_age": "300ms", "max_skew": "0"}`,
		`{"max_age": "1us", "max_skew": "+3m"}`,
	}
	zones := []string{"Z", "z", "+00:00", "-00:00", "+05:30", "-12:00", "+23:59", "+24:00", "+5:30", "-08:60", "", "Z junk"}
	timestamps := func(asOf time.Time) []string {
		var ts []string
		for len(ts) < 250 {
			// offsets from nanoseconds to centuries, both ways
			off := time.Duration(rng.Int64N(int64(1)<<rng.IntN(63))) * time.Duration(1-2*rng.IntN(2))
			at := asOf.Add(-off)
			zone := zones[rng.IntN(len(zones))]
			layout := "2006-01-02T15:04:05"
			switch rng.IntN(3) {
			case 1:
				layout += ".000"
			case 2:
				layout += ".999999999"
			}
			var s string
			if zone == "Z" || zone == "z" {
				s = at.UTC().Format(layout) + zone
			} else {
				var h, mi int
				fmt.Sscanf(zone, "%d:%d", &h, &mi)
				loc := time.FixedZone("", h*3600+mi*60*sign(h, zone))
				s = at.In(loc).Format(layout) + zone
			}
			if rng.IntN(8) == 0 && len(s) > 0 { // mangle a byte
				b := []byte(s)
				b[rng.IntN(len(b))] = "0123456789:-.TtZz+ \x00é"[rng.IntN(21)]
				s = string(b)
			}
			ts = append(ts, s)
		}
		return append(ts, "2025-02-29T00:00:00Z", "2024-02-29T24:00:00Z", "2025-06-01T12:00:60Z", "2025-06-01T12:00:00.Z",
			"2025-06-01T12:00:00.1234567890Z", "short", "", "2025-06-01 12:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999-23:59")
	}
	ctx := context.Background()
	compared := map[string]int{}
	for _, asOf := range asOfs {
		ts := timestamps(asOf)
		b := sandbox.NewBatch(m.Fields, len(ts))
		for i, s := range ts {
			b.SetString(colTimestamp, i, s)
		}
		msg, err := b.Encode(m.Fields, asOf)
		if err != nil {
			t.Fatal(err)
		}
		for _, config := range configs {
			cfg := config
			if cfg == "" {
				cfg = "{}"
			}
			native := New()
			if err := native.Init(pdk.Init{Config: []byte(cfg), AsOf: asOf}); err != nil {
				t.Fatalf("%s: %v", cfg, err)
			}
			out, err := pdk.Run(native, msg, pdk.NewResult(0))
			if err != nil {
				t.Fatal(err)
			}
			want, err := sandbox.DecodeResult(out, b.N, m)
			if err != nil {
				t.Fatal(err)
			}
			in, err := p.NewInstance(ctx, sandbox.InstanceConfig{Config: []byte(config), AsOf: asOf, Seed: 1})
			if err != nil {
				t.Fatalf("%s: %v", config, err)
			}
			got, err := in.Validate(ctx, b)
			in.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			w, g := plugintest.Reasons(want), plugintest.Reasons(got)
			for i := range w {
				if w[i] != g[i] {
					t.Fatalf("as of %s, config %s, %q: Go says %q, the module %q", asOf.Format(time.RFC3339Nano), config, ts[i], w[i], g[i])
				}
				if rule := plugintest.Rules(want)[i]; rule != "" {
					compared[rule]++
				} else {
					compared["ok"]++
				}
			}
		}
	}
	t.Logf("verdicts compared: %v", compared)
	for _, rule := range []string{"ok", "freshness.stale", "freshness.future", "freshness.format"} {
		if compared[rule] < 100 {
			t.Errorf("only %d verdicts %s: %v", compared[rule], rule, compared)
		}
	}
}

func sign(h int, zone string) int {
	if h < 0 || (len(zone) > 0 && zone[0] == '-') {
		return -1
	}
	return 1
}
