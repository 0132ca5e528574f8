package zxcvbn_test

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/esign/internal/zxcvbn/match"
	"github.com/pawl-dev/pawl/engine/esign/internal/zxcvbn/matching"
	"github.com/pawl-dev/pawl/engine/esign/internal/zxcvbn/scoring"
	upmatch "github.com/trustelem/zxcvbn/match"
	upmatching "github.com/trustelem/zxcvbn/matching"
	upscoring "github.com/trustelem/zxcvbn/scoring"
)

// TestSameAsUpstream: pawl's copy (PAWL.md) weighs passphrases as the
// upstream module it was copied from, for the passphrases the esign tests
// use and 120 made of words, names, years, keyboard runs,
// repeats and random characters, with and without what is known about the
// operator: the same matches (compared as a set: upstream ranges over maps
// of dictionaries, so their order, and with it the sequence scoring picks
// among equal spans, varies from run to run in upstream too), and, given
// the same matches in the same order, the same guesses and sequence.
func TestSameAsUpstream(t *testing.T) {
	cases := []string{
		"aaaaaaaaaaaa", "alice-example-2026", "aliceexample2026", "password1234", "qwertyuiopasdf",
		"abcdefghijklmnop", "P@ssw0rd2024!", "alice-example-2026 in may", "Alice Example 1990",
		"correct horse battery staple", "Tr0ub4dor&3", "zxcvbn", "1q2w3e4r5t", "13/12/1999 monday",
		"drowssap", "été à paris", "日本語のパスフレーズ", "",
	}
	parts := []string{"the", "password", "michael", "smith", "dragon", "1987", "2031", "qwerty", "asdf", "zxcv",
		"!!!", "aaaa", "abcd", "9876", "j0hn", "p@ss", "mary", "london", "shadow", "x", "Q7", "ü", "-", " ", "."}
	rng := rand.New(rand.NewPCG(16, 2026))
	for range 120 {
		var b strings.Builder
		for range 1 + rng.IntN(5) {
			if rng.IntN(5) == 0 {
				for range 1 + rng.IntN(6) {
					b.WriteByte(byte(33 + rng.IntN(94)))
				}
				continue
			}
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		cases = append(cases, b.String())
	}
	known := []string{"alice", "alice example", "example", "aliceexample", "2026"}
	asSet := func(v any) []string {
		var ms []json.RawMessage
		b, _ := json.Marshal(v)
		if err := json.Unmarshal(b, &ms); err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = string(m)
		}
		sort.Strings(out)
		return out
	}
	for i, pass := range cases {
		inputs := []string(nil)
		if i%2 == 1 {
			inputs = known
		}
		got, want := matching.Omnimatch(pass, inputs), upmatching.Omnimatch(pass, inputs)
		if g, w := asSet(got), asSet(want); !slices.Equal(g, w) {
			t.Fatalf("%q: %d matches, upstream %d:\n%s\nupstream\n%s", pass, len(g), len(w), strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
		if len(want) == 0 {
			continue
		}
		// Upstream's matches in upstream's order, scored by both.
		order, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var mine []*match.Match
		var theirs []*upmatch.Match
		if err := json.Unmarshal(order, &mine); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(order, &theirs); err != nil {
			t.Fatal(err)
		}
		gs, ws := scoring.MostGuessableMatchSequence(pass, mine, false), upscoring.MostGuessableMatchSequence(pass, theirs, false)
		gj, _ := json.Marshal(gs.Sequence)
		wj, _ := json.Marshal(ws.Sequence)
		if gs.Guesses != ws.Guesses || string(gj) != string(wj) {
			t.Fatalf("%q: guesses %v, upstream %v; sequence\n%s\nupstream\n%s", pass, gs.Guesses, ws.Guesses, gj, wj)
		}
	}
}
