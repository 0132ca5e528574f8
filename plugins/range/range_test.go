package rangecheck

import (
	"context"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
)

func TestRangeInSandbox(t *testing.T) {
	p := plugintest.Load(t, "range.wasm")
	type rec struct {
		v       float64
		hasV    bool
		unit    string
		hasUnit bool
	}
	cases := []struct {
		name   string
		config string
		recs   []rec
		want   []string
	}{
		{"seed", "", []rec{
			{20, true, "celsius", true},
			{-273.15, true, "celsius", true}, // absolute zero itself passes
			{-273.16, true, "celsius", true}, // below it fails
			{-300, true, "fahrenheit", true}, // fine in °F
			{-460, true, "fahrenheit", true}, // below -459.67 °F
			{0, true, "kelvin", true},        // 0 K passes
			{-0.5, true, "kelvin", true},     // negative kelvin fails
			{-280, true, "", false},          // no unit: the default bound
			{-200, true, "rankine", true},    // unknown unit: the default bound
			{0, false, "celsius", true},      // absent value passes
		}, []string{"", "", "range.min", "", "range.min", "", "range.min", "range.min", "", ""}},
		{"max and reject unknown units", `{"max": 100, "unknown_unit": "reject"}`, []rec{
			{101, true, "", false},
			{101, true, "celsius", true}, // celsius has its own entry, no max
			{5, true, "rankine", true},
		}, []string{"range.max", "", "range.unit"}},
		{"per-unit override", `{"units": {"kelvin": {"min": 10, "max": 20}}}`, []rec{
			{5, true, "kelvin", true},
			{25, true, "kelvin", true},
			{-400, true, "fahrenheit", true},
		}, []string{"range.min", "range.max", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := plugintest.Instance(t, p, tc.config, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := sandbox.NewBatch(p.Manifest().Fields, len(tc.recs))
			for i, r := range tc.recs {
				if r.hasV {
					b.SetNumber(0, i, r.v)
				}
				if r.hasUnit {
					b.SetString(1, i, r.unit)
				}
			}
			v, err := in.Validate(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			got := plugintest.Rules(v)
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("record %d %+v: rule %q, want %q (%+v)", i, tc.recs[i], got[i], tc.want[i], v[i].Reasons)
				}
			}
		})
	}
	in, _ := plugintest.Instance(t, p, "", nil)
	b := sandbox.NewBatch(p.Manifest().Fields, 1)
	b.SetNumber(0, 0, -500)
	b.SetString(1, 0, "fahrenheit")
	v, _ := in.Validate(context.Background(), b)
	if r := v[0].Reasons[0]; r.Field != "value" || r.Message != `value -500 is below the minimum -459.67 for unit "fahrenheit"` {
		t.Errorf("reason %+v", r)
	}
}

func TestRangeRefusesBadConfig(t *testing.T) {
	p := plugintest.Load(t, "range.wasm")
	for cfg, want := range map[string]string{
		`{"min": 5, "max": 1}`:           "min 5 is above max 1",
		`{"mni": 5}`:                     "unknown field",
		`{"unknown_unit": "ignore"}`:     "unknown_unit",
		`{"units": {"k": {"min": "x"}}}`: "cannot unmarshal",
	} {
		_, err := plugintest.Instance(t, p, cfg, nil)
		if sandbox.KindOf(err) != sandbox.KindConfig || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "range@1.0.0") {
			t.Errorf("config %s: want a config error containing %q, got %v", cfg, want, err)
		}
	}
}
