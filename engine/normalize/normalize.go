package normalize

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/engine/jsonptr"
	"golang.org/x/text/unicode/norm"
)

// Finding is one thing the boundary did or refused, for one value.
type Finding struct {
	Pointer string `json:"pointer"` // RFC 6901 pointer of the value (for a key: of its member)
	Key     bool   `json:"key,omitempty"`
	Offset  int    `json:"offset"` // byte offset within the value (or key), before normalization
	Length  int    `json:"length"` // bytes of the original value concerned; 0 for the whole value
	Rune    rune   `json:"rune"`   // the code point concerned; -1 when not one code point
	Rule    string `json:"rule"`   // stable id, e.g. "unicode.control", "unicode.nfc"
	Action  string `json:"action"` // reject, strip, normalize or flag
	Message string `json:"message"`
	Reject  bool   `json:"reject"` // true: the record must be quarantined
}

// Stats counts what the stage saw in a batch. Fields are summed by the caller.
type Stats struct {
	Records    int64 `json:"records"`
	NonASCII   int64 `json:"non_ascii"`
	Controls   int64 `json:"control_characters"`
	Normalized int64 `json:"normalized"`
	Rejected   int64 `json:"rejected"`
}

// Add sums o into s.
func (s *Stats) Add(o Stats) {
	s.Records += o.Records
	s.NonASCII += o.NonASCII
	s.Controls += o.Controls
	s.Normalized += o.Normalized
	s.Rejected += o.Rejected
}

