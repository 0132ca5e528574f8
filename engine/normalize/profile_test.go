package normalize

import (
	"bytes"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func decodeSpec(t *testing.T, src string) (Config, error) {
	t.Helper()
	var spec struct {
		Normalize Config `yaml:"normalize"`
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	err := dec.Decode(&spec)
	return spec.Normalize, err
}

func TestConfigFromYAML(t *testing.T) {
	c, err := decodeSpec(t, `
normalize:
  form: NFC
  identifier_form: NFKC
  identifiers: [/device_id]
  free: [/note]
  single_line: [/unit]
  references: {/device_id: registry/devices.txt}
  actions:
    text: {emoji: strip}
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.ReferenceFiles(); len(got) != 1 || got[0] != "registry/devices.txt" {
		t.Errorf("ReferenceFiles %v", got)
	}
	if _, err := NewProfile(c, nil); err == nil || !strings.Contains(err.Error(), "no values loaded for /device_id (from registry/devices.txt)") {
		t.Errorf("missing references: %v", err)
	}
	refs, err := ParseReferences(strings.NewReader("# devices\nAB-123456\r\n\nCD-654321\n"), "devices.txt")
	if err != nil || len(refs) != 2 || refs[0] != "AB-123456" {
		t.Fatalf("ParseReferences: %q %v", refs, err)
	}
	p, err := NewProfile(c, map[string][]string{"/device_id": refs})
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{"device_id": "AB-I23456", "note": "ok\u200b", "unit": "°C\n", "text": "hi 📊", "list": []any{"a\tb"}}
	var st Stats
	out, fs := p.Record(rec, &st)
	rules := map[string]Finding{}
	for _, f := range fs {
		rules[f.Pointer+" "+f.Rule] = f
	}
	for key, reject := range map[string]bool{
		"/device_id unicode.confusable": true, "/note unicode.zero_width": false,
		"/unit unicode.single_line": true, "/text unicode.emoji": false, "/list/0 unicode.tab": false,
	} {
		f, ok := rules[key]
		if !ok {
			t.Errorf("no %s in %+v", key, fs)
			continue
		}
		if f.Reject != reject {
			t.Errorf("%s: reject %v, want %v", key, f.Reject, reject)
		}
	}
	if got := out.(map[string]any)["text"]; got != "hi " {
		t.Errorf("emoji not stripped from text: %q", got)
	}
	// An array under an identifier field inherits the class.
	p2 := mustProfile(Config{Identifiers: []string{"/ids"}})
	_, fs = p2.Record(map[string]any{"ids": []any{"AB\t1"}}, &st)
	if len(fs) != 1 || fs[0].Pointer != "/ids/0" || fs[0].Rule != "unicode.tab" || !fs[0].Reject {
		t.Errorf("array element of an identifier field: %+v", fs)
	}
}

func TestConfigErrors(t *testing.T) {
	for src, want := range map[string]string{
		"normalize: {form: NFD}":                                              `form "NFD": want NFC or NFKC`,
		"normalize: {form: NFX}":                                              `form "NFX": unknown normalization form`,
		"normalize: {identifiers: [device_id]}":                               `"device_id" must start with /`,
		"normalize: {text: [/a~2]}":                                           `~ at byte 2 must be followed by 0 or 1`,
		"normalize: {identifiers: [/a], text: [/a]}":                          `/a is already listed under identifiers`,
		"normalize: {references: {/a: f.txt}}":                                `/a is not listed under identifiers`,
		"normalize: {lowercase: [/a]}":                                        `name it with language`,
		"normalize: {language: 'x y'}":                                        `language "x y"`,
		"normalize: {restriction_level: strict}":                              `restriction_level "strict"`,
		"normalize: {actions: {body: {tab: flag}}}":                           `unknown class "body"`,
		"normalize: {actions: {text: {tabs: flag}}}":                          `unknown hazard "tabs"`,
		"normalize: {actions: {text: {combining: flag}}}":                     `"flag" is not an action for combining; want reject`,
		"normalize: {actions: {text: {confusable: flag}}}":                    `only checked in identifier fields`,
		"normalize: {identifiers: [/a], references: {/a: ''}}":                `/a names no file`,
		"normalize: {identifiers: [\"/cafe\\u0301\"]}":                        `is not in NFC`,
		"normalize: {forms: NFC}":                                             `field forms not found`,
		"normalize: {actions: {text: {control: flag}}}":                       `want reject or strip`,
		"normalize: {identifier_form: nfkc}":                                  `identifier_form "nfkc": want NFC or NFKC (upper case`,
		"normalize: {identifiers: [/a], references: {/a: r.txt}, text: [/b]}": ``,
	} {
		c, err := decodeSpec(t, src)
		if err == nil {
			err = c.Validate()
		}
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", src, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", src, err, want)
		}
	}
	_, err := NewProfile(Config{Identifiers: []string{"/a"}, References: map[string]string{"/a": "r.txt"}},
		map[string][]string{"/a": {"AB\u200b1"}})
	if err == nil || !strings.Contains(err.Error(), `/a value 1 "AB\u200b1" (from r.txt) is refused`) {
		t.Errorf("bad reference value: %v", err)
	}
}

func TestLowercaseNeedsLanguage(t *testing.T) {
	tr := mustProfile(Config{Lowercase: []string{"/city"}, Language: "tr"})
	out, fs := tr.Field("/city", "ISPARTA")
	if out != "ısparta" {
		t.Errorf("Turkish lower-case: %q (%+v)", out, fs)
	}
	for _, f := range fs {
		if f.Reject {
			t.Errorf("rejected: %+v", f)
		}
	}
	und := mustProfile(Config{Lowercase: []string{"/city"}, Language: "und"})
	if out, _ := und.Field("/city", "ISPARTA"); out != "isparta" {
		t.Errorf("root lower-case: %q", out)
	}
	// Without lowercase, nothing is ever case-mapped.
	if out, _ := Default.Field("/city", "ISPARTA İ"); out != "ISPARTA İ" {
		t.Errorf("Default changed case: %q", out)
	}
}
