package esign

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/engine/esign/internal/zxcvbn"
	"github.com/pawl-dev/pawl/engine/esign/internal/zxcvbn/match"
)

// Passphrase strength (21 CFR 11.300(d)): a length alone lets
// "aaaaaaaaaaaa" through. A new passphrase is also weighed with zxcvbn,
// which estimates how many guesses an attacker who knows common passwords,
// words, names, keyboard patterns, repeats, sequences and dates needs, and
// scores it from 0 to 4. What the attacker is assumed to know about this
// operator — their id, their printed name and its parts, every year, and on
// a change the old passphrase — is given to zxcvbn as words of its own, so
// "alice-example-2026" is weak for alice.

// MaxScore is the highest strength score.
const MaxScore = 4

// strengthRunes bounds what zxcvbn weighs: its matching grows faster than
// linearly with the length (a 1,024-byte repeat takes seconds), and a
// passphrase whose first 100 characters are strong is strong.
const strengthRunes = 100

// WeakPassphraseError says why a passphrase was refused for being easy to
// guess. Its message never repeats the passphrase: it names positions and
// what is found there.
type WeakPassphraseError struct {
	Score, Min int
	Guesses    float64  // zxcvbn's estimate
	Reasons    []string // what made it weak, in plain words, in passphrase order
	Truncated  bool     // only the first strengthRunes characters were weighed
}

func (e *WeakPassphraseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the passphrase is too easy to guess: it scores %d of %d (about 10^%d guesses), and at least %d is required (esign.passphrase_min_score)",
		e.Score, MaxScore, int(math.Log10(math.Max(e.Guesses, 1))), e.Min)
	if e.Truncated {
		fmt.Fprintf(&b, "; pawl weighs its first %d characters", strengthRunes)
	}
	b.WriteString(". What makes it weak: ")
	if len(e.Reasons) == 0 {
		b.WriteString("it is too short for characters that follow no pattern")
	} else {
		b.WriteString(strings.Join(e.Reasons, "; "))
	}
	b.WriteString(". A good one is four or more unrelated words picked at random — not a quotation, a lyric, a name, a date or anything about you — " +
		"20 characters or more; capitals, digits and symbols are not needed")
	return b.String()
}

// Known is what an attacker is assumed to know about the operator whose
// passphrase is weighed: their id, their printed name and, on a change, the
// old passphrase.
type Known struct {
	ID, Name string
	Old      []byte
}

// CheckPassphrase enforces the rules for a new passphrase: valid UTF-8, at
// least MinPassphraseLen characters and at most MaxPassphraseLen bytes, not
// the old passphrase, and, when minScore is above 0, a zxcvbn score of at
// least minScore with what k says counted as words an attacker tries
// first. A passphrase too easy to guess is a *WeakPassphraseError.
func CheckPassphrase(pass []byte, minScore int, k Known) error {
	if !utf8.Valid(pass) {
		return fmt.Errorf("the passphrase is not valid UTF-8")
	}
	if n := utf8.RuneCount(pass); n < MinPassphraseLen {
		return fmt.Errorf("the passphrase has %d characters; at least %d are required (a few unrelated words make a good one)", n, MinPassphraseLen)
	}
	if len(pass) > MaxPassphraseLen {
		return fmt.Errorf("the passphrase is over %d bytes", MaxPassphraseLen)
	}
	if k.Old != nil && string(k.Old) == string(pass) {
		return fmt.Errorf("the new passphrase is the old one: choose another")
	}
	if minScore <= 0 {
		return nil
	}
	s := string(pass)
	truncated := false
	if utf8.RuneCountInString(s) > strengthRunes {
		s, truncated = string([]rune(s)[:strengthRunes]), true
	}
	inputs, kinds := userInputs(k)
	r := zxcvbn.PasswordStrength(s, inputs)
	if r.Score >= minScore {
		return nil
	}
	e := &WeakPassphraseError{Score: r.Score, Min: minScore, Guesses: r.Guesses, Truncated: truncated}
	for _, m := range r.Sequence {
		if why := explain(s, m, kinds); why != "" {
			e.Reasons = append(e.Reasons, why)
		}
	}
	return e
}

// userInputs expands what is known about the operator into the words an
// attacker would try first: the old passphrase; the id and the printed
// name as given, their parts (split at spaces and at '.', '_', '@' and
// '-'), the parts joined by nothing or a separator, in order and
// reversed; and every year from 1900 to 2099 (zxcvbn's own year pattern
// stops at 2019). kinds says what each word is, for the explanation.
func userInputs(k Known) ([]string, map[string]string) {
	var out []string
	kinds := map[string]string{}
	add := func(w, kind string) {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			return
		}
		if _, ok := kinds[w]; ok {
			return // zxcvbn ranks a word by its last occurrence; keep the first
		}
		kinds[w] = kind
		out = append(out, w)
	}
	if k.Old != nil {
		add(string(k.Old), "the old passphrase")
	}
	const who = "the operator's id or printed name"
	add(k.ID, who)
	add(k.Name, who)
	for _, v := range []string{k.ID, k.Name} {
		parts := strings.FieldsFunc(strings.ToLower(v), func(r rune) bool { return strings.ContainsRune(" \t._@-", r) })
		for _, p := range parts {
			add(p, who)
		}
		if len(parts) < 2 || len(parts) > 6 {
			continue
		}
		rev := make([]string, len(parts))
		for i, p := range parts {
			rev[len(parts)-1-i] = p
		}
		for _, sep := range []string{"", "-", "_", ".", " "} {
			add(strings.Join(parts, sep), who)
			add(strings.Join(rev, sep), who)
		}
	}
	for y := 2099; y >= 1900; y-- {
		add(strconv.Itoa(y), "a year")
	}
	return out, kinds
}

// explain says in plain words what one match of zxcvbn's sequence is, at
// which characters, without repeating it; "" for the parts that follow no
// pattern.
func explain(s string, m *match.Match, kinds map[string]string) string {
	if m.I < 0 || m.J < m.I || m.J >= len(s) {
		return ""
	}
	from, to := utf8.RuneCountInString(s[:m.I])+1, utf8.RuneCountInString(s[:m.J+1])
	at := fmt.Sprintf("character %d", from)
	if to > from {
		at = fmt.Sprintf("characters %d–%d", from, to)
	}
	var what string
	switch m.Pattern {
	case "dictionary":
		switch m.DictionaryName {
		case "passwords":
			what = fmt.Sprintf("a common password (number %d on a list of leaked ones)", m.Rank)
		case "english_wikipedia", "us_tv_and_film":
			what = "a common word"
		case "surnames":
			what = "a common surname"
		case "male_names", "female_names":
			what = "a common first name"
		case "user_inputs":
			what = kinds[strings.ToLower(m.MatchedWord)]
			if what == "" {
				what = "something known about the operator"
			}
		default:
			what = "a dictionary word"
		}
		if m.Reversed {
			what += ", spelt backwards"
		}
		if m.L33t {
			what += ", with look-alike substitutions (such as 4 for a, 0 for o)"
		}
	case "spatial":
		what = "neighbouring keys on a keyboard"
	case "repeat":
		what = fmt.Sprintf("a pattern repeated %d times", m.RepeatCount)
	case "sequence":
		what = "a run of consecutive letters or digits"
	case "regex":
		what = "a recent year"
	case "date":
		what = "a date"
	default:
		return ""
	}
	return at + ": " + what
}
