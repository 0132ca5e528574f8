package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a config the plugin refuses: Path is the JSON pointer of the
// offending value ("" for the whole config).
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string {
	at := e.Path
	if at == "" {
		at = "the config"
	}
	return "config " + at + ": " + e.Msg
}

// Decode decodes the JSON config data (pdk.Init.Config) into v, a pointer
// to a struct (or any type Schema accepts), strictly: an unknown key, a key
// given twice, a value of the wrong type, a number out of the field's
// range or not an integer for an integer field, null for a field that is
// not a pointer, a missing required key, a value outside the field's enum
// or bounds, and data after the JSON value are each an error naming the
// JSON pointer of the value. Keys absent from data leave v's fields as
// they were, so set the defaults before decoding. Empty data is "{}".
// On error v may be partly written: decode into a fresh value.
func Decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config.Decode: want a non-nil pointer, got %T", v)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	if !utf8.Valid(data) {
		return &Error{Msg: "is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tree, err := readValue(dec, "")
	if err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Msg: fmt.Sprintf("data after the JSON value at byte %d", dec.InputOffset())}
	}
	if err := checkType(rv.Elem().Type(), "config"); err != nil {
		return fmt.Errorf("config.Decode: %w", err)
	}
	return assign(rv.Elem(), tree, "", rules{})
}

// object is a JSON object with its keys in order.
type object struct {
	keys []string
	vals map[string]any
}

func ptrEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// readValue reads one JSON value from dec: object, []any, json.Number,
// string, bool or nil. A key given twice in an object is an error.
func readValue(dec *json.Decoder, path string) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, &Error{Path: path, Msg: "is not JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, &Error{Path: path, Msg: "is not JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
				}
				k := kt.(string)
				kp := path + "/" + ptrEscape(k)
				if _, dup := o.vals[k]; dup {
					return nil, &Error{Path: kp, Msg: fmt.Sprintf("key %q is given twice", k)}
				}
				val, err := readValue(dec, kp)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, k)
				o.vals[k] = val
			}
			if _, err := dec.Token(); err != nil {
				return nil, &Error{Path: path, Msg: "is not JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
			}
			return o, nil
		case '[':
			a := []any{}
			for i := 0; dec.More(); i++ {
				val, err := readValue(dec, path+"/"+strconv.Itoa(i))
				if err != nil {
					return nil, err
				}
				a = append(a, val)
			}
			if _, err := dec.Token(); err != nil {
				return nil, &Error{Path: path, Msg: "is not JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
			}
			return a, nil
		}
		return nil, &Error{Path: path, Msg: fmt.Sprintf("is not JSON: unexpected %q", t)}
	default:
		return tok, nil
	}
}

// rules are a field's constraints from its `pawl` tag.
type rules struct {
	required bool
	enum     []string
	min, max *big.Rat
	minS     string // as written, for messages and the schema
	maxS     string
}

func parseRules(tag string, t reflect.Type, where string) (rules, error) {
	var r rules
	if tag == "" {
		return r, nil
	}
	for _, part := range strings.Split(tag, ",") {
		k, val, hasVal := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case k == "required" && !hasVal:
			r.required = true
		case k == "enum" && hasVal:
			if base(t).Kind() != reflect.String {
				return r, fmt.Errorf("%s: enum on a %s field: enum is for strings", where, t)
			}
			r.enum = strings.Split(val, "|")
		case (k == "min" || k == "max") && hasVal:
			q, ok := new(big.Rat).SetString(val)
			if !ok {
				return r, fmt.Errorf("%s: %s=%q is not a number", where, k, val)
			}
			switch base(t).Kind() {
			case reflect.Interface, reflect.Bool, reflect.Struct:
				return r, fmt.Errorf("%s: %s on a %s field: bounds are for numbers, strings, slices and maps", where, k, t)
			}
			if k == "min" {
				r.min, r.minS = q, val
			} else {
				r.max, r.maxS = q, val
			}
		default:
			return r, fmt.Errorf("%s: pawl tag %q: want required, enum=a|b, min=N or max=N", where, part)
		}
	}
	return r, nil
}