// String renders the stats the way the run summary prints them.
func (s Stats) String() string {
	return fmt.Sprintf("%s records, %s contained non-ASCII, %s contained control characters, %s normalized, %s rejected",
		thousands(s.Records), thousands(s.NonASCII), thousands(s.Controls), thousands(s.Normalized), thousands(s.Rejected))
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := 0; i < len(s); i++ {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Record normalizes every string of a decoded record under the Default
// profile (every field text, NFC). See Profile.Record.
func Record(v any, st *Stats) (any, []Finding) { return Default.Record(v, st) }

// Record normalizes every string (object keys included) of a decoded
// record in place and returns what it found. v is a value as produced by
// pawl's JSON decoder: map[string]any, []any, string, json.Number, bool or
// nil. The returned value replaces v (a top-level string may change). The
// record must be quarantined when any finding has Reject set; findings are
// in walk order (keys sorted), within a value by offset.
func (p *Profile) Record(v any, st *Stats) (any, []Finding) {
	st.Records++
	if plain(v) && (!p.plainWork || p.plainClean(v)) {
		// The common case: nothing but printable ASCII. No pointers are
		// built and nothing is allocated.
		return v, nil
	}
	w := walker{p: p}
	out := w.value(v, "", field{})
	if w.nonASCII {
		st.NonASCII++
	}
	if w.controls {
		st.Controls++
	}
	if w.changed {
		st.Normalized++
	}
	for _, f := range w.findings {
		if f.Reject {
			st.Rejected++
			break
		}
	}
	return out, w.findings
}

// PlainRecord is Record for a record that the caller knows holds nothing
// but printable ASCII in its strings and keys (engine/records.ScanFlat's
// records): when the profile leaves every such record unchanged and finds
// nothing in it (no field needs reference values or lower-casing), it
// counts the record in st as Record would and returns true. Otherwise it
// counts nothing and returns false, and the caller takes the record
// through Record.
func (p *Profile) PlainRecord(st *Stats) bool {
	if p.plainWork {
		return false
	}
	st.Records++
	return true
}

// Field runs one value through the boundary as the field at pointer would
// be: the value and what was found.
func (p *Profile) Field(pointer, s string) (string, []Finding) {
	return p.value(s, p.fieldFor(pointer, field{}), pointer, false, nil)
}

// plain reports whether every string of v (keys included) is printable
// ASCII, so that the boundary has nothing to do.
func plain(v any) bool {
	switch t := v.(type) {
	case string:
		return plainString(t)
	case []any:
		for _, x := range t {
			if !plain(x) {
				return false
			}
		}
	case map[string]any:
		for k, x := range t {
			if !plainString(k) || !plain(x) {
				return false
			}
		}
	}
	return true
}

const (
	lsb   = 0x0101010101010101
	msb   = 0x8080808080808080
	space = 0x20 * lsb
)

// plainString reports whether s is printable ASCII (0x20-0x7E) only. It
// tests eight bytes at a time: a byte is out of range when its high bit is
// set, when subtracting 0x20 borrows (it is below 0x20), or when adding 1
// sets its high bit (it is 0x7F). The borrow and carry tricks can only
// misfire next to a byte that is itself out of range, so the test is exact.
func plainString(s string) bool {
	i := 0
	for ; i+16 <= len(s); i += 16 {
		x := load64(s, i)
		y := load64(s, i+8)
		if (x|(x-space)&^x|(x+lsb)|y|(y-space)&^y|(y+lsb))&msb != 0 {
			return false
		}
	}
	for ; i+8 <= len(s); i += 8 {
		x := load64(s, i)
		if (x|(x-space)&^x|(x+lsb))&msb != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}

// load64 reads 8 bytes little-endian; the compiler merges it into one load.
func load64(s string, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// plainClean reports whether a plain record needs nothing from the fields
// that are checked even when ASCII: reference values and lower-casing.
func (p *Profile) plainClean(v any) bool {
	for i := range p.plainPtrs {
		pf := &p.plainPtrs[i]
		x, ok := jsonptr.Get(v, pf.tokens)
		if ok && !plainFieldClean(x, &pf.f) {
			return false
		}
	}
	return true
}

func plainFieldClean(v any, f *field) bool {
	switch t := v.(type) {
	case string:
		if f.lower {
			for i := 0; i < len(t); i++ {
				if t[i] >= 'A' && t[i] <= 'Z' {
					return false
				}
			}
		}
		return f.refs == nil || f.refs.values[t]
	case []any:
		for _, x := range t {
			if !plainFieldClean(x, f) {
				return false
			}
		}
	case map[string]any:
		for _, x := range t {
			if !plainFieldClean(x, f) {
				return false
			}
		}
	}
	return true
}

type walker struct {
	p        *Profile
	findings []Finding
	nonASCII bool
	controls bool
	changed  bool
}

// keyField is how object keys are treated: text on one line.
var keyField = field{class: Text, singleLine: true}

func (w *walker) value(v any, ptr string, f field) any {
	switch t := v.(type) {
	case string:
		return w.str(t, ptr, f, false)
	case []any:
		for i := range t {
			child := ptr + "/" + strconv.Itoa(i)
			t[i] = w.value(t[i], child, w.p.fieldFor(child, f))
		}
		return t
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys) // findings in a deterministic order
		type member struct {
			k, nk string
			v     any
		}
		ms := make([]member, 0, len(keys))
		for _, k := range keys {
			child := ptr + "/" + EscapePointer(k)
			nk := w.str(k, child, keyField, true)
			named := ptr + "/" + EscapePointer(nk)
			ms = append(ms, member{k, nk, w.value(t[k], child, w.p.fieldFor(named, f))})
		}
		for _, m := range ms {
			if m.nk != m.k {
				delete(t, m.k)
			}
		}
		for _, m := range ms {
			if _, clash := t[m.nk]; clash && m.nk != m.k {
				w.findings = append(w.findings, Finding{Pointer: ptr + "/" + EscapePointer(m.k), Key: true, Rune: -1, Rule: "unicode.key_collision", Action: "reject", Reject: true,
					Message: fmt.Sprintf("key %q normalizes to %q, which is also a key of this object", m.k, m.nk)})
			}
			t[m.nk] = m.v
		}
		return t
	default:
		return v
	}
}

func (w *walker) str(s, ptr string, f field, key bool) string {
	if plainString(s) && f.refs == nil && !f.lower {
		return s
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			w.nonASCII = true
			break
		}
	}
	out, fs := w.p.value(s, f, ptr, key, nil)
	for _, x := range fs {
		if x.Rule == hzControl.rule() {
			w.controls = true
		}
	}
	if out != s {
		w.changed = true
	}
	w.findings = append(w.findings, fs...)
	return out
}

// EscapePointer escapes one reference token per RFC 6901.
func EscapePointer(tok string) string { return jsonptr.Escape(tok) }

// maxPerRule bounds the findings listed per rule and value; the rest are
// counted in one summary finding, so that a hostile value cannot blow up
// the quarantine.
const maxPerRule = 16

// change is one region that a step rewrote: [in0,in1) of its input became
// [out0,out1) of its output.
type change struct{ in0, in1, out0, out1 int }

// offsetMap maps offsets of a step's output back to its input.
type offsetMap []change

func (m offsetMap) back(o int) int {
	delta := 0
	for _, c := range m {
		if o < c.out0 {
			break
		}
		if o < c.out1 {
			return c.in0
		}
		delta = c.in1 - c.out1
	}
	return o + delta
}

// edit replaces s[off:end] by repl.
type edit struct {
	off, end int
	repl     string
}

// run is the state of one value crossing the boundary.
type run struct {
	p        *Profile
	f        field
	ptr      string
	key      bool
	orig     string
	maps     []offsetMap // orig → ... → current string
	findings []Finding
	// about is, for a hazard finding (by its index in findings), the code
	// point it was about in the string it was found in, -1 when it spans
	// more than one: an offset of the original can stand for several
	// characters once a rewrite (lower-casing, normalization) made them.
	about    map[int]rune
	counts   [numSlots]int
	extra    [numSlots]Finding // the first finding not listed, per rule
	rejected bool
	// explain collects every finding, uncapped, for Explain.
	explain bool
}

// Finding slots beyond the hazards, for the per-rule cap.
const (
	ruleNorm  = int(numHazards) + iota // unicode.nfc / unicode.nfkc
	ruleLower                          // unicode.lowercase
	ruleUTF8                           // unicode.invalid_utf8
	ruleOther                          // unicode.unstable
	numSlots
)

// origRune returns c when the original value has it at offset o, else -1:
// a later pass can find a code point that stripping and normalization made.
func (r *run) origRune(o int, c rune) rune {
	if o >= 0 && o < len(r.orig) && strings.HasPrefix(r.orig[o:], string(c)) {
		return c
	}
	return -1
}

// back maps an offset of the current string to the original value.
func (r *run) back(o int) int {
	for i := len(r.maps) - 1; i >= 0; i-- {
		o = r.maps[i].back(o)
	}
	return o
}

func (r *run) noun() string {
	if r.key {
		return "key"
	}
	return "value"
}

// add records f (listed, or counted past maxPerRule) and says whether it
// was listed.
func (r *run) add(slot int, f Finding) bool {
	f.Pointer, f.Key = r.ptr, r.key
	if f.Reject {
		r.rejected = true
	}
	r.counts[slot]++
	if r.counts[slot] > maxPerRule && !r.explain {
		if r.counts[slot] == maxPerRule+1 {
			r.extra[slot] = f
		}
		return false
	}
	r.findings = append(r.findings, f)
	return true
}

// hazardAt reports hazard h found at [off,end) of the current string with
// action a. Offsets are mapped back to the original value.
func (r *run) hazardAt(h hazard, cur string, off, end int, a Action, subject, extra string) {
	o := r.back(off)
	n := r.back(end) - o
	ru, at := rune(-1), rune(-1)
	if c, size := utf8.DecodeRuneInString(cur[off:]); size == end-off {
		ru, at = r.origRune(o, c), c
	}
	if !strings.HasPrefix(r.orig[o:], cur[off:end]) {
		subject += " (made by stripping or normalizing what was there)"
	}
	var did string
	switch a {
	case Reject:
		did = "rejected; remove it at the source"
	case Strip:
		did = "stripped"
	case Normalize:
		did = "replaced by LF"
	case Flag:
		did = "flagged and kept"
	}
	msg := fmt.Sprintf("%s at byte %d of the %s is %s; %s", subject, o, r.noun(), hazards[h].what, did)
	if extra != "" {
		msg = fmt.Sprintf("%s at byte %d of the %s %s; %s", subject, o, r.noun(), extra, did)
	}
	if r.add(int(h), Finding{Offset: o, Length: n, Rune: ru, Rule: h.rule(), Action: a.String(), Reject: a == Reject, Message: msg}) {
		if r.about == nil {
			r.about = map[int]rune{}
		}
		r.about[len(r.findings)-1] = at
	}
}

// value takes s through the boundary as field f.
func (p *Profile) value(s string, f field, ptr string, key bool, ex *run) (string, []Finding) {
	r := &run{p: p, f: f, ptr: ptr, key: key, orig: s}
	if ex != nil {
		r = ex
		r.p, r.f, r.ptr, r.key, r.orig = p, f, ptr, key, s
	}
	if fs := CheckUTF8(s); fs != nil {
		for _, x := range fs {
			r.add(ruleUTF8, x)
		}
		return s, r.finish()
	}
	cur := s
	// Stripping can bring together what was apart (a base and a mark, two
	// isolates), and normalization can produce characters the scan looks
	// for (NFKC maps U+1D6A4 to the dotless i): scan again what came out
	// until nothing changes, so that the output is a fixed point.
	for pass := 0; ; pass++ {
		edits := r.scan(cur, pass)
		if r.rejected {
			// Every reason at once: the identifier checks too, so that
			// a fix at the source fixes everything.
			if f.class == Identifier {
				r.identifier(cur)
			}
			return s, r.finish()
		}
		next := r.apply(cur, edits)
		if r.combiningRun(next) {
			return s, r.finish()
		}
		next = r.normalize(next, pass)
		if f.lower {
			next = r.lowercase(next)
		}
		if next == cur {
			break
		}
		cur = next
		if pass == 3 {
			r.add(ruleOther, Finding{Rune: -1, Rule: "unicode.unstable", Action: "reject", Reject: true,
				Message: fmt.Sprintf("the %s did not settle after 4 passes of the boundary; report this value to the pawl developers", r.noun())})
			return s, r.finish()
		}
	}
	if f.class == Identifier {
		r.identifier(cur)
	}
	if r.rejected {
		return s, r.finish()
	}
	return cur, r.finish()
}

func (r *run) finish() []Finding {
	for slot, n := range r.counts {
		if n > maxPerRule && !r.explain {
			x := r.extra[slot]
			x.Length, x.Rune = 0, -1
			x.Message = fmt.Sprintf("%d more %s findings in this %s from byte %d on are not listed (%s)", n-maxPerRule, x.Rule, r.noun(), x.Offset, x.Action)
			r.findings = append(r.findings, x)
		}
	}
	sort.SliceStable(r.findings, func(i, j int) bool { return r.findings[i].Offset < r.findings[j].Offset })
	return r.findings
}

// seen reports whether rule was already reported at original offset o
// (a later pass sees what the first pass flagged and kept).
func (r *run) seen(rule string, o int) bool {
	for i := range r.findings {
		if r.findings[i].Rule == rule && r.findings[i].Offset == o {
			return true
		}
	}
	return false
}

func isParagraphSeparator(c rune) bool {
	return c == '\n' || c == '\r' || c == 0x2029 || c == 0x85 || (c >= 0x1C && c <= 0x1E)
}

type isolate struct {
	off, end int
	balanced bool
}

// scan finds the hazards of cur and returns the edits their actions ask
// for, sorted by offset.
func (r *run) scan(cur string, pass int) []edit {
	var edits []edit
	acts := &r.p.actions[r.f.class]
	report := func(h hazard, off, end int, subject, extra string) {
		a := acts[h]
		if pass > 0 && r.seen(h.rule(), r.back(off)) {
			return
		}
		r.hazardAt(h, cur, off, end, a, subject, extra)
		switch a {
		case Strip:
			edits = append(edits, edit{off, end, ""})
		case Normalize:
			edits = append(edits, edit{off, end, "\n"})
		}
	}
	var isolates []isolate
	var open []int
	closeParagraph := func() {
		open = open[:0]
	}
	prev := rune(-1) // previous code point, for variation selectors
	for i := 0; i < len(cur); {
		c := cur[i]
		if c >= 0x20 && c < 0x7F {
			prev = rune(c)
			i++
			continue
		}
		ru, size := utf8.DecodeRuneInString(cur[i:])
		end := i + size
		switch {
		case ru == '\t':
			report(hzTab, i, end, Describe(ru), "")
		case ru == '\n':
			if r.f.singleLine {
				report(hzSingleLine, i, end, Describe(ru), "")
			}
		case ru == '\r' || ru == 0x2028 || ru == 0x2029:
			subject := Describe(ru)
			if ru == '\r' && end < len(cur) && cur[end] == '\n' {
				end++
				subject = "CRLF (U+000D U+000A)"
			}
			if r.f.singleLine {
				report(hzSingleLine, i, end, subject, "")
			} else {
				report(hzNewline, i, end, subject, "")
			}
		case ru < 0x20 || ru == 0x7F || (ru >= 0x80 && ru <= 0x9F):
			report(hzControl, i, end, Describe(ru), "")
		case ru == 0xAD:
			report(hzSoftHyphen, i, end, Describe(ru), "")
		case ru == 0xFEFF:
			report(hzBOM, i, end, Describe(ru), "")
		case ru >= 0x202A && ru <= 0x202E:
			report(hzBidi, i, end, Describe(ru), "")
		case ru >= 0x2066 && ru <= 0x2069:
			if ru == 0x2069 {
				if n := len(open); n > 0 {
					isolates[open[n-1]].balanced = true
					open = open[:n-1]
					isolates = append(isolates, isolate{i, end, true})
				} else {
					isolates = append(isolates, isolate{i, end, false})
				}
			} else if len(open) < 125 { // UAX #9 max_depth
				open = append(open, len(isolates))
				isolates = append(isolates, isolate{i, end, false})
			} else {
				isolates = append(isolates, isolate{i, end, false})
			}
		case ru == 0x200E || ru == 0x200F || ru == 0x061C:
			report(hzBidiMark, i, end, Describe(ru), "")
		case ru == 0x200B || ru == 0x200C || ru == 0x2060 || ru == 0x180E:
			report(hzZeroWidth, i, end, Describe(ru), "")
		case ru == 0x0130 || ru == 0x0131 || (ru > 0x131 && isTurkic(ru)):
			report(hzLocaleCase, i, end, Describe(ru), "")
		case ru < 0x34F && ru != 0xA9 && ru != 0xAE:
			// Latin, IPA and the common combining marks: below U+034F
			// COMBINING GRAPHEME JOINER nothing else is default ignorable
			// and only © and ® are pictographs.
		default:
			if e := emojiAt(cur, i, prev); e > i {
				start := i
				if (ru == 0xFE0F || ru == 0x20E3) && i > 0 && cur[i-1] == byte(prev) {
					start = i - 1 // a keycap's ASCII base
				}
				report(hzEmoji, start, e, emojiSubject(cur[start:e]), "")
				prev, _ = utf8.DecodeLastRuneInString(cur[i:e])
				i = e
				continue
			}
			if ru == 0x200D {
				report(hzZeroWidth, i, end, Describe(ru), "")
			} else if isDefaultIgnorable(ru) && !variationAfterBase(ru, prev) {
				report(hzInvisible, i, end, Describe(ru), "")
			}
		}
		if isParagraphSeparator(ru) {
			closeParagraph()
		}
		prev = ru
		i = end
	}
	for _, iso := range isolates {
		ru, _ := utf8.DecodeRuneInString(cur[iso.off:])
		if iso.balanced {
			report(hzBidiIsolate, iso.off, iso.end, Describe(ru), "")
		} else {
			report(hzBidiUnbalanced, iso.off, iso.end, Describe(ru), "")
		}
	}
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].off < edits[j].off })
	return edits
}

