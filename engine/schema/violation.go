package schema

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/engine/jsonptr"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Violation is one failing leaf keyword: why a record does not conform.
type Violation struct {
	// Pointer is the instance location as an RFC 6901 JSON pointer ("" is
	// the record itself). For "required" and "dependentRequired" it is the
	// object missing the property (the property has no location of its
	// own); for "additionalProperties", "unevaluatedProperties" and
	// "propertyNames" it is the offending member.
	Pointer string
	// Keyword is the failing keyword, e.g. "required", "pattern", "type".
	// Two values are not JSON Schema keywords: "false" for a false schema
	// (other than under additionalProperties, unevaluatedProperties,
	// unevaluatedItems or items, which are named instead), and "number"
	// for an instance number pawl refuses to compare (see [MaxExponent]).
	Keyword string
	// SchemaPath is the keyword's location in the schema as a JSON pointer
	// from the root schema, through any $ref (e.g. "/properties/value/type",
	// "/properties/a/$ref/minimum").
	SchemaPath string
	// Message is a clear English sentence that quotes the offending value
	// (truncated when long) where the value is known.
	Message string
}

// String renders the violation for logs: `/value [type at /properties/value/type]: ...`.
func (v Violation) String() string {
	return fmt.Sprintf("%s [%s at %s]: %s", displayPointer(v.Pointer), v.Keyword, displayPointer(v.SchemaPath), v.Message)
}

func displayPointer(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

// MaxExponent bounds the decimal exponent of instance numbers. Exact
// comparison builds 10^exponent as a big integer, so 1e1000000 costs tens of
// milliseconds per comparison and the library cannot parse larger exponents
// at all (it would panic on "minimum"). Real measurements stay far inside
// this bound: float64 itself ends near 1e308.
const MaxExponent = 4096

// Validate checks one record (as decoded by pawl: map[string]any, []any,
// string, json.Number, bool, nil) and returns its violations, or nil when it
// conforms. Safe for concurrent use.
//
// The verdict comes from the compiled path when the schema has one (see
// compiled.go); the violations of a record that does not conform always
// come from the library, so they are the same whichever path decided.
func (s *Schema) Validate(v any) []Violation {
	badNum, foreign := scanRecord(v)
	if badNum {
		vs := badNumbers(v, nil, nil)
		sortViolations(vs)
		return vs
	}
	if s.fast != nil && !foreign && s.fast.valid(v) {
		return nil
	}
	return s.interpreted(v)
}

// interpreted is Validate through the library alone, for a record whose
// numbers are all acceptable.
func (s *Schema) interpreted(v any) []Violation {
	err := s.sch.Validate(v)
	if err == nil {
		return nil
	}
	verr, ok := err.(*jsonschema.ValidationError)
	if !ok { // not produced by v6.0.3; kept so a library change cannot lose a verdict
		return []Violation{{Keyword: "schema", Message: err.Error()}}
	}
	f := flattener{instance: v}
	f.walk(verr, "", "", nil, nil)
	sortViolations(f.out)
	return f.out
}

func sortViolations(vs []Violation) {
	slices.SortFunc(vs, func(a, b Violation) int {
		if c := strings.Compare(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		if c := strings.Compare(a.Keyword, b.Keyword); c != 0 {
			return c
		}
		if c := strings.Compare(a.SchemaPath, b.SchemaPath); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
}

// scanRecord reports whether v holds a json.Number the library must not
// see (badNum): text that is not a JSON number (the library would panic
// comparing it) or an exponent beyond MaxExponent; and whether it holds a
// Go value pawl's decoder never produces (foreign), which only the library
// judges. It runs on every record, so it allocates nothing; badNumbers
// builds the violations only when needed.
func scanRecord(v any) (badNum, foreign bool) {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			b, f := scanRecord(e)
			if b {
				return true, f
			}
			foreign = foreign || f
		}
	case []any:
		for _, e := range v {
			b, f := scanRecord(e)
			if b {
				return true, f
			}
			foreign = foreign || f
		}
	case json.Number:
		return numberProblem(string(v)) != "", false
	case string, bool, nil:
	default:
		return false, true
	}
	return false, foreign
}

func badNumbers(v any, path []string, out []Violation) []Violation {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			out = badNumbers(e, append(path[:len(path):len(path)], k), out)
		}
	case []any:
		for i, e := range v {
			out = badNumbers(e, append(path[:len(path):len(path)], strconv.Itoa(i)), out)
		}
	case json.Number:
		if msg := numberProblem(string(v)); msg != "" {
			out = append(out, Violation{
				Pointer: pointer(path),
				Keyword: "number",
				Message: fmt.Sprintf("value %s %s", truncate(string(v)), msg),
			})
		}
	}
	return out
}

