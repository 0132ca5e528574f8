package normalize

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/engine/jsonptr"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// Class is how strictly a field is treated.
type Class uint8

const (
	// Text is the default class: human-readable values (names, units,
	// labels). Invisible characters and embedded controls are refused,
	// emoji and tabs are flagged.
	Text Class = iota
	// Identifier is for values that are compared, joined on or looked up
	// (device ids, batch numbers, user names): one line, one script
	// profile, no emoji, no invisible characters, confusables checked
	// against reference values.
	Identifier
	// Free is for free-form prose (notes, comments) in any language, where
	// zero-width joiners and non-joiners have legitimate uses: they are
	// flagged rather than refused.
	Free
	numClasses
)

var classNames = [numClasses]string{"text", "identifier", "free"}

func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// Action is what the boundary does with a hazard it finds.
type Action uint8

const (
	// Reject quarantines the record.
	Reject Action = iota + 1
	// Strip removes the character and reports it.
	Strip
	// Normalize replaces the character by its normal form (CR and CRLF by
	// LF) and reports it.
	Normalize
	// Flag keeps the character and reports it.
	Flag
)

var actionNames = map[Action]string{Reject: "reject", Strip: "strip", Normalize: "normalize", Flag: "flag"}

func (a Action) String() string { return actionNames[a] }

// hazard is one kind of thing the boundary looks for. Its name is the
// config key and, prefixed with "unicode.", the rule of its findings.
type hazard uint8

const (
	hzControl hazard = iota
	hzTab
	hzNewline
	hzSingleLine
	hzBOM
	hzSoftHyphen
	hzZeroWidth
	hzInvisible
	hzBidi
	hzBidiIsolate
	hzBidiUnbalanced
	hzBidiMark
	hzLocaleCase
	hzCombining
	hzEmoji
	hzIdentifierStatus
	hzMixedScript
	hzConfusable
	numHazards
)

type hazardSpec struct {
	name    string
	allowed []Action
	// defaults per class: text, identifier, free. 0: not checked.
	defaults [numClasses]Action
	what     string // why it matters, for messages
}

var hazards = [numHazards]hazardSpec{
	hzControl:          {"control", []Action{Reject, Strip}, [numClasses]Action{Reject, Reject, Reject}, "a control character (it corrupts terminals, logs and fixed-format exports)"},
	hzTab:              {"tab", []Action{Reject, Strip, Flag}, [numClasses]Action{Flag, Reject, Flag}, "a tab (it shifts columns in TSV and fixed-width exports)"},
	hzNewline:          {"newline", []Action{Normalize, Reject, Flag}, [numClasses]Action{Normalize, Reject, Normalize}, "a line break other than LF"},
	hzSingleLine:       {"single_line", []Action{Reject, Strip, Flag}, [numClasses]Action{Reject, Reject, Reject}, "a line break in a single-line field"},
	hzBOM:              {"bom", []Action{Reject, Strip}, [numClasses]Action{Reject, Reject, Reject}, "a byte order mark inside a value (it is invisible and breaks equality)"},
	hzSoftHyphen:       {"soft_hyphen", []Action{Strip, Reject, Flag}, [numClasses]Action{Strip, Strip, Strip}, "a soft hyphen (invisible unless a line breaks there; it breaks equality and search)"},
	hzZeroWidth:        {"zero_width", []Action{Reject, Strip, Flag}, [numClasses]Action{Reject, Reject, Flag}, "an invisible zero-width character (it breaks equality, joins and search)"},
	hzInvisible:        {"invisible", []Action{Reject, Strip, Flag}, [numClasses]Action{Reject, Reject, Flag}, "an invisible default-ignorable character"},
	hzBidi:             {"bidi", []Action{Reject, Strip, Flag}, [numClasses]Action{Reject, Reject, Reject}, "a bidi embedding/override control (it can reorder how the text displays)"},
	hzBidiIsolate:      {"bidi_isolate", []Action{Reject, Strip, Flag}, [numClasses]Action{Flag, Reject, Flag}, "a balanced bidi isolate control"},
	hzBidiUnbalanced:   {"bidi_unbalanced", []Action{Reject, Strip}, [numClasses]Action{Reject, Reject, Reject}, "an unbalanced bidi isolate control (it reorders the text after it)"},
	hzBidiMark:         {"bidi_mark", []Action{Reject, Strip, Flag}, [numClasses]Action{Flag, Reject, Flag}, "an invisible bidi mark"},
	hzLocaleCase:       {"locale_case", []Action{Reject, Flag}, [numClasses]Action{Flag, Reject, Flag}, "a Turkic dotted/dotless i (its case mapping depends on the language: İ lower-cases to i + U+0307 except in Turkish)"},
	hzCombining:        {"combining", []Action{Reject}, [numClasses]Action{Reject, Reject, Reject}, "more than 30 combining marks in a row"},
	hzEmoji:            {"emoji", []Action{Reject, Strip, Flag}, [numClasses]Action{Flag, Reject, Flag}, "an emoji"},
	hzIdentifierStatus: {"identifier_status", []Action{Reject, Flag}, [numClasses]Action{0, Reject, 0}, "not allowed in identifiers by UTS #39"},
	hzMixedScript:      {"mixed_script", []Action{Reject, Flag}, [numClasses]Action{0, Reject, 0}, "mixes scripts beyond the restriction level"},
	hzConfusable:       {"confusable", []Action{Reject, Flag}, [numClasses]Action{0, Reject, 0}, "looks like a different reference value"},
}

