package contract

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Schema is a JSON Schema as pawl compiled it: the URL of its root document
// and every document it reaches, decoded with numbers as json.Number (the
// way engine/schema decodes them), keyed by URL without a fragment.
type Schema struct {
	URL  string
	Docs map[string]any
}

// CompareSchemas classifies, keyword by keyword, how the set of instances
// that next accepts differs from the set that prev accepts. A keyword whose
// change lets through an instance the old keyword refused is a weakening,
// even when another keyword happens to refuse the same instance: the
// arbiter's rule is that no single rule is loosened unseen, and the
// empirical check (records replayed) says what the loosening lets through.
// The changes are in a stable order (by instance location, then keyword).
func CompareSchemas(prev, next Schema) ([]Change, error) {
	c := &comparer{prev: newResolver(prev), next: newResolver(next), seen: map[[2]string]bool{}}
	po, err := c.prev.root()
	if err != nil {
		return nil, fmt.Errorf("the old schema: %w", err)
	}
	no, err := c.next.root()
	if err != nil {
		return nil, fmt.Errorf("the new schema: %w", err)
	}
	c.compare(po, no, "")
	sort.SliceStable(c.out, func(i, j int) bool {
		if c.out[i].At != c.out[j].At {
			return c.out[i].At < c.out[j].At
		}
		return c.out[i].Keyword < c.out[j].Keyword
	})
	return c.out, nil
}

// node is one schema (a bool or an object) with the base URL its relative
// references resolve against and where it is (URL#pointer).
type node struct {
	v    any
	base string
	loc  string
}

type comparer struct {
	prev, next *resolver
	seen       map[[2]string]bool
	out        []Change
}

func (c *comparer) add(kind Kind, at, keyword, format string, args ...any) {
	if at == "" {
		at = "/"
	}
	c.out = append(c.out, Change{Kind: kind, Part: "schema", At: at, Keyword: keyword, Reason: fmt.Sprintf(format, args...)})
}

// annotations are keywords that never change a verdict (pawl asserts
// "format", so it is not one of them). $defs matter only through the
// references that reach them, which are followed where they are used.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$anchor": true, "$dynamicAnchor": true, "$comment": true, "$defs": true, "definitions": true, "$vocabulary": true,
	"title": true, "description": true, "default": true, "examples": true, "deprecated": true, "readOnly": true, "writeOnly": true,
	"contentEncoding": true, "contentMediaType": true, "contentSchema": true,
}

// handled are the keywords compared by a rule of their own.
var handled = map[string]bool{
	"$ref": true, "type": true, "enum": true, "const": true,
	"minimum": true, "exclusiveMinimum": true, "maximum": true, "exclusiveMaximum": true, "multipleOf": true,
	"minLength": true, "maxLength": true, "minItems": true, "maxItems": true, "minProperties": true, "maxProperties": true,
	"required": true, "dependentRequired": true, "uniqueItems": true,
	"properties": true, "additionalProperties": true, "unevaluatedProperties": true, "patternProperties": true, "propertyNames": true,
	"items": true, "prefixItems": true, "format": true, "pattern": true, "allOf": true,
}