// numberProblem checks JSON number grammar and the exponent bound in one
// pass; "" means the number is fine.
func numberProblem(s string) string {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return "is not a JSON number"
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return "is not a JSON number"
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if exp <= MaxExponent {
				exp = exp*10 + int(s[i]-'0')
			}
			i++
		}
		if i == start {
			return "is not a JSON number"
		}
		if exp > MaxExponent {
			return fmt.Sprintf("has a decimal exponent beyond ±%d; pawl refuses it rather than compare it inexactly or at unbounded cost", MaxExponent)
		}
	}
	if i != len(s) {
		return "is not a JSON number"
	}
	return ""
}

var printer = message.NewPrinter(language.English)

// flattener turns the library's error tree into leaf violations.
type flattener struct {
	instance any
	out      []Violation
	used     map[string]bool // see propertyNamesPointer
}

// nameScope is set below "propertyNames": the library validates the name as
// a separate instance, so its causes carry locations relative to the name.
type nameScope struct {
	pointer string // the member whose name failed
	name    string
}

// walk mirrors the library's own output() bookkeeping for keyword locations:
// kwLoc is the path from the root schema (through $refs) to the schema that
// produced e's parent, and schemaURL that schema's absolute location.
//
// anc is the instance location of the nearest ancestor error whose location
// the library copied (see propertyNamesPointer).
func (f *flattener) walk(e *jsonschema.ValidationError, schemaURL, kwLoc string, anc []string, ns *nameScope) {
	if schemaURL != "" {
		if rest, ok := strings.CutPrefix(e.SchemaURL, schemaURL); ok {
			kwLoc += decodeFragment(rest)
		} else { // not expected: fall back to the absolute fragment
			_, frag, _ := strings.Cut(e.SchemaURL, "#")
			kwLoc = decodeFragment(frag)
		}
		if ref, ok := e.ErrorKind.(*kind.Reference); ok {
			kwLoc += "/" + escapeToken(ref.Keyword)
		}
	}
	schemaURL = e.SchemaURL
	if ref, ok := e.ErrorKind.(*kind.Reference); ok {
		schemaURL = ref.URL
	}

	switch e.ErrorKind.(type) {
	case *kind.PropertyNames, *kind.ContentSchema:
		// Their InstanceLocation aliases a reused slice; keep the last good one.
	default:
		if ns == nil {
			anc = e.InstanceLocation
		}
	}

	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		// Every cause is a requirement on its own: report each.
		for _, c := range e.Causes {
			f.walk(c, schemaURL, kwLoc, anc, ns)
		}
		if len(e.Causes) > 0 {
			return
		}
	case *kind.PropertyNames:
		ptr := f.propertyNamesPointer(e, k.Property, anc) + "/" + escapeToken(k.Property)
		for _, c := range e.Causes {
			f.walk(c, schemaURL, kwLoc, anc, &nameScope{pointer: ptr, name: k.Property})
		}
		if len(e.Causes) > 0 {
			return
		}
	}
	f.leaf(e, kwLoc, schemaURL, anc, ns)
}