// variationAfterBase: a variation selector (or Mongolian free variation
// selector) that follows a visible character selects its glyph and is
// legitimate; at the start of a value, or after another invisible, it can
// only hide.
func variationAfterBase(r, prev rune) bool {
	vs := (r >= 0xFE00 && r <= 0xFE0F) || (r >= 0xE0100 && r <= 0xE01EF) || (r >= 0x180B && r <= 0x180D) || r == 0x180F
	return vs && prev >= 0x20 && prev != 0x7F && !isDefaultIgnorable(prev) && !unicode.Is(unicode.Cc, prev)
}

// emojiAt returns the end of the emoji sequence starting at i, or i when
// none starts there. A sequence is a character with emoji presentation (by
// default, or by a following U+FE0F, or a keycap), a flag (two regional
// indicators), extended by modifiers, variation selectors, keycap marks and
// tags, and joined by ZWJ to further pictographs (UTS #51, UAX #29 GB11).
// prev is the code point before i: an ASCII digit, # or * before U+FE0F
// U+20E3 makes a keycap, which scan sees from the variation selector on.
func emojiAt(s string, i int, prev rune) int {
	r, size := utf8.DecodeRuneInString(s[i:])
	j := i + size
	switch {
	case isRegionalIndicator(r):
		if r2, n2 := utf8.DecodeRuneInString(s[j:]); isRegionalIndicator(r2) {
			j += n2
		}
		return extendEmoji(s, j)
	case isEmojiPresentation(r):
	case isExtPict(r) || isEmojiModifier(r):
		next, _ := utf8.DecodeRuneInString(s[j:])
		if next != 0xFE0F && next != 0x200D && !isEmojiModifier(next) {
			return i
		}
	case r == 0xFE0F || r == 0x20E3:
		// keycap: "1" U+FE0F U+20E3 — the base was passed as ASCII.
		if (prev >= '0' && prev <= '9') || prev == '#' || prev == '*' {
			return extendEmoji(s, j)
		}
		return i
	default:
		return i
	}
	return extendEmoji(s, j)
}

