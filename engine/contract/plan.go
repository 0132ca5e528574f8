package contract

import (
	"fmt"
	"sort"
	"strings"
)

// Contract is everything in a job's Plan that decides a verdict.
type Contract struct {
	Schema Schema
	// Profile is the Unicode boundary's profile, resolved
	// (normalize.Config.Summary), in plain names.
	Profile Profile
	// Validators in the order they run.
	Validators []Validator
	// MaxRecordBytes: a longer record is quarantined.
	MaxRecordBytes int64
}

// Profile is what a job's normalize section decides (normalize.Summary).
type Profile struct {
	Classes          map[string]string
	Actions          map[string]map[string]string
	Forms            map[string]string
	SingleLine       []string
	RestrictionLevel string
	References       map[string]string // JSON pointer → the reference file's digest
	Lowercase        []string
	Language         string
}

// Validator is one plugin as a job runs it.
type Validator struct {
	Name    string // the plugin's name
	Version string
	Module  string // the digest of its module
	// Config is the canonical JSON of its configuration; Fields and
	// Lookups (lookup name → the file's digest) are as the job binds them.
	Config  string
	Fields  map[string]string
	Lookups map[string]string
}

// Compare classifies every change from prev to next: the schema's keyword
// by keyword (CompareSchemas), the profile's, the validators' and the
// limits'.
func Compare(prev, next Contract) ([]Change, error) {
	out, err := CompareSchemas(prev.Schema, next.Schema)
	if err != nil {
		return nil, err
	}
	out = append(out, compareProfiles(prev.Profile, next.Profile)...)
	out = append(out, compareValidators(prev.Validators, next.Validators)...)
	if prev.MaxRecordBytes != next.MaxRecordBytes {
		k, how := Tightening, "it quarantines records it admitted"
		if next.MaxRecordBytes > prev.MaxRecordBytes {
			k, how = Weakening, "it admits records it quarantined"
		}
		out = append(out, Change{Kind: k, Part: "limits", At: "max_record_bytes", Keyword: "max_record_bytes",
			Reason: fmt.Sprintf("max_record_bytes was %d, now %d: %s", prev.MaxRecordBytes, next.MaxRecordBytes, how)})
	}
	return out, nil
}

// strictness orders the classes: an identifier is held to more than text,
// text to more than free prose.
var classStrictness = map[string]int{"free": 0, "text": 1, "identifier": 2}

// actionStrictness orders the actions by what reaches the verified output:
// reject keeps the character out with its record, strip and normalize keep
// the record but not the character, flag lets both through.
var actionStrictness = map[string]int{"flag": 0, "normalize": 1, "strip": 1, "reject": 2}

// levelStrictness orders the UTS #39 restriction levels, strictest last.
var levelStrictness = map[string]int{"unrestricted": 0, "minimally_restrictive": 1, "moderately_restrictive": 2, "highly_restrictive": 3, "single_script": 4, "ascii_only": 5}

