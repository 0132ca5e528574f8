package freshness

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
	"github.com/pawl-dev/pawl/plugins/pdk"
)

// absent stands for a record without a timestamp.
const absent = "\x00absent"

func batch(fields []sandbox.Field, ts []string) *sandbox.Batch {
	b := sandbox.NewBatch(fields, len(ts))
	for i, s := range ts {
		if s != absent {
			b.SetString(colTimestamp, i, s)
		}
	}
	return b
}

// The as-of time of the tests is plugintest.AsOf, 2025-06-01T12:00:00Z.
func stale(ts, age, limit string) string {
	return "freshness.stale on timestamp: " + ts + " is " + age + " before the as-of time 2025-06-01T12:00:00Z; the limit is " + limit
}

func future(ts, ahead, skew string) string {
	return "freshness.future on timestamp: " + ts + " is " + ahead + " after the as-of time 2025-06-01T12:00:00Z; the allowed skew is " + skew
}

func format(ts, why string) string {
	return "freshness.format on timestamp: " + strconv.Quote(ts) + " is not an RFC 3339 date-time with a timezone: " + why
}

// ok is a case whose timestamp passes.
func ok(ts string) [2]string { return [2]string{ts, ""} }

// bad is a case whose timestamp is not strict RFC 3339, and why.
func bad(ts, why string) [2]string { return [2]string{ts, format(ts, why)} }

