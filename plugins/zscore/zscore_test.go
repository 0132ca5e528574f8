package zscore

import (
	"context"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
)

func TestZscoreInSandbox(t *testing.T) {
	p := plugintest.Load(t, "zscore.wasm")
	if p.Manifest().Mode != sandbox.ModeOrdered {
		t.Fatal("zscore must be ordered")
	}
	in, err := plugintest.Instance(t, p, `{"k": 3, "warmup": 5, "window": 10}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		key string
		v   float64
	}
	// device A alternates 9/11 (mean 10, sd 1); device B has its own level.
	var recs []rec
	for i := 0; i < 6; i++ {
		recs = append(recs, rec{"A", 9 + 2*float64(i%2)}, rec{"B", 100 + 2*float64(i%2)})
	}
	recs = append(recs,
		rec{"A", 12.9}, // within 3 sd
		rec{"A", 50},   // outlier for A...
		rec{"B", 101},  // ...normal for B
		rec{"A", 50},   // still an outlier: rejected values do not widen the band
		rec{"C", 1e6},  // new key, warming up: passes
	)
	// Feed in two batches: state carries over between calls.
	half := len(recs) / 2
	var got []string
	for _, part := range [][]rec{recs[:half], recs[half:]} {
		b := sandbox.NewBatch(p.Manifest().Fields, len(part))
		for i, r := range part {
			b.SetNumber(0, i, r.v)
			b.SetString(1, i, r.key)
		}
		v, err := in.Validate(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, plugintest.Rules(v)...)
	}
	want := make([]string, len(recs))
	want[13], want[15] = "zscore.outlier", "zscore.outlier"
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d %+v: %q, want %q", i, recs[i], got[i], want[i])
		}
	}
	for _, cfg := range []string{`{"k": 0}`, `{"warmup": 1}`, `{"window": 5, "warmup": 6}`} {
		if _, err := plugintest.Instance(t, p, cfg, nil); sandbox.KindOf(err) != sandbox.KindConfig {
			t.Errorf("config %s accepted: %v", cfg, err)
		}
	}
}
