package registry

import (
	"context"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
)

// FuzzRegistryCLikeGo: the C module reads any registry file as the Go
// reference does — the same refusal, word for word, or the same set —
// and judges any id the same way, folded or not.
func FuzzRegistryCLikeGo(f *testing.F) {
	f.Add(devices, "AB-100001", false)
	f.Add(devices, "émile-1", true)
	f.Add("A\nB\n a \n", "a", true)
	f.Add("\u00a0X\u3000\r\n#c\nx\n", "X", false)
	f.Add("\xff\n", "", false)
	f.Add("ǅ\nǆ\nǄ\n", "ǆ", true)
	p := plugintest.Load(f, "registry.wasm")
	m := p.Manifest()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, file, id string, fold bool) {
		cfg := `{"case_insensitive": false}`
		if fold {
			cfg = `{"case_insensitive": true}`
		}
		lookup := map[string][]byte{"registry": []byte(file)}
		native, nerr := plugintest.NewNative(New(), m, cfg, lookup)
		in, werr := p.NewInstance(ctx, sandbox.InstanceConfig{Config: []byte(cfg), Lookup: lookup, AsOf: plugintest.AsOf, Seed: 1})
		if (nerr == nil) != (werr == nil) {
			t.Fatalf("file %q: Go says %v, the module %v", file, nerr, werr)
		}
		if nerr != nil {
			n, w := nerr.(*sandbox.Error).Detail, werr.(*sandbox.Error).Detail
			if !strings.HasSuffix(w, n) {
				t.Fatalf("file %q: Go refuses it with %q, the module with %q", file, n, w)
			}
			return
		}
		defer in.Close(ctx)
		b := sandbox.NewBatch(m.Fields, 1)
		b.SetString(colID, 0, id)
		if _, err := b.Encode(m.Fields, plugintest.AsOf); err != nil {
			return // not a value the host would send
		}
		want, err := native.Validate(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := in.Validate(ctx, b)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if w, g := plugintest.Reasons(want)[0], plugintest.Reasons(got)[0]; w != g {
			t.Fatalf("file %q, id %q: Go says %q, the module %q", file, id, w, g)
		}
	})
}