func base(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// field is a struct field as config sees it.
type field struct {
	name  string
	index []int
	doc   string
	rules rules
}

func fieldsOf(t reflect.Type) ([]field, error) {
	var fs []field
	seen := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := sf.Name
		if tag, ok := sf.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		if sf.Anonymous {
			return nil, fmt.Errorf("%s.%s: embedded fields are not supported: name the field", t, sf.Name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: two fields named %q", t, name)
		}
		seen[name] = true
		r, err := parseRules(sf.Tag.Get("pawl"), sf.Type, t.String()+"."+sf.Name)
		if err != nil {
			return nil, err
		}
		fs = append(fs, field{name: name, index: sf.Index, doc: sf.Tag.Get("doc"), rules: r})
	}
	return fs, nil
}

// checkType refuses the types a config cannot have.
func checkType(t reflect.Type, where string) error {
	switch t.Kind() {
	case reflect.Pointer:
		return checkType(t.Elem(), where)
	case reflect.Struct:
		fs, err := fieldsOf(t)
		if err != nil {
			return err
		}
		for _, f := range fs {
			if err := checkType(t.FieldByIndex(f.index).Type, t.String()+"."+f.name); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("%s: map key %s: want string keys", where, t.Key())
		}
		return checkType(t.Elem(), where)
	case reflect.Slice:
		return checkType(t.Elem(), where)
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return nil
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return nil
		}
	}
	return fmt.Errorf("%s: type %s cannot be a config value", where, t)
}

func jsonKind(v any) string {
	switch v.(type) {
	case *object:
		return "an object"
	case []any:
		return "an array"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func want(t reflect.Type) string {
	switch base(t).Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Interface:
		return "any value"
	}
	return "an integer"
}

// assign writes the JSON value j into v, checking r.
func assign(v reflect.Value, j any, path string, r rules) error {
	t := v.Type()
	bad := func(format string, args ...any) error {
		return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if j == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface:
			v.SetZero()
			return nil
		}
		return bad("is null; want %s", want(t))
	}
	switch t.Kind() {
	case reflect.Pointer:
		nv := reflect.New(t.Elem())
		if !v.IsNil() {
			nv.Elem().Set(v.Elem())
		}
		if err := assign(nv.Elem(), j, path, r); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	case reflect.Interface:
		v.Set(reflect.ValueOf(plain(j)))
		return nil
	case reflect.Struct:
		o, ok := j.(*object)
		if !ok {
			return bad("is %s; want an object", jsonKind(j))
		}
		fs, err := fieldsOf(t)
		if err != nil {
			return err
		}
		byName := map[string]field{}
		var names []string
		for _, f := range fs {
			byName[f.name] = f
			names = append(names, strconv.Quote(f.name))
		}
		for _, k := range o.keys {
			if _, ok := byName[k]; !ok {
				known := "it has no keys"
				if len(names) > 0 {
					known = "the keys are " + strings.Join(names, ", ")
				}
				return &Error{Path: path + "/" + ptrEscape(k), Msg: fmt.Sprintf("unknown key %q (%s)", k, known)}
			}
		}
		for _, f := range fs {
			val, ok := o.vals[f.name]
			if !ok {
				if f.rules.required {
					return bad("required key %q is missing", f.name)
				}
				continue
			}
			if err := assign(v.FieldByIndex(f.index), val, path+"/"+ptrEscape(f.name), f.rules); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		o, ok := j.(*object)
		if !ok {
			return bad("is %s; want an object", jsonKind(j))
		}
		if err := countBounds(len(o.keys), "entries", path, r); err != nil {
			return err
		}
		m := reflect.MakeMapWithSize(t, len(o.keys))
		for _, k := range o.keys {
			ev := reflect.New(t.Elem()).Elem()
			if err := assign(ev, o.vals[k], path+"/"+ptrEscape(k), rules{}); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		v.Set(m)
		return nil
	case reflect.Slice:
		a, ok := j.([]any)
		if !ok {
			return bad("is %s; want an array", jsonKind(j))
		}
		if err := countBounds(len(a), "items", path, r); err != nil {
			return err
		}
		s := reflect.MakeSlice(t, len(a), len(a))
		for i, x := range a {
			if err := assign(s.Index(i), x, path+"/"+strconv.Itoa(i), rules{}); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.String:
		s, ok := j.(string)
		if !ok {
			return bad("is %s; want a string", jsonKind(j))
		}
		if len(r.enum) > 0 && !contains(r.enum, s) {
			return bad("%q is not one of %s", s, quoteAll(r.enum))
		}
		if err := countBounds(utf8.RuneCountInString(s), "characters", path, r); err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		b, ok := j.(bool)
		if !ok {
			return bad("is %s; want a boolean", jsonKind(j))
		}
		v.SetBool(b)
		return nil
	}
	n, ok := j.(json.Number)
	if !ok {
		return bad("is %s; want %s", jsonKind(j), want(t))
	}
	q, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return bad("%s is not a number", n)
	}
	if r.min != nil && q.Cmp(r.min) < 0 {
		return bad("%s is less than the minimum %s", n, r.minS)
	}
	if r.max != nil && q.Cmp(r.max) > 0 {
		return bad("%s is more than the maximum %s", n, r.maxS)
	}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(string(n), t.Bits())
		if err != nil {
			return bad("%s is out of the range of a %s", n, t)
		}
		v.SetFloat(f)
		return nil
	}
	if !q.IsInt() {
		return bad("%s is not an integer", n)
	}
	lo, hi := intRange(t)
	if q.Num().Cmp(lo) < 0 || q.Num().Cmp(hi) > 0 {
		return bad("%s is out of the range of a %s (%s..%s)", n, t, lo, hi)
	}
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(q.Num().Uint64())
	default:
		v.SetInt(q.Num().Int64())
	}
	return nil
}