func (c *comparer) compare(p, n node, at string) {
	key := [2]string{p.loc, n.loc}
	if c.seen[key] {
		return // a recursive schema: this pair is being compared further up
	}
	c.seen[key] = true
	defer delete(c.seen, key)

	pb, pIsBool := p.v.(bool)
	nb, nIsBool := n.v.(bool)
	switch {
	case pIsBool && !pb && nIsBool && !nb:
		return
	case pIsBool && !pb:
		if m := asObject(n.v); m != nil && onlyDecided(m) {
			c.add(Weakening, at, keywordOf(p.loc), "the schema was false (it accepted nothing here); now it accepts instances")
		} else {
			c.add(Unknown, at, keywordOf(p.loc), "the schema was false (it accepted nothing here); whether the new one accepts anything is not decided statically")
		}
		return
	case nIsBool && !nb:
		if !(pIsBool && !pb) {
			c.add(Tightening, at, keywordOf(n.loc), "the schema is now false: nothing is accepted here")
		}
		return
	}
	pm, nm := asObject(p.v), asObject(n.v)
	if pm == nil || nm == nil {
		c.add(Unknown, at, "", "a schema here is neither an object nor a boolean")
		return
	}
	// $ref: the referenced schema applies alongside the keywords beside it
	// (2020-12), so the targets are compared as one more conjunct.
	c.compareRef(p, pm, n, nm, at)
	c.compareType(pm, nm, at)
	c.compareEnum(pm, nm, at)
	c.compareBound(pm, nm, at, "minimum", "exclusiveMinimum", true)
	c.compareBound(pm, nm, at, "maximum", "exclusiveMaximum", false)
	c.compareMultipleOf(pm, nm, at)
	for _, k := range []string{"minLength", "minItems", "minProperties"} {
		c.compareCount(pm, nm, at, k, true)
	}
	for _, k := range []string{"maxLength", "maxItems", "maxProperties"} {
		c.compareCount(pm, nm, at, k, false)
	}
	c.compareNames(at, "required", names(pm["required"]), names(nm["required"]), "is required")
	c.compareDependentRequired(pm, nm, at)
	c.compareUniqueItems(pm, nm, at)
	c.compareObject(p, pm, n, nm, at)
	c.compareArray(p, pm, n, nm, at)
	c.compareFormat(pm, nm, at)
	c.comparePattern(pm, nm, at)
	c.compareAllOf(p, pm, n, nm, at)
	// Every other assertion keyword (anyOf, oneOf, not, if/then/else,
	// dependentSchemas, contains, unevaluatedItems, $dynamicRef, …): a
	// change is not decided statically.
	for _, k := range keys(pm, nm) {
		if handled[k] || annotations[k] {
			continue
		}
		pv, pok := pm[k]
		nv, nok := nm[k]
		if pok == nok && jsonEqual(pv, nv) {
			continue
		}
		switch {
		case !pok:
			c.add(Unknown, at, k, "%s added: no static rule decides whether it is stricter; the empirical check settles it", k)
		case !nok:
			c.add(Unknown, at, k, "%s removed: no static rule decides whether that is looser; the empirical check settles it", k)
		default:
			c.add(Unknown, at, k, "%s changed: no static rule decides the change; the empirical check settles it", k)
		}
	}
}

func (c *comparer) compareRef(p node, pm map[string]any, n node, nm map[string]any, at string) {
	pr, pok := pm["$ref"].(string)
	nr, nok := nm["$ref"].(string)
	switch {
	case !pok && !nok:
		return
	case pok && nok:
		pt, err1 := c.prev.resolve(p.base, pr)
		nt, err2 := c.next.resolve(n.base, nr)
		if err1 != nil || err2 != nil {
			c.add(Unknown, at, "$ref", "cannot follow $ref %q → %q: %v", pr, nr, firstErr(err1, err2))
			return
		}
		c.compare(pt, nt, at)
	case pok:
		pt, err := c.prev.resolve(p.base, pr)
		if err != nil {
			c.add(Unknown, at, "$ref", "$ref %q removed and cannot be followed: %v", pr, err)
			return
		}
		// Dropping a conjunct can only admit more: compare it against nothing.
		c.compare(pt, node{v: true, loc: "(removed $ref)"}, at)
	default:
		nt, err := c.next.resolve(n.base, nr)
		if err != nil {
			c.add(Unknown, at, "$ref", "$ref %q added and cannot be followed: %v", nr, err)
			return
		}
		c.compare(node{v: true, loc: "(no $ref)"}, nt, at)
	}
}

// The JSON types, with "number" split into integers and the rest so that
// "integer" ⊂ "number" compares as a subset.
var typeBits = map[string]uint8{"null": 1, "boolean": 2, "object": 4, "array": 8, "string": 16, "integer": 32, "number": 32 | 64}

const allTypes = 1 | 2 | 4 | 8 | 16 | 32 | 64

func typeSet(m map[string]any) (uint8, bool) {
	v, ok := m["type"]
	if !ok {
		return allTypes, true
	}
	var set uint8
	add := func(x any) bool {
		s, ok := x.(string)
		if !ok || typeBits[s] == 0 {
			return false
		}
		set |= typeBits[s]
		return true
	}
	switch t := v.(type) {
	case string:
		if !add(t) {
			return 0, false
		}
	case []any:
		for _, x := range t {
			if !add(x) {
				return 0, false
			}
		}
	default:
		return 0, false
	}
	return set, true
}

