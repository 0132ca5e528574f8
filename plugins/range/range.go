// Package rangecheck is the "range" validator: numeric bounds on a field,
// optionally per unit (seed: a temperature is at least absolute zero,
// -273.15 °C, -459.67 °F, 0 K).
//
// Fields: value (number, /value), unit (string, /unit; optional).
// Config (all optional; the defaults are the seed):
//
//	{"min": -273.15, "max": null,
//	 "units": {"celsius": {"min": -273.15}, "fahrenheit": {"min": -459.67}, "kelvin": {"min": 0}},
//	 "unknown_unit": "default"}
//
// Entries in the config's units are added to the default entries (or
// replace the entry of the same unit). A record whose unit has an entry in units is held to that entry's
// bounds; any other record to min/max ("unknown_unit": "reject" rejects a
// unit that has no entry instead). Bounds are inclusive; null means none.
// An absent value passes (presence is the schema's job).
package rangecheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/pawl-dev/pawl/plugins/pdk"
)

// Column indexes, in manifest order.
const (
	colValue = 0
	colUnit  = 1
)

// Bounds are inclusive limits; nil means unbounded.
type Bounds struct {
	Min *float64 `json:"min"`
	Max *float64 `json:"max"`
}

// Config is the plugin's config.
type Config struct {
	Min         *float64          `json:"min"`
	Max         *float64          `json:"max"`
	Units       map[string]Bounds `json:"units"`
	UnknownUnit string            `json:"unknown_unit"`
}

func f(v float64) *float64 { return &v }

// DefaultConfig is the seed: absolute zero in each unit.
func DefaultConfig() Config {
	return Config{
		Min: f(-273.15),
		Units: map[string]Bounds{
			"celsius":    {Min: f(-273.15)},
			"fahrenheit": {Min: f(-459.67)},
			"kelvin":     {Min: f(0)},
		},
		UnknownUnit: "default",
	}
}

// Plugin is the range validator.
type Plugin struct {
	cfg   Config
	units []unitBounds // cfg.Units as a slice: a few string compares cost less than a map lookup in Wasm
}

type unitBounds struct {
	unit string
	b    Bounds
}

// New returns the validator with the default config.
func New() *Plugin {
	p := &Plugin{}
	_ = p.Init(pdk.Init{Config: []byte("{}")})
	return p
}

// Init reads the config.
func (p *Plugin) Init(in pdk.Init) error {
	cfg := DefaultConfig()
	dec := json.NewDecoder(bytes.NewReader(in.Config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("range config: %v", err)
	}
	if cfg.UnknownUnit != "default" && cfg.UnknownUnit != "reject" {
		return fmt.Errorf("range config: unknown_unit %q: want \"default\" or \"reject\"", cfg.UnknownUnit)
	}
	check := func(where string, b Bounds) error {
		if b.Min != nil && b.Max != nil && *b.Min > *b.Max {
			return fmt.Errorf("range config: %s: min %v is above max %v", where, *b.Min, *b.Max)
		}
		return nil
	}
	if err := check("top level", Bounds{cfg.Min, cfg.Max}); err != nil {
		return err
	}
	for u, b := range cfg.Units {
		if err := check("units."+u, b); err != nil {
			return err
		}
	}
	p.cfg, p.units = cfg, nil
	for u, b := range cfg.Units {
		p.units = append(p.units, unitBounds{u, b})
	}
	// Map order is seeded, but the slice's order matters only for speed;
	// sort anyway so nothing depends on it.
	sort.Slice(p.units, func(i, j int) bool { return p.units[i].unit < p.units[j].unit })
	return nil
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Validate checks each present value against its bounds. The loop avoids
// calls and allocations on the passing path: in Go-built Wasm every call
// and every loop header pays the sandbox's interrupt check.
func (p *Plugin) Validate(b *pdk.Batch, r *pdk.Result) {
	vals := b.Numbers(colValue)
	units := b.Strings(colUnit)
	def := Bounds{p.cfg.Min, p.cfg.Max}
	lastUnit, lastIdx := "", -1
	for i := 0; i < b.N; i++ {
		v, ok := vals.Get(i)
		if !ok {
			continue
		}
		bounds, unit := def, -1
		if u, ok := units.Get(i); ok {
			if u != lastUnit || lastIdx < 0 {
				lastUnit, lastIdx = u, len(p.units)
				for k := range p.units {
					if p.units[k].unit == u {
						lastIdx = k
						break
					}
				}
			}
			if lastIdx < len(p.units) {
				bounds, unit = p.units[lastIdx].b, lastIdx
			} else if p.cfg.UnknownUnit == "reject" {
				r.Reject(i, colUnit, "range.unit", "unit "+pdk.QuoteValue(u)+" has no configured bounds")
				continue
			}
		}
		if bounds.Min != nil && v < *bounds.Min {
			r.Reject(i, colValue, "range.min", "value "+num(v)+" is below the minimum "+num(*bounds.Min)+p.unitDesc(unit))
		} else if bounds.Max != nil && v > *bounds.Max {
			r.Reject(i, colValue, "range.max", "value "+num(v)+" is above the maximum "+num(*bounds.Max)+p.unitDesc(unit))
		}
	}
}

func (p *Plugin) unitDesc(k int) string {
	if k < 0 {
		return ""
	}
	return " for unit " + strconv.Quote(p.units[k].unit)
}
