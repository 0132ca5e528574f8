package rangecheck

import (
	"math"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
	"github.com/pawl-dev/pawl/plugins/pdk"
)

// rec is one record: a value and a unit, each present or absent.
type rec struct {
	v       float64
	hasV    bool
	unit    string
	hasUnit bool
}

func in(v float64, unit string) rec { return rec{v, true, unit, true} }
func bare(v float64) rec            { return rec{v: v, hasV: true} }
func noValue(unit string) rec       { return rec{unit: unit, hasUnit: true} }

func batch(fields []sandbox.Field, recs []rec) *sandbox.Batch {
	b := sandbox.NewBatch(fields, len(recs))
	for i, r := range recs {
		if r.hasV {
			b.SetNumber(colValue, i, r.v)
		}
		if r.hasUnit {
			b.SetString(colUnit, i, r.unit)
		}
	}
	return b
}

const (
	belowC = `range.min on value: value %s is below the minimum -273.15 for unit "celsius"`
	belowF = `range.min on value: value %s is below the minimum -459.67 for unit "fahrenheit"`
	belowK = `range.min on value: value %s is below the minimum 0 for unit "kelvin"`
	below  = `range.min on value: value %s is below the minimum -273.15`
)

func msg(format, v string) string { return strings.Replace(format, "%s", v, 1) }

