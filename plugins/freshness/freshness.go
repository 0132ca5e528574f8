// Package freshness is the "freshness" validator: a timestamp must be a
// strict RFC 3339 date-time with a timezone, no older than max_age before
// the batch's as-of time and no later than max_skew after it (seed: within
// the last 24 hours).
//
// Fields: timestamp (string, /timestamp).
// Config (optional; defaults shown): {"max_age": "24h", "max_skew": "5m"},
// durations in Go's syntax (ParseDuration).
//
// Strict means: YYYY-MM-DDTHH:MM:SS, an optional fraction of 1 to 9
// digits, then Z or ±HH:MM; the date must exist (no February 30) and a
// leap second (:60) is refused. "T" and "Z" may be lower case, as RFC
// 3339 §5.6 allows. An absent timestamp passes (presence is the schema's job).
package freshness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pawl-dev/pawl/plugins/pdk"
)

const colTimestamp = 0

// Config is the plugin's config.
type Config struct {
	MaxAge  string `json:"max_age"`
	MaxSkew string `json:"max_skew"`
}

// Plugin is the freshness validator.
type Plugin struct {
	maxAge, maxSkew int64 // nanoseconds
}

// New returns the validator with the default config.
func New() *Plugin { return &Plugin{maxAge: int64(24 * time.Hour), maxSkew: int64(5 * time.Minute)} }

// Init reads the config.
func (p *Plugin) Init(in pdk.Init) error {
	cfg := Config{MaxAge: "24h", MaxSkew: "5m"}
	dec := json.NewDecoder(bytes.NewReader(in.Config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("freshness config: %v", err)
	}
	age, err := time.ParseDuration(cfg.MaxAge)
	if err != nil || age <= 0 {
		return fmt.Errorf("freshness config: max_age %q: want a positive duration such as \"24h\"", cfg.MaxAge)
	}
	skew, err := time.ParseDuration(cfg.MaxSkew)
	if err != nil || skew < 0 {
		return fmt.Errorf("freshness config: max_skew %q: want a duration such as \"5m\" (\"0s\" for none)", cfg.MaxSkew)
	}
	p.maxAge, p.maxSkew = int64(age), int64(skew)
	return nil
}

// Validate checks each present timestamp against the batch's as-of time.
func (p *Plugin) Validate(b *pdk.Batch, r *pdk.Result) {
	ts := b.Strings(colTimestamp)
	asOf := b.AsOf.UnixNano()
	for i := 0; i < b.N; i++ {
		s, ok := ts.Get(i)
		if !ok {
			continue
		}
		t, why := ParseRFC3339(s)
		if why != "" {
			r.Reject(i, colTimestamp, "freshness.format", pdk.QuoteValue(s)+" is not an RFC 3339 date-time with a timezone: "+why)
			continue
		}
		age := asOf - t
		switch {
		case age > p.maxAge:
			r.Reject(i, colTimestamp, "freshness.stale", s+" is "+dur(age)+" before the as-of time "+b.AsOf.Format(time.RFC3339Nano)+"; the limit is "+dur(p.maxAge))
		case -age > p.maxSkew:
			r.Reject(i, colTimestamp, "freshness.future", s+" is "+dur(-age)+" after the as-of time "+b.AsOf.Format(time.RFC3339Nano)+"; the allowed skew is "+dur(p.maxSkew))
		}
	}
}

func dur(ns int64) string { return time.Duration(ns).String() }

// ParseRFC3339 parses a strict RFC 3339 date-time to Unix nanoseconds, or
// says what is wrong with it. Hand-written: faster than time.Parse in the
// guest, and stricter (the offset is required, the date must exist).
func ParseRFC3339(s string) (int64, string) {
	if len(s) < 20 {
		return 0, "too short"
	}
	d := func(i, n int) (int, bool) { return digits(s, i, n) }
	year, ok1 := d(0, 4)
	month, ok2 := d(5, 2)
	day, ok3 := d(8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' {
		return 0, "the date is not YYYY-MM-DD"
	}
	if s[10] != 'T' && s[10] != 't' {
		return 0, "no T between date and time"
	}
	hour, ok1 := d(11, 2)
	min, ok2 := d(14, 2)
	sec, ok3 := d(17, 2)
	if !ok1 || !ok2 || !ok3 || s[13] != ':' || s[16] != ':' {
		return 0, "the time is not HH:MM:SS"
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return 0, "no such date"
	}
	if hour > 23 || min > 59 || sec > 59 {
		return 0, "no such time of day"
	}
	i := 19
	nanos := 0
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if i-start < 9 {
				nanos = nanos*10 + int(s[i]-'0')
			}
			i++
		}
		n := i - start
		if n == 0 || n > 9 {
			return 0, "the fraction of a second has no digits or more than 9"
		}
		for ; n < 9; n++ {
			nanos *= 10
		}
	}
	if i >= len(s) {
		return 0, "no timezone (Z or ±HH:MM)"
	}
	offset := 0
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(s)-i != 6 || s[i+3] != ':' {
			return 0, "the offset is not ±HH:MM"
		}
		oh, ok1 := d(i+1, 2)
		om, ok2 := d(i+4, 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, "the offset is not ±HH:MM"
		}
		offset = oh*3600 + om*60
		if s[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return 0, "no timezone (Z or ±HH:MM)"
	}
	if i != len(s) {
		return 0, "text after the timezone"
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+min*60+sec) - int64(offset)
	return secs*1e9 + int64(nanos), ""
}

// digits reads s[i:i+n] as a decimal number (n is 2 or 4).
func digits(s string, i, n int) (int, bool) {
	a, b := int(s[i])-'0', int(s[i+1])-'0'
	if uint(a) > 9 || uint(b) > 9 {
		return 0, false
	}
	if n == 2 {
		return a*10 + b, true
	}
	c, d := int(s[i+2])-'0', int(s[i+3])-'0'
	if uint(c) > 9 || uint(d) > 9 {
		return 0, false
	}
	return a*1000 + b*100 + c*10 + d, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is days since 1970-01-01 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
