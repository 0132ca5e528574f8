// Package zscore is the "zscore" validator, an ordered one: a value must
// lie within k standard deviations of the rolling mean of the last window
// accepted values of the same key (seed: 3σ per device), once warmup
// values of that key have been seen.
//
// Fields: value (number, /value), key (string, /device_id; absent means
// the key ""). Config (optional; defaults shown):
// {"k": 3, "warmup": 30, "window": 100}.
//
// Rejected values do not enter the statistics, just as quarantined records
// do not reach the output; so one spike does not widen the band for the
// next. When the window's standard deviation is 0 (a constant signal) no
// value is judged. An absent value passes and is not counted.
//
// Ordered: verdicts depend on every earlier record of the run, so the host
// runs it on a single instance in record order.
package zscore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pawl-dev/pawl/plugins/pdk"
)

const (
	colValue = 0
	colKey   = 1
)

// Config is the plugin's config.
type Config struct {
	K      float64 `json:"k"`
	Warmup int     `json:"warmup"`
	Window int     `json:"window"`
}

// Plugin is the zscore validator.
type Plugin struct {
	cfg  Config
	keys map[string]*stats
}

type stats struct {
	ring       []float64
	pos, n     int
	sum, sumsq float64
}

func (s *stats) add(v float64) {
	if s.n == len(s.ring) {
		old := s.ring[s.pos]
		s.sum -= old
		s.sumsq -= old * old
	} else {
		s.n++
	}
	s.ring[s.pos] = v
	s.sum += v
	s.sumsq += v * v
	s.pos++
	if s.pos == len(s.ring) {
		s.pos = 0
		// Recompute from the window once per lap so rounding errors of
		// the running sums never accumulate.
		s.sum, s.sumsq = 0, 0
		for _, x := range s.ring[:s.n] {
			s.sum += x
			s.sumsq += x * x
		}
	}
}

func (s *stats) meanSD() (float64, float64) {
	n := float64(s.n)
	mean := s.sum / n
	v := s.sumsq/n - mean*mean
	if v < 0 {
		v = 0
	}
	return mean, math.Sqrt(v)
}

// New returns the validator with the default config.
func New() *Plugin {
	return &Plugin{cfg: Config{K: 3, Warmup: 30, Window: 100}, keys: map[string]*stats{}}
}

// Init reads the config.
func (p *Plugin) Init(in pdk.Init) error {
	cfg := Config{K: 3, Warmup: 30, Window: 100}
	dec := json.NewDecoder(bytes.NewReader(in.Config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("zscore config: %v", err)
	}
	if !(cfg.K > 0) {
		return fmt.Errorf("zscore config: k %v: want a positive number of standard deviations", cfg.K)
	}
	if cfg.Window < 2 || cfg.Window > 1_000_000 {
		return fmt.Errorf("zscore config: window %d: want 2..1000000", cfg.Window)
	}
	if cfg.Warmup < 2 || cfg.Warmup > cfg.Window {
		return fmt.Errorf("zscore config: warmup %d: want 2..window (%d)", cfg.Warmup, cfg.Window)
	}
	p.cfg, p.keys = cfg, map[string]*stats{}
	return nil
}

// Validate judges the records in order, updating the per-key windows.
func (p *Plugin) Validate(b *pdk.Batch, r *pdk.Result) {
	vals := b.Numbers(colValue)
	keys := b.Strings(colKey)
	for i := 0; i < b.N; i++ {
		v, ok := vals.Get(i)
		if !ok {
			continue
		}
		key, _ := keys.Get(i)
		s := p.keys[key]
		if s == nil {
			// The key is a view of the batch: clone it to keep it.
			s = &stats{ring: make([]float64, p.cfg.Window)}
			p.keys[strings.Clone(key)] = s
		}
		if s.n >= p.cfg.Warmup {
			mean, sd := s.meanSD()
			if sd > 0 && math.Abs(v-mean) > p.cfg.K*sd {
				z := (v - mean) / sd
				r.Reject(i, colValue, "zscore.outlier", "value "+strconv.FormatFloat(v, 'g', -1, 64)+
					" is "+strconv.FormatFloat(z, 'f', 2, 64)+" standard deviations from the rolling mean "+
					strconv.FormatFloat(mean, 'g', 6, 64)+" of key "+strconv.Quote(key)+" (limit "+strconv.FormatFloat(p.cfg.K, 'g', -1, 64)+")")
				continue
			}
		}
		s.add(v)
	}
}