// rangeCases cover every rule (range.min, range.max, range.unit), every
// config field, the bounds themselves and the values next to them, the
// values JSON cannot carry (±Inf, NaN), absent values and units, and the
// order of units in a batch (Validate remembers the last unit's entry).
var rangeCases = []struct {
	name   string
	config string
	recs   []rec
	want   []string
}{
	{"seed: absolute zero per unit", "", []rec{
		in(20, "celsius"),
		in(-273.15, "celsius"), // the bound itself passes
		in(math.Nextafter(-273.15, math.Inf(-1)), "celsius"),
		in(-273.16, "celsius"),
		in(-459.67, "fahrenheit"), // absolute zero in °F
		in(-459.68, "fahrenheit"),
		in(-300, "fahrenheit"), // below -273.15 but fine in °F
		in(0, "kelvin"),
		in(math.Copysign(0, -1), "kelvin"), // -0 is not below 0
		in(-0.5, "kelvin"),
		in(-5e-324, "kelvin"), // the negative number closest to 0
		in(1e308, "kelvin"),   // no maximum
	}, []string{
		"", "",
		msg(belowC, "-273.15000000000003"),
		msg(belowC, "-273.16"),
		"",
		msg(belowF, "-459.68"),
		"", "", "",
		msg(belowK, "-0.5"),
		msg(belowK, "-5e-324"),
		"",
	}},
	{"seed: values JSON cannot carry", "", []rec{
		in(math.Inf(1), "celsius"),
		in(math.Inf(-1), "kelvin"),
		in(math.NaN(), "kelvin"), // NaN compares false with every bound: it passes
		bare(math.Inf(-1)),
		bare(math.NaN()),
	}, []string{
		"",
		msg(belowK, "-Inf"),
		"",
		msg(below, "-Inf"),
		"",
	}},
	{"seed: no unit, unknown units and absent values", "", []rec{
		bare(-280),          // no unit: the top-level bounds
		bare(-273.15),       // ... inclusive
		in(-200, "rankine"), // a unit without an entry: the top-level bounds too
		in(-280, "rankine"), // ... and the reason names no unit
		in(-280, "Celsius"), // units are case-sensitive
		in(-280, ""),        // a present empty unit has no entry either
		noValue("celsius"),  // an absent value passes
		{},                  // so does a record with neither
		noValue("rankine"),
	}, []string{
		msg(below, "-280"),
		"",
		"",
		msg(below, "-280"),
		msg(below, "-280"),
		msg(below, "-280"),
		"", "", "",
	}},
	{"seed: the remembered unit follows the records", "", []rec{
		in(-1, "kelvin"),
		in(-1, "kelvin"),
		in(-1, "celsius"),
		in(-1, "kelvin"),
		in(-1, "rankine"),
		in(-274, "rankine"),
		in(-1, "kelvin"),
		bare(-1),
		in(-1, "kelvin"),
		in(-274, ""),
		in(-274, "celsius"),
	}, []string{
		msg(belowK, "-1"), msg(belowK, "-1"),
		"",
		msg(belowK, "-1"),
		"",
		msg(below, "-274"),
		msg(belowK, "-1"),
		"",
		msg(belowK, "-1"),
		msg(below, "-274"),
		msg(belowC, "-274"),
	}},
	{"max, and reject units without an entry", `{"max": 100, "unknown_unit": "reject"}`, []rec{
		bare(101),
		bare(100), // the bound itself passes
		bare(math.Nextafter(100, math.Inf(1))),
		bare(math.Inf(1)),
		bare(-274),             // the top-level min is still the seed's
		in(101, "celsius"),     // celsius has its own entry, without a max
		in(5, "rankine"),       // no entry: rejected, on the unit
		in(5, "rankine"),       // ... every time
		in(-1, "kelvin"),       // an entry: its bounds
		in(5, ""),              // a present empty unit has no entry
		noValue("rankine"),     // an absent value passes before the unit is looked at
		bare(5),                // no unit at all is not an unknown unit
		in(-1e9, "Fahrenheit"), // case-sensitive
	}, []string{
		"range.max on value: value 101 is above the maximum 100",
		"",
		"range.max on value: value 100.00000000000001 is above the maximum 100",
		"range.max on value: value +Inf is above the maximum 100",
		"range.min on value: value -274 is below the minimum -273.15",
		"",
		`range.unit on unit: unit "rankine" has no configured bounds`,
		`range.unit on unit: unit "rankine" has no configured bounds`,
		msg(belowK, "-1"),
		`range.unit on unit: unit "" has no configured bounds`,
		"",
		"",
		`range.unit on unit: unit "Fahrenheit" has no configured bounds`,
	}},
	{"unknown_unit default, spelled out", `{"unknown_unit": "default", "min": -10, "max": 10}`, []rec{
		in(11, "rankine"),
		in(-11, "rankine"),
		in(10, "rankine"),
		in(-10, "rankine"),
		in(-11, "celsius"),
	}, []string{
		"range.max on value: value 11 is above the maximum 10",
		"range.min on value: value -11 is below the minimum -10",
		"", "", "",
	}},
	{"an entry replaces the seed's entry of its unit", `{"units": {"kelvin": {"min": 10, "max": 20}}}`, []rec{
		in(5, "kelvin"),
		in(25, "kelvin"),
		in(10, "kelvin"),
		in(20, "kelvin"),
		in(-400, "fahrenheit"), // the other seed entries stay
		in(-280, "celsius"),
	}, []string{
		`range.min on value: value 5 is below the minimum 10 for unit "kelvin"`,
		`range.max on value: value 25 is above the maximum 20 for unit "kelvin"`,
		"", "", "",
		msg(belowC, "-280"),
	}},
	{"an entry is the whole of its unit's bounds", `{"units": {"psi": {"max": 150}, "celsius": {"min": null}}}`, []rec{
		in(151, "psi"),
		in(150, "psi"),
		in(-1000, "psi"),     // no min in the entry: not the top-level one
		in(-1000, "celsius"), // the seed's celsius minimum is gone
		in(-1, "kelvin"),     // kelvin's is not
		bare(-1000),          // nor the top-level one
	}, []string{
		`range.max on value: value 151 is above the maximum 150 for unit "psi"`,
		"", "", "",
		msg(belowK, "-1"),
		msg(below, "-1000"),
	}},
	{"top-level min null: no lower bound", `{"min": null, "max": 1e21}`, []rec{
		bare(-1e300),
		bare(2e21),
		bare(1e21),
		in(-300, "celsius"),
	}, []string{
		"",
		"range.max on value: value 2e+21 is above the maximum 1e+21",
		"",
		msg(belowC, "-300"),
	}},
	{"min equal to max", `{"min": 0, "max": 0}`, []rec{
		bare(0), bare(-1), bare(1), bare(math.Copysign(0, -1)),
	}, []string{
		"",
		"range.min on value: value -1 is below the minimum 0",
		"range.max on value: value 1 is above the maximum 0",
		"",
	}},
	{"an entry for the empty unit", `{"units": {"": {"min": 5}}, "unknown_unit": "reject"}`, []rec{
		in(4, ""), // the first record: nothing remembered yet
		in(5, ""),
		in(4, "rankine"),
		in(4, ""),
		bare(4), // no unit is not the unit ""
	}, []string{
		`range.min on value: value 4 is below the minimum 5 for unit ""`,
		"",
		`range.unit on unit: unit "rankine" has no configured bounds`,
		`range.min on value: value 4 is below the minimum 5 for unit ""`,
		"",
	}},
	{"an empty batch", "", nil, nil},
}

