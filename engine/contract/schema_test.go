package contract

import (
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/schema"
)

const base = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "SensorReading",
  "type": "object",
  "required": ["device_id", "timestamp", "value", "unit"],
  "properties": {
    "device_id": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{6}$", "maxLength": 9},
    "timestamp": {"type": "string", "format": "date-time"},
    "value": {"type": "number", "minimum": -273.15, "maximum": 1000},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit", "kelvin"]},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 4}
  },
  "additionalProperties": false
}`

func doc(t *testing.T, s string) any {
	t.Helper()
	v, err := schema.DecodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	return v
}

func one(t *testing.T, s string) Schema {
	return Schema{URL: "file:///p/schemas/main.json", Docs: map[string]any{"file:///p/schemas/main.json": doc(t, s)}}
}

func compare(t *testing.T, prev, next Schema) []Change {
	t.Helper()
	changes, err := CompareSchemas(prev, next)
	if err != nil {
		t.Fatal(err)
	}
	return changes
}

// TestEachKeywordChange edits the sensor schema one keyword at a time and
// checks the classification, where it applies and the keyword named.
func TestEachKeywordChange(t *testing.T) {
	cases := []struct {
		name, old, new string
		kind           Kind
		at, keyword    string
	}{
		{"additionalProperties false dropped", `"additionalProperties": false`, `"additionalProperties": true`, Weakening, "/*", "additionalProperties"},
		{"additionalProperties removed", `,
  "additionalProperties": false`, ``, Weakening, "/*", "additionalProperties"},
		{"required name dropped", `"required": ["device_id", "timestamp", "value", "unit"]`, `"required": ["device_id", "timestamp", "value"]`, Weakening, "/", "required"},
		{"required name added", `"required": ["device_id", "timestamp", "value", "unit"]`, `"required": ["device_id", "timestamp", "value", "unit", "tags"]`, Tightening, "/", "required"},
		{"pattern removed", `, "pattern": "^[A-Z]{2}-[0-9]{6}$"`, ``, Weakening, "/device_id", "pattern"},
		{"pattern widened", `"^[A-Z]{2}-[0-9]{6}$"`, `"^[A-Z]{2}-[0-9]{4,6}$"`, Unknown, "/device_id", "pattern"},
		{"minimum lowered", `"minimum": -273.15`, `"minimum": -300`, Weakening, "/value", "minimum"},
		{"minimum raised", `"minimum": -273.15`, `"minimum": -100`, Tightening, "/value", "minimum"},
		{"minimum made exclusive", `"minimum": -273.15`, `"exclusiveMinimum": -273.15`, Tightening, "/value", "exclusiveMinimum"},
		{"maximum removed", `, "maximum": 1000`, ``, Weakening, "/value", "maximum"},
		{"maximum raised", `"maximum": 1000`, `"maximum": 1000.5`, Weakening, "/value", "maximum"},
		{"maximum same value other spelling", `"maximum": 1000`, `"maximum": 1e3`, 0, "", ""},
		{"maxLength raised", `"maxLength": 9`, `"maxLength": 10`, Weakening, "/device_id", "maxLength"},
		{"minLength added", `"maxLength": 9`, `"maxLength": 9, "minLength": 9`, Tightening, "/device_id", "minLength"},
		{"maxItems removed", `, "maxItems": 4`, ``, Weakening, "/tags", "maxItems"},
		{"items type widened", `"items": {"type": "string"}`, `"items": {"type": ["string", "null"]}`, Weakening, "/tags/*", "type"},
		{"type integer to number", `"value": {"type": "number"`, `"value": {"type": "integer"`, Tightening, "/value", "type"},
		{"type string to any", `"timestamp": {"type": "string", `, `"timestamp": {`, Weakening, "/timestamp", "type"},
		{"enum grown", `["celsius", "fahrenheit", "kelvin"]`, `["celsius", "fahrenheit", "kelvin", "rankine"]`, Weakening, "/unit", "enum"},
		{"enum shrunk", `["celsius", "fahrenheit", "kelvin"]`, `["celsius", "kelvin"]`, Tightening, "/unit", "enum"},
		{"enum to const", `"enum": ["celsius", "fahrenheit", "kelvin"]`, `"const": "kelvin"`, Tightening, "/unit", "const"},
		{"enum removed", `, "enum": ["celsius", "fahrenheit", "kelvin"]`, ``, Weakening, "/unit", "enum"},
		{"format removed", `, "format": "date-time"`, ``, Weakening, "/timestamp", "format"},
		{"format changed", `"format": "date-time"`, `"format": "date"`, Weakening, "/timestamp", "format"},
		{"property schema made anything", `"unit": {"type": "string", "enum": ["celsius", "fahrenheit", "kelvin"]}`, `"unit": {"type": "string"}`, Weakening, "/unit", "enum"},
		{"property removed falls to additionalProperties false", `,
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 4}`, ``, Tightening, "/tags", "additionalProperties"},
		{"oneOf added", `"title": "SensorReading",`, `"title": "SensorReading", "oneOf": [{"required": ["tags"]}, {"required": ["unit"]}],`, Unknown, "/", "oneOf"},
		{"title changed only", `"title": "SensorReading"`, `"title": "Reading"`, 0, "", ""},
		{"uniqueItems added", `"maxItems": 4`, `"maxItems": 4, "uniqueItems": true`, Tightening, "/tags", "uniqueItems"},
		{"multipleOf refined", `"maximum": 1000`, `"maximum": 1000, "multipleOf": 0.5`, Tightening, "/value", "multipleOf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("the base schema has no %q", tc.old)
			}
			changes := compare(t, one(t, base), one(t, strings.Replace(base, tc.old, tc.new, 1)))
			if tc.kind == 0 {
				if len(changes) != 0 {
					t.Fatalf("want no change, got %v", changes)
				}
				return
			}
			if len(changes) != 1 {
				t.Fatalf("want one change, got %d: %v", len(changes), changes)
			}
			c := changes[0]
			if c.Kind != tc.kind || c.At != tc.at || c.Keyword != tc.keyword || c.Part != "schema" || c.Reason == "" {
				t.Errorf("got %v (kind %v at %q keyword %q), want %v at %q keyword %q", c, c.Kind, c.At, c.Keyword, tc.kind, tc.at, tc.keyword)
			}
			// The reverse edit is the opposite classification.
			back := compare(t, one(t, strings.Replace(base, tc.old, tc.new, 1)), one(t, base))
			want := map[Kind]Kind{Weakening: Tightening, Tightening: Weakening, Unknown: Unknown}[tc.kind]
			if tc.name == "format changed" {
				want = Weakening // date-time and date admit disjoint sets: both ways admit new strings
			}
			if Verdict(back) != want {
				t.Errorf("the reverse edit is %v, want %v: %v", Verdict(back), want, back)
			}
		})
	}
}

// TestRefsAreFollowed: a bound loosened in a file the schema reaches
// through $ref is a weakening at the place the $ref is used, and a $ref
// moved to an equal definition is no change.
func TestRefsAreFollowed(t *testing.T) {
	main := `{"type": "object", "properties": {"value": {"$ref": "defs.json#/$defs/celsius"}, "id": {"$ref": "#/$defs/id"}},
	  "$defs": {"id": {"type": "string", "maxLength": 9}, "id2": {"type": "string", "maxLength": 9}}}`
	defs := func(min string) string {
		return `{"$defs": {"celsius": {"type": "number", "minimum": ` + min + `}}}`
	}
	mk := func(main, defs string) Schema {
		return Schema{URL: "file:///p/schemas/main.json", Docs: map[string]any{
			"file:///p/schemas/main.json": doc(t, main),
			"file:///p/schemas/defs.json": doc(t, defs),
		}}
	}
	changes := compare(t, mk(main, defs("-273.15")), mk(main, defs("-500")))
	if Verdict(changes) != Weakening || len(changes) != 1 || changes[0].At != "/value" || changes[0].Keyword != "minimum" {
		t.Errorf("loosening behind a $ref: got %v", changes)
	}
	moved := strings.Replace(main, "#/$defs/id\"", "#/$defs/id2\"", 1)
	if changes := compare(t, mk(main, defs("0")), mk(moved, defs("0"))); len(changes) != 0 {
		t.Errorf("$ref moved to an equal definition: got %v", changes)
	}
	dropped := strings.Replace(main, `{"$ref": "#/$defs/id"}`, `{}`, 1)
	if changes := compare(t, mk(main, defs("0")), mk(dropped, defs("0"))); Verdict(changes) != Weakening {
		t.Errorf("$ref dropped: got %v", changes)
	}
	if _, err := CompareSchemas(mk(main, defs("0")), Schema{URL: "file:///p/schemas/main.json", Docs: map[string]any{"file:///p/schemas/main.json": doc(t, main)}}); err != nil {
		t.Fatal(err)
	} else if changes := compare(t, mk(main, defs("0")), Schema{URL: "file:///p/schemas/main.json", Docs: map[string]any{"file:///p/schemas/main.json": doc(t, main)}}); Verdict(changes) != Unknown {
		t.Errorf("a $ref that cannot be followed: got %v, want unknown", changes)
	}
}

// TestRecursiveSchema terminates and sees a change deep in a recursion.
func TestRecursiveSchema(t *testing.T) {
	tree := func(max string) string {
		return `{"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer", "maximum": ` + max + `}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"}`
	}
	changes := compare(t, one(t, tree("10")), one(t, tree("20")))
	if Verdict(changes) != Weakening {
		t.Errorf("got %v", changes)
	}
	if changes := compare(t, one(t, tree("10")), one(t, tree("10"))); len(changes) != 0 {
		t.Errorf("identical recursive schemas: %v", changes)
	}
}

func TestBooleanSchemas(t *testing.T) {
	for _, tc := range []struct {
		old, new string
		want     Kind
	}{
		{`false`, `true`, Weakening},
		{`true`, `false`, Tightening},
		{`{}`, `true`, 0},
		{`false`, `{"not": {}}`, Unknown},
		{`true`, `{"type": "string"}`, Tightening},
	} {
		if got := Verdict(compare(t, one(t, tc.old), one(t, tc.new))); got != tc.want {
			t.Errorf("%s → %s: %v, want %v", tc.old, tc.new, got, tc.want)
		}
	}
}

func TestVerdict(t *testing.T) {
	if Verdict(nil) != 0 {
		t.Error("no changes should have no verdict")
	}
	if v := Verdict([]Change{{Kind: Tightening}, {Kind: Unknown}}); v != Unknown {
		t.Errorf("tightening+unknown = %v", v)
	}
	if v := Verdict([]Change{{Kind: Unknown}, {Kind: Weakening}, {Kind: Tightening}}); v != Weakening {
		t.Errorf("with a weakening = %v", v)
	}
}