// propertyNamesPointer locates the object whose member name failed
// "propertyNames". The library (v6.0.3) stores that error's instance location
// without copying a slice that later siblings overwrite, so only its length
// can be trusted. The object is therefore found in the instance: at that
// depth, under the nearest ancestor whose location was copied, holding a
// member of that name. Candidates are taken in pointer order and each used
// once per propertyNames schema, so identical failures in sibling objects
// still yield one violation each.
func (f *flattener) propertyNamesPointer(e *jsonschema.ValidationError, name string, anc []string) string {
	depth := len(e.InstanceLocation)
	if depth <= len(anc) {
		return pointer(anc[:depth])
	}
	base, ok := valueAt(f.instance, anc)
	if !ok {
		return pointer(anc)
	}
	var cands []string
	var collect func(v any, path []string)
	collect = func(v any, path []string) {
		if len(path) == depth {
			if obj, ok := v.(map[string]any); ok {
				if _, has := obj[name]; has {
					cands = append(cands, pointer(path))
				}
			}
			return
		}
		switch c := v.(type) {
		case map[string]any:
			for k, child := range c {
				collect(child, append(path[:len(path):len(path)], k))
			}
		case []any:
			for i, child := range c {
				collect(child, append(path[:len(path):len(path)], strconv.Itoa(i)))
			}
		}
	}
	collect(base, anc[:len(anc):len(anc)])
	slices.Sort(cands)
	if f.used == nil {
		f.used = map[string]bool{}
	}
	for _, c := range cands {
		key := e.SchemaURL + "\x00" + name + "\x00" + c
		if !f.used[key] {
			f.used[key] = true
			return c
		}
	}
	return pointer(anc)
}

func (f *flattener) pointer(e *jsonschema.ValidationError, ns *nameScope) string {
	if ns != nil {
		return ns.pointer
	}
	return pointer(e.InstanceLocation)
}

func (f *flattener) value(e *jsonschema.ValidationError, ns *nameScope) (any, bool) {
	if ns != nil {
		return ns.name, true
	}
	return valueAt(f.instance, e.InstanceLocation)
}

func (f *flattener) add(ptr, kw, schemaPath, msg string) {
	f.out = append(f.out, Violation{Pointer: ptr, Keyword: kw, SchemaPath: schemaPath, Message: msg})
}