// freshnessCases cover the three rules (freshness.format with each of its
// reasons, freshness.stale, freshness.future), both config fields, the
// limits to the nanosecond, offsets, fractions and the calendar.
var freshnessCases = []struct {
	name   string
	config string
	cases  [][2]string // timestamp, want
}{
	{"seed: 24 h back, 5 min ahead", "", [][2]string{
		ok("2025-06-01T12:00:00Z"),
		ok("2025-06-01T11:59:59Z"),
		ok("2025-05-31T12:00:00Z"), // exactly 24 h: inside
		{"2025-05-31T11:59:59.999999999Z", stale("2025-05-31T11:59:59.999999999Z", "24h0m0.000000001s", "24h0m0s")},
		{"2025-05-31T11:59:59Z", stale("2025-05-31T11:59:59Z", "24h0m1s", "24h0m0s")},
		{"2024-06-01T12:00:00Z", stale("2024-06-01T12:00:00Z", "8760h0m0s", "24h0m0s")},
		{"2024-02-29T12:00:00Z", stale("2024-02-29T12:00:00Z", "10992h0m0s", "24h0m0s")}, // 458 days: a leap day that exists
		{"1970-01-01T00:00:00Z", stale("1970-01-01T00:00:00Z", "485772h0m0s", "24h0m0s")},
		ok("2025-06-01T12:04:00Z"),
		ok("2025-06-01T12:05:00Z"), // exactly the skew: inside
		{"2025-06-01T12:05:00.000000001Z", future("2025-06-01T12:05:00.000000001Z", "5m0.000000001s", "5m0s")},
		{"2025-06-01T12:06:00Z", future("2025-06-01T12:06:00Z", "6m0s", "5m0s")},
		{"2026-06-01T12:00:00Z", future("2026-06-01T12:00:00Z", "8760h0m0s", "5m0s")},
		{absent, ""},
		ok("2025-06-01t11:00:00z"), // RFC 3339 allows lower case
		ok("2025-06-01T11:00:00.1Z"),
		ok("2025-06-01T11:00:00.123456789Z"),
		ok("2025-06-01T11:00:00.000000000Z"),
	}},
	{"offsets", "", [][2]string{
		ok("2025-06-01T14:00:00+02:00"), // = 12:00Z
		ok("2025-06-01T07:00:00-05:00"),
		ok("2025-06-01T12:00:00+00:00"),
		ok("2025-06-01T12:00:00-00:00"),
		ok("2025-06-02T11:59:00+23:59"), // the largest offset, across midnight
		ok("2025-05-31T12:01:00-23:59"),
		ok("2025-06-01T17:35:00+05:30"),
		{"2025-06-01T12:00:00-00:06", future("2025-06-01T12:00:00-00:06", "6m0s", "5m0s")},
		{"2025-06-01T12:00:00+24:00", format("2025-06-01T12:00:00+24:00", "the offset is not ±HH:MM")},
		{"2025-05-31T13:00:00+01:00", ""}, // exactly 24 h
		{"2025-05-31T12:59:59+01:00", stale("2025-05-31T12:59:59+01:00", "24h0m1s", "24h0m0s")},
	}},
	{"not strict RFC 3339", "", [][2]string{
		{"", format("", "too short")},
		bad("2025-06-01T11:00:00", "too short"),
		bad("1 June 2025", "too short"),
		bad("2025/06/01T11:00:00Z", "the date is not YYYY-MM-DD"),
		bad("2025-06/01T11:00:00Z", "the date is not YYYY-MM-DD"),
		bad("2025-6-01T11:00:00Z0", "the date is not YYYY-MM-DD"),
		bad("x025-06-01T11:00:00Z", "the date is not YYYY-MM-DD"),
		bad("2x25-06-01T11:00:00Z", "the date is not YYYY-MM-DD"),
		bad("20x5-06-01T11:00:00Z", "the date is not YYYY-MM-DD"),
		bad("202x-06-01T11:00:00Z", "the date is not YYYY-MM-DD"),
		bad("2025-06-x1T11:00:00Z", "the date is not YYYY-MM-DD"),
		bad("２０２５-06-01T11:00:00Z", "the date is not YYYY-MM-DD"), // full-width digits
		bad("-025-06-01T11:00:00Z", "the date is not YYYY-MM-DD"),
		bad("2025-06-01 11:00:00Z", "no T between date and time"),
		bad("2025-06-01_11:00:00Z", "no T between date and time"),
		bad("2025-06-01T11.00:00Z", "the time is not HH:MM:SS"),
		bad("2025-06-01T11:00.00Z", "the time is not HH:MM:SS"),
		bad("2025-06-01T1a:00:00Z", "the time is not HH:MM:SS"),
		bad("2025-06-01T11:0a:00Z", "the time is not HH:MM:SS"),
		bad("2025-06-01T11:00:0aZ", "the time is not HH:MM:SS"),
		bad("2025-00-01T11:00:00Z", "no such date"),
		bad("2025-13-01T11:00:00Z", "no such date"),
		bad("2025-06-00T11:00:00Z", "no such date"),
		bad("2025-06-31T11:00:00Z", "no such date"),
		bad("2025-04-31T11:00:00Z", "no such date"),
		bad("2025-09-31T11:00:00Z", "no such date"),
		bad("2025-11-31T11:00:00Z", "no such date"),
		bad("2025-01-32T11:00:00Z", "no such date"),
		bad("2025-02-29T11:00:00Z", "no such date"), // not a leap year
		bad("2100-02-29T11:00:00Z", "no such date"), // a century is not
		bad("2024-02-30T11:00:00Z", "no such date"),
		bad("2025-06-01T24:00:00Z", "no such time of day"),
		bad("2025-06-01T11:60:00Z", "no such time of day"),
		bad("2025-06-01T11:59:60Z", "no such time of day"), // leap seconds are refused
		bad("2025-06-01T11:00:00.Z", "the fraction of a second has no digits or more than 9"),
		bad("2025-06-01T11:00:00.1234567891Z", "the fraction of a second has no digits or more than 9"),
		bad("2025-06-01T11:00:00.123", "no timezone (Z or ±HH:MM)"),
		bad("2025-06-01T11:00:00 Z", "no timezone (Z or ±HH:MM)"),
		bad("2025-06-01T11:00:00UTC", "no timezone (Z or ±HH:MM)"),
		bad("2025-06-01T11:00:00.5 +01:00", "no timezone (Z or ±HH:MM)"),
		bad("2025-06-01T11:00:00+0200", "the offset is not ±HH:MM"),
		bad("2025-06-01T11:00:00+02:000", "the offset is not ±HH:MM"),
		bad("2025-06-01T11:00:00+02", "the offset is not ±HH:MM"),
		bad("2025-06-01T11:00:00+02-00", "the offset is not ±HH:MM"),
		bad("2025-06-01T11:00:00+2a:00", "the offset is not ±HH:MM"),
		bad("2025-06-01T11:00:00+02:a0", "the offset is not ±HH:MM"),
		bad("2025-06-01T11:00:00-02:60", "the offset is not ±HH:MM"),
		bad("2025-06-01T11:00:00Z junk", "text after the timezone"),
		bad("2025-06-01T11:00:00ZZ", "text after the timezone"),
		bad("2025-06-01T11:00:00zZ", "text after the timezone"),
		bad(`2025-06-01T11:00:00"Z`, "no timezone (Z or ±HH:MM)"), // quoted in the message
	}},
	{"max_age", `{"max_age": "1h"}`, [][2]string{
		ok("2025-06-01T11:00:00Z"),
		{"2025-06-01T10:59:00Z", stale("2025-06-01T10:59:00Z", "1h1m0s", "1h0m0s")},
		ok("2025-06-01T12:05:00Z"), // the default skew stays
	}},
	{"max_skew none", `{"max_skew": "0s"}`, [][2]string{
		ok("2025-06-01T12:00:00Z"),
		{"2025-06-01T12:00:00.000000001Z", future("2025-06-01T12:00:00.000000001Z", "1ns", "0s")},
		ok("2025-05-31T12:00:00Z"), // the default age stays
	}},
	{"fractional and compound durations", `{"max_age": "1.5h", "max_skew": "1h30m"}`, [][2]string{
		ok("2025-06-01T10:30:00Z"),
		{"2025-06-01T10:29:59Z", stale("2025-06-01T10:29:59Z", "1h30m1s", "1h30m0s")},
		ok("2025-06-01T13:30:00Z"),
		{"2025-06-01T13:30:01Z", future("2025-06-01T13:30:01Z", "1h30m1s", "1h30m0s")},
	}},
	{"the shortest age", `{"max_age": "1ns", "max_skew": "1us"}`, [][2]string{
		ok("2025-06-01T11:59:59.999999999Z"),
		{"2025-06-01T11:59:59.999999998Z", stale("2025-06-01T11:59:59.999999998Z", "2ns", "1ns")},
		ok("2025-06-01T12:00:00.000001Z"),
		{"2025-06-01T12:00:00.000001001Z", future("2025-06-01T12:00:00.000001001Z", "1.001µs", "1µs")},
	}},
	{"a long age", `{"max_age": "2000000h"}`, [][2]string{ // about 228 years
		ok("1800-01-01T00:00:00Z"),
		{"1795-01-01T00:00:00Z", stale("1795-01-01T00:00:00Z", "2019780h0m0s", "2000000h0m0s")},
	}},
	{"an empty batch", "", nil},
}

