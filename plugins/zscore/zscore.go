// Package zscore is the "zscore" validator, an ordered one that keeps its
// statistics in the host's state (docs/plugin-abi.md §8): a value must lie
// within k standard deviations of the mean of the earlier accepted values
// of the same key (seed: 3σ per device), once warmup values of that key
// have been seen — counted across batches, since the state is carried from
// one committed batch to the next.
//
// Fields: value (number, /value), key (string, /device_id; absent means
// the key ""). Config (optional; defaults shown): {"k": 3, "warmup": 30}
// and, optionally, "window": W (2..1000): the statistics of the last W
// accepted values only.
//
// State, per key (the state key is "d" followed by the key, so a key of
// up to 256 bytes; a longer one is rejected as zscore.key_too_long):
//
//	without a window: u64 n, f64 mean, f64 m2 (Welford), 24 bytes
//	with a window:    u32 n, u32 next, then n f64 values (a ring: oldest at 0
//	                  until it is full, then at next, where the next value goes)
//
// all little-endian. Rejected values do not enter the statistics, just as
// quarantined records do not reach the output; so one spike does not widen
// the band for the next. When the standard deviation is 0 (a constant
// signal) no value is judged. An absent value passes and is not counted.
//
// Deterministic floating point: the verdicts and the state are computed in
// the WebAssembly guest, where +, -, ×, ÷ and sqrt on f64 are IEEE 754
// operations rounded to nearest-even on every machine (WebAssembly has no
// fused multiply-add in its core instruction set, and wazero runs the same
// semantics in its interpreter and its compiler). The source wraps every
// product that is added in float64(…), which forbids Go from fusing it on
// the platforms where it may (arm64, ppc64le, s390x), so the native build
// used in tests computes the same bits. The only values stored are finite:
// an update that would overflow rejects the record (zscore.overflow) and
// stores nothing, so NaN, whose bit patterns WebAssembly leaves open, never
// reaches the state.
package zscore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/pawl-dev/pawl/plugins/pdk"
	"github.com/pawl-dev/pawl/plugins/pdk/state"
)

const (
	colValue = 0
	colKey   = 1
)

// maxKey is the longest key kept: the manifest's max_key_bytes less the
// "d" prefix.
const maxKey = 256

// Config is the plugin's config.
type Config struct {
	K      float64 `json:"k"`
	Warmup int     `json:"warmup"`
	Window int     `json:"window"`
}

// Plugin is the zscore validator.
type Plugin struct {
	cfg      Config
	key, val []byte // buffers reused across records
}

// New returns the validator with the default config.
func New() *Plugin { return &Plugin{cfg: Config{K: 3, Warmup: 30}} }