func typeNames(set uint8) string {
	if set == allTypes {
		return "any type"
	}
	var out []string
	for _, name := range []string{"null", "boolean", "object", "array", "string"} {
		if set&typeBits[name] != 0 {
			out = append(out, name)
		}
	}
	switch set & (32 | 64) {
	case 32 | 64:
		out = append(out, "number")
	case 32:
		out = append(out, "integer")
	case 64:
		out = append(out, "non-integer number")
	}
	return strings.Join(out, ", ")
}

func (c *comparer) compareType(pm, nm map[string]any, at string) {
	ps, ok1 := typeSet(pm)
	ns, ok2 := typeSet(nm)
	if !ok1 || !ok2 {
		if !jsonEqual(pm["type"], nm["type"]) {
			c.add(Unknown, at, "type", "type is not a type name or a list of them")
		}
		return
	}
	c.classifySets(at, "type", ns&^ps != 0, ps&^ns != 0,
		fmt.Sprintf("type was %s, now %s", typeNames(ps), typeNames(ns)))
}

// classifySets reports a change of the accepted set: more accepted is a
// weakening (whatever else changed), fewer only a tightening.
func (c *comparer) classifySets(at, keyword string, admitsMore, refusesMore bool, what string) {
	switch {
	case admitsMore && refusesMore:
		c.add(Weakening, at, keyword, "%s: it admits values it refused (and refuses some it admitted)", what)
	case admitsMore:
		c.add(Weakening, at, keyword, "%s: it admits values it refused", what)
	case refusesMore:
		c.add(Tightening, at, keyword, "%s: it refuses values it admitted", what)
	}
}

// enumSet is the set of values enum and const allow, as canonical strings,
// or nil when neither keyword is there (every value).
func enumSet(m map[string]any) map[string]bool {
	var set map[string]bool
	if v, ok := m["const"]; ok {
		set = map[string]bool{canonical(v): true}
	}
	if v, ok := m["enum"].([]any); ok {
		e := map[string]bool{}
		for _, x := range v {
			if set == nil || set[canonical(x)] {
				e[canonical(x)] = true
			}
		}
		set = e
	}
	return set
}

func (c *comparer) compareEnum(pm, nm map[string]any, at string) {
	ps, ns := enumSet(pm), enumSet(nm)
	kw := "enum"
	if _, ok := nm["const"]; ok {
		kw = "const"
	} else if _, ok := nm["enum"]; !ok {
		if _, ok := pm["const"]; ok {
			kw = "const"
		}
	}
	switch {
	case ps == nil && ns == nil:
	case ps == nil:
		c.add(Tightening, at, kw, "%s added: only %s allowed", kw, listValues(ns))
	case ns == nil:
		c.add(Weakening, at, kw, "%s removed: any value is allowed where only %s were", kw, listValues(ps))
	default:
		var added, removed []string
		for v := range ns {
			if !ps[v] {
				added = append(added, v)
			}
		}
		for v := range ps {
			if !ns[v] {
				removed = append(removed, v)
			}
		}
		sort.Strings(added)
		sort.Strings(removed)
		what := kw
		if len(added) > 0 {
			what += " now allows " + strings.Join(added, ", ")
		}
		if len(removed) > 0 {
			if len(added) > 0 {
				what += " and"
			}
			what += " no longer allows " + strings.Join(removed, ", ")
		}
		c.classifySets(at, kw, len(added) > 0, len(removed) > 0, what)
	}
}