// leaf records e as one or more violations. Alternatives (anyOf, oneOf,
// contains) are one violation with their branches summarised: a branch's
// failure is not a requirement on its own, so listing it separately would
// tell the reader to fix things that need no fixing.
func (f *flattener) leaf(e *jsonschema.ValidationError, kwLoc, schemaURL string, anc []string, ns *nameScope) {
	ptr := f.pointer(e, ns)
	val, hasVal := f.value(e, ns)
	subj := subject(val, hasVal, ns)
	path := func(kw ...string) string {
		p := kwLoc
		for _, t := range kw {
			p += "/" + escapeToken(t)
		}
		return p
	}
	kwPath := path(e.ErrorKind.KeywordPath()...)

	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		f.add(ptr, "type", kwPath, fmt.Sprintf("%s is not %s", subj, typeList(k.Want)))
	case *kind.Required:
		for _, m := range k.Missing {
			f.add(ptr, "required", kwPath, fmt.Sprintf("missing required property %s", quote(m)))
		}
	case *kind.DependentRequired:
		for _, m := range k.Missing {
			f.add(ptr, "dependentRequired", kwPath, fmt.Sprintf("missing property %s, required when property %s is present", quote(m), quote(k.Prop)))
		}
	case *kind.Dependency:
		for _, m := range k.Missing {
			f.add(ptr, "dependencies", path("dependencies", k.Prop), fmt.Sprintf("missing property %s, required when property %s is present", quote(m), quote(k.Prop)))
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			f.add(ptr+"/"+escapeToken(p), "additionalProperties", kwPath, fmt.Sprintf("additional property %s is not allowed", quote(p)))
		}
	case *kind.Pattern:
		f.add(ptr, "pattern", kwPath, fmt.Sprintf("%s does not match pattern %s", subj, quote(k.Want)))
	case *kind.Format:
		f.add(ptr, "format", kwPath, fmt.Sprintf("%s is not a valid %s: %v", subj, k.Want, k.Err))
	case *kind.Enum:
		want := make([]string, 0, len(k.Want))
		for i, w := range k.Want {
			if i == 10 {
				want = append(want, fmt.Sprintf("… (%d more)", len(k.Want)-i))
				break
			}
			want = append(want, show(w))
		}
		if len(k.Want) == 1 {
			f.add(ptr, "enum", kwPath, fmt.Sprintf("%s is not the allowed value %s", subj, want[0]))
		} else {
			f.add(ptr, "enum", kwPath, fmt.Sprintf("%s is not one of %s", subj, strings.Join(want, ", ")))
		}
	case *kind.Const:
		f.add(ptr, "const", kwPath, fmt.Sprintf("%s is not the required constant %s", subj, show(k.Want)))
	case *kind.Minimum:
		f.add(ptr, "minimum", kwPath, fmt.Sprintf("%s is less than minimum %s", subj, ratString(k.Want)))
	case *kind.Maximum:
		f.add(ptr, "maximum", kwPath, fmt.Sprintf("%s is greater than maximum %s", subj, ratString(k.Want)))
	case *kind.ExclusiveMinimum:
		f.add(ptr, "exclusiveMinimum", kwPath, fmt.Sprintf("%s is not greater than exclusiveMinimum %s", subj, ratString(k.Want)))
	case *kind.ExclusiveMaximum:
		f.add(ptr, "exclusiveMaximum", kwPath, fmt.Sprintf("%s is not less than exclusiveMaximum %s", subj, ratString(k.Want)))
	case *kind.MultipleOf:
		f.add(ptr, "multipleOf", kwPath, fmt.Sprintf("%s is not a multiple of %s", subj, ratString(k.Want)))
	case *kind.MinLength:
		f.add(ptr, "minLength", kwPath, fmt.Sprintf("%s has %d characters, fewer than minLength %d", subj, k.Got, k.Want))
	case *kind.MaxLength:
		f.add(ptr, "maxLength", kwPath, fmt.Sprintf("%s has %d characters, more than maxLength %d", subj, k.Got, k.Want))
	case *kind.MinItems:
		f.add(ptr, "minItems", kwPath, fmt.Sprintf("array has %d items, fewer than minItems %d", k.Got, k.Want))
	case *kind.MaxItems:
		f.add(ptr, "maxItems", kwPath, fmt.Sprintf("array has %d items, more than maxItems %d", k.Got, k.Want))
	case *kind.MinProperties:
		f.add(ptr, "minProperties", kwPath, fmt.Sprintf("object has %d properties, fewer than minProperties %d", k.Got, k.Want))
	case *kind.MaxProperties:
		f.add(ptr, "maxProperties", kwPath, fmt.Sprintf("object has %d properties, more than maxProperties %d", k.Got, k.Want))
	case *kind.UniqueItems:
		f.add(ptr, "uniqueItems", kwPath, fmt.Sprintf("array items %d and %d are equal, but uniqueItems requires distinct items", k.Duplicates[0], k.Duplicates[1]))
	case *kind.AdditionalItems:
		f.add(ptr, "additionalItems", kwPath, fmt.Sprintf("array has %d more items than the schema allows", k.Count))
	case *kind.Contains:
		f.add(ptr, "contains", kwPath, "no array item matches the contains schema"+f.branches(e, schemaURL, kwLoc, anc, ns))
	case *kind.MinContains:
		f.add(ptr, "minContains", kwPath, fmt.Sprintf("%d array items match the contains schema, fewer than minContains %d%s", len(k.Got), k.Want, f.branches(e, schemaURL, kwLoc, anc, ns)))
	case *kind.MaxContains:
		f.add(ptr, "maxContains", kwPath, fmt.Sprintf("%d array items match the contains schema, more than maxContains %d", len(k.Got), k.Want))
	case *kind.AnyOf:
		f.add(ptr, "anyOf", kwPath, fmt.Sprintf("%s matches none of the anyOf alternatives%s", subj, f.branches(e, schemaURL, kwLoc, anc, ns)))
	case *kind.OneOf:
		if len(k.Subschemas) >= 2 {
			f.add(ptr, "oneOf", kwPath, fmt.Sprintf("%s matches oneOf alternatives %d and %d, but exactly one must match", subj, k.Subschemas[0], k.Subschemas[1]))
		} else {
			f.add(ptr, "oneOf", kwPath, fmt.Sprintf("%s matches none of the oneOf alternatives%s", subj, f.branches(e, schemaURL, kwLoc, anc, ns)))
		}
	case *kind.Not:
		// The library gives "not" no keyword path; add it so SchemaPath names it.
		f.add(ptr, "not", path("not"), fmt.Sprintf("%s must not match the \"not\" schema", subj))
	case *kind.FalseSchema:
		f.falseSchema(ptr, kwLoc, subj, e.InstanceLocation)
	case *kind.PropertyNames:
		f.add(ptr, "propertyNames", kwLoc, fmt.Sprintf("property name %s is not allowed", quote(k.Property)))
	case *kind.ContentSchema:
		// Unreachable while content assertion stays off; if it is turned on,
		// note that this error's InstanceLocation has the same aliasing
		// problem as propertyNames (see propertyNamesPointer).
		f.add(ptr, "contentSchema", kwPath, "decoded content does not match contentSchema")
	case *kind.InvalidJsonValue:
		f.add(ptr, "type", kwPath, fmt.Sprintf("value of Go type %T is not a JSON value", k.Value))
	case *kind.RefCycle:
		f.add(ptr, "$ref", kwPath, k.LocalizedString(printer))
	default:
		kw := "schema"
		if p := e.ErrorKind.KeywordPath(); len(p) > 0 {
			kw = p[0]
		}
		f.add(ptr, kw, kwPath, e.ErrorKind.LocalizedString(printer))
	}
}

