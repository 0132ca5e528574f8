package freshness

import (
	"context"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
)

func TestFreshnessInSandbox(t *testing.T) {
	p := plugintest.Load(t, "freshness.wasm")
	// as-of is 2025-06-01T12:00:00Z
	cases := []struct {
		config string
		ts     string
		want   string
	}{
		{"", "2025-06-01T11:59:59Z", ""},
		{"", "2025-05-31T12:00:00Z", ""}, // exactly 24h: inside
		{"", "2025-05-31T11:59:59Z", "freshness.stale"},
		{"", "2025-06-01T12:04:00Z", ""}, // within the 5m skew
		{"", "2025-06-01T12:06:00Z", "freshness.future"},
		{"", "2025-06-01T14:00:00+02:00", ""}, // = 12:00Z
		{"", "2025-06-01T07:00:00-05:00", ""},
		{"", "2025-06-01T11:00:00.123456789Z", ""},
		{"", "2025-06-01t11:00:00z", ""},                      // RFC 3339 allows lower case
		{"", "2025-06-01T11:00:00", "freshness.format"},       // no timezone
		{"", "2025-06-01 11:00:00Z", "freshness.format"},      // space
		{"", "2025-02-30T11:00:00Z", "freshness.format"},      // no such date
		{"", "2025-06-01T24:00:00Z", "freshness.format"},      // no such time
		{"", "2025-06-01T11:00:00.Z", "freshness.format"},     // empty fraction
		{"", "2025-06-01T11:00:00+0200", "freshness.format"},  // offset without colon
		{"", "2025-06-01T11:00:00Z junk", "freshness.format"}, // trailing text
		{"", "1 June 2025", "freshness.format"},               // not RFC 3339
		{`{"max_age": "1h"}`, "2025-06-01T10:59:00Z", "freshness.stale"},
		{`{"max_skew": "0s"}`, "2025-06-01T12:00:01Z", "freshness.future"},
	}
	for _, tc := range cases {
		in, err := plugintest.Instance(t, p, tc.config, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := sandbox.NewBatch(p.Manifest().Fields, 2)
		b.SetString(0, 0, tc.ts) // record 1 stays absent: passes
		v, err := in.Validate(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		if got := plugintest.Rules(v); got[0] != tc.want || got[1] != "" {
			t.Errorf("%s %q: %q, want %q (%+v)", tc.config, tc.ts, got[0], tc.want, v[0].Reasons)
		}
	}
	for _, cfg := range []string{`{"max_age": "-1h"}`, `{"max_age": "a day"}`, `{"skew": "1m"}`} {
		if _, err := plugintest.Instance(t, p, cfg, nil); sandbox.KindOf(err) != sandbox.KindConfig {
			t.Errorf("config %s accepted: %v", cfg, err)
		}
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
}
