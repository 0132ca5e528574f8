package schema

import (
	"encoding/json"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The compiled path: the library's compiled schema tree turned into a tree
// of nodes that check only the keywords each schema has, on the values
// pawl's decoder produces, with numbers compared as decimals (see dec)
// instead of big.Rat. It decides the verdict only: when it says a record
// conforms, Validate returns nil; otherwise Validate asks the library, whose
// errors the flattener turns into violations exactly as before. Reasons are
// therefore the library's by construction, and the only thing the compiled
// path must get right is the verdict, which the differential tests (the
// official suite on both paths, FuzzCompiledMatchesSanthosh) check.
//
// It is built from the library's compiled *jsonschema.Schema, not from the
// raw documents: $ref resolution, drafts and vocabularies, regexps and
// format functions are then the library's own, so they cannot disagree.
//
// Fallback: a node the compiled path does not implement (content
// assertions, extensions, unevaluatedProperties/unevaluatedItems) is
// checked by the library on the same instance, which gives the same verdict
// as checking it in place because none of those depends on the schemas
// around it. What does depend on them — $dynamicRef and $recursiveRef,
// resolved through the dynamic scope — and schemas that apply to the same
// instance in a cycle (the library reports those as an error) make the
// whole schema fall back to the library.

// jsonType bits, as the library's Types.ToStrings names them.
const (
	tNull = 1 << iota
	tBoolean
	tNumber
	tInteger
	tString
	tArray
	tObject
)

var typeBits = map[string]uint8{
	"null": tNull, "boolean": tBoolean, "number": tNumber, "integer": tInteger,
	"string": tString, "array": tArray, "object": tObject,
}

type propEntry struct {
	name     string
	n        *node
	required bool
}

type patternNode struct {
	re jsonschema.Regexp
	n  *node
}

type node struct {
	sch      *jsonschema.Schema
	fallback bool // the library checks this node
	flatRoot bool // the root, and ValidFlat can decide it (flatRootOK)
	bool     *bool

	types   uint8
	hasTyp  bool
	constV  *any
	enum    []any
	format  *jsonschema.Format
	ref     *node
	refOnly bool // draft < 2019: $ref replaces the keywords after format

	not                    *node
	allOf, anyOf, oneOf    []*node
	ifN, thenN, elseN      *node
	minProps, maxProps     int // -1: absent
	required               []string
	props                  map[string]*node
	propList               []propEntry // props in name order, each marked if required
	otherRequired          []string    // required names that are not in props
	patProps               []patternNode
	addlFalse              bool
	addl                   *node
	depRequired            map[string][]string // also draft-7 "dependencies" arrays
	depSchemas             map[string]*node    // also draft-7 "dependencies" schemas
	propNames              *node
	minItems, maxItems     int
	unique                 bool
	prefix                 []*node
	items                  *node
	addlItemsFalse         bool
	addlItems              *node
	contains               *node
	minContains            int // -1: absent
	maxContains            int
	minLen, maxLen         int
	pattern                jsonschema.Regexp
	simple                 *simplePattern // pattern, when it has a simple shape
	min, max, exMin, exMax *limit
	multipleOf             *limit
}

// compiler turns library schemas into nodes, one per schema (shared, so
// that recursive schemas make a graph, not an endless tree).
type compiler struct {
	nodes     map[*jsonschema.Schema]*node
	fallbacks int
}

// compileFast builds the compiled path for sch, or returns nil when the
// whole schema must go to the library. nodes and fallbacks count the
// schemas compiled and the ones left to the library.
func compileFast(sch *jsonschema.Schema) (root *node, nodes, fallbacks int) {
	if needsContext(sch) {
		return nil, 0, 0
	}
	c := &compiler{nodes: map[*jsonschema.Schema]*node{}}
	root = c.node(sch)
	root.flatRoot = flatRootOK(root)
	return root, len(c.nodes), c.fallbacks
}

func (c *compiler) node(s *jsonschema.Schema) *node {
	if s == nil {
		return nil
	}
	if n, ok := c.nodes[s]; ok {
		return n
	}
	n := &node{sch: s, minProps: -1, maxProps: -1, minItems: -1, maxItems: -1, minContains: -1, maxContains: -1, minLen: -1, maxLen: -1}
	c.nodes[s] = n
	if s.Bool != nil {
		n.bool = s.Bool
		return n
	}
	if s.ContentEncoding != nil || s.ContentMediaType != nil || s.ContentSchema != nil ||
		len(s.Extensions) > 0 || s.UnevaluatedProperties != nil || s.UnevaluatedItems != nil {
		n.fallback = true
		c.fallbacks++
		return n
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			n.types |= typeBits[t]
		}
		n.hasTyp = n.types != 0
	}
	n.constV = s.Const
	if s.Enum != nil {
		n.enum = s.Enum.Values
		if n.enum == nil {
			n.enum = []any{}
		}
	}
	n.format = s.Format
	n.ref = c.node(s.Ref)
	n.refOnly = s.Ref != nil && s.DraftVersion < 2019
	if n.refOnly {
		return n
	}

	n.not = c.node(s.Not)
	n.allOf = c.list(s.AllOf)
	n.anyOf = c.list(s.AnyOf)
	n.oneOf = c.list(s.OneOf)
	n.ifN, n.thenN, n.elseN = c.node(s.If), c.node(s.Then), c.node(s.Else)

	if s.MinProperties != nil {
		n.minProps = *s.MinProperties
	}
	if s.MaxProperties != nil {
		n.maxProps = *s.MaxProperties
	}
	n.required = s.Required
	if s.Properties != nil {
		n.props = make(map[string]*node, len(s.Properties))
		for k, ps := range s.Properties {
			n.props[k] = c.node(ps)
		}
	}
	if n.props != nil {
		// The object check looks each property up once, required or not,
		// and walks the record's members only when some are not properties.
		req := map[string]bool{}
		for _, r := range n.required {
			req[r] = true
		}
		for _, k := range slices.Sorted(maps.Keys(n.props)) {
			n.propList = append(n.propList, propEntry{k, n.props[k], req[k]})
			delete(req, k)
		}
		for _, r := range n.required {
			if req[r] {
				n.otherRequired = append(n.otherRequired, r)
				delete(req, r)
			}
		}
	} else {
		n.otherRequired = n.required
	}
	for re, ps := range s.PatternProperties {
		n.patProps = append(n.patProps, patternNode{re, c.node(ps)})
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		n.addlFalse = !a
	case *jsonschema.Schema:
		n.addl = c.node(a)
	}
	for p, dep := range s.Dependencies {
		switch dep := dep.(type) {
		case []string:
			if n.depRequired == nil {
				n.depRequired = map[string][]string{}
			}
			n.depRequired[p] = dep
		case *jsonschema.Schema:
			if n.depSchemas == nil {
				n.depSchemas = map[string]*node{}
			}
			n.depSchemas[p] = c.node(dep)
		}
	}
	// The library stops reading an object's keywords after "properties" in
	// draft 4 and after "propertyNames" in draft 6; keep the same cut.
	if s.DraftVersion != 4 {
		n.propNames = c.node(s.PropertyNames)
	}
	if s.DraftVersion != 4 && s.DraftVersion != 6 {
		for p, req := range s.DependentRequired {
			if n.depRequired == nil {
				n.depRequired = map[string][]string{}
			}
			n.depRequired[p] = append(n.depRequired[p], req...)
		}
		for p, ds := range s.DependentSchemas {
			if n.depSchemas == nil {
				n.depSchemas = map[string]*node{}
			}
			if _, dup := n.depSchemas[p]; dup {
				n.fallback = true // both spellings on one property: let the library decide
				c.fallbacks++
				return n
			}
			n.depSchemas[p] = c.node(ds)
		}
	}

	if s.MinItems != nil {
		n.minItems = *s.MinItems
	}
	if s.MaxItems != nil {
		n.maxItems = *s.MaxItems
	}
	n.unique = s.UniqueItems
	if s.DraftVersion < 2020 {
		// As the library reads them: "items" as one schema covers every
		// item; otherwise "additionalItems" applies after the "items" array
		// (or to every item when there is none).
		if it, ok := s.Items.(*jsonschema.Schema); ok {
			n.items = c.node(it)
		} else {
			it, _ := s.Items.([]*jsonschema.Schema)
			n.prefix = c.list(it)
			if n.prefix == nil {
				n.prefix = []*node{}
			}
			switch a := s.AdditionalItems.(type) {
			case bool:
				n.addlItemsFalse = !a
			case *jsonschema.Schema:
				n.addlItems = c.node(a)
			}
		}
	} else {
		n.prefix = c.list(s.PrefixItems)
		n.items = c.node(s.Items2020)
	}
	n.contains = c.node(s.Contains)
	if s.MinContains != nil {
		n.minContains = *s.MinContains
	}
	if s.MaxContains != nil {
		n.maxContains = *s.MaxContains
	}

	if s.MinLength != nil {
		n.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		n.maxLen = *s.MaxLength
	}
	n.pattern = s.Pattern
	if s.Pattern != nil {
		n.simple = newSimplePattern(s.Pattern)
	}

	n.min, n.max = newLimit(s.Minimum), newLimit(s.Maximum)
	n.exMin, n.exMax = newLimit(s.ExclusiveMinimum), newLimit(s.ExclusiveMaximum)
	n.multipleOf = newLimit(s.MultipleOf)
	return n
}