func TestRange(t *testing.T) {
	for _, impl := range plugintest.Impls(t, "range.wasm", func() pdk.Plugin { return New() }) {
		t.Run(impl.Name, func(t *testing.T) {
			for _, tc := range rangeCases {
				got := plugintest.Run(t, impl, tc.config, nil, batch(impl.Manifest.Fields, tc.recs))
				if len(got) != len(tc.want) {
					t.Fatalf("%s: %d verdicts, want %d", tc.name, len(got), len(tc.want))
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("%s: record %d %+v:\n got %q\nwant %q", tc.name, i, tc.recs[i], got[i], tc.want[i])
					}
				}
			}
		})
	}
}

func TestRangeRefusesBadConfig(t *testing.T) {
	cases := map[string]string{
		`{"min": 5, "max": 1}`:                                     "range config: top level: min 5 is above max 1",
		`{"units": {"kelvin": {"min": 3, "max": 2}}}`:              "range config: units.kelvin: min 3 is above max 2",
		`{"units": {"k": {"min": 1}, "x": {"min": 2, "max": -2}}}`: "units.x: min 2 is above max -2",
		`{"mni": 5}`:                     `range config: json: unknown field "mni"`,
		`{"units": {"k": {"mini": 1}}}`:  `unknown field "mini"`,
		`{"unknown_unit": "ignore"}`:     `range config: unknown_unit "ignore": want "default" or "reject"`,
		`{"unknown_unit": ""}`:           `unknown_unit ""`,
		`{"units": {"k": {"min": "x"}}}`: "cannot unmarshal string",
		`{"max": "100"}`:                 "cannot unmarshal string",
		`[1]`:                            "cannot unmarshal array",
	}
	for _, impl := range plugintest.Impls(t, "range.wasm", func() pdk.Plugin { return New() }) {
		t.Run(impl.Name, func(t *testing.T) {
			for cfg, want := range cases {
				_, err := impl.New(t, cfg, nil)
				if sandbox.KindOf(err) != sandbox.KindConfig || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "range@1.1.0") {
					t.Errorf("config %s: want a config error containing %q, got %v", cfg, want, err)
				}
			}
		})
	}
}

// TestRangeDefaultConfig: New is the seed, and Init starts from it
// whatever the plugin was initialised with before.
func TestRangeDefaultConfig(t *testing.T) {
	p := New()
	if *p.cfg.Min != -273.15 || p.cfg.Max != nil || p.cfg.UnknownUnit != "default" || len(p.units) != 3 {
		t.Fatalf("New: %+v", p.cfg)
	}
	for i, want := range []string{"celsius", "fahrenheit", "kelvin"} {
		if p.units[i].unit != want {
			t.Errorf("units[%d] = %q, want %q (sorted)", i, p.units[i].unit, want)
		}
	}
	if err := p.Init(pdk.Init{Config: []byte(`{"units": {"psi": {"max": 1}}, "unknown_unit": "reject"}`)}); err != nil {
		t.Fatal(err)
	}
	if len(p.units) != 4 || p.units[2].unit != "kelvin" || p.units[3].unit != "psi" {
		t.Fatalf("units %+v", p.units)
	}
	if err := p.Init(pdk.Init{Config: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if len(p.units) != 3 || p.cfg.UnknownUnit != "default" {
		t.Fatalf("a second Init kept the first's config: %+v %+v", p.cfg, p.units)
	}
	// A refused config leaves the plugin as it was.
	if err := p.Init(pdk.Init{Config: []byte(`{"min": 2, "max": 1}`)}); err == nil || *p.cfg.Min != -273.15 {
		t.Fatalf("err %v, cfg %+v", err, p.cfg)
	}
}
