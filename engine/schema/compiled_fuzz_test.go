package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// fuzzGen draws schemas and instances from fuzz bytes; past the end it
// reads zeros, so every input yields something.
type fuzzGen struct{ b []byte }

func (g *fuzzGen) n(k int) int {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return int(c) % k
}

var (
	fuzzNames   = []string{"a", "b", "c", "é"}
	fuzzTypes   = []string{"null", "boolean", "number", "integer", "string", "array", "object"}
	fuzzStrings = []string{
		"", "a", "AB-12", "é", "ab", "abc", "2024-05-01T12:00:00Z", "2024-02-30T12:00:00Z",
		"2024-05-01T23:59:60Z", "2024-05-01T12:00:00.5+05:30", "12:00:00Z", "2024-05-01",
		"10.0.0.1", "x@y.z", "P1D", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "^a+$", "(",
	}
	fuzzPatterns = []string{
		"^[A-Z]{2}-[0-9]{2}$", "a", `^\p{L}+$`, "é", "", "^$", "b|c", "^a.b*$", "^(?i)ab$", "^[^a]é?$",
		`^\d{2,}$`, "^(ab)c{0,2}$", "^.{2}$", "^a{2,3}$", "(?m)^a$", "^A\\z",
	}
	fuzzFormats = []string{"date-time", "date", "time", "email", "ipv4", "uuid", "duration", "regex"}
)

func (g *fuzzGen) number(positive bool) json.Number {
	var sb strings.Builder
	if !positive && g.n(3) == 0 {
		sb.WriteByte('-')
	}
	digits := g.n(22)
	switch {
	case digits == 0 && positive:
		sb.WriteByte('1')
	case digits == 0:
		sb.WriteByte('0')
	default:
		sb.WriteByte(byte('1' + g.n(9)))
		for range digits - 1 {
			sb.WriteByte(byte('0' + g.n(10)))
		}
	}
	if g.n(2) == 0 {
		sb.WriteByte('.')
		for range 1 + g.n(4) {
			sb.WriteByte(byte('0' + g.n(10)))
		}
	}
	if g.n(4) == 0 {
		fmt.Fprintf(&sb, "e%d", g.n(51)-25)
	}
	return json.Number(sb.String())
}

func (g *fuzzGen) value(depth int) any {
	k := g.n(8)
	if depth > 2 && k >= 6 {
		k = 0
	}
	switch k {
	case 0:
		return nil
	case 1:
		return g.n(2) == 0
	case 2, 3:
		return g.number(false)
	case 4, 5:
		return fuzzStrings[g.n(len(fuzzStrings))]
	case 6:
		arr := []any{}
		for range g.n(4) {
			arr = append(arr, g.value(depth+1))
		}
		return arr
	default:
		obj := map[string]any{}
		for range g.n(4) {
			obj[fuzzNames[g.n(len(fuzzNames))]] = g.value(depth + 1)
		}
		return obj
	}
}

func (g *fuzzGen) schemas(depth int) []any {
	l := make([]any, 1+g.n(3))
	for i := range l {
		l[i] = g.schema(depth + 1)
	}
	return l
}

