package schema

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// flatMembers returns inst as ValidFlat takes it when inst is an object of
// scalars, sorted by key.
func flatMembers(inst any) ([]Member, bool) {
	m, ok := inst.(map[string]any)
	if !ok {
		return nil, false
	}
	ms := make([]Member, 0, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			ms = append(ms, Member{k, "null", KindNull})
		case bool:
			ms = append(ms, Member{k, map[bool]string{true: "true", false: "false"}[v], KindBool})
		case json.Number:
			ms = append(ms, Member{k, string(v), KindNumber})
		case string:
			ms = append(ms, Member{k, v, KindString})
		default:
			return nil, false
		}
	}
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.Key, b.Key) })
	return ms, true
}

// checkFlat requires ValidFlat to agree with the library (lib, the same
// schema without its compiled path) on inst when it is an object of
// scalars and the compiled root is one ValidFlat decides, and to say
// "not known valid" for any other root. It reports whether inst was
// decided by ValidFlat.
func checkFlat(t *testing.T, s, lib *Schema, inst any, what func() string) bool {
	t.Helper()
	ms, ok := flatMembers(inst)
	if !ok {
		return false
	}
	got := s.ValidFlat(ms)
	if s.fast == nil || !s.fast.flatRoot {
		if got {
			t.Errorf("%s: ValidFlat says valid for a root it does not decide", what())
		}
		return false
	}
	if want := lib.Validate(inst) == nil; got != want {
		t.Errorf("%s: ValidFlat says valid=%v, the library valid=%v (%s)", what(), got, want, dump(lib.Validate(inst)))
	}
	return true
}

func TestValidFlat(t *testing.T) {
	s := compileInline(t, `{
		"type": "object",
		"required": ["device_id", "timestamp", "value", "unit", "site"],
		"properties": {
			"device_id": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{6}$"},
			"timestamp": {"type": "string", "format": "date-time"},
			"value": {"type": "number", "minimum": -273.15},
			"count": {"type": "integer", "maximum": 10},
			"ok": {"const": true},
			"note": {"type": ["string", "null"], "maxLength": 3},
			"unit": {"enum": ["celsius", "fahrenheit", 1.0]}
		},
		"additionalProperties": {"type": "string", "minLength": 2}
	}`)
	lib := library(s)
	base := `"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"`
	for _, rec := range []string{
		`{` + base + `,"site":"p7"}`,
		`{` + base + `,"site":"p"}`,
		`{` + base + `}`,
		`{` + base + `,"site":"p7","count":10.0,"ok":true,"note":null}`,
		`{` + base + `,"site":"p7","count":10.5}`,
		`{` + base + `,"site":"p7","count":11}`,
		`{` + base + `,"site":"p7","ok":false}`,
		`{` + base + `,"site":"p7","note":"abcd"}`,
		`{` + base + `,"site":"p7","note":1}`,
		`{` + base + `,"site":1}`,
		`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":-273.16,"unit":"celsius","site":"p7"}`,
		`{"device_id":"AB-12345","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":"celsius","site":"p7"}`,
		`{"device_id":"AB-123456","timestamp":"2026-02-30T10:00:00Z","value":1,"unit":"celsius","site":"p7"}`,
		`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":1,"site":"p7"}`,
		`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1,"unit":1.00,"site":"p7"}`,
		`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":"1","unit":"kelvin","site":"p7"}`,
		`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":1e999999999,"unit":"celsius","site":"p7"}`,
	} {
		inst, err := decodeNumbers([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		if !checkFlat(t, s, lib, inst, func() string { return rec }) {
			t.Errorf("%s: not decided by ValidFlat", rec)
		}
	}
	// The first is valid, and ValidFlat says so.
	if inst, _ := decodeNumbers([]byte(`{` + base + `,"site":"p7"}`)); !s.ValidFlat(must(flatMembers(inst))) {
		t.Error("ValidFlat refuses a valid record")
	}
	// A valid record costs no allocation.
	ms := must(flatMembers(must2(decodeNumbers([]byte(`{` + base + `,"site":"p7"}`)))))
	if n := testing.AllocsPerRun(100, func() { s.ValidFlat(ms) }); n != 0 {
		t.Errorf("%v allocations per ValidFlat, want 0", n)
	}
	// Roots ValidFlat does not decide: it never says valid.
	for _, sch := range []string{
		`{"type": "object", "allOf": [{"required": ["a"]}]}`,
		`{"patternProperties": {"^a": {"type": "string"}}}`,
		`{"propertyNames": {"maxLength": 3}}`,
		`{"dependentRequired": {"a": ["b"]}}`,
		`{"$ref": "#/$defs/o", "$defs": {"o": {"type": "object"}}}`,
		`{"enum": [{"a": 1}]}`,
		`{"unevaluatedProperties": false}`,
	} {
		s := compileInline(t, sch)
		if s.fast != nil && s.fast.flatRoot {
			t.Errorf("%s: ValidFlat claims the root", sch)
		}
		inst, _ := decodeNumbers([]byte(`{"a":1}`))
		checkFlat(t, s, library(s), inst, func() string { return sch })
	}
}

func must2(v any, err error) any {
	if err != nil {
		panic(err)
	}
	return v
}

func must[T any](v T, ok bool) T {
	if !ok {
		panic("not flat")
	}
	return v
}