func (c *compiler) list(l []*jsonschema.Schema) []*node {
	if l == nil {
		return nil
	}
	out := make([]*node, len(l))
	for i, s := range l {
		out[i] = c.node(s)
	}
	return out
}

// needsContext reports whether any schema reachable from root makes
// validation of one schema depend on the schemas around it, so that a node
// checked by the library on its own could get another verdict than in
// place: $dynamicRef and $recursiveRef (resolved through the dynamic
// scope), and schemas that apply to the same instance in a cycle ($ref,
// allOf, not, if, …), which the library reports as an error where it
// re-enters the cycle. It walks the library's graph, fallback nodes'
// subschemas included.
func needsContext(root *jsonschema.Schema) bool {
	const (
		onPath = 1 + iota
		done
	)
	state := map[*jsonschema.Schema]int{}
	seen := map[*jsonschema.Schema]bool{}
	// inPlace lists the schemas that apply to the same instance as s.
	inPlace := func(s *jsonschema.Schema) []*jsonschema.Schema {
		l := []*jsonschema.Schema{s.Ref, s.Not, s.If, s.Then, s.Else}
		l = append(l, s.AllOf...)
		l = append(l, s.AnyOf...)
		l = append(l, s.OneOf...)
		for _, d := range s.DependentSchemas {
			l = append(l, d)
		}
		for _, d := range s.Dependencies {
			if d, ok := d.(*jsonschema.Schema); ok {
				l = append(l, d)
			}
		}
		return l
	}
	var cycle func(s *jsonschema.Schema) bool
	cycle = func(s *jsonschema.Schema) bool {
		if s == nil {
			return false
		}
		switch state[s] {
		case onPath:
			return true
		case done:
			return false
		}
		state[s] = onPath
		for _, m := range inPlace(s) {
			if cycle(m) {
				return true
			}
		}
		state[s] = done
		return false
	}
	var walk func(s *jsonschema.Schema) bool
	walk = func(s *jsonschema.Schema) bool {
		if s == nil || seen[s] {
			return false
		}
		seen[s] = true
		if s.DynamicRef != nil || s.RecursiveRef != nil || cycle(s) {
			return true
		}
		kids := append(inPlace(s), s.PropertyNames, s.UnevaluatedProperties, s.Items2020,
			s.Contains, s.UnevaluatedItems, s.ContentSchema)
		kids = append(kids, s.PrefixItems...)
		for _, k := range s.Properties {
			kids = append(kids, k)
		}
		for _, k := range s.PatternProperties {
			kids = append(kids, k)
		}
		for _, k := range []any{s.AdditionalProperties, s.Items, s.AdditionalItems} {
			switch k := k.(type) {
			case *jsonschema.Schema:
				kids = append(kids, k)
			case []*jsonschema.Schema:
				kids = append(kids, k...)
			}
		}
		for _, k := range kids {
			if walk(k) {
				return true
			}
		}
		return false
	}
	return walk(root)
}