// falseSchema names the keyword whose subschema is false when that keyword
// applies to members or items (the usual way to forbid them); otherwise the
// pseudo-keyword "false".
func (f *flattener) falseSchema(ptr, kwLoc, subj string, loc []string) {
	last := kwLoc[strings.LastIndexByte(kwLoc, '/')+1:]
	member := ""
	if len(loc) > 0 {
		member = loc[len(loc)-1]
	}
	switch last {
	case "unevaluatedProperties", "additionalProperties":
		f.add(ptr, last, kwLoc, fmt.Sprintf("%s property %s is not allowed", strings.TrimSuffix(last, "Properties"), quote(member)))
	case "unevaluatedItems", "items":
		f.add(ptr, last, kwLoc, fmt.Sprintf("array item %s is not allowed (%s is false)", member, last))
	default:
		f.add(ptr, "false", kwLoc, fmt.Sprintf("%s is not allowed: the schema at %s is false", subj, displayPointer(kwLoc)))
	}
}

// branches summarises why each alternative failed, bounded so that a schema
// with many alternatives cannot produce an unbounded quarantine reason.
func (f *flattener) branches(e *jsonschema.ValidationError, schemaURL, kwLoc string, anc []string, ns *nameScope) string {
	sub := flattener{instance: f.instance, used: f.used}
	for _, c := range e.Causes {
		sub.walk(c, schemaURL, kwLoc, anc, ns)
	}
	if len(sub.out) == 0 {
		return ""
	}
	// Branch order reads best in schema order: alternative 0 first.
	slices.SortStableFunc(sub.out, func(a, b Violation) int {
		if c := strings.Compare(a.SchemaPath, b.SchemaPath); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	const maxShown = 4
	var sb strings.Builder
	sb.WriteString(" (")
	for i, v := range sub.out {
		if i == maxShown {
			fmt.Fprintf(&sb, "; and %d more", len(sub.out)-i)
			break
		}
		if i > 0 {
			sb.WriteString("; ")
		}
		fmt.Fprintf(&sb, "%s: %s", displayPointer(v.SchemaPath), v.Message)
	}
	sb.WriteString(")")
	return sb.String()
}

// summarize renders a validation error as one line (for schemas that fail
// their metaschema).
func summarize(e *jsonschema.ValidationError, instance any, max int) string {
	f := flattener{instance: instance}
	f.walk(e, "", "", nil, nil)
	sortViolations(f.out)
	parts := make([]string, 0, max+1)
	for i, v := range f.out {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(f.out)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("at %s: %s", displayPointer(v.Pointer), v.Message))
	}
	return strings.Join(parts, "; ")
}

// subject names the offending value for a message: `value "hot"`.
func subject(v any, ok bool, ns *nameScope) string {
	if ns != nil {
		return "property name " + quote(ns.name)
	}
	if !ok {
		return "value"
	}
	switch v.(type) {
	case map[string]any:
		return "object value"
	case []any:
		return "array value"
	}
	return "value " + show(v)
}

const maxShownRunes = 64

// show renders a JSON value briefly: messages go into quarantine records
// and logs, where a multi-kilobyte value would bury the reason.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return quote(v)
	case json.Number:
		return truncate(string(v))
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case map[string]any, []any:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprintf("%T", v)
		}
		return truncate(string(b))
	default:
		return truncate(fmt.Sprint(v))
	}
}

