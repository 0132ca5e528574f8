package registry

import (
	"context"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
)

const devices = "# device registry\r\nAB-100001\r\n  CD-100002  \n\nEF-100003\n"

func TestRegistryInSandbox(t *testing.T) {
	p := plugintest.Load(t, "registry.wasm")
	cases := []struct {
		config string
		ids    []string
		want   []string
	}{
		{"", []string{"AB-100001", "CD-100002", "EF-100003", "ab-100001", "ZZ-999999", "", "# device registry"},
			[]string{"", "", "", "registry.unknown", "registry.unknown", "registry.unknown", "registry.unknown"}},
		{`{"case_insensitive": true}`, []string{"ab-100001", "Cd-100002", "GH-1"}, []string{"", "", "registry.unknown"}},
	}
	for _, tc := range cases {
		in, err := plugintest.Instance(t, p, tc.config, map[string][]byte{"registry": []byte(devices)})
		if err != nil {
			t.Fatal(err)
		}
		b := sandbox.NewBatch(p.Manifest().Fields, len(tc.ids)+1) // the last record is absent
		for i, id := range tc.ids {
			b.SetString(0, i, id)
		}
		v, err := in.Validate(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		got := plugintest.Rules(v)
		for i, id := range tc.ids {
			if got[i] != tc.want[i] {
				t.Errorf("%s %q: %q, want %q", tc.config, id, got[i], tc.want[i])
			}
		}
		if got[len(tc.ids)] != "" {
			t.Error("an absent id was rejected")
		}
	}
	if v, _ := func() ([]sandbox.Verdict, error) {
		in, _ := plugintest.Instance(t, p, "", map[string][]byte{"registry": []byte(devices)})
		b := sandbox.NewBatch(p.Manifest().Fields, 1)
		b.SetString(0, 0, "XX-000000")
		return in.Validate(context.Background(), b)
	}(); v[0].Reasons[0].Message != `"XX-000000" is not in the registry` {
		t.Errorf("message %q", v[0].Reasons[0].Message)
	}
}

func TestRegistryRefusesBadLookups(t *testing.T) {
	p := plugintest.Load(t, "registry.wasm")
	for name, lookup := range map[string]map[string][]byte{
		"needs the lookup file": nil,
		"lists no ids":          {"registry": []byte("# nothing\n\n")},
		"listed twice":          {"registry": []byte("A\nB\nA\n")},
		"not valid UTF-8":       {"registry": []byte("A\n\xff\n")},
	} {
		_, err := plugintest.Instance(t, p, "", lookup)
		if sandbox.KindOf(err) != sandbox.KindConfig || !strings.Contains(err.Error(), name) {
			t.Errorf("want a config error containing %q, got %v", name, err)
		}
	}
}
