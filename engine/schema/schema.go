package schema

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is a compiled contract. It is immutable after [Compile] returns, so
// one Schema may validate records from many goroutines at once.
type Schema struct {
	sch       *jsonschema.Schema
	title     string
	propTypes map[string]string
	files     map[string]string // Compile: every file read, with the sha256 of its bytes
	rootURL   string
	docs      map[string]any // every document compiled, by URL without fragment

	fast         *node // the compiled path; nil when the library decides every record
	nodes, falls int   // schemas compiled, and those left to the library
}

// Options tunes [CompileURL]. The zero value is pawl's contract stage exactly
// as [Compile] configures it, except that nothing but the built-in
// metaschemas can be loaded.
type Options struct {
	// Load returns the document at an absolute URL (without fragment) that
	// is not a built-in JSON Schema metaschema, decoded with numbers as
	// json.Number (see [DecodeJSON]). It is called for the root URL too.
	// It must not reach the network: pawl runs air-gapped. A nil Load
	// refuses every such URL.
	Load func(url string) (any, error)

	// FormatAnnotation makes "format" an annotation again, as the draft
	// 2020-12 format-annotation vocabulary specifies. pawl never sets it;
	// it exists so that the official test suite's required tests, which
	// assume annotation-only "format", can run through the same code.
	FormatAnnotation bool
}