func listValues(set map[string]bool) string {
	var vs []string
	for v := range set {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return strings.Join(vs, ", ")
}

// bound is one side of a numeric range: its value, whether it excludes it,
// and which keyword set it; a nil value is no bound.
type bound struct {
	v       *big.Rat
	excl    bool
	keyword string
}

func (b bound) String() string {
	if b.v == nil {
		return "none"
	}
	return b.keyword + " " + ratString(b.v)
}

// effective is the tighter of the inclusive and exclusive keywords on one
// side (lower: the greater value; upper: the smaller one).
func effective(m map[string]any, incl, excl string, lower bool) (bound, bool) {
	var b bound
	for _, k := range []string{incl, excl} {
		v, ok := m[k]
		if !ok {
			continue
		}
		r, ok := number(v)
		if !ok {
			return bound{}, false
		}
		x := bound{r, k == excl, k}
		if b.v == nil || tighter(x, b, lower) {
			b = x
		}
	}
	return b, true
}

// tighter reports whether bound a excludes more than bound b on its side.
func tighter(a, b bound, lower bool) bool {
	if a.v == nil {
		return false
	}
	if b.v == nil {
		return true
	}
	cmp := a.v.Cmp(b.v)
	if !lower {
		cmp = -cmp
	}
	return cmp > 0 || cmp == 0 && a.excl && !b.excl
}

func (c *comparer) compareBound(pm, nm map[string]any, at, incl, excl string, lower bool) {
	pb, ok1 := effective(pm, incl, excl, lower)
	nb, ok2 := effective(nm, incl, excl, lower)
	if !ok1 || !ok2 {
		c.add(Unknown, at, incl, "%s or %s is not a number", incl, excl)
		return
	}
	kw := nb.keyword
	if kw == "" {
		kw = pb.keyword
	}
	side := "upper"
	if lower {
		side = "lower"
	}
	what := fmt.Sprintf("%s bound was %s, now %s", side, pb, nb)
	switch {
	case tighter(nb, pb, lower):
		c.add(Tightening, at, kw, "%s: it refuses values it admitted", what)
	case tighter(pb, nb, lower):
		c.add(Weakening, at, kw, "%s: it admits values it refused", what)
	}
}

func (c *comparer) compareMultipleOf(pm, nm map[string]any, at string) {
	pv, pok := pm["multipleOf"]
	nv, nok := nm["multipleOf"]
	if !pok && !nok {
		return
	}
	pr, ok1 := number(pv)
	nr, ok2 := number(nv)
	switch {
	case !pok:
		if ok2 {
			c.add(Tightening, at, "multipleOf", "multipleOf %s added: it refuses values it admitted", ratString(nr))
		}
	case !nok:
		if ok1 {
			c.add(Weakening, at, "multipleOf", "multipleOf %s removed: it admits values it refused", ratString(pr))
		}
	case !ok1 || !ok2:
		c.add(Unknown, at, "multipleOf", "multipleOf is not a number")
	case pr.Cmp(nr) == 0:
	default:
		// Every multiple of next is a multiple of prev when next/prev is an integer.
		q := new(big.Rat).Quo(nr, pr)
		what := fmt.Sprintf("multipleOf was %s, now %s", ratString(pr), ratString(nr))
		c.classifySets(at, "multipleOf", !q.IsInt(), true, what)
	}
}

func (c *comparer) compareCount(pm, nm map[string]any, at, k string, lower bool) {
	pv, pok := pm[k]
	nv, nok := nm[k]
	if !pok && !nok {
		return
	}
	pr, ok1 := number(pv)
	nr, ok2 := number(nv)
	if pok && !ok1 || nok && !ok2 {
		c.add(Unknown, at, k, "%s is not a number", k)
		return
	}
	pb, nb := bound{keyword: k}, bound{keyword: k}
	if pok {
		pb.v = pr
	}
	if nok {
		nb.v = nr
	}
	what := fmt.Sprintf("%s was %s, now %s", k, countString(pb), countString(nb))
	switch {
	case tighter(nb, pb, lower):
		c.add(Tightening, at, k, "%s: it refuses values it admitted", what)
	case tighter(pb, nb, lower):
		c.add(Weakening, at, k, "%s: it admits values it refused", what)
	}
}

func countString(b bound) string {
	if b.v == nil {
		return "absent"
	}
	return ratString(b.v)
}

func (c *comparer) compareNames(at, keyword string, prev, next []string, meaning string) {
	ps, ns := map[string]bool{}, map[string]bool{}
	for _, x := range prev {
		ps[x] = true
	}
	for _, x := range next {
		ns[x] = true
	}
	for _, x := range next {
		if !ps[x] {
			c.add(Tightening, at, keyword, "%q now %s: it refuses instances without it", x, meaning)
		}
	}
	for _, x := range prev {
		if !ns[x] {
			c.add(Weakening, at, keyword, "%q no longer %s: it admits instances without it", x, meaning)
		}
	}
}

func (c *comparer) compareDependentRequired(pm, nm map[string]any, at string) {
	pd, _ := pm["dependentRequired"].(map[string]any)
	nd, _ := nm["dependentRequired"].(map[string]any)
	for _, k := range keys(pd, nd) {
		c.compareNames(at, "dependentRequired", names(pd[k]), names(nd[k]), fmt.Sprintf("is required when %q is present", k))
	}
}

func (c *comparer) compareUniqueItems(pm, nm map[string]any, at string) {
	p, _ := pm["uniqueItems"].(bool)
	n, _ := nm["uniqueItems"].(bool)
	switch {
	case n && !p:
		c.add(Tightening, at, "uniqueItems", "uniqueItems now true: it refuses arrays with repeated items")
	case p && !n:
		c.add(Weakening, at, "uniqueItems", "uniqueItems no longer true: it admits arrays with repeated items")
	}
}

// compareObject compares what each property's value must satisfy: for a
// name in either side's properties, its schema there, or else what
// additionalProperties says (absent: anything), so that moving a property
// from "properties" to "additionalProperties: false" (or back) is judged by
// what it admits. patternProperties must be unchanged for the comparison to
// be decided, because they overlap both.
func (c *comparer) compareObject(p node, pm map[string]any, n node, nm map[string]any, at string) {
	if !jsonEqual(pm["patternProperties"], nm["patternProperties"]) {
		c.add(Unknown, at, "patternProperties", "patternProperties changed: which properties they reach is not decided statically; the empirical check settles it")
		return
	}
	pp, _ := pm["properties"].(map[string]any)
	np, _ := nm["properties"].(map[string]any)
	pa, pHasAdd := additional(pm)
	na, nHasAdd := additional(nm)
	for _, name := range keys(pp, np) {
		ps, pok := pp[name]
		ns, nok := np[name]
		pn, nn := child(p, ps, "properties/"+escape(name)), child(n, ns, "properties/"+escape(name))
		if !pok {
			pn = child(p, pa, "additionalProperties")
		}
		if !nok {
			nn = child(n, na, "additionalProperties")
		}
		c.compare(pn, nn, at+"/"+escape(name))
	}
	if pHasAdd || nHasAdd {
		c.compare(child(p, pa, "additionalProperties"), child(n, na, "additionalProperties"), at+"/*")
	}
	if !jsonEqual(pm["unevaluatedProperties"], nm["unevaluatedProperties"]) {
		pu, pok := pm["unevaluatedProperties"]
		nu, nok := nm["unevaluatedProperties"]
		if !pok {
			pu = true
		}
		if !nok {
			nu = true
		}
		c.compare(child(p, pu, "unevaluatedProperties"), child(n, nu, "unevaluatedProperties"), at+"/(unevaluated)")
	}
	if _, ok1 := pm["propertyNames"]; ok1 || has(nm, "propertyNames") {
		c.compare(child(p, orTrue(pm, "propertyNames"), "propertyNames"), child(n, orTrue(nm, "propertyNames"), "propertyNames"), at+"/(property names)")
	}
}

func additional(m map[string]any) (any, bool) {
	v, ok := m["additionalProperties"]
	if !ok {
		return true, false
	}
	return v, true
}

// compareArray compares each position's schema: prefixItems[i] there, or
// items beyond them (absent: anything).
func (c *comparer) compareArray(p node, pm map[string]any, n node, nm map[string]any, at string) {
	pp, _ := pm["prefixItems"].([]any)
	np, _ := nm["prefixItems"].([]any)
	pi, nx := orTrue(pm, "items"), orTrue(nm, "items")
	for i := 0; i < max(len(pp), len(np)); i++ {
		pn, nn := child(p, pi, "items"), child(n, nx, "items")
		if i < len(pp) {
			pn = child(p, pp[i], "prefixItems/"+strconv.Itoa(i))
		}
		if i < len(np) {
			nn = child(n, np[i], "prefixItems/"+strconv.Itoa(i))
		}
		c.compare(pn, nn, at+"/"+strconv.Itoa(i))
	}
	if has(pm, "items") || has(nm, "items") {
		c.compare(child(p, pi, "items"), child(n, nx, "items"), at+"/*")
	}
}

func (c *comparer) compareFormat(pm, nm map[string]any, at string) {
	pf, pok := pm["format"].(string)
	nf, nok := nm["format"].(string)
	switch {
	case !pok && !nok:
	case !pok:
		c.add(Tightening, at, "format", "format %q added: it refuses strings that are not %s", nf, nf)
	case !nok:
		c.add(Weakening, at, "format", "format %q removed: it admits strings that are not %s", pf, pf)
	case pf != nf:
		c.add(Weakening, at, "format", "format was %q, now %q: it admits strings that are not %s", pf, nf, pf)
	}
}

func (c *comparer) comparePattern(pm, nm map[string]any, at string) {
	pp, pok := pm["pattern"].(string)
	np, nok := nm["pattern"].(string)
	switch {
	case !pok && !nok, pp == np:
	case !pok:
		c.add(Tightening, at, "pattern", "pattern %q added: it refuses strings that do not match", np)
	case !nok:
		c.add(Weakening, at, "pattern", "pattern %q removed: it admits strings that did not match", pp)
	default:
		c.add(Unknown, at, "pattern", "pattern was %q, now %q: whether one language contains the other is not decided statically; the empirical check settles it", pp, np)
	}
}

// compareAllOf compares conjuncts position by position; an added conjunct
// can only refuse more, a removed one only admit more.
func (c *comparer) compareAllOf(p node, pm map[string]any, n node, nm map[string]any, at string) {
	pa, _ := pm["allOf"].([]any)
	na, _ := nm["allOf"].([]any)
	for i := 0; i < max(len(pa), len(na)); i++ {
		pn, nn := node{v: true, loc: "(no allOf)"}, node{v: true, loc: "(no allOf)"}
		if i < len(pa) {
			pn = child(p, pa[i], "allOf/"+strconv.Itoa(i))
		}
		if i < len(na) {
			nn = child(n, na[i], "allOf/"+strconv.Itoa(i))
		}
		c.compare(pn, nn, at)
	}
}

// keywordOf names the keyword a schema location is under: the last one in
// its path ("additionalProperties", "items", "properties" for a property's
// schema), or "schema" for a document's root.
func keywordOf(loc string) string {
	segs := strings.Split(loc, "/")
	if n := len(segs); n >= 2 {
		switch segs[n-2] {
		case "properties", "patternProperties", "$defs", "dependentSchemas":
			return segs[n-2]
		}
	}
	for i := len(segs) - 1; i >= 0; i-- {
		seg := segs[i]
		if _, err := strconv.Atoi(seg); err == nil || seg == "" {
			continue
		}
		if strings.HasSuffix(seg, "#") || strings.HasPrefix(seg, "(") {
			return "schema"
		}
		return seg
	}
	return "schema"
}

// onlyDecided reports whether a schema uses only keywords with a static
// rule and no references: such a schema accepts some instance.
func onlyDecided(m map[string]any) bool {
	for k := range m {
		if k == "$ref" || !handled[k] && !annotations[k] {
			return false
		}
	}
	return true
}

// child is the subschema v of parent at keyword path k, with the base URL
// an "$id" in it sets.
func child(parent node, v any, k string) node {
	base := parent.base
	if m := asObject(v); m != nil {
		if id, ok := m["$id"].(string); ok {
			if u, err := resolveURL(base, id); err == nil {
				base = u
			}
		}
	}
	return node{v: v, base: base, loc: parent.loc + "/" + k}
}

func asObject(v any) map[string]any {
	switch t := v.(type) {
	case map[string]any:
		return t
	case bool:
		if t {
			return map[string]any{}
		}
	}
	return nil
}

func has(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func orTrue(m map[string]any, k string) any {
	if v, ok := m[k]; ok {
		return v
	}
	return true
}

func names(v any) []string {
	a, _ := v.([]any)
	var out []string
	for _, x := range a {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// escape is a JSON Pointer reference token (RFC 6901).
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func number(v any) (*big.Rat, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = string(t)
	case float64:
		s = strconv.FormatFloat(t, 'g', -1, 64)
	default:
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// canonical is a JSON value written so that values JSON Schema holds equal
// are equal strings: numbers by their exact value, object keys sorted.
func canonical(v any) string {
	var b strings.Builder
	writeCanonical(&b, v)
	return b.String()
}

func writeCanonical(b *strings.Builder, v any) {
	switch t := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		for i, k := range keys(t, nil) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			writeCanonical(b, t[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, x)
		}
		b.WriteByte(']')
	case json.Number, float64:
		if r, ok := number(t); ok {
			b.WriteString(r.RatString())
			return
		}
		fmt.Fprint(b, t)
	case string:
		b.WriteString(strconv.Quote(t))
	default:
		j, _ := json.Marshal(t)
		b.Write(j)
	}
}

func jsonEqual(a, b any) bool {
	if a == nil || b == nil {
		return reflect.DeepEqual(a, b)
	}
	return canonical(a) == canonical(b)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// resolver finds the schema a $ref names among a schema's documents: by
// URL (a document, or an "$id" inside one) and fragment (a JSON Pointer or
// an "$anchor").
type resolver struct {
	s   Schema
	ids map[string]node // absolute $id (no fragment) → the subschema
}

func newResolver(s Schema) *resolver {
	r := &resolver{s: s, ids: map[string]node{}}
	urls := make([]string, 0, len(s.Docs))
	for u := range s.Docs {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	for _, u := range urls {
		r.index(node{v: s.Docs[u], base: u, loc: u + "#"})
	}
	return r
}

// index records every embedded resource ("$id") under its absolute URL.
func (r *resolver) index(n node) {
	switch t := n.v.(type) {
	case map[string]any:
		if id, ok := t["$id"].(string); ok {
			if u, err := resolveURL(n.base, id); err == nil {
				n.base = u
				if _, dup := r.ids[u]; !dup {
					r.ids[u] = node{v: t, base: u, loc: u + "#"}
				}
			}
		}
		for _, k := range keys(t, nil) {
			if k == "enum" || k == "const" || k == "examples" || k == "default" {
				continue
			}
			r.index(node{v: t[k], base: n.base, loc: n.loc + "/" + escape(k)})
		}
	case []any:
		for i, x := range t {
			r.index(node{v: x, base: n.base, loc: n.loc + "/" + strconv.Itoa(i)})
		}
	}
}

func (r *resolver) root() (node, error) {
	doc, ok := r.s.Docs[r.s.URL]
	if !ok {
		return node{}, fmt.Errorf("its root document %s is not among its documents", r.s.URL)
	}
	n := child(node{base: r.s.URL}, doc, "")
	n.loc = r.s.URL + "#"
	return n, nil
}

func resolveURL(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(u).String(), nil
}

func (r *resolver) resolve(base, ref string) (node, error) {
	abs, err := resolveURL(base, ref)
	if err != nil {
		return node{}, err
	}
	docURL, frag, _ := strings.Cut(abs, "#")
	start, ok := r.ids[docURL]
	if !ok {
		doc, found := r.s.Docs[docURL]
		if !found {
			return node{}, fmt.Errorf("%s is not among the schema's documents", docURL)
		}
		start = node{v: doc, base: docURL, loc: docURL + "#"}
	}
	if frag == "" {
		return start, nil
	}
	if !strings.HasPrefix(frag, "/") {
		if a, ok := findAnchor(start, frag); ok {
			return a, nil
		}
		return node{}, fmt.Errorf("anchor %q not found in %s", frag, docURL)
	}
	cur := start
	for _, tok := range strings.Split(frag[1:], "/") {
		tok, err := url.PathUnescape(tok)
		if err != nil {
			return node{}, err
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch t := cur.v.(type) {
		case map[string]any:
			v, ok := t[tok]
			if !ok {
				return node{}, fmt.Errorf("%s: no %q", abs, tok)
			}
			cur = child(cur, v, escape(tok))
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(t) {
				return node{}, fmt.Errorf("%s: no item %q", abs, tok)
			}
			cur = child(cur, t[i], tok)
		default:
			return node{}, fmt.Errorf("%s: %q is inside a value that is not an object or array", abs, tok)
		}
	}
	return cur, nil
}

func findAnchor(n node, name string) (node, bool) {
	m, ok := n.v.(map[string]any)
	if !ok {
		if a, ok := n.v.([]any); ok {
			for i, x := range a {
				if f, ok := findAnchor(child(n, x, strconv.Itoa(i)), name); ok {
					return f, true
				}
			}
		}
		return node{}, false
	}
	if a, _ := m["$anchor"].(string); a == name {
		return n, true
	}
	for _, k := range keys(m, nil) {
		if k == "enum" || k == "const" || k == "examples" || k == "default" {
			continue
		}
		if f, ok := findAnchor(child(n, m[k], escape(k)), name); ok {
			return f, true
		}
	}
	return node{}, false
}