func (h hazard) rule() string { return "unicode." + hazards[h].name }

// RestrictionLevel is a UTS #39 section 5.2 restriction level.
type RestrictionLevel uint8

const (
	ASCIIOnly RestrictionLevel = iota + 1
	SingleScript
	HighlyRestrictive
	ModeratelyRestrictive
	MinimallyRestrictive
	Unrestricted
)

var levelNames = map[string]RestrictionLevel{
	"ascii_only": ASCIIOnly, "single_script": SingleScript, "highly_restrictive": HighlyRestrictive,
	"moderately_restrictive": ModeratelyRestrictive, "minimally_restrictive": MinimallyRestrictive, "unrestricted": Unrestricted,
}

func (l RestrictionLevel) String() string {
	for n, v := range levelNames {
		if v == l {
			return n
		}
	}
	return fmt.Sprintf("RestrictionLevel(%d)", uint8(l))
}

// Config is the normalize section of a job spec:
//
//	normalize:
//	  form: NFC                     # NFC (default) or NFKC, for every field
//	  identifier_form: NFKC         # overrides form for identifier fields
//	  identifiers: [/device_id]     # JSON pointers; array elements and
//	  text: [/unit]                 #   object members inherit the class
//	  free: [/note]
//	  single_line: [/unit]          # line breaks refused (identifiers always are)
//	  restriction_level: highly_restrictive   # for identifiers (UTS #39 5.2)
//	  references: {/device_id: registry/devices.txt}
//	  lowercase: [/site]            # lower-cased with the language's rules;
//	  language: tr                  #   never without a language
//	  actions:
//	    text: {emoji: strip, tab: reject}
//	    identifier: {locale_case: flag}
//
// A field that no pointer names is text. docs/unicode.md lists the hazards
// and their default actions.
type Config struct {
	Form             string                       `yaml:"form" json:"form,omitempty"`
	IdentifierForm   string                       `yaml:"identifier_form" json:"identifier_form,omitempty"`
	Identifiers      []string                     `yaml:"identifiers" json:"identifiers,omitempty"`
	Text             []string                     `yaml:"text" json:"text,omitempty"`
	Free             []string                     `yaml:"free" json:"free,omitempty"`
	SingleLine       []string                     `yaml:"single_line" json:"single_line,omitempty"`
	RestrictionLevel string                       `yaml:"restriction_level" json:"restriction_level,omitempty"`
	References       map[string]string            `yaml:"references" json:"references,omitempty"`
	Lowercase        []string                     `yaml:"lowercase" json:"lowercase,omitempty"`
	Language         string                       `yaml:"language" json:"language,omitempty"`
	Actions          map[string]map[string]string `yaml:"actions" json:"actions,omitempty"`
}

// field is what the boundary applies to one value.
type field struct {
	class      Class
	singleLine bool
	lower      bool
	refs       *refSet
}