func extendEmoji(s string, j int) int {
	for j < len(s) {
		r, n := utf8.DecodeRuneInString(s[j:])
		switch {
		case r == 0xFE0F || r == 0x20E3 || isEmojiModifier(r) || (r >= 0xE0020 && r <= 0xE007F):
			j += n
		case r == 0x200D:
			r2, n2 := utf8.DecodeRuneInString(s[j+n:])
			if !isExtPict(r2) && !isEmojiPresentation(r2) {
				return j
			}
			j += n + n2
		default:
			return j
		}
	}
	return j
}

func emojiSubject(seq string) string {
	n := utf8.RuneCountInString(seq)
	if n == 1 {
		r, _ := utf8.DecodeRuneInString(seq)
		return "emoji " + Describe(r)
	}
	var parts []string
	for k, r := range []rune(seq) {
		if k == 8 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, Describe(r))
	}
	return fmt.Sprintf("emoji sequence %q (%s)", seq, strings.Join(parts, ", "))
}

// apply performs the edits on cur and records the offset map.
func (r *run) apply(cur string, edits []edit) string {
	if len(edits) == 0 {
		return cur
	}
	var b strings.Builder
	b.Grow(len(cur))
	var m offsetMap
	last := 0
	for _, e := range edits {
		if e.off < last {
			continue // overlapping (cannot happen: scan reports disjoint spans)
		}
		b.WriteString(cur[last:e.off])
		m = append(m, change{e.off, e.end, b.Len(), b.Len() + len(e.repl)})
		b.WriteString(e.repl)
		last = e.end
	}
	b.WriteString(cur[last:])
	r.maps = append(r.maps, m)
	return b.String()
}