// Compile loads the schema file at path. $ref may resolve only to the
// built-in metaschemas and to local files under the schema file's own
// directory (relative refs); any other URL (http, https, a file outside the
// directory) is an error that names the URL and says why, because pawl runs
// air-gapped. Draft 2020-12 is the default when $schema is absent. "format"
// is asserted and unknown format names are refused; content keywords are
// annotations (see the package documentation for why).
//
// [Schema.Files] lists every file read, with the sha256 of its bytes.
//
// Every error is one line that starts with `schema "<path>": `.
func Compile(path string) (*Schema, error) {
	fail := func(err error) (*Schema, error) {
		return nil, fmt.Errorf("schema %q: %v", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fail(err)
	}
	doc, sum, err := readSchemaFile(abs)
	if err != nil {
		return fail(err)
	}
	root := fileURL(abs)
	dl := newDirLoader(filepath.Dir(abs))
	s, err := compile(root, doc, dl.load, false)
	if err != nil {
		return fail(err)
	}
	s.files = dl.files
	s.files[abs] = sum
	return s, nil
}

// Files lists every file [Compile] read to build the schema — the schema
// file and each file a $ref (or $dynamicRef, or a custom "$schema")
// reached — by absolute path, with "sha256:" and the hex sha256 of the
// bytes that were decoded and compiled. A contract is all of them: a pin of
// the schema file alone would let a change behind one of its $refs through.
// A schema from [CompileURL] has none. The map is a fresh copy.
func (s *Schema) Files() map[string]string {
	out := make(map[string]string, len(s.files))
	for k, v := range s.files {
		out[k] = v
	}
	return out
}

// CompileURL compiles the schema at an absolute URL with a caller-supplied
// loader, for tests (the official suite maps http://localhost:1234/ to its
// remotes directory) and for embedding pawl where schemas do not live in
// files. Errors are one line starting with `schema "<url>": `.
func CompileURL(rawURL string, opts Options) (*Schema, error) {
	load := opts.Load
	if load == nil {
		load = func(u string) (any, error) {
			return nil, &RefusedError{u, "no loader is configured and pawl never fetches from the network"}
		}
	}
	s, err := compile(rawURL, nil, load, opts.FormatAnnotation)
	if err != nil {
		return nil, fmt.Errorf("schema %q: %v", rawURL, err)
	}
	return s, nil
}

// recorder keeps every document the library loads through us, so that
// compile can inspect the raw JSON afterwards (declared type order, format
// names) and can report a refusal in its own words: the library wraps loader
// errors in a type without Unwrap.
type recorder struct {
	load    func(string) (any, error)
	docs    map[string]any
	refused *RefusedError
}

func (r *recorder) Load(u string) (any, error) {
	doc, err := r.load(u)
	if err != nil {
		var re *RefusedError
		if errors.As(err, &re) && r.refused == nil {
			r.refused = re
		}
		return nil, err
	}
	r.docs[u] = doc
	return doc, nil
}

func compile(rootURL string, rootDoc any, load func(string) (any, error), formatAnnotation bool) (*Schema, error) {
	rec := &recorder{load: load, docs: map[string]any{}}
	c := jsonschema.NewCompiler()
	// Pinned rather than left to the library, whose default moves with new drafts.
	c.DefaultDraft(jsonschema.Draft2020)
	if !formatAnnotation {
		c.AssertFormat()
	}
	c.UseLoader(rec)
	if rootDoc != nil {
		if err := c.AddResource(rootURL, rootDoc); err != nil {
			return nil, oneLine(err)
		}
		rec.docs[rootURL] = rootDoc
	}
	sch, err := c.Compile(rootURL)
	if err != nil {
		if rec.refused != nil {
			return nil, rec.refused
		}
		var sve *jsonschema.SchemaValidationError
		if errors.As(err, &sve) {
			var verr *jsonschema.ValidationError
			if errors.As(sve.Err, &verr) {
				return nil, fmt.Errorf("not a valid schema: %s", summarize(verr, rootDocFor(rec.docs, sve.URL), 5))
			}
		}
		return nil, oneLine(err)
	}
	if !formatAnnotation {
		if err := checkFormats(rec.docs); err != nil {
			return nil, err
		}
	}
	fast, nodes, falls := compileFast(sch)
	return &Schema{
		sch:       sch,
		title:     sch.Title,
		propTypes: propertyTypes(sch, rec.docs),
		rootURL:   rootURL,
		docs:      rec.docs,
		fast:      fast,
		nodes:     nodes,
		falls:     falls,
	}, nil
}

func rootDocFor(docs map[string]any, loc string) any {
	u, _, _ := strings.Cut(loc, "#")
	return docs[u]
}

// oneLine flattens the library's multi-line errors, because pawl reports
// compile failures on a single log line.
func oneLine(err error) error {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return errors.New(strings.Join(lines, " "))
}

// Documents returns the URL of the root document and every document the
// schema compiled from (the root and each one a reference reached, not the
// built-in metaschemas), decoded as [DecodeJSON] does, by URL without a
// fragment: what engine/contract compares. The map is shared: do not
// change it.
func (s *Schema) Documents() (string, map[string]any) { return s.rootURL, s.docs }

// Title returns the root schema's "title", or "".
func (s *Schema) Title() string { return s.title }

// PropertyTypes returns the declared "type" of each top-level property, for
// typing CSV cells: "string", "number", "integer", "boolean", "null",
// "object" or "array". When "type" is a list, the first entry that is not
// "null" wins (["null"] alone gives "null"); when it is absent, "". A
// property schema that is only a $ref is followed to its target, as is a
// root schema that is only a $ref. The map is a fresh copy.
func (s *Schema) PropertyTypes() map[string]string {
	out := make(map[string]string, len(s.propTypes))
	for k, v := range s.propTypes {
		out[k] = v
	}
	return out
}

func propertyTypes(root *jsonschema.Schema, docs map[string]any) map[string]string {
	root = followRefs(root, func(s *jsonschema.Schema) bool { return s.Properties != nil })
	out := make(map[string]string, len(root.Properties))
	for name, ps := range root.Properties {
		ps = followRefs(ps, func(s *jsonschema.Schema) bool { return s.Types != nil || s.Bool != nil })
		out[name] = declaredType(ps, docs)
	}
	return out
}

// followRefs walks a chain of $ref-only schemas until done says the schema
// has what we look for. The bound guards against $ref cycles.
func followRefs(s *jsonschema.Schema, done func(*jsonschema.Schema) bool) *jsonschema.Schema {
	for range 32 {
		if done(s) || s.Ref == nil {
			return s
		}
		s = s.Ref
	}
	return s
}

func declaredType(s *jsonschema.Schema, docs map[string]any) string {
	if s.Types == nil {
		return ""
	}
	// The compiled Types is a bit set and has lost the declared order,
	// which decides the CSV type of ["integer","string"]; read the raw JSON.
	if raw, ok := rawAt(docs, s.Location); ok {
		if obj, ok := raw.(map[string]any); ok {
			switch t := obj["type"].(type) {
			case string:
				return t
			case []any:
				first := ""
				for _, item := range t {
					if name, ok := item.(string); ok {
						if name != "null" {
							return name
						}
						first = name
					}
				}
				return first
			}
		}
	}
	names := s.Types.ToStrings()
	for _, n := range names {
		if n != "null" {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// rawAt looks up a compiled schema's location ("<doc url>#<json pointer>")
// in the documents loaded during compilation.
func rawAt(docs map[string]any, loc string) (any, bool) {
	u, frag, _ := strings.Cut(loc, "#")
	doc, ok := docs[u]
	if !ok {
		return nil, false
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, false
	}
	if frag == "" {
		return doc, true
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, false
	}
	v := doc
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = unescapeToken(tok)
		switch c := v.(type) {
		case map[string]any:
			if v, ok = c[tok]; !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscanf(tok, "%d", &i); err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// knownFormats are the format names the library asserts (its unexported
// format table plus "regex", which it special-cases). TestKnownFormatsAssert
// fails if a library upgrade stops asserting one of them.
var knownFormats = []string{
	"date", "date-time", "duration", "email", "hostname", "ipv4", "ipv6",
	"iri", "iri-reference", "json-pointer", "period", "regex",
	"relative-json-pointer", "semver", "time", "uri", "uri-reference",
	"uri-template", "uuid",
}

// checkFormats refuses format names the library would silently skip. With
// assertion on, a misspelt format would otherwise let every value through
// while the contract claims to check it.
func checkFormats(docs map[string]any) error {
	urls := make([]string, 0, len(docs))
	for u := range docs {
		urls = append(urls, u)
	}
	slices.Sort(urls) // deterministic error when several documents are bad
	for _, u := range urls {
		var bad error
		walkSchemas(docs[u], "", func(obj map[string]any, ptr string) bool {
			f, ok := obj["format"].(string)
			if ok && !slices.Contains(knownFormats, f) {
				bad = fmt.Errorf("format %q at %s#%s cannot be checked by pawl (it would be silently ignored); known formats: %s",
					f, u, ptr, strings.Join(knownFormats, ", "))
				return false
			}
			return true
		})
		if bad != nil {
			return bad
		}
	}
	return nil
}

var (
	subschemaKeywords = []string{
		"additionalItems", "additionalProperties", "contains", "contentSchema",
		"else", "if", "items", "not", "propertyNames", "then",
		"unevaluatedItems", "unevaluatedProperties",
	}
	subschemaMapKeywords = []string{
		"$defs", "definitions", "dependencies", "dependentSchemas",
		"patternProperties", "properties",
	}
	subschemaListKeywords = []string{"allOf", "anyOf", "items", "oneOf", "prefixItems"}
)

// walkSchemas visits v and every subschema position below it, so that a
// property merely named "format" (inside "properties") or a "format" key
// inside "enum" or "default" data is not mistaken for the keyword.
func walkSchemas(v any, ptr string, visit func(map[string]any, string) bool) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return true
	}
	if !visit(obj, ptr) {
		return false
	}
	for _, kw := range subschemaKeywords {
		if !walkSchemas(obj[kw], ptr+"/"+kw, visit) {
			return false
		}
	}
	for _, kw := range subschemaMapKeywords {
		if m, ok := obj[kw].(map[string]any); ok {
			for _, name := range slices.Sorted(maps.Keys(m)) {
				if !walkSchemas(m[name], ptr+"/"+kw+"/"+escapeToken(name), visit) {
					return false
				}
			}
		}
	}
	for _, kw := range subschemaListKeywords {
		if l, ok := obj[kw].([]any); ok {
			for i, sub := range l {
				if !walkSchemas(sub, fmt.Sprintf("%s/%s/%d", ptr, kw, i), visit) {
					return false
				}
			}
		}
	}
	return true
}