// valid reports whether v conforms to n; the same verdict as the library's.
// Scalars (strings, numbers, booleans and null) are checked by scalar, on
// their text, so that a caller holding a value's text (ValidFlat) does not
// box it; containers here.
func (n *node) valid(v any) bool {
	if n.bool != nil {
		return *n.bool
	}
	if n.fallback {
		return n.sch.Validate(v) == nil
	}
	var t uint8
	switch x := v.(type) {
	case nil:
		return n.scalar(tNull, "null")
	case bool:
		if x {
			return n.scalar(tBoolean, "true")
		}
		return n.scalar(tBoolean, "false")
	case string:
		return n.scalar(tString, x)
	case json.Number:
		return n.scalar(tNumber, string(x))
	case map[string]any:
		t = tObject
	case []any:
		t = tArray
	default:
		// Not a value pawl's decoder produces: the library decides.
		return n.sch.Validate(v) == nil
	}
	if n.hasTyp && n.types&t == 0 {
		return false
	}
	if n.constV != nil && !equalJSON(v, *n.constV) {
		return false
	}
	if n.enum != nil {
		found := false
		for _, e := range n.enum {
			if equalJSON(v, e) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if n.format != nil && n.format.Validate(v) != nil {
		return false
	}
	if n.ref != nil {
		if !n.ref.valid(v) {
			return false
		}
		if n.refOnly {
			return true
		}
	}
	switch x := v.(type) {
	case map[string]any:
		if !n.object(x) {
			return false
		}
	case []any:
		if !n.array(x) {
			return false
		}
	}
	return n.applicators(func(s *node) bool { return s.valid(v) })
}

// applicators checks not, allOf, anyOf, oneOf and if/then/else, with
// valid checking one subschema against the instance.
func (n *node) applicators(valid func(*node) bool) bool {
	if n.not != nil && valid(n.not) {
		return false
	}
	for _, s := range n.allOf {
		if !valid(s) {
			return false
		}
	}
	if n.anyOf != nil {
		ok := false
		for _, s := range n.anyOf {
			if valid(s) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if n.oneOf != nil {
		matched := 0
		for _, s := range n.oneOf {
			if valid(s) {
				if matched++; matched > 1 {
					return false
				}
			}
		}
		if matched != 1 {
			return false
		}
	}
	if n.ifN != nil {
		if valid(n.ifN) {
			if n.thenN != nil && !valid(n.thenN) {
				return false
			}
		} else if n.elseN != nil && !valid(n.elseN) {
			return false
		}
	}
	return true
}

// scalarValue is the value pawl's decoder gives for a scalar of type t
// with text s, for the checks the library makes.
func scalarValue(t uint8, s string) any {
	switch t {
	case tNull:
		return nil
	case tBoolean:
		return s == "true"
	case tNumber:
		return json.Number(s)
	}
	return s
}

// scalar reports whether the scalar of type t (tNull, tBoolean, tString or
// tNumber) with text s conforms to n: s is a string's value, a number's
// JSON text, or "true", "false", "null". The same verdict as valid on the
// decoded value, which it is for scalars; the value is only built when the
// library must judge it.
func (n *node) scalar(t uint8, s string) bool {
	if n.bool != nil {
		return *n.bool
	}
	if n.fallback {
		return n.sch.Validate(scalarValue(t, s)) == nil
	}
	var (
		nd   dec
		nfit bool
	)
	if t == tNumber {
		nd, nfit = parseDec(s)
	}
	if n.hasTyp && n.types&t == 0 {
		if t != tNumber || n.types&tInteger == 0 || !numIsInt(json.Number(s), nd, nfit) {
			return false
		}
	}
	if n.constV != nil && !equalScalar(t, s, *n.constV) {
		return false
	}
	if n.enum != nil {
		found := false
		for _, e := range n.enum {
			if equalScalar(t, s, e) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if n.format != nil && !formatValid(n.format, t, s) {
		return false
	}
	if n.ref != nil {
		if !n.ref.scalar(t, s) {
			return false
		}
		if n.refOnly {
			return true
		}
	}
	switch t {
	case tString:
		if n.minLen >= 0 || n.maxLen >= 0 {
			l := utf8.RuneCountInString(s)
			if (n.minLen >= 0 && l < n.minLen) || (n.maxLen >= 0 && l > n.maxLen) {
				return false
			}
		}
		if n.simple != nil {
			if !n.simple.match(s) {
				return false
			}
		} else if n.pattern != nil && !n.pattern.MatchString(s) {
			return false
		}
	case tNumber:
		num := json.Number(s)
		if n.min != nil && n.min.cmp(num, nd, nfit) < 0 ||
			n.max != nil && n.max.cmp(num, nd, nfit) > 0 ||
			n.exMin != nil && n.exMin.cmp(num, nd, nfit) <= 0 ||
			n.exMax != nil && n.exMax.cmp(num, nd, nfit) >= 0 ||
			n.multipleOf != nil && !n.multipleOf.divides(num, nd, nfit) {
			return false
		}
	}
	if n.not == nil && n.allOf == nil && n.anyOf == nil && n.oneOf == nil && n.ifN == nil {
		return true
	}
	return n.applicators(func(sub *node) bool { return sub.scalar(t, s) })
}

func (n *node) object(obj map[string]any) bool {
	if n.minProps >= 0 && len(obj) < n.minProps || n.maxProps >= 0 && len(obj) > n.maxProps {
		return false
	}
	for _, r := range n.otherRequired {
		if _, ok := obj[r]; !ok {
			return false
		}
	}
	for p, req := range n.depRequired {
		if _, ok := obj[p]; ok {
			for _, r := range req {
				if _, ok := obj[r]; !ok {
					return false
				}
			}
		}
	}
	for p, ds := range n.depSchemas {
		if _, ok := obj[p]; ok && !ds.valid(obj) {
			return false
		}
	}
	found := 0
	for _, pe := range n.propList {
		e, ok := obj[pe.name]
		if !ok {
			if pe.required {
				return false
			}
			continue
		}
		found++
		if !pe.n.valid(e) {
			return false
		}
	}
	if n.patProps == nil && n.propNames == nil && (found == len(obj) || !n.addlFalse && n.addl == nil) {
		return true // every member was a property, or the others are not checked
	}
	for k, e := range obj {
		_, evaluated := n.props[k]
		for _, pp := range n.patProps {
			if pp.re.MatchString(k) {
				evaluated = true
				if !pp.n.valid(e) {
					return false
				}
			}
		}
		if !evaluated {
			if n.addlFalse {
				return false
			}
			if n.addl != nil && !n.addl.valid(e) {
				return false
			}
		}
		if n.propNames != nil && !n.propNames.valid(k) {
			return false
		}
	}
	return true
}

func (n *node) array(arr []any) bool {
	if n.minItems >= 0 && len(arr) < n.minItems || n.maxItems >= 0 && len(arr) > n.maxItems {
		return false
	}
	if n.unique && len(arr) > 1 {
		if len(arr) > 64 {
			// Pairwise comparison grows with the square; the library hashes.
			return n.sch.Validate(arr) == nil
		}
		for i := 1; i < len(arr); i++ {
			for j := range i {
				if equalJSON(arr[i], arr[j]) {
					return false
				}
			}
		}
	}
	evaluated := 0
	if n.prefix != nil {
		evaluated = min(len(n.prefix), len(arr))
		for i := range evaluated {
			if !n.prefix[i].valid(arr[i]) {
				return false
			}
		}
		if n.addlItemsFalse && evaluated != len(arr) {
			return false
		}
		if n.addlItems != nil {
			for _, e := range arr[evaluated:] {
				if !n.addlItems.valid(e) {
					return false
				}
			}
		}
	}
	if n.items != nil {
		for _, e := range arr[evaluated:] {
			if !n.items.valid(e) {
				return false
			}
		}
	}
	if n.contains != nil {
		matched := 0
		for _, e := range arr {
			if n.contains.valid(e) {
				matched++
			}
		}
		if n.minContains >= 0 {
			if matched < n.minContains {
				return false
			}
		} else if matched == 0 {
			return false
		}
		if n.maxContains >= 0 && matched > n.maxContains {
			return false
		}
	}
	return true
}

// equalJSON is the library's equality of JSON values: numbers by value.
func equalJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, x := range a {
			y, ok := b[k]
			if !ok || !equalJSON(x, y) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case nil:
		return b == nil
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case string:
		b, ok := b.(string)
		return ok && a == b
	case json.Number:
		b, ok := b.(json.Number)
		return ok && numEqual(a, b)
	}
	return false
}

// equalScalar is equalJSON(scalarValue(t, s), b) without building the
// value.
func equalScalar(t uint8, s string, b any) bool {
	switch t {
	case tNull:
		return b == nil
	case tBoolean:
		b, ok := b.(bool)
		return ok && b == (s == "true")
	case tString:
		b, ok := b.(string)
		return ok && s == b
	case tNumber:
		b, ok := b.(json.Number)
		return ok && numEqual(json.Number(s), b)
	}
	return false
}

// formatValid asks the library's own format function, except for
// date-time strings that fastDateTime accepts: those the library accepts
// too (FuzzCompiledMatchesSanthosh checks it), without allocating.
func formatValid(f *jsonschema.Format, t uint8, s string) bool {
	if t == tString && f.Name == "date-time" && fastDateTime(s) {
		return true
	}
	return f.Validate(scalarValue(t, s)) == nil
}

// fastDateTime accepts a strict subset of RFC 3339 date-times:
// YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) with every field in range, the day
// within its month, and no leap second. Anything else goes to the library.
func fastDateTime(s string) bool {
	if len(s) < 20 {
		return false
	}
	dig := func(i, n int) int {
		x := 0
		for j := i; j < i+n; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				return -1
			}
			x = x*10 + int(c-'0')
		}
		return x
	}
	y, mo, d := dig(0, 4), dig(5, 2), dig(8, 2)
	if y < 0 || s[4] != '-' || s[7] != '-' || mo < 1 || mo > 12 || d < 1 {
		return false
	}
	mdays := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[mo-1]
	if mo == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		mdays = 29
	}
	if d > mdays {
		return false
	}
	if s[10] != 'T' && s[10] != 't' {
		return false
	}
	h, mi, sec := dig(11, 2), dig(14, 2), dig(17, 2)
	if s[13] != ':' || s[16] != ':' || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return false
	}
	rest := s[19:]
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	if rest == "Z" || rest == "z" {
		return true
	}
	if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return false
	}
	off := s[len(s)-5:]
	zh, zm := -1, -1
	if off[0] >= '0' && off[0] <= '9' && off[1] >= '0' && off[1] <= '9' {
		zh = int(off[0]-'0')*10 + int(off[1]-'0')
	}
	if off[3] >= '0' && off[3] <= '9' && off[4] >= '0' && off[4] <= '9' {
		zm = int(off[3]-'0')*10 + int(off[4]-'0')
	}
	return zh >= 0 && zh <= 23 && zm >= 0 && zm <= 59
}
