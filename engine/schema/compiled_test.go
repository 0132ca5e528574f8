package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/records"
)

// library returns s with the compiled path removed: every record goes to
// the library, as before the compiled path existed.
func library(s *Schema) *Schema {
	l := *s
	l.fast = nil
	return &l
}

// TestCompiledCoversExamples: the example contracts pawl ships compile
// entirely, so that every valid record is decided without the library.
func TestCompiledCoversExamples(t *testing.T) {
	for _, p := range []string{seedPath, "../project/scaffold/sensor-reading.json"} {
		s := mustCompile(t, p)
		if s.fast == nil || s.falls != 0 {
			t.Errorf("%s: compiled path %v, %d of %d schemas left to the library; want all compiled", p, s.fast != nil, s.falls, s.nodes)
		}
		if s.fast != nil && s.fast.props["device_id"].simple == nil {
			t.Errorf("%s: the device_id pattern goes through the regexp machine, not the one-pass matcher", p)
		}
	}
}

// TestCompiledAllocatesNothing: a valid record costs no allocation, which
// is most of what the compiled path is for (the library allocates 31
// times per reading, big.Rat included).
func TestCompiledAllocatesNothing(t *testing.T) {
	s := mustCompile(t, seedPath)
	for _, r := range []string{
		`{"device_id":"AB-123456","timestamp":"2024-05-01T12:00:00Z","value":21.5,"unit":"celsius"}`,
		`{"device_id":"ZZ-000000","timestamp":"2024-02-29T23:59:59.123456+05:30","value":-273.15,"unit":"kelvin"}`,
		`{"device_id":"AB-123456","timestamp":"2024-05-01T12:00:00Z","value":1e300,"unit":"fahrenheit"}`,
	} {
		rec := record(t, r)
		if vs := s.Validate(rec); vs != nil {
			t.Fatalf("%s: %s", r, dump(vs))
		}
		if n := testing.AllocsPerRun(100, func() { s.Validate(rec) }); n != 0 {
			t.Errorf("%s: %v allocations per Validate, want 0", r, n)
		}
	}
}

// TestCompiledSameReasons: invalid records get exactly the library's
// violations, including the ones only exact arithmetic decides.
func TestCompiledSameReasons(t *testing.T) {
	s := compileInline(t, `{
		"type": "object",
		"properties": {
			"i": {"type": "integer"},
			"m": {"multipleOf": 0.01},
			"x": {"exclusiveMaximum": 1e-30, "minimum": -1e30},
			"big": {"maximum": 98249283749234923498293171823948729348710298301928331},
			"third": {"multipleOf": 0.3333333333333333333333333},
			"e": {"enum": [1, "1", [1.0], {"a": 10}]},
			"s": {"minLength": 2, "maxLength": 3},
			"a": {"prefixItems": [{"const": 1}], "items": false, "uniqueItems": true}
		}
	}`)
	lib := library(s)
	if s.fast == nil || s.falls != 0 {
		t.Fatalf("want the whole schema compiled; %d of %d left to the library", s.falls, s.nodes)
	}
	for _, r := range []string{
		`{"i": 1.0, "m": 0.07, "x": -1e30, "big": 98249283749234923498293171823948729348710298301928331, "third": 0.6666666666666666666666666, "e": [1], "s": "héé", "a": [1.0]}`,
		`{"i": 1.5, "m": 0.075, "x": 1e-30, "big": 98249283749234923498293171823948729348710298301928332, "third": 0.6, "e": [2], "s": "h", "a": [1, 2]}`,
		`{"i": 12345678901234567890123.0, "m": 1e-3, "x": -1.0000000000000000000001e30, "e": {"a": 1e1}, "s": "éééé", "a": [2]}`,
		`{"i": "1", "m": 123456789012345678901234567890.01, "e": "1", "a": [1, 1]}`,
		`[]`,
	} {
		rec := record(t, r)
		got, want := s.Validate(rec), lib.Validate(rec)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: compiled\n%slibrary\n%s", r, dump(got), dump(want))
		}
		if fast, libValid := s.fast.valid(rec), want == nil; fast != libValid {
			t.Errorf("%s: compiled verdict valid=%v, library valid=%v", r, fast, libValid)
		}
	}
}