func compareProfiles(p, n Profile) []Change {
	var out []Change
	add := func(k Kind, at, kw, format string, args ...any) {
		out = append(out, Change{Kind: k, Part: "profile", At: at, Keyword: kw, Reason: fmt.Sprintf(format, args...)})
	}
	for _, ptr := range keys(p.Classes, n.Classes) {
		pc, nc := orText(p.Classes[ptr]), orText(n.Classes[ptr])
		switch d := classStrictness[nc] - classStrictness[pc]; {
		case d > 0:
			add(Tightening, ptr, "class", "the field moved from %s to %s: it is held to more", pc, nc)
		case d < 0:
			add(Weakening, ptr, "class", "the field moved from %s to %s: it is held to less", pc, nc)
		}
	}
	for _, cl := range keys(p.Actions, n.Actions) {
		for _, hz := range keys(p.Actions[cl], n.Actions[cl]) {
			pa, pok := p.Actions[cl][hz]
			na, nok := n.Actions[cl][hz]
			at := "class " + cl
			switch {
			case pa == na:
			case !pok:
				add(Tightening, at, hz, "%s is now checked in %s fields (%s)", hz, cl, na)
			case !nok:
				add(Weakening, at, hz, "%s is no longer checked in %s fields (it was %s)", hz, cl, pa)
			default:
				switch d := actionStrictness[na] - actionStrictness[pa]; {
				case d > 0:
					add(Tightening, at, hz, "%s in %s fields: %s, was %s", hz, cl, na, pa)
				case d < 0:
					add(Weakening, at, hz, "%s in %s fields: %s, was %s: more reaches the verified output", hz, cl, na, pa)
				default:
					add(Unknown, at, hz, "%s in %s fields: %s, was %s: the output changes, the admitted records do not", hz, cl, na, pa)
				}
			}
		}
	}
	for _, cl := range keys(p.Forms, n.Forms) {
		if p.Forms[cl] != n.Forms[cl] {
			add(Unknown, "class "+cl, "form", "normalization form %s, was %s: values are rewritten differently", n.Forms[cl], p.Forms[cl])
		}
	}
	ps, ns := set(p.SingleLine), set(n.SingleLine)
	for _, ptr := range keys(ps, ns) {
		switch {
		case ns[ptr] && !ps[ptr]:
			add(Tightening, ptr, "single_line", "line breaks are now refused in the field")
		case ps[ptr] && !ns[ptr]:
			add(Weakening, ptr, "single_line", "line breaks are no longer refused in the field")
		}
	}
	if p.RestrictionLevel != n.RestrictionLevel {
		k := Tightening
		if levelStrictness[n.RestrictionLevel] < levelStrictness[p.RestrictionLevel] {
			k = Weakening
		}
		add(k, "identifiers", "restriction_level", "restriction level %s, was %s", n.RestrictionLevel, p.RestrictionLevel)
	}
	for _, ptr := range keys(p.References, n.References) {
		pr, pok := p.References[ptr]
		nr, nok := n.References[ptr]
		switch {
		case pr == nr:
		case !pok:
			add(Tightening, ptr, "references", "values are now checked for confusables against reference values")
		case !nok:
			add(Weakening, ptr, "references", "values are no longer checked for confusables against reference values")
		default:
			add(Unknown, ptr, "references", "the reference values changed (%s, was %s)", short(nr), short(pr))
		}
	}
	pl, nl := set(p.Lowercase), set(n.Lowercase)
	for _, ptr := range keys(pl, nl) {
		if pl[ptr] != nl[ptr] {
			add(Unknown, ptr, "lowercase", "lower-casing of the field changed: the output changes")
		}
	}
	if p.Language != n.Language {
		add(Unknown, "profile", "language", "language %q, was %q: case mapping and the Turkic i change", n.Language, p.Language)
	}
	return out
}

func compareValidators(prev, next []Validator) []Change {
	var out []Change
	add := func(k Kind, name, kw, format string, args ...any) {
		out = append(out, Change{Kind: k, Part: "validator", At: name, Keyword: kw, Reason: fmt.Sprintf(format, args...)})
	}
	pm, nm := map[string]Validator{}, map[string]Validator{}
	for _, v := range prev {
		pm[v.Name] = v
	}
	for _, v := range next {
		nm[v.Name] = v
	}
	for _, name := range keys(pm, nm) {
		p, pok := pm[name]
		n, nok := nm[name]
		switch {
		case !pok:
			add(Tightening, name, "added", "validator %s@%s added: it can only quarantine more", name, n.Version)
			continue
		case !nok:
			add(Weakening, name, "removed", "validator %s@%s removed: what it quarantined is admitted", name, p.Version)
			continue
		}
		if p.Version != n.Version || p.Module != n.Module {
			add(Unknown, name, "version", "validator %s@%s, was %s@%s (module %s, was %s): new code; the empirical check settles it", name, n.Version, name, p.Version, short(n.Module), short(p.Module))
		}
		if p.Config != n.Config {
			add(Unknown, name, "config", "validator %s's configuration changed: %s, was %s", name, n.Config, p.Config)
		}
		for _, f := range keys(p.Fields, n.Fields) {
			if p.Fields[f] != n.Fields[f] {
				add(Unknown, name, "fields", "validator %s's field %s is bound to %q, was %q", name, f, n.Fields[f], p.Fields[f])
			}
		}
		for _, l := range keys(p.Lookups, n.Lookups) {
			if p.Lookups[l] != n.Lookups[l] {
				add(Unknown, name, "lookups", "validator %s's lookup %s changed (%s, was %s)", name, l, short(n.Lookups[l]), short(p.Lookups[l]))
			}
		}
	}
	return out
}

func orText(c string) string {
	if c == "" {
		return "text"
	}
	return c
}

func short(d string) string {
	if d == "" {
		return "none"
	}
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func set(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// keys are the keys of a and b, each once, sorted.
func keys[V any](a, b map[string]V) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