func TestFreshness(t *testing.T) {
	for _, impl := range plugintest.Impls(t, "freshness.wasm", func() pdk.Plugin { return New() }) {
		t.Run(impl.Name, func(t *testing.T) {
			for _, tc := range freshnessCases {
				var ts, want []string
				for _, c := range tc.cases {
					ts, want = append(ts, c[0]), append(want, c[1])
				}
				got := plugintest.Run(t, impl, tc.config, nil, batch(impl.Manifest.Fields, ts))
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("%s: %q:\n got %q\nwant %q", tc.name, ts[i], got[i], want[i])
					}
				}
			}
		})
	}
}

func TestFreshnessRefusesBadConfig(t *testing.T) {
	const age, skew = `want a positive duration such as \"24h\"`, `want a duration such as \"5m\" (\"0s\" for none)`
	cases := map[string]string{
		`{"max_age": "-1h"}`:        `freshness config: max_age "-1h": ` + age,
		`{"max_age": "0s"}`:         `max_age "0s": ` + age,
		`{"max_age": "a day"}`:      `max_age "a day": ` + age,
		`{"max_age": ""}`:           `max_age "": ` + age,
		`{"max_age": "3000000h"}`:   `max_age "3000000h": ` + age, // beyond a time.Duration
		`{"max_skew": "-1s"}`:       `freshness config: max_skew "-1s": ` + skew,
		`{"max_skew": "5"}`:         `max_skew "5": ` + skew,
		`{"skew": "1m"}`:            `freshness config: json: unknown field "skew"`,
		`{"max_age": 24}`:           "cannot unmarshal number",
		`{"max_skew": "5m", "x":1}`: `unknown field "x"`,
	}
	for _, impl := range plugintest.Impls(t, "freshness.wasm", func() pdk.Plugin { return New() }) {
		t.Run(impl.Name, func(t *testing.T) {
			for cfg, want := range cases {
				want = strings.ReplaceAll(want, `\"`, `"`)
				_, err := impl.New(t, cfg, nil)
				if sandbox.KindOf(err) != sandbox.KindConfig || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "freshness@1.1.0") {
					t.Errorf("config %s: want a config error containing %q, got %v", cfg, want, err)
				}
			}
		})
	}
}