// TestDecimal compares the compiled path's number arithmetic with big.Rat
// on numbers drawn near the edges: 19 and 20 significant digits, zeros,
// large and small exponents, trailing zeros.
func TestDecimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 16))
	gen := func() string {
		var sb strings.Builder
		if rng.IntN(3) == 0 {
			sb.WriteByte('-')
		}
		digits := rng.IntN(22)
		if digits == 0 || rng.IntN(8) == 0 {
			sb.WriteByte('0')
		} else {
			sb.WriteByte(byte('1' + rng.IntN(9)))
			for range digits - 1 {
				sb.WriteByte(byte('0' + rng.IntN(10)*rng.IntN(2)))
			}
		}
		if rng.IntN(2) == 0 {
			sb.WriteByte('.')
			for range 1 + rng.IntN(20) {
				sb.WriteByte(byte('0' + rng.IntN(10)*rng.IntN(2)))
			}
		}
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&sb, "e%d", rng.IntN(80)-40)
		}
		return sb.String()
	}
	rat := func(s string) *big.Rat {
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("big.Rat cannot read %q", s)
		}
		return r
	}
	fits := 0
	for range 4000 {
		a, b := gen(), gen()
		ra, rb := rat(a), rat(b)
		da, oka := parseDec(a)
		la := newLimit(ra)
		if oka {
			fits++
			if !la.fit || la.d != da {
				t.Fatalf("%s: parsed %+v, from big.Rat %+v (fit %v)", a, da, la.d, la.fit)
			}
			if da.isInt() != ra.IsInt() {
				t.Fatalf("%s: isInt %v", a, da.isInt())
			}
		}
		lb := newLimit(rb)
		if got, want := lb.cmp(json.Number(a), da, oka), ra.Cmp(rb); got != want {
			t.Fatalf("cmp(%s, %s) = %d, want %d", a, b, got, want)
		}
		if got, want := numEqual(json.Number(a), json.Number(b)), ra.Cmp(rb) == 0; got != want {
			t.Fatalf("numEqual(%s, %s) = %v", a, b, got)
		}
		if rb.Sign() > 0 {
			if got, want := lb.divides(json.Number(a), da, oka), new(big.Rat).Quo(ra, rb).IsInt(); got != want {
				t.Fatalf("multipleOf(%s, %s) = %v, want %v", a, b, got, want)
			}
		}
	}
	if fits < 1000 || fits > 3800 {
		t.Errorf("%d of 4000 numbers fit a dec: the generator no longer tests both sides of the edge", fits)
	}
	// A rational that is no finite decimal keeps to big.Rat.
	if l := newLimit(big.NewRat(1, 3)); l.fit {
		t.Errorf("1/3 fits a dec: %+v", l.d)
	}
}

// TestFastDateTime: what fastDateTime accepts the library's date-time
// accepts; and it accepts the common shapes (else it saves nothing).
func TestFastDateTime(t *testing.T) {
	f := dateTimeFormat(t)
	for _, s := range []string{
		"2024-05-01T12:00:00Z", "2024-02-29T00:00:00.5+01:00", "2000-02-29t23:59:59z",
		"0000-02-29T12:00:00-23:59", "1999-12-31T23:59:59.123456789Z",
	} {
		if !fastDateTime(s) {
			t.Errorf("fastDateTime(%q) = false", s)
		}
		if err := f.Validate(s); err != nil {
			t.Errorf("library refuses %q: %v", s, err)
		}
	}
	for _, s := range []string{
		"2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-13-01T00:00:00Z",
		"2024-05-01 12:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00+1:00",
		"2024-05-01T12:00:00+24:00", "2024-05-01T12:00:00", "2024-05-01T23:59:60Z",
	} {
		if fastDateTime(s) {
			t.Errorf("fastDateTime(%q) = true", s)
		}
	}
}

func dateTimeFormat(t testing.TB) interface{ Validate(any) error } {
	s, err := CompileURL("http://pawl.test/dt.json", Options{Load: func(string) (any, error) {
		return DecodeJSON([]byte(`{"format": "date-time"}`))
	}})
	if err != nil || s.sch.Format == nil {
		t.Fatalf("date-time schema: %v", err)
	}
	return formatFunc(s.sch.Format.Validate)
}