// Init reads the config.
func (p *Plugin) Init(in pdk.Init) error {
	cfg := Config{K: 3, Warmup: 30}
	dec := json.NewDecoder(bytes.NewReader(in.Config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("zscore config: %v", err)
	}
	if !(cfg.K > 0) {
		return fmt.Errorf("zscore config: k %v: want a positive number of standard deviations", cfg.K)
	}
	if cfg.Window != 0 && (cfg.Window < 2 || cfg.Window > 1000) {
		return fmt.Errorf("zscore config: window %d: want 2..1000, or none for every value", cfg.Window)
	}
	if cfg.Warmup < 2 || (cfg.Window != 0 && cfg.Warmup > cfg.Window) {
		if cfg.Window != 0 {
			return fmt.Errorf("zscore config: warmup %d: want 2..window (%d)", cfg.Warmup, cfg.Window)
		}
		return fmt.Errorf("zscore config: warmup %d: want 2 or more", cfg.Warmup)
	}
	p.cfg = cfg
	return nil
}

// Stats are one key's statistics: Welford's count, mean and sum of
// squared deviations.
type Stats struct {
	N    uint64
	Mean float64
	M2   float64
}

// Add adds x (Welford's update); ok is false, and s unchanged, when the
// result would not be finite.
func (s Stats) Add(x float64) (Stats, bool) {
	n := s.N + 1
	d := x - s.Mean
	mean := s.Mean + d/float64(n)
	m2 := s.M2 + float64(d*(x-mean))
	if math.IsInf(d, 0) || math.IsInf(mean, 0) || math.IsInf(m2, 0) || math.IsNaN(m2) {
		return s, false
	}
	return Stats{n, mean, m2}, true
}

// SD is the population standard deviation.
func (s Stats) SD() float64 {
	if s.N == 0 {
		return 0
	}
	return math.Sqrt(s.M2 / float64(s.N))
}

// stats reads a key's statistics from its state value.
func (p *Plugin) stats(v []byte) Stats {
	le := binary.LittleEndian
	if p.cfg.Window == 0 {
		if len(v) != 24 {
			return Stats{}
		}
		return Stats{le.Uint64(v), math.Float64frombits(le.Uint64(v[8:])), math.Float64frombits(le.Uint64(v[16:]))}
	}
	var s Stats
	n, next := ringHeader(v)
	for i := 0; i < n; i++ { // oldest first
		j := i
		if n == p.cfg.Window {
			j = (next + i) % n
		}
		s, _ = s.Add(math.Float64frombits(le.Uint64(v[8+8*j:])))
	}
	return s
}

func ringHeader(v []byte) (n, next int) {
	if len(v) < 8 {
		return 0, 0
	}
	n, next = int(binary.LittleEndian.Uint32(v)), int(binary.LittleEndian.Uint32(v[4:]))
	if len(v) != 8+8*n || (n > 0 && next >= n) {
		return 0, 0
	}
	return n, next
}

// encode writes the state value of s after x was accepted (old is the
// value before).
func (p *Plugin) encode(old []byte, s Stats, x float64) []byte {
	le := binary.LittleEndian
	if p.cfg.Window == 0 {
		b := p.val[:0]
		b = le.AppendUint64(b, s.N)
		b = le.AppendUint64(b, math.Float64bits(s.Mean))
		b = le.AppendUint64(b, math.Float64bits(s.M2))
		p.val = b
		return b
	}
	n, next := ringHeader(old)
	b := append(p.val[:0], 0, 0, 0, 0, 0, 0, 0, 0)
	if n > 0 {
		b = append(b[:0], old[:8+8*n]...)
	}
	if n < p.cfg.Window {
		b = le.AppendUint64(b, math.Float64bits(x)) // the oldest stays at 0
		n++
	} else {
		le.PutUint64(b[8+8*next:], math.Float64bits(x))
		next = (next + 1) % n
	}
	le.PutUint32(b, uint32(n))
	le.PutUint32(b[4:], uint32(next))
	p.val = b
	return b
}

// Validate judges the records in order, updating each key's statistics in
// the host's state.
func (p *Plugin) Validate(b *pdk.Batch, r *pdk.Result) {
	vals := b.Numbers(colValue)
	keys := b.Strings(colKey)
	var buf [8016]byte
	for i := 0; i < b.N; i++ {
		v, ok := vals.Get(i)
		if !ok {
			continue
		}
		key, _ := keys.Get(i)
		if len(key) > maxKey {
			r.Reject(i, colKey, "zscore.key_too_long", "key of "+strconv.Itoa(len(key))+" bytes: zscore keeps statistics for keys of up to "+strconv.Itoa(maxKey)+" bytes")
			continue
		}
		p.key = append(append(p.key[:0], 'd'), key...)
		old, _ := state.Get(p.key, buf[:0])
		s := p.stats(old)
		if s.N >= uint64(p.cfg.Warmup) {
			mean, sd := s.Mean, s.SD()
			if sd > 0 && math.Abs(v-mean) > float64(p.cfg.K*sd) {
				z := (v - mean) / sd
				r.Reject(i, colValue, "zscore.outlier", "value "+strconv.FormatFloat(v, 'g', -1, 64)+
					" is "+strconv.FormatFloat(z, 'f', 2, 64)+" standard deviations from the rolling mean "+
					strconv.FormatFloat(mean, 'g', 6, 64)+" of key "+strconv.Quote(key)+" (limit "+strconv.FormatFloat(p.cfg.K, 'g', -1, 64)+")")
				continue
			}
		}
		if math.IsNaN(v) {
			continue // JSON has none; never stored
		}
		ns, ok := s.Add(v)
		if !ok {
			r.Reject(i, colValue, "zscore.overflow", "value "+strconv.FormatFloat(v, 'g', -1, 64)+" of key "+strconv.Quote(key)+" would make the statistics overflow a float64")
			continue
		}
		if p.cfg.Window != 0 {
			// the ring's statistics are recomputed from its values
			ns = Stats{}
		}
		state.Put(p.key, p.encode(old, ns, v))
	}
}
