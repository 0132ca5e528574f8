package registry

import (
	"context"
	"strings"
	"testing"
	"unicode"

	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/plugins/internal/plugintest"
)

// TestRegistryFoldsLikeGo: the C module folds as strings.ToLower and trims
// as strings.TrimSpace, over every rune that has a lower case, every
// Unicode space and runes that are neither. The registry lists, in Go's
// lower case, every rune's lower case; each rune that has one must then
// be found, and each rune that is nobody's lower case must not be (so a
// rune the module folds to the wrong one is caught too, unless it is
// another rune's lower case).
func TestRegistryFoldsLikeGo(t *testing.T) {
	p := plugintest.Load(t, "registry.wasm")
	var file strings.Builder
	var ids []string
	want := map[string]bool{} // id -> found
	listed := make([]bool, unicode.MaxRune+1)
	lower := make([]rune, unicode.MaxRune+1)
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if lower[r] = unicode.ToLower(r); lower[r] != r {
			listed[lower[r]] = true
		}
	}
	// Each line is surrounded by a different Unicode space, and spaces that
	// are not trimmed would make the id unknown.
	spaces := []rune{' ', '\t', '\v', '\f', '\r', 0x85, 0xA0, 0x1680, 0x2000, 0x2005, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000}
	k := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !listed[r] {
			continue
		}
		sp := string(spaces[k%len(spaces)])
		k++
		file.WriteString(sp + "<" + string(r) + ">" + sp + "\n")
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		if lower[r] != r {
			id := "<" + string(r) + ">"
			ids, want[id] = append(ids, id), true
		} else if !listed[r] && (r < 0x3000 || r%61 == 0) {
			id := "<" + string(r) + ">"
			ids, want[id] = append(ids, id), false
		}
	}
	// Not spaces: U+200B (zero width space) and U+180E are kept.
	file.WriteString("\u200b<zw>\n\u180e<mvs>\n")
	ids = append(ids, "<zw>", "\u200b<zw>", "<mvs>", "\u180e<mvs>")
	want["<zw>"], want["\u200b<zw>"], want["<mvs>"], want["\u180e<mvs>"] = false, true, false, true

	in, err := plugintest.Instance(t, p, `{"case_insensitive": true}`, map[string][]byte{"registry": []byte(file.String())})
	if err != nil {
		t.Fatal(err)
	}
	b := sandbox.NewBatch(p.Manifest().Fields, len(ids))
	for i, id := range ids {
		b.SetString(colID, i, id)
	}
	v, err := in.Validate(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, x := range v {
		if x.OK != want[ids[i]] {
			if bad++; bad <= 10 {
				t.Errorf("%q (lower case %q): found %v, want %v", ids[i], strings.ToLower(ids[i]), x.OK, want[ids[i]])
			}
		}
	}
	if len(ids) < 3000 {
		t.Fatalf("only %d ids", len(ids))
	}
}
