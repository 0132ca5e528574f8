package rangecheck

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
)

// specialFloats are the values where shortest formatting and correct
// rounding go wrong first: powers of two (the rounding interval is
// lopsided), the ends of the range, subnormals, the switch between 'e'
// and 'f' in %g, halfway cases, integers near 2^53.
func specialFloats() []float64 {
	v := []float64{0, 1, -1, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 100, 1e5, 1e6, 999999, 1e21, 1e20, 1e-4, 1e-5, 0.00012345,
		123456, 1234567, 5e-324, 1e-323, 2.2250738585072014e-308, 2.225073858507201e-308, math.MaxFloat64,
		math.SmallestNonzeroFloat64, 9007199254740992, 9007199254740993, 4503599627370496.5, 0.5, 1.5, 2.5,
		-273.15, -459.67, 1e23, 8.41e21, 5e-310, 1.7976931348623157e308 / 3, 295147905179352825856.0,
		7.038531e-26, 9.5e-5, 1.448997445238699, 0.000001, 123456789012345680}
	for e := -1074; e <= 1023; e += 41 {
		v = append(v, math.Ldexp(1, e), math.Nextafter(math.Ldexp(1, e), 0), math.Nextafter(math.Ldexp(1, e), math.Inf(1)))
	}
	for e := -325; e <= 308; e += 19 {
		x, _ := strconv.ParseFloat("1e"+strconv.Itoa(e), 64)
		v = append(v, x, math.Nextafter(x, 0))
	}
	return v
}

// randomFloats are random bit patterns (finite ones: mostly huge or tiny,
// which the exact algorithm takes long over, so fewer of them) and random
// decimals of ordinary size, as readings are: the C module must format
// and read them as Go does.
func randomFloats(bits, decimals int) []float64 {
	rng := rand.New(rand.NewPCG(16, 1))
	var v []float64
	for len(v) < bits {
		if x := math.Float64frombits(rng.Uint64()); !math.IsInf(x, 0) && !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	for ; decimals > 0; decimals-- {
		d, _ := strconv.ParseFloat(strconv.Itoa(rng.IntN(2_000_000)-1_000_000)+"e"+strconv.Itoa(rng.IntN(30)-20), 64)
		v = append(v, d, d*(1+rng.Float64()))
	}
	return v
}

// TestRangeFormatsLikeGo: the C module's numbers are Go's
// strconv.FormatFloat(v, 'g', -1, 64) — the value, through a batch, and
// the bound, through the config (so its JSON number is read exactly as
// Go's ParseFloat reads it) — for special and random values; its quoted
// units are strconv.Quote's for every kind of rune.
func TestRangeFormatsLikeGo(t *testing.T) {
	p := plugintest.Load(t, "range.wasm")
	ctx := context.Background()
	vals := append(specialFloats(), randomFloats(100, 1000)...)

	// Values: every finite value but the lowest is above this maximum.
	in, err := plugintest.Instance(t, p, `{"min": null, "max": -1.7976931348623157e308}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := sandbox.NewBatch(p.Manifest().Fields, len(vals))
	for i, v := range vals {
		if i%2 == 1 {
			v = -v // both signs
		}
		b.SetNumber(colValue, i, v)
	}
	verdicts, err := in.Validate(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range verdicts {
		x := b.Columns[colValue].Num[i]
		want := "value " + strconv.FormatFloat(x, 'g', -1, 64) + " is above the maximum -1.7976931348623157e+308"
		if x == -math.MaxFloat64 {
			want = ""
		}
		if got := reasonText(v); got != want {
			t.Errorf("value %b: got %q, want %q", x, got, want)
		}
	}

	// Bounds: the config's JSON number, written as Go writes it (and in
	// other spellings of the same value), read and written back.
	one := sandbox.NewBatch(p.Manifest().Fields, 1)
	one.SetNumber(colValue, 0, math.Inf(-1))
	for k, v := range vals[:150] {
		text := strconv.FormatFloat(v, 'g', -1, 64)
		switch k % 3 {
		case 1:
			text = strconv.FormatFloat(v, 'e', 25, 64) // more digits than needed: rounding
		case 2:
			text = strconv.FormatFloat(v, 'E', -1, 64)
		}
		in, err := plugintest.Instance(t, p, `{"min": `+text+`}`, nil)
		if err != nil {
			t.Fatalf("min %s: %v", text, err)
		}
		verdicts, err := in.Validate(ctx, one)
		if err != nil {
			t.Fatal(err)
		}
		want := "value -Inf is below the minimum " + strconv.FormatFloat(v, 'g', -1, 64)
		if got := reasonText(verdicts[0]); got != want {
			t.Errorf("min %s: got %q, want %q", text, got, want)
		}
	}

	// Quoting: units of every kind of rune, and invalid UTF-8 (which the
	// host never sends, but the module must still quote as Go would).
	in, err = plugintest.Instance(t, p, `{"unknown_unit": "reject"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(16, 2))
	units := []string{"", "\a\b\f\n\r\t\v\x00\x1f\x7f\"\\'", "\u00ad\u0378\u2028\ufeff\U0001f600\U000e0001\U0010ffff", "\xff\xc3", "a\xe2\x82"}
	for len(units) < 4000 {
		var sb strings.Builder
		for k := rng.IntN(4); k >= 0; k-- {
			switch rng.IntN(4) {
			case 0:
				sb.WriteRune(rune(rng.IntN(0x80)))
			case 1:
				sb.WriteRune(rune(rng.IntN(0x3000)))
			default:
				if r := rune(rng.IntN(utf8.MaxRune + 1)); utf8.ValidRune(r) {
					sb.WriteRune(r)
				}
			}
		}
		units = append(units, sb.String())
	}
	b = sandbox.NewBatch(p.Manifest().Fields, len(units))
	for i, u := range units {
		b.SetNumber(colValue, i, 1)
		b.SetString(colUnit, i, u)
	}
	verdicts, err = in.Validate(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range verdicts {
		want := "unit " + strconv.Quote(units[i]) + " has no configured bounds"
		if units[i] == "celsius" || units[i] == "fahrenheit" || units[i] == "kelvin" {
			want = ""
		}
		if got := reasonText(v); got != want {
			t.Errorf("unit %q: got %q, want %q", units[i], got, want)
		}
	}
}

func reasonText(v sandbox.Verdict) string {
	if v.OK {
		return ""
	}
	return v.Reasons[0].Message
}