func intRange(t reflect.Type) (lo, hi *big.Int) {
	bits := uint(t.Bits())
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		hi = new(big.Int).Lsh(big.NewInt(1), bits)
		return big.NewInt(0), hi.Sub(hi, big.NewInt(1))
	}
	hi = new(big.Int).Lsh(big.NewInt(1), bits-1)
	lo = new(big.Int).Neg(hi)
	return lo, hi.Sub(hi, big.NewInt(1))
}

func countBounds(n int, what, path string, r rules) error {
	c := new(big.Rat).SetInt64(int64(n))
	if r.min != nil && c.Cmp(r.min) < 0 {
		return &Error{Path: path, Msg: fmt.Sprintf("has %d %s; want at least %s", n, what, r.minS)}
	}
	if r.max != nil && c.Cmp(r.max) > 0 {
		return &Error{Path: path, Msg: fmt.Sprintf("has %d %s; want at most %s", n, what, r.maxS)}
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// plain turns a read tree into encoding/json's values (map[string]any,
// []any, json.Number, ...) for a field of type any.
func plain(j any) any {
	switch x := j.(type) {
	case *object:
		m := make(map[string]any, len(x.keys))
		for k, v := range x.vals {
			m[k] = plain(v)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = plain(v)
		}
		return out
	}
	return j
}

// Schema returns the JSON Schema (2020-12) of the config type of v
// (a struct or a pointer to one), for the manifest's config_schema:
// objects with additionalProperties false, each field's type (a pointer
// also admits null), its `doc` tag as description, its `pawl` tag's
// required, enum, min and max, and as default each scalar field's value
// in v when it is not the zero value (so pass the defaults the plugin
// sets before decoding). The output is deterministic: keys sorted,
// two-space indentation.
func Schema(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil, errors.New("config.Schema: want a value of the config type, got nil")
	}
	if err := checkType(rv.Type(), "config"); err != nil {
		return nil, fmt.Errorf("config.Schema: %w", err)
	}
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			rv = reflect.New(rv.Type().Elem()).Elem()
			continue
		}
		rv = rv.Elem()
	}
	s, err := schemaOf(rv.Type(), rv, rules{})
	if err != nil {
		return nil, fmt.Errorf("config.Schema: %w", err)
	}
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func schemaOf(t reflect.Type, val reflect.Value, r rules) (map[string]any, error) {
	s := map[string]any{}
	if t.Kind() == reflect.Pointer {
		var inner reflect.Value
		if val.IsValid() && !val.IsNil() {
			inner = val.Elem()
		}
		s, err := schemaOf(t.Elem(), inner, r)
		if err != nil {
			return nil, err
		}
		switch ty := s["type"].(type) {
		case string:
			s["type"] = []string{ty, "null"}
		case []string:
			if !contains(ty, "null") {
				s["type"] = append(ty, "null")
			}
		}
		if e, ok := s["enum"].([]any); ok {
			s["enum"] = append(e, nil)
		}
		return s, nil
	}
	bound := func(minKey, maxKey string) {
		if r.min != nil {
			s[minKey] = json.Number(r.minS)
		}
		if r.max != nil {
			s[maxKey] = json.Number(r.maxS)
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		fs, err := fieldsOf(t)
		if err != nil {
			return nil, err
		}
		props := map[string]any{}
		var req []string
		for _, f := range fs {
			var fv reflect.Value
			if val.IsValid() {
				fv = val.FieldByIndex(f.index)
			}
			fs, err := schemaOf(t.FieldByIndex(f.index).Type, fv, f.rules)
			if err != nil {
				return nil, err
			}
			if f.doc != "" {
				fs["description"] = f.doc
			}
			props[f.name] = fs
			if f.rules.required {
				req = append(req, f.name)
			}
		}
		s["type"] = "object"
		s["additionalProperties"] = false
		s["properties"] = props
		if len(req) > 0 {
			sort.Strings(req)
			s["required"] = req
		}
		return s, nil
	case reflect.Map:
		es, err := schemaOf(t.Elem(), reflect.Value{}, rules{})
		if err != nil {
			return nil, err
		}
		s["type"] = "object"
		s["additionalProperties"] = es
		bound("minProperties", "maxProperties")
		return s, nil
	case reflect.Slice:
		es, err := schemaOf(t.Elem(), reflect.Value{}, rules{})
		if err != nil {
			return nil, err
		}
		s["type"] = "array"
		s["items"] = es
		bound("minItems", "maxItems")
		return s, nil
	case reflect.Interface:
		return s, nil
	case reflect.String:
		if len(r.enum) > 0 {
			e := make([]any, len(r.enum))
			for i, x := range r.enum {
				e[i] = x
			}
			s["enum"] = e
		} else {
			s["type"] = "string"
		}
		bound("minLength", "maxLength")
	case reflect.Bool:
		s["type"] = "boolean"
	case reflect.Float32, reflect.Float64:
		s["type"] = "number"
		bound("minimum", "maximum")
		lim := math.MaxFloat64
		if t.Kind() == reflect.Float32 {
			lim = math.MaxFloat32
		}
		// A number beyond the type's range is refused by Decode, so
		// the schema says so too (unless a tighter bound is given).
		if r.min == nil {
			s["minimum"] = -lim
		}
		if r.max == nil {
			s["maximum"] = lim
		}
	default: // integers
		s["type"] = "integer"
		// The tighter of the tag's bound and the type's range.
		lo, hi := intRange(t)
		s["minimum"], s["maximum"] = json.Number(lo.String()), json.Number(hi.String())
		if r.min != nil && r.min.Cmp(new(big.Rat).SetInt(lo)) > 0 {
			s["minimum"] = json.Number(r.minS)
		}
		if r.max != nil && r.max.Cmp(new(big.Rat).SetInt(hi)) < 0 {
			s["maximum"] = json.Number(r.maxS)
		}
	}
	if val.IsValid() && !val.IsZero() {
		s["default"] = val.Interface()
	}
	return s, nil
}