func quote(s string) string {
	if utf8.RuneCountInString(s) <= maxShownRunes {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return fmt.Sprintf("%s… (%d characters)", strconv.Quote(string(r[:maxShownRunes])), len(r))
}

func truncate(s string) string {
	if utf8.RuneCountInString(s) <= maxShownRunes {
		return s
	}
	r := []rune(s)
	return fmt.Sprintf("%s… (%d characters)", string(r[:maxShownRunes]), len(r))
}

func typeList(want []string) string {
	names := make([]string, len(want))
	for i, w := range want {
		switch w {
		case "null":
			names[i] = "null"
		case "integer", "object", "array":
			names[i] = "an " + w
		default:
			names[i] = "a " + w
		}
	}
	return strings.Join(names, " or ")
}

// ratString prints a schema limit the way it was most likely written:
// -273.15 rather than the exact rational -5463/20.
func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.RatString()
	}
	f, _ := r.Float64()
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
		return s
	}
	return r.FloatString(20)
}

func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(escapeToken(t))
	}
	return sb.String()
}

var (
	tokenEscaper   = strings.NewReplacer("~", "~0", "/", "~1")
	tokenUnescaper = strings.NewReplacer("~1", "/", "~0", "~")
)

// escapeToken applies RFC 6901: "~" before "/" so "~1" in a name survives.
func escapeToken(t string) string {
	if !strings.ContainsAny(t, "~/") {
		return t
	}
	return tokenEscaper.Replace(t)
}

func unescapeToken(t string) string {
	if !strings.Contains(t, "~") {
		return t
	}
	return tokenUnescaper.Replace(t)
}

// decodeFragment undoes the percent-encoding the library applies to schema
// locations, leaving a plain JSON pointer.
func decodeFragment(frag string) string {
	if !strings.Contains(frag, "%") {
		return frag
	}
	if d, err := url.PathUnescape(frag); err == nil {
		return d
	}
	return frag
}

func valueAt(v any, tokens []string) (any, bool) { return jsonptr.Get(v, tokens) }
