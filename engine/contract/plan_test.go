package contract

import (
	"testing"

	"github.com/pawl-dev/pawl/engine/normalize"
)

func profileOf(t *testing.T, c normalize.Config) Profile {
	t.Helper()
	s, err := c.Summary()
	if err != nil {
		t.Fatal(err)
	}
	return Profile{Classes: s.Classes, Actions: s.Actions, Forms: s.Forms, SingleLine: s.SingleLine,
		RestrictionLevel: s.RestrictionLevel, References: s.References, Lowercase: s.Lowercase, Language: s.Language}
}

func TestProfileChanges(t *testing.T) {
	base := normalize.Config{Identifiers: []string{"/device_id"}, Free: []string{"/note"}, SingleLine: []string{"/unit"}}
	cases := []struct {
		name    string
		edit    func(*normalize.Config)
		kind    Kind
		at, key string
	}{
		{"identifier to text", func(c *normalize.Config) { c.Identifiers = nil; c.Text = []string{"/device_id"} }, Weakening, "/device_id", "class"},
		{"identifier to unnamed", func(c *normalize.Config) { c.Identifiers = nil }, Weakening, "/device_id", "class"},
		{"free to text", func(c *normalize.Config) { c.Free = nil }, Tightening, "/note", "class"},
		{"text gets identifier", func(c *normalize.Config) { c.Identifiers = append(c.Identifiers, "/unit") }, Tightening, "/unit", "class"},
		{"emoji rejected in text", func(c *normalize.Config) { c.Actions = map[string]map[string]string{"text": {"emoji": "reject"}} }, Tightening, "class text", "emoji"},
		{"bidi flagged in text", func(c *normalize.Config) { c.Actions = map[string]map[string]string{"text": {"bidi": "flag"}} }, Weakening, "class text", "bidi"},
		{"single line dropped", func(c *normalize.Config) { c.SingleLine = nil }, Weakening, "/unit", "single_line"},
		{"restriction loosened", func(c *normalize.Config) { c.RestrictionLevel = "unrestricted" }, Weakening, "identifiers", "restriction_level"},
		{"restriction tightened", func(c *normalize.Config) { c.RestrictionLevel = "ascii_only" }, Tightening, "identifiers", "restriction_level"},
		{"NFKC", func(c *normalize.Config) { c.Form = "NFKC" }, Unknown, "class free", "form"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := base
			next.Identifiers = append([]string(nil), base.Identifiers...)
			tc.edit(&next)
			changes := compareProfiles(profileOf(t, base), profileOf(t, next))
			if len(changes) == 0 {
				t.Fatal("no change found")
			}
			c := changes[0]
			if c.Kind != tc.kind || c.At != tc.at || c.Keyword != tc.key || c.Part != "profile" {
				t.Errorf("got %v (at %q keyword %q), want %v at %q keyword %q; all: %v", c, c.At, c.Keyword, tc.kind, tc.at, tc.key, changes)
			}
		})
	}
	if changes := compareProfiles(profileOf(t, base), profileOf(t, base)); len(changes) != 0 {
		t.Errorf("the same profile: %v", changes)
	}
}

func TestValidatorAndLimitChanges(t *testing.T) {
	rng := Validator{Name: "range", Version: "1.0.0", Module: "sha256:aa", Config: `{"max":10}`}
	reg := Validator{Name: "registry", Version: "1.0.0", Module: "sha256:bb", Lookups: map[string]string{"registry": "sha256:cc"}}
	s := one(t, `{"type":"object"}`)
	prev := Contract{Schema: s, Validators: []Validator{rng, reg}, MaxRecordBytes: 1 << 20}
	for _, tc := range []struct {
		name string
		edit func(*Contract)
		kind Kind
		at   string
	}{
		{"validator removed", func(c *Contract) { c.Validators = []Validator{rng} }, Weakening, "registry"},
		{"validator added", func(c *Contract) {
			c.Validators = append(c.Validators, Validator{Name: "zscore", Version: "2.0.0"})
		}, Tightening, "zscore"},
		{"version changed", func(c *Contract) {
			v := rng
			v.Version, v.Module = "1.1.0", "sha256:dd"
			c.Validators = []Validator{v, reg}
		}, Unknown, "range"},
		{"config changed", func(c *Contract) { v := rng; v.Config = `{"max":20}`; c.Validators = []Validator{v, reg} }, Unknown, "range"},
		{"lookup file changed", func(c *Contract) {
			v := reg
			v.Lookups = map[string]string{"registry": "sha256:ee"}
			c.Validators = []Validator{rng, v}
		}, Unknown, "registry"},
		{"record limit raised", func(c *Contract) { c.MaxRecordBytes = 2 << 20 }, Weakening, "max_record_bytes"},
		{"record limit lowered", func(c *Contract) { c.MaxRecordBytes = 1 << 10 }, Tightening, "max_record_bytes"},
	} {
		next := prev
		next.Validators = append([]Validator(nil), prev.Validators...)
		tc.edit(&next)
		changes, err := Compare(prev, next)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) != 1 || changes[0].Kind != tc.kind || changes[0].At != tc.at {
			t.Errorf("%s: got %v, want one %v at %s", tc.name, changes, tc.kind, tc.at)
		}
	}
	if changes, _ := Compare(prev, prev); len(changes) != 0 {
		t.Errorf("the same contract: %v", changes)
	}
}