// maxNonStarters is the UAX #15 stream-safe limit. Beyond it x/text would
// insert U+034F COMBINING GRAPHEME JOINER, changing the text; beyond it
// too, a string is a rendering attack ("Zalgo"), not writing.
const maxNonStarters = 30

// combiningRun reports (and rejects) runs of more than 30 combining marks.
// Each code point counts as the non-starters of its compatibility
// decomposition (so that NFKC cannot make a run longer than what was
// counted); combining marks of class 0 count too.
func (r *run) combiningRun(s string) bool {
	// Below U+0300 (lead bytes up to 0xCB) a code point decomposes to at
	// most one trailing non-starter, and the next starter resets the run.
	if !strings.ContainsFunc(s, func(c rune) bool { return c >= 0x300 }) {
		return false
	}
	run, start := 0, 0
	found := false
	for i := 0; i < len(s); {
		if s[i] < 0x80 {
			run = 0
			i++
			continue
		}
		p := norm.NFKD.PropertiesString(s[i:])
		size := p.Size()
		if size == 0 {
			size = 1
		}
		c, _ := utf8.DecodeRuneInString(s[i:])
		lead, trail, all := nonStarters(p.Decomposition(), c, p.CCC())
		if run == 0 {
			start = i
		}
		run += lead
		if run > maxNonStarters {
			end := i + size
			for end < len(s) {
				q := norm.NFKD.PropertiesString(s[end:])
				c2, n2 := utf8.DecodeRuneInString(s[end:])
				l, _, _ := nonStarters(q.Decomposition(), c2, q.CCC())
				if l == 0 {
					break
				}
				run += l
				end += n2
			}
			o := r.back(start)
			r.add(int(hzCombining), Finding{Offset: o, Length: r.back(end) - o, Rune: -1, Rule: hzCombining.rule(), Action: "reject", Reject: true,
				Message: fmt.Sprintf("%d combining marks in a row from byte %d of the %s (more than %d is not writing but a rendering attack); rejected",
					run, o, r.noun(), maxNonStarters)})
			found = true
			run = 0
			i = end
			continue
		}
		if !all {
			run = trail
			if trail > 0 {
				start = i
			}
		}
		i += size
	}
	return found
}