func TestParseRFC3339(t *testing.T) {
	got, why := ParseRFC3339("1970-01-01T00:00:01.5+00:00")
	if why != "" || got != 1_500_000_000 {
		t.Fatalf("%d %s", got, why)
	}
	got, _ = ParseRFC3339("2000-02-29T00:00:00Z")
	if got != 951782400e9 {
		t.Fatalf("leap day: %d", got)
	}
	got, _ = ParseRFC3339("1969-12-31T23:59:59.999999999Z")
	if got != -1 {
		t.Fatalf("before the epoch: %d", got)
	}
}

// TestParseRFC3339LikeTime compares ParseRFC3339 with time.Parse on
// random strict date-times of the years a time.Duration reaches from the
// epoch (1678-2261): every day of the calendar's edges, offsets both ways,
// fractions of every length.
func TestParseRFC3339LikeTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(s string) {
		t.Helper()
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		got, why := ParseRFC3339(s)
		if why != "" || got != want.UnixNano() {
			t.Errorf("%s: %d %q, want %d", s, got, why, want.UnixNano())
		}
	}
	for _, y := range []int{1678, 1700, 1800, 1900, 1969, 1970, 1996, 2000, 2024, 2100, 2200, 2261} {
		for m := 1; m <= 12; m++ {
			for _, d := range []int{1, 28, daysIn(y, m)} {
				check(fmt.Sprintf("%04d-%02d-%02dT00:00:00Z", y, m, d))
				check(fmt.Sprintf("%04d-%02d-%02dT23:59:59.999999999Z", y, m, d))
			}
		}
	}
	for i := 0; i < 20000; i++ {
		y := 1678 + rng.IntN(2261-1678+1)
		m := 1 + rng.IntN(12)
		d := 1 + rng.IntN(daysIn(y, m))
		s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, rng.IntN(24), rng.IntN(60), rng.IntN(60))
		if n := rng.IntN(10); n > 0 {
			s += "." + fmt.Sprintf("%09d", rng.IntN(1e9))[:n]
		}
		switch rng.IntN(3) {
		case 0:
			s += "Z"
		case 1:
			s += fmt.Sprintf("+%02d:%02d", rng.IntN(24), rng.IntN(60))
		default:
			s += fmt.Sprintf("-%02d:%02d", rng.IntN(24), rng.IntN(60))
		}
		check(s)
	}
}