func (g *fuzzGen) schema(depth int) any {
	if g.n(8) == 0 {
		return g.n(2) == 0
	}
	s := map[string]any{}
	for range 1 + g.n(3) {
		kw := 16 + g.n(11) // a keyword with subschemas
		if depth > 2 || g.n(2) == 0 {
			kw = g.n(16) // one without
		}
		switch kw {
		case 0:
			s["type"] = fuzzTypes[g.n(len(fuzzTypes))]
		case 1:
			s["type"] = []any{fuzzTypes[g.n(len(fuzzTypes))], fuzzTypes[g.n(len(fuzzTypes))]}
		case 2:
			req := []any{}
			for _, name := range fuzzNames {
				if g.n(2) == 0 {
					req = append(req, name)
				}
			}
			s["required"] = req
		case 3:
			l := []any{}
			for range 1 + g.n(3) {
				l = append(l, g.value(1))
			}
			s["enum"] = l
		case 4:
			s["const"] = g.value(1)
		case 5:
			s["pattern"] = fuzzPatterns[g.n(len(fuzzPatterns))]
		case 6:
			s["format"] = fuzzFormats[g.n(len(fuzzFormats))]
		case 7, 8:
			s[[]string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}[g.n(4)]] = g.number(false)
		case 9:
			s["multipleOf"] = g.number(true)
		case 10, 11:
			s[[]string{"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains", "maxContains"}[g.n(8)]] = json.Number(fmt.Sprint(g.n(4)))
		case 12:
			s["uniqueItems"] = g.n(2) == 0
		case 13:
			s["dependentRequired"] = map[string]any{fuzzNames[g.n(4)]: []any{fuzzNames[g.n(4)]}}
		case 14:
			s["$ref"] = []string{"#/$defs/d", "#/$defs/e", "#"}[g.n(3)]
		case 15:
			s["additionalProperties"] = g.n(2) == 0
		default:
			switch kw {
			case 16, 17:
				props := map[string]any{}
				for _, name := range fuzzNames {
					if g.n(2) == 0 {
						props[name] = g.schema(depth + 1)
					}
				}
				s["properties"] = props
			case 18:
				s["additionalProperties"] = g.schema(depth + 1)
			case 19:
				s["patternProperties"] = map[string]any{fuzzPatterns[g.n(len(fuzzPatterns))]: g.schema(depth + 1)}
			case 20:
				s["items"] = g.schema(depth + 1)
			case 21:
				s["prefixItems"] = g.schemas(depth)
			case 22:
				s[[]string{"allOf", "anyOf", "oneOf"}[g.n(3)]] = g.schemas(depth)
			case 23:
				s[[]string{"not", "if", "then", "else", "contains", "propertyNames"}[g.n(6)]] = g.schema(depth + 1)
			case 24:
				s["dependentSchemas"] = map[string]any{fuzzNames[g.n(4)]: g.schema(depth + 1)}
			case 25:
				s["unevaluatedProperties"] = g.schema(depth + 1)
			default:
				s["unevaluatedItems"] = g.schema(depth + 1)
			}
		}
	}
	return s
}

// FuzzCompiledMatchesSanthosh: for random schemas over the keywords the
// compiled path implements (and a few it leaves to the library) and random
// instances, Validate returns exactly the violations of the library alone,
// and the compiled path's verdict is the library's. The leftover bytes are
// a string that fastDateTime must not accept unless the library does.
func FuzzCompiledMatchesSanthosh(f *testing.F) {
	f.Add([]byte("\x01\x14\x02\x00\x05\x00\x03\x07"))
	f.Add([]byte("2024-05-01T12:00:00Z"))
	dt := dateTimeFormat(f)
	fuzzRegexps, fuzzSimple := simplePatterns(f, fuzzPatterns)
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &fuzzGen{b: data}
		root := g.schema(0)
		if m, ok := root.(map[string]any); ok {
			m["$defs"] = map[string]any{"d": g.schema(1), "e": map[string]any{"$ref": "#/$defs/d"}}
		}
		var insts []any
		for range 4 {
			insts = append(insts, g.value(0))
		}
		rest := string(g.b)
		if fastDateTime(rest) && dt.Validate(rest) != nil {
			t.Fatalf("fastDateTime accepts %q, the library refuses it: %v", rest, dt.Validate(rest))
		}
		for i, re := range fuzzRegexps {
			if sp := fuzzSimple[i]; sp != nil && sp.match(rest) != re.MatchString(rest) {
				t.Fatalf("pattern %s on %q: simplePattern says %v, regexp the opposite", re, rest, sp.match(rest))
			}
		}
		s, err := CompileURL(suiteSchemaURL, Options{Load: func(u string) (any, error) { return root, nil }})
		if err != nil {
			return // not a valid schema (e.g. a bad pattern for "format": "regex")
		}
		lib := library(s)
		for _, inst := range insts {
			got, want := s.Validate(inst), lib.Validate(inst)
			if !reflect.DeepEqual(got, want) {
				sj, _ := json.Marshal(root)
				ij, _ := json.Marshal(inst)
				t.Fatalf("schema %s\ninstance %s\ncompiled path:\n%slibrary:\n%s", sj, ij, dump(got), dump(want))
			}
			checkFlat(t, s, lib, inst, func() string {
				sj, _ := json.Marshal(root)
				ij, _ := json.Marshal(inst)
				return fmt.Sprintf("schema %s, instance %s", sj, ij)
			})
			if bad, _ := scanRecord(inst); s.fast != nil && !bad {
				if fast := s.fast.valid(inst); fast != (want == nil) {
					sj, _ := json.Marshal(root)
					ij, _ := json.Marshal(inst)
					t.Fatalf("schema %s\ninstance %s\ncompiled verdict valid=%v, library %s", sj, ij, fast, dump(want))
				}
			}
		}
	})
}