type formatFunc func(any) error

func (f formatFunc) Validate(v any) error { return f(v) }

// BenchmarkValidateLibrary is BenchmarkValidate before the compiled path:
// the same record through the library alone.
func BenchmarkValidateLibrary(b *testing.B) {
	s := library(mustCompile(b, seedPath))
	rec := record(b, `{"device_id":"AB-123456","timestamp":"2024-05-01T12:00:00Z","value":21.5,"unit":"celsius"}`)
	b.ReportAllocs()
	for b.Loop() {
		if vs := s.Validate(rec); vs != nil {
			b.Fatal(vs)
		}
	}
}

// BenchmarkSensorReadings is the ratchet's schema stage on what the demo
// feeds it: 10,000 generated readings (0.8% with a defect, as in
// build/bench.sh) decoded by pawl's record decoder, one record per op,
// through the library alone and through Validate as pawl runs it.
func BenchmarkSensorReadings(b *testing.B) {
	var buf bytes.Buffer
	if err := demo.GenerateSensorReadings(&buf, demo.GenOptions{Records: 10000, Seed: 1, AsOf: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), FailureRate: 0.008}); err != nil {
		b.Fatal(err)
	}
	var recs []any
	for line := range bytes.Lines(buf.Bytes()) {
		v, err := records.DecodeJSON(bytes.TrimSuffix(line, []byte("\n")), records.DecodeOptions{RequireObject: true})
		if err != nil {
			continue // a defect the decode stage rejects before the schema
		}
		recs = append(recs, v)
	}
	s := mustCompile(b, seedPath)
	for _, c := range []struct {
		name string
		s    *Schema
	}{{"library", library(s)}, {"compiled", s}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.s.Validate(recs[i])
				if i++; i == len(recs) {
					i = 0
				}
			}
		})
	}
}

// simplePatterns compiles each pattern as the library does and the simple
// matcher of each, nil where the shape is not simple.
func simplePatterns(t testing.TB, patterns []string) ([]*regexp.Regexp, []*simplePattern) {
	res := make([]*regexp.Regexp, len(patterns))
	sps := make([]*simplePattern, len(patterns))
	for i, p := range patterns {
		res[i] = regexp.MustCompile(p)
		sps[i] = newSimplePattern(res[i])
	}
	return res, sps
}

// TestSimplePattern: the one-pass matcher agrees with regexp on every
// pattern it takes, and takes the shapes contracts use.
func TestSimplePattern(t *testing.T) {
	patterns := []string{
		"^[A-Z]{2}-[0-9]{6}$", "^[a-z]+$", "^a.b*$", "^[^a]é?$", `^\d{2,}$`, "^(ab)c{0,1}$", "^.{2}$",
		"^$", "^A\\z", `^\p{Lu}x$`, "^[a-c]{2,3}$", // simple ({2,3}: two, then one optional)
		"a", "^(?i)ab$", "(?m)^a$", "^a|b$", "^a*b$", "^(ab)+$", "",
	}
	simple := map[string]bool{
		"^[A-Z]{2}-[0-9]{6}$": true, "^[a-z]+$": true, "^a.b*$": true, "^[^a]é?$": true, `^\d{2,}$`: true,
		"^(ab)c{0,1}$": true, "^.{2}$": true, "^$": true, "^A\\z": true, `^\p{Lu}x$`: true, "^[a-c]{2,3}$": true,
	}
	strs := []string{
		"", "a", "b", "ab", "abb", "abc", "AB-123456", "AB-12345", "ab-123456", "AB-1234567", "ÄB-123456",
		"xé", "é", "ax", "a\nb", "\xff\xfe", "a\xffb", "12", "1", "123", "٣٣", "Éx", "A", "A\n", "abcc", "aéb",
	}
	res, sps := simplePatterns(t, patterns)
	for i, p := range patterns {
		if (sps[i] != nil) != simple[p] {
			t.Errorf("%s: simple %v, want %v", p, sps[i] != nil, simple[p])
		}
		if sps[i] == nil {
			continue
		}
		for _, s := range strs {
			if got, want := sps[i].match(s), res[i].MatchString(s); got != want {
				t.Errorf("%s on %q: %v, regexp %v", p, s, got, want)
			}
		}
	}
}