// nonStarters counts the leading and trailing non-starters of a code
// point's decomposition d (nil: the code point itself, of class ccc).
func nonStarters(d []byte, c rune, ccc uint8) (lead, trail int, all bool) {
	if d == nil {
		if ccc != 0 || unicode.Is(unicode.M, c) {
			return 1, 1, true
		}
		return 0, 0, false
	}
	var cls []bool
	for k := 0; k < len(d); {
		q := norm.NFKD.Properties(d[k:])
		dr, n := utf8.DecodeRune(d[k:])
		cls = append(cls, q.CCC() != 0 || unicode.Is(unicode.M, dr))
		k += n
	}
	for lead < len(cls) && cls[lead] {
		lead++
	}
	for trail < len(cls) && cls[len(cls)-1-trail] {
		trail++
	}
	return lead, trail, lead == len(cls)
}

// Span is a region of a string that normalization rewrote: Length bytes
// from Offset became Out.
type Span struct {
	Offset, Length int
	Out            string
}

// NormalizeString brings s to form and returns the spans it changed. It works
// segment by segment between the form's boundaries (where normalization
// of one side cannot affect the other), so the output equals form.String(s)
// and each change is located.
func NormalizeString(form norm.Form, s string) (string, []Span) {
	if form.IsNormalString(s) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	var spans []Span
	for i := 0; i < len(s); {
		n := form.NextBoundaryInString(s[i:], true)
		if n <= 0 {
			n = len(s) - i
		}
		seg := s[i : i+n]
		if form.IsNormalString(seg) {
			b.WriteString(seg)
		} else {
			out := form.String(seg)
			spans = append(spans, Span{i, n, out})
			b.WriteString(out)
		}
		i += n
	}
	return b.String(), spans
}

