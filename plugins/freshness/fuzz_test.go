package freshness

import (
	"context"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
	"github.com/pawl-dev/pawl/plugins/pdk"
)

// FuzzFreshnessCLikeGo: the C module reads any record value — the
// timestamp parser and strconv.Quote of whatever bytes a record holds —
// exactly as the Go reference does: same verdict, same message, and it
// never traps.
func FuzzFreshnessCLikeGo(f *testing.F) {
	for _, s := range []string{"2025-06-01T11:00:00Z", "2025-06-01T12:00:00.123456789+05:30", "2025-02-29T00:00:00Z",
		"2025-06-01T12:10:00z", "2025-06-01t12:00:00-00:00", "\xff\x00\u2028é", ""} {
		f.Add(s)
	}
	p := plugintest.Load(f, "freshness.wasm")
	m := p.Manifest()
	ctx := context.Background()
	in, err := p.NewInstance(ctx, sandbox.InstanceConfig{AsOf: plugintest.AsOf, Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	defer in.Close(ctx)
	native := New()
	if err := native.Init(pdk.Init{Config: []byte("{}"), AsOf: plugintest.AsOf}); err != nil {
		f.Fatal(err)
	}
	r := pdk.NewResult(0)
	f.Fuzz(func(t *testing.T, s string) {
		b := sandbox.NewBatch(m.Fields, 1)
		b.SetString(colTimestamp, 0, s)
		msg, err := b.Encode(m.Fields, plugintest.AsOf)
		if err != nil {
			t.Skip() // not a value the host would send
		}
		out, err := pdk.Run(native, msg, r)
		if err != nil {
			t.Fatal(err)
		}
		want, err := sandbox.DecodeResult(out, 1, m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := in.Validate(ctx, b)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if w, g := plugintest.Reasons(want)[0], plugintest.Reasons(got)[0]; w != g {
			t.Fatalf("%q: Go says %q, the module %q", s, w, g)
		}
	})
}
