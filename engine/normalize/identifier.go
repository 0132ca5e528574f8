package normalize

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// identifier runs the checks that only identifier fields get, on the value
// as it leaves the boundary: UTS #39 identifier status, the restriction
// level, and confusability with the field's reference values.
func (r *run) identifier(cur string) {
	acts := &r.p.actions[Identifier]
	for i, c := range cur {
		// ASCII is exempt: identifiers such as e-mail addresses or paths
		// need its punctuation, and ASCII holds no invisible or
		// look-alike letters that the other rules do not already cover.
		if c < 0x80 || identifierAllowedRune(c) {
			continue
		}
		o := r.back(i)
		if r.seenAt(o, c) {
			continue
		}
		a := acts[hzIdentifierStatus]
		r.add(int(hzIdentifierStatus), Finding{Offset: o, Length: r.back(i+utf8.RuneLen(c)) - o, Rune: r.origRune(o, c), Rule: hzIdentifierStatus.rule(), Action: a.String(), Reject: a == Reject,
			Message: fmt.Sprintf("%s at byte %d of the %s is not allowed in identifiers (UTS #39 Identifier_Type %s); %s",
				Describe(c), o, r.noun(), strings.Join(identifierType(c), ", "), verdict(a))})
	}
	if lvl, off, scripts := restriction(cur); lvl > r.p.level {
		a := acts[hzMixedScript]
		o := r.back(off)
		c, _ := utf8.DecodeRuneInString(cur[off:])
		r.add(int(hzMixedScript), Finding{Offset: o, Length: r.back(off+utf8.RuneLen(c)) - o, Rune: r.origRune(o, c), Rule: hzMixedScript.rule(), Action: a.String(), Reject: a == Reject,
			Message: fmt.Sprintf("the %s mixes the scripts %s (%s at byte %d is where it leaves %s); that is %s, beyond the field's %s (UTS #39); %s",
				r.noun(), strings.Join(scripts, ", "), Describe(c), o, scripts[0], lvl, r.p.level, verdict(a))})
	}
	if refs := r.f.refs; refs != nil && !refs.values[cur] {
		sk := Skeleton(cur)
		if ref, ok := refs.skeletons[sk]; ok {
			a := acts[hzConfusable]
			off := firstDifference(cur, ref)
			o := r.back(off)
			c, size := utf8.DecodeRuneInString(cur[off:])
			if size == 0 {
				c = -1
			}
			r.add(int(hzConfusable), Finding{Offset: o, Length: r.back(off+size) - o, Rune: r.origRune(o, c), Rule: hzConfusable.rule(), Action: a.String(), Reject: a == Reject,
				Message: fmt.Sprintf("the %s %q looks like the reference value %q, a different identifier (same UTS #39 skeleton %q); it first differs at byte %d (%s); %s",
					r.noun(), cur, ref, sk, o, describeOrEnd(c), verdict(a))})
		}
	}
}

func describeOrEnd(c rune) string {
	if c < 0 {
		return "the end of the value"
	}
	return Describe(c)
}

func verdict(a Action) string {
	if a == Reject {
		return "rejected"
	}
	return "flagged and kept"
}

// seenAt reports whether a hazard was already reported at original offset
// o about the code point c (a rewrite there is no reason to skip the
// identifier check). A hazard about another character that a rewrite put
// at the same original offset (lower-casing "I" + U+030E maps both output
// characters back to the "I") does not count: U+030E is still checked.
func (r *run) seenAt(o int, c rune) bool {
	for i := range r.findings {
		f := &r.findings[i]
		if f.Offset != o || f.Action == "normalize" {
			continue
		}
		if at, ok := r.about[i]; ok && at >= 0 && at != c {
			continue
		}
		return true
	}
	return false
}

func firstDifference(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) {
		ca, na := utf8.DecodeRuneInString(a[i:])
		cb, _ := utf8.DecodeRuneInString(b[i:])
		if ca != cb {
			return i
		}
		i += na
	}
	return i
}

// The UTS #39 section 5.2 "covered by" sets for Highly Restrictive: Latin
// with Japanese, with Han and Bopomofo, with Korean.
var highlySets = func() []scriptSet {
	var out []scriptSet
	for _, second := range []int{scriptJpan, scriptHanb, scriptKore} {
		var s scriptSet
		s.add(scriptLatin)
		s.add(second)
		out = append(out, s)
	}
	return out
}()

var moderateSecond = func() scriptSet {
	s := recommendedScripts
	s[scriptCyrillic/64] &^= 1 << (scriptCyrillic % 64)
	s[scriptGreek/64] &^= 1 << (scriptGreek % 64)
	s[scriptLatin/64] &^= 1 << (scriptLatin % 64)
	return s
}()

// restriction computes the UTS #39 restriction level of s, the offset of
// the first code point outside the first script seen, and the scripts in
// order of appearance.
func restriction(s string) (RestrictionLevel, int, []string) {
	ascii := true
	all := scriptSet{^uint64(0), ^uint64(0), ^uint64(0)}
	resolved := all
	var sets []scriptSet
	var offs []int
	for i, c := range s {
		if c >= 0x80 {
			ascii = false
		}
		st := scriptOf(c)
		if st.set == 0 {
			continue // Common or Inherited: goes with anything
		}
		set := scriptSets[st.set]
		resolved = resolved.and(set)
		sets = append(sets, set)
		offs = append(offs, i)
	}
	if ascii {
		return ASCIIOnly, 0, nil
	}
	if !resolved.empty() {
		return SingleScript, 0, nil
	}
	// Scripts in order of appearance, and where the value first leaves the
	// first one.
	var names []string
	have := map[string]bool{}
	leave := 0
	for k := range sets {
		c, _ := utf8.DecodeRuneInString(s[offs[k]:])
		n := Script(c)
		if n == "Common" || n == "Inherited" {
			n = sets[k].names()[0]
		}
		if !have[n] {
			have[n] = true
			names = append(names, n)
		}
		if leave == 0 && k > 0 && sets[k].and(sets[0]).empty() {
			leave = offs[k]
		}
	}
	covered := func(cover scriptSet) bool {
		for _, set := range sets {
			if set.and(cover).empty() {
				return false
			}
		}
		return true
	}
	for _, cover := range highlySets {
		if covered(cover) {
			return HighlyRestrictive, leave, names
		}
	}
	var latin scriptSet
	latin.add(scriptLatin)
	rest := all
	for _, set := range sets {
		if set.and(latin).empty() {
			rest = rest.and(set)
		}
	}
	if !rest.and(moderateSecond).empty() {
		return ModeratelyRestrictive, leave, names
	}
	return MinimallyRestrictive, leave, names
}