// normalize brings s to the field's form and reports each changed span.
func (r *run) normalize(s string, pass int) string {
	form := r.p.forms[r.f.class]
	out, spans := NormalizeString(form, s)
	if spans == nil {
		return s
	}
	name := "NFC"
	if form == norm.NFKC {
		name = "NFKC"
	}
	var m offsetMap
	delta := 0
	for _, sp := range spans {
		seg := s[sp.Offset : sp.Offset+sp.Length]
		o := r.back(sp.Offset)
		r.add(ruleNorm, Finding{Offset: o, Length: r.back(sp.Offset+sp.Length) - o, Rune: firstRune(seg), Rule: "unicode." + strings.ToLower(name), Action: "normalize",
			Message: fmt.Sprintf("normalized to %s at byte %d of the %s: %q (%s) became %q (%s)", name, o, r.noun(), seg, codePoints(seg), sp.Out, codePoints(sp.Out))})
		m = append(m, change{sp.Offset, sp.Offset + sp.Length, sp.Offset + delta, sp.Offset + delta + len(sp.Out)})
		delta += len(sp.Out) - sp.Length
	}
	r.maps = append(r.maps, m)
	return out
}

func firstRune(s string) rune {
	c, _ := utf8.DecodeRuneInString(s)
	return c
}

func codePoints(s string) string {
	var parts []string
	for k, c := range []rune(s) {
		if k == 6 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, Describe(c))
	}
	return strings.Join(parts, ", ")
}

// lowercase applies the profile language's lower-case mapping, then the
// field's form again (lower-casing may leave a string unnormalized).
func (r *run) lowercase(s string) string {
	out := r.p.lowercase.String(s)
	out = r.p.forms[r.f.class].String(out)
	if out == s {
		return s
	}
	r.add(ruleLower, Finding{Rune: -1, Rule: "unicode.lowercase", Action: "normalize",
		Message: fmt.Sprintf("lower-cased with the %s rules: %q became %q", r.p.lang, s, out)})
	r.maps = append(r.maps, offsetMap{{0, len(s), 0, len(out)}})
	return out
}