// Profile is a validated Config with its reference values loaded. It is
// immutable and safe for concurrent use.
type Profile struct {
	forms     [numClasses]norm.Form
	actions   [numClasses][numHazards]Action
	level     RestrictionLevel
	named     map[string]fieldRule // by JSON pointer
	lowercase cases.Caser
	lang      string
	// plainWork is set when plain ASCII values may still need work:
	// reference checks or lower-casing.
	plainWork bool
	plainPtrs []plainField
}

// fieldRule is what the profile says about one pointer.
type fieldRule struct {
	hasClass   bool
	class      Class
	singleLine bool
	lower      bool
	refs       *refSet
}

type plainField struct {
	tokens []string
	f      field
}

// Default is the profile of a job spec without a normalize section: every
// field is text, NFC.
var Default = mustProfile(Config{})

func mustProfile(c Config) *Profile {
	p, err := NewProfile(c, nil)
	if err != nil {
		panic(err)
	}
	return p
}

// Validate checks c without reference values: forms, pointers, classes,
// actions, the restriction level and the language. Errors name the key and
// the offending value.
func (c Config) Validate() error {
	_, err := c.build()
	return err
}

// ReferenceFiles returns the files c.References names, sorted, for the
// caller to pin and read.
func (c Config) ReferenceFiles() []string {
	var out []string
	for _, f := range c.References {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// NewProfile validates c and loads the reference values of each identifier
// field c.References names: refs maps each of those pointers to its values
// (see ParseReferences). Every pointer of c.References must have values and
// refs may name no other.
func NewProfile(c Config, refs map[string][]string) (*Profile, error) {
	p, err := c.build()
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, ptr := range sortedKeys(c.References) {
		if _, ok := refs[ptr]; !ok {
			problems = append(problems, fmt.Sprintf("references: no values loaded for %s (from %s)", ptr, c.References[ptr]))
		}
	}
	for _, ptr := range sortedKeys(refs) {
		if _, ok := c.References[ptr]; !ok {
			problems = append(problems, fmt.Sprintf("references: values given for %s, which the normalize section does not name", ptr))
			continue
		}
		set, err := p.newRefSet(ptr, c.References[ptr], refs[ptr])
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		r := p.named[ptr]
		r.refs = set
		p.named[ptr] = r
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("normalize: %s", strings.Join(problems, "; "))
	}
	p.index()
	return p, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func parseForm(key, s string, def norm.Form) (norm.Form, error) {
	switch s {
	case "":
		return def, nil
	case "NFC":
		return norm.NFC, nil
	case "NFKC":
		return norm.NFKC, nil
	case "NFD", "NFKD", "nfc", "nfkc", "nfd", "nfkd":
		return 0, fmt.Errorf("%s %q: want NFC or NFKC (upper case; pawl passes composed text on)", key, s)
	}
	return 0, fmt.Errorf("%s %q: unknown normalization form; want NFC or NFKC", key, s)
}

// checkPointer validates an RFC 6901 pointer naming a record field.
func checkPointer(p string) error {
	if !utf8.ValidString(p) {
		return fmt.Errorf("%q is not valid UTF-8", p)
	}
	if p == "" || p[0] != '/' {
		return fmt.Errorf("%q must start with / (a JSON pointer such as /device_id)", p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			return fmt.Errorf("%q: ~ at byte %d must be followed by 0 or 1 (RFC 6901 escapes ~0 and ~1)", p, i)
		}
	}
	if !norm.NFC.IsNormalString(p) {
		return fmt.Errorf("%q is not in NFC, so it would never match a normalized key", p)
	}
	return nil
}

func (c Config) build() (*Profile, error) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	p := &Profile{named: map[string]fieldRule{}, level: HighlyRestrictive}
	form, err := parseForm("form", c.Form, norm.NFC)
	if err != nil {
		bad("%v", err)
	}
	idForm, err := parseForm("identifier_form", c.IdentifierForm, form)
	if err != nil {
		bad("%v", err)
	}
	p.forms = [numClasses]norm.Form{form, idForm, form}
	for cl := Class(0); cl < numClasses; cl++ {
		for h := hazard(0); h < numHazards; h++ {
			p.actions[cl][h] = hazards[h].defaults[cl]
		}
	}
	classOf := map[string]string{}
	for _, g := range []struct {
		key  string
		ptrs []string
		cl   Class
	}{{"identifiers", c.Identifiers, Identifier}, {"text", c.Text, Text}, {"free", c.Free, Free}} {
		for _, ptr := range g.ptrs {
			if err := checkPointer(ptr); err != nil {
				bad("%s: %v", g.key, err)
				continue
			}
			if prev, ok := classOf[ptr]; ok {
				bad("%s: %s is already listed under %s", g.key, ptr, prev)
				continue
			}
			classOf[ptr] = g.key
			r := p.named[ptr]
			r.hasClass, r.class = true, g.cl
			p.named[ptr] = r
		}
	}
	for _, ptr := range c.SingleLine {
		if err := checkPointer(ptr); err != nil {
			bad("single_line: %v", err)
			continue
		}
		r := p.named[ptr]
		r.singleLine = true
		p.named[ptr] = r
	}
	if c.RestrictionLevel != "" {
		l, ok := levelNames[c.RestrictionLevel]
		if !ok {
			bad("restriction_level %q: want one of ascii_only, single_script, highly_restrictive, moderately_restrictive, minimally_restrictive, unrestricted", c.RestrictionLevel)
		}
		p.level = l
	}
	for _, ptr := range sortedKeys(c.References) {
		if classOf[ptr] != "identifiers" {
			bad("references: %s is not listed under identifiers; reference values are for identifier fields", ptr)
		}
		if strings.TrimSpace(c.References[ptr]) == "" {
			bad("references: %s names no file", ptr)
		}
	}
	if c.Language != "" {
		tag, err := language.Parse(c.Language)
		if err != nil {
			bad("language %q: %v (want a BCP 47 tag such as tr, az, de or und)", c.Language, err)
		} else {
			p.lang = tag.String()
			p.lowercase = cases.Lower(tag)
			// The profile says the data is Turkic: the dotted and
			// dotless i are expected, and lower-casing produces them.
			if base, _ := tag.Base(); base.String() == "tr" || base.String() == "az" {
				for cl := Class(0); cl < numClasses; cl++ {
					p.actions[cl][hzLocaleCase] = Flag
				}
			}
		}
	}
	if len(c.Lowercase) > 0 && c.Language == "" {
		bad("lowercase: case mapping depends on the language (Turkish I lower-cases to ı); name it with language, e.g. language: und for the root rules")
	}
	for _, ptr := range c.Lowercase {
		if err := checkPointer(ptr); err != nil {
			bad("lowercase: %v", err)
			continue
		}
		r := p.named[ptr]
		r.lower = true
		p.named[ptr] = r
	}
	for _, cname := range sortedKeys(c.Actions) {
		cl := Class(255)
		for i, n := range classNames {
			if n == cname {
				cl = Class(i)
			}
		}
		if cl == 255 {
			bad("actions: unknown class %q; want identifier, text or free", cname)
			continue
		}
		for _, hname := range sortedKeys(c.Actions[cname]) {
			h := hazard(255)
			for i := range hazards {
				if hazards[i].name == hname {
					h = hazard(i)
				}
			}
			if h == 255 {
				bad("actions.%s: unknown hazard %q; want one of %s", cname, hname, hazardList())
				continue
			}
			aname := c.Actions[cname][hname]
			var act Action
			for a, n := range actionNames {
				if n == aname {
					act = a
				}
			}
			okAct := false
			var allowed []string
			for _, a := range hazards[h].allowed {
				allowed = append(allowed, a.String())
				okAct = okAct || a == act
			}
			if !okAct {
				bad("actions.%s.%s: %q is not an action for %s; want %s", cname, hname, aname, hname, strings.Join(allowed, " or "))
				continue
			}
			if hazards[h].defaults[cl] == 0 {
				bad("actions.%s.%s: %s is only checked in identifier fields", cname, hname, hname)
				continue
			}
			p.actions[cl][h] = act
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("normalize: %s", strings.Join(problems, "; "))
	}
	p.index()
	return p, nil
}

func hazardList() string {
	var ns []string
	for _, h := range hazards {
		ns = append(ns, h.name)
	}
	return strings.Join(ns, ", ")
}

// index prepares the plain-record check: pointers whose ASCII values may
// still need work.
func (p *Profile) index() {
	p.plainPtrs = p.plainPtrs[:0]
	for _, ptr := range sortedKeys(p.named) {
		r := p.named[ptr]
		if r.refs == nil && !r.lower {
			continue
		}
		p.plainPtrs = append(p.plainPtrs, plainField{jsonptr.Split(ptr), p.fieldFor(ptr, field{})})
	}
	p.plainWork = len(p.plainPtrs) > 0
}

// fieldFor returns the treatment of the value at ptr whose parent is
// treated as parent. A value inherits its parent's treatment (array
// elements and object members go with the field that holds them); a class
// named for ptr replaces it, single_line and lowercase add to it.
func (p *Profile) fieldFor(ptr string, parent field) field {
	r, ok := p.named[ptr]
	if !ok {
		return parent
	}
	f := parent
	if r.hasClass {
		f = field{class: r.class, singleLine: r.class == Identifier, lower: parent.lower, refs: r.refs}
	}
	f.singleLine = f.singleLine || r.singleLine
	f.lower = f.lower || r.lower
	return f
}

// refSet is the reference values of one identifier field and their
// skeletons.
type refSet struct {
	values    map[string]bool
	skeletons map[string]string // skeleton → first reference value with it
}

// newRefSet normalizes the reference values as identifiers; a reference
// that the boundary itself would refuse is an error, not a silent entry.
func (p *Profile) newRefSet(ptr, file string, values []string) (*refSet, error) {
	rs := &refSet{values: map[string]bool{}, skeletons: map[string]string{}}
	fd := field{class: Identifier, singleLine: true}
	for i, v := range values {
		out, fs := p.value(v, fd, ptr, false, nil)
		for _, f := range fs {
			if f.Reject {
				return nil, fmt.Errorf("references: %s value %d %q (from %s) is refused as an identifier: %s", ptr, i+1, v, file, f.Message)
			}
		}
		rs.values[out] = true
		sk := Skeleton(out)
		if _, ok := rs.skeletons[sk]; !ok {
			rs.skeletons[sk] = out
		}
	}
	return rs, nil
}

// ParseReferences reads reference values, one per line: blank lines and
// lines starting with # are skipped, a CRLF terminator is accepted, nothing
// else is trimmed. name names the source in errors.
func ParseReferences(r io.Reader, name string) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []string
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSuffix(sc.Text(), "\r")
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if !utf8.ValidString(t) {
			return nil, fmt.Errorf("%s:%d: invalid UTF-8 in reference value %q", name, line, t)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return out, nil
}

// Summary is what a Config decides, resolved: the class of each named
// field, the action for each hazard in each class (defaults included),
// the forms and the rest, as plain names. The arbiter (engine/contract)
// compares two of them.
type Summary struct {
	Classes          map[string]string            // JSON pointer → "identifier", "text" or "free", for the named fields
	Actions          map[string]map[string]string // class → hazard → action, for every hazard the class checks
	Forms            map[string]string            // class → "NFC" or "NFKC"
	SingleLine       []string
	RestrictionLevel string
	References       map[string]string // JSON pointer → reference file
	Lowercase        []string
	Language         string
}

// Summary validates c and resolves what it decides.
func (c Config) Summary() (Summary, error) {
	p, err := c.build()
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Classes: map[string]string{}, Actions: map[string]map[string]string{}, Forms: map[string]string{},
		RestrictionLevel: p.level.String(), References: map[string]string{}, Language: p.lang}
	for cl := Class(0); cl < numClasses; cl++ {
		s.Forms[cl.String()] = formName(p.forms[cl])
		acts := map[string]string{}
		for h := hazard(0); h < numHazards; h++ {
			if a := p.actions[cl][h]; a != 0 {
				acts[hazards[h].name] = a.String()
			}
		}
		s.Actions[cl.String()] = acts
	}
	for _, ptr := range sortedKeys(p.named) {
		r := p.named[ptr]
		if r.hasClass {
			s.Classes[ptr] = r.class.String()
		}
		if r.singleLine {
			s.SingleLine = append(s.SingleLine, ptr)
		}
		if r.lower {
			s.Lowercase = append(s.Lowercase, ptr)
		}
	}
	for ptr, f := range c.References {
		s.References[ptr] = f
	}
	return s, nil
}

func formName(f norm.Form) string {
	switch f {
	case norm.NFC:
		return "NFC"
	case norm.NFKC:
		return "NFKC"
	case norm.NFD:
		return "NFD"
	case norm.NFKD:
		return "NFKD"
	}
	return fmt.Sprintf("Form(%d)", int(f))
}
