package schema

import (
	"encoding/json"
	"math/big"
	"math/bits"
)

// dec is an exact decimal ±m×10^e whose significand fits in 19 digits, the
// form in which the compiled path compares numbers without big.Rat. m has no
// trailing zeros (they are moved into e), and zero is {m: 0, e: 0, neg:
// false}, so equal numbers have equal decs.
type dec struct {
	neg bool
	m   uint64
	e   int
}

const maxDecDigits = 19 // 10^19-1 < 2^64

var pow10 = func() (p [maxDecDigits + 1]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// parseDec reads JSON number text. ok is false when the text is not a JSON
// number, its exponent is beyond MaxExponent, or its significant digits do
// not fit in 19: the caller then compares exactly with big.Rat.
func parseDec(s string) (d dec, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	nd, zeros, frac := 0, 0, 0
	digit := func(c byte) bool {
		if c == '0' {
			if nd > 0 {
				zeros++
			}
			return true
		}
		need := nd + zeros + 1
		if need > maxDecDigits {
			return false
		}
		d.m = d.m*pow10[zeros+1] + uint64(c-'0')
		nd, zeros = need, 0
		return true
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if !digit(s[i]) {
			return dec{}, false
		}
		i++
	}
	if i == start || (s[start] == '0' && i-start > 1) {
		return dec{}, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if !digit(s[i]) {
				return dec{}, false
			}
			frac++
			i++
		}
		if i == start {
			return dec{}, false
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			exp = exp*10 + int(s[i]-'0')
			if exp > MaxExponent {
				return dec{}, false
			}
			i++
		}
		if i == start {
			return dec{}, false
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return dec{}, false
	}
	if d.m == 0 {
		return dec{}, true
	}
	d.e = exp - frac + zeros
	return d, true
}

func numDigits(m uint64) int {
	n := 1
	for n < len(pow10) && m >= pow10[n] {
		n++
	}
	return n
}

// cmpDec compares a and b exactly.
func cmpDec(a, b dec) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	if sa == 0 {
		return 0
	}
	c := cmpAbs(a, b)
	if sa < 0 {
		return -c
	}
	return c
}

func (d dec) sign() int {
	switch {
	case d.m == 0:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// cmpAbs compares |a| and |b|, both non-zero.
func cmpAbs(a, b dec) int {
	ma, mb := numDigits(a.m)+a.e, numDigits(b.m)+b.e
	switch {
	case ma < mb:
		return -1
	case ma > mb:
		return 1
	}
	// Same magnitude: scaling the one with the larger exponent down to the
	// other's gives it no more digits than the other has, so it fits.
	x, y := a.m, b.m
	if a.e > b.e {
		x *= pow10[a.e-b.e]
	} else if b.e > a.e {
		y *= pow10[b.e-a.e]
	}
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// isInt reports whether d is an integer (m has no trailing zeros).
func (d dec) isInt() bool { return d.m == 0 || d.e >= 0 }

// multipleOf reports whether v/div is an integer; div > 0.
func multipleOf(v, div dec) bool {
	if v.m == 0 {
		return true
	}
	k := v.e - div.e
	if k >= 0 {
		// v.m × 10^k mod div.m, one decimal digit at a time.
		r := v.m % div.m
		for ; k > 0 && r != 0; k-- {
			hi, lo := bits.Mul64(r, 10)
			r = bits.Rem64(hi, lo, div.m)
		}
		return r == 0
	}
	// v.m must be divisible by div.m × 10^-k; when that exceeds 2^64 it
	// exceeds v.m, which is not zero.
	d := div.m
	for ; k < 0; k++ {
		hi, lo := bits.Mul64(d, 10)
		if hi != 0 {
			return false
		}
		d = lo
	}
	return v.m%d == 0
}

// limit is a schema's numeric bound or divisor: a dec when it has one, and
// the library's exact rational always.
type limit struct {
	d   dec
	fit bool
	r   *big.Rat
}

func newLimit(r *big.Rat) *limit {
	if r == nil {
		return nil
	}
	l := &limit{r: r}
	// A rational is a finite decimal when its denominator has no prime
	// factors but 2 and 5; FloatString(k) is then exact with k places.
	den := new(big.Int).Set(r.Denom())
	k, two, five := 0, big.NewInt(2), big.NewInt(5)
	var rem big.Int
	for twos := 0; ; twos++ {
		q, m := new(big.Int).QuoRem(den, two, &rem)
		if m.Sign() != 0 {
			k = max(k, twos)
			break
		}
		den = q
	}
	for fives := 0; ; fives++ {
		q, m := new(big.Int).QuoRem(den, five, &rem)
		if m.Sign() != 0 {
			k = max(k, fives)
			break
		}
		den = q
	}
	if den.Cmp(big.NewInt(1)) == 0 && k <= MaxExponent {
		l.d, l.fit = parseDec(r.FloatString(k))
	}
	return l
}

// numCmp compares the instance number n with l exactly; it allocates only
// when one of them does not fit a dec.
func (l *limit) cmp(n json.Number, nd dec, nfit bool) int {
	if nfit && l.fit {
		return cmpDec(nd, l.d)
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok { // not reached: Validate refuses such numbers before this runs
		return 0
	}
	return r.Cmp(l.r)
}

func (l *limit) divides(n json.Number, nd dec, nfit bool) bool {
	if nfit && l.fit {
		return multipleOf(nd, l.d)
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return false
	}
	return r.Quo(r, l.r).IsInt()
}

// numEqual is the library's number equality (exact), without big.Rat when
// both fit.
func numEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	da, oka := parseDec(string(a))
	db, okb := parseDec(string(b))
	if oka && okb {
		return da == db
	}
	ra, ok1 := new(big.Rat).SetString(string(a))
	rb, ok2 := new(big.Rat).SetString(string(b))
	return ok1 && ok2 && ra.Cmp(rb) == 0
}

// numIsInt is the library's isInteger.
func numIsInt(n json.Number, d dec, fit bool) bool {
	if fit {
		return d.isInt()
	}
	r, ok := new(big.Rat).SetString(string(n))
	return ok && r.IsInt()
}
