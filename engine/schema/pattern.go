package schema

import (
	"regexp"
	"regexp/syntax"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// simplePattern matches the commonest contract patterns — anchored at both
// ends, a fixed sequence of single characters or character classes, the
// last of which may repeat (^[A-Z]{2}-[0-9]{6}$, ^[a-z]+$) — in one pass
// over the string, several times faster than the regexp machine. It is
// built from the very regexp the library compiled, parsed with the flags
// regexp.Compile uses, and only for the shapes above, where a match exists
// exactly when each character in turn fits its class: no backtracking,
// nothing to disagree about. Any other pattern stays with the regexp.
type simplePattern struct {
	fixed            []charClass
	last             *charClass // repeats lastMin..lastMax (-1: no bound) times
	lastMin, lastMax int
}

// charClass is a set of runes as sorted inclusive ranges [lo, hi, lo, hi…].
type charClass []rune

func (c charClass) has(r rune) bool {
	for i := 0; i+1 < len(c); i += 2 {
		if r < c[i] {
			return false
		}
		if r <= c[i+1] {
			return true
		}
	}
	return false
}

var (
	anyChar      = charClass{0, utf8.MaxRune}
	anyCharNotNL = charClass{0, '\n' - 1, '\n' + 1, utf8.MaxRune}
)

// newSimplePattern returns nil unless re is a Go regexp of a shape above.
func newSimplePattern(re jsonschema.Regexp) *simplePattern {
	gre, ok := re.(*regexp.Regexp)
	if !ok {
		return nil
	}
	parsed, err := syntax.Parse(gre.String(), syntax.Perl) // as regexp.Compile parses
	if err != nil {
		return nil
	}
	var items []*syntax.Regexp
	var flatten func(r *syntax.Regexp)
	flatten = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpConcat:
			for _, s := range r.Sub {
				flatten(s)
			}
		case syntax.OpCapture:
			flatten(r.Sub[0])
		default:
			items = append(items, r)
		}
	}
	flatten(parsed.Simplify())
	if len(items) < 2 || items[0].Op != syntax.OpBeginText || items[len(items)-1].Op != syntax.OpEndText {
		return nil
	}
	items = items[1 : len(items)-1]
	p := &simplePattern{}
	for i, it := range items {
		switch it.Op {
		case syntax.OpLiteral, syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			cs, ok := classes(it)
			if !ok {
				return nil
			}
			p.fixed = append(p.fixed, cs...)
		case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
			if i != len(items)-1 {
				return nil
			}
			cs, ok := classes(it.Sub[0])
			if !ok || len(cs) != 1 {
				return nil
			}
			p.last = &cs[0]
			switch it.Op {
			case syntax.OpStar:
				p.lastMin, p.lastMax = 0, -1
			case syntax.OpPlus:
				p.lastMin, p.lastMax = 1, -1
			case syntax.OpQuest:
				p.lastMin, p.lastMax = 0, 1
			default:
				p.lastMin, p.lastMax = it.Min, it.Max
			}
		default:
			return nil
		}
	}
	return p
}

// classes turns one single-character node into its classes (a literal of
// several runes gives one each).
func classes(r *syntax.Regexp) ([]charClass, bool) {
	switch r.Op {
	case syntax.OpLiteral:
		if r.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		out := make([]charClass, len(r.Rune))
		for i, c := range r.Rune {
			out[i] = charClass{c, c}
		}
		return out, true
	case syntax.OpCharClass:
		return []charClass{charClass(r.Rune)}, true
	case syntax.OpAnyChar:
		return []charClass{anyChar}, true
	case syntax.OpAnyCharNotNL:
		return []charClass{anyCharNotNL}, true
	}
	return nil, false
}

// match reports whether s matches; regexp reads invalid UTF-8 as U+FFFD
// one byte at a time, and so does utf8.DecodeRuneInString.
func (p *simplePattern) match(s string) bool {
	i := 0
	for _, c := range p.fixed {
		if i >= len(s) {
			return false
		}
		r, w := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(s[i:])
		}
		if !c.has(r) {
			return false
		}
		i += w
	}
	if p.last == nil {
		return i == len(s)
	}
	n := 0
	for i < len(s) {
		r, w := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(s[i:])
		}
		if !p.last.has(r) {
			return false
		}
		if n++; p.lastMax >= 0 && n > p.lastMax {
			return false
		}
		i += w
	}
	return n >= p.lastMin
}
