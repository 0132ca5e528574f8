package canonjson_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/audit/canonjson"
)

// TestSameAsAuditCanonicalJSON compares CanonicalizeObject with the encoder
// the audit trail has used so far (audit.CanonicalJSON) on the vectors, the
// fuzz corpus and a few thousand generated and mutated inputs: wherever
// both accept an input they must write the same bytes, so that existing
// trails keep their hashes. Where only one accepts, the reason must be one
// of the known, intended differences (TestKnownDifferencesFromAudit).
func TestSameAsAuditCanonicalJSON(t *testing.T) {
	var inputs [][]byte
	for _, v := range loadVectors(t).Vectors {
		inputs = append(inputs, v.input(t))
	}
	inputs = append(inputs, fuzzCorpus(t)...)
	r := rand.New(rand.NewPCG(1, 2))
	for range 4000 {
		g := &gen{r: r}
		g.document()
		inputs = append(inputs, g.b)
		inputs = append(inputs, mutate(r, g.b))
	}
	var both, neither, onlyAudit, onlyOurs int
	why := map[string]int{}
	for _, in := range inputs {
		a, aerr := audit.CanonicalJSON(in)
		c, cerr := canonjson.CanonicalizeObject(in)
		switch {
		case aerr == nil && cerr == nil:
			both++
			if !bytes.Equal(a, c) {
				t.Errorf("%q: audit.CanonicalJSON = %q, CanonicalizeObject = %q", in, a, c)
			}
		case aerr != nil && cerr != nil:
			neither++
		case aerr == nil:
			onlyAudit++
			reason := auditOnly(in, a, cerr)
			why[reason]++
			if reason == "" {
				t.Errorf("%q: audit.CanonicalJSON accepts it as %q, CanonicalizeObject refuses it for no known reason: %v", in, a, cerr)
			}
		default:
			onlyOurs++
			if !strings.Contains(aerr.Error(), "nested deeper than 64 levels") {
				t.Errorf("%q: CanonicalizeObject accepts it as %q, audit.CanonicalJSON refuses it for no known reason: %v", in, c, aerr)
			}
		}
	}
	t.Logf("%d inputs: both accept %d (all equal), both refuse %d, only audit accepts %d, only canonjson accepts %d",
		len(inputs), both, neither, onlyAudit, onlyOurs)
	for reason, n := range why {
		t.Logf("only audit accepts, %d times: %s", n, reason)
	}
	if both < 2000 {
		t.Errorf("only %d inputs accepted by both: the comparison proves little", both)
	}
}

// auditOnly says why audit.CanonicalJSON may accept in (as a) while
// CanonicalizeObject refuses it (with err), or "" when no known reason
// applies.
func auditOnly(in, a []byte, err error) string {
	trimmed := bytes.TrimSpace(in)
	switch {
	case strings.Contains(err.Error(), "lone surrogate") && bytes.ContainsRune(a, utf8.RuneError):
		return "audit turns lone surrogates into U+FFFD"
	case len(trimmed) == 0:
		return "audit takes empty input as {}"
	case len(bytes.Trim(in, " \t\r\n")) != len(trimmed):
		return "audit trims Unicode whitespace, not only JSON's"
	}
	return ""
}

// TestKnownDifferencesFromAudit lists, input by input, where
// audit.CanonicalJSON and CanonicalizeObject differ. Only acceptance
// differs, never the bytes written: what audit stored (a U+FFFD for a lone
// surrogate, {} for empty details) is canonical under both.
func TestKnownDifferencesFromAudit(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	deep64empty := strings.Repeat(`{"a":`, 63) + "{}" + strings.Repeat("}", 63)
	for _, tt := range []struct {
		in        string
		audit     string // "" when audit refuses
		canonjson string // "" when canonjson refuses
	}{
		{`{"a":"\ud800"}`, "{\"a\":\"\uFFFD\"}", ""},
		{`{"a":"\udc00x"}`, "{\"a\":\"\uFFFDx\"}", ""},
		{`{"a":"\ud800\u0041"}`, "{\"a\":\"\uFFFDA\"}", ""},
		{``, `{}`, ""},
		{" \n", `{}`, ""},
		{"\v{}", `{}`, ""},
		{"\u00a0{}\u0085", `{}`, ""},
		{"{}\u3000", `{}`, ""},
		{deep(63), deep(63), deep(63)},
		{deep(64), "", deep(64)},
		// audit counts a scalar as a level: 64 nested objects pass when
		// the innermost is empty, not when it holds a number.
		{deep64empty, deep64empty, deep64empty},
		{deep(1000), "", deep(1000)},
	} {
		a, aerr := audit.CanonicalJSON([]byte(tt.in))
		c, cerr := canonjson.CanonicalizeObject([]byte(tt.in))
		if (aerr == nil) != (tt.audit != "") || string(a) != tt.audit {
			t.Errorf("audit.CanonicalJSON(%.40q) = %.40q, %v; want %.40q", tt.in, a, aerr, tt.audit)
		}
		if (cerr == nil) != (tt.canonjson != "") || string(c) != tt.canonjson {
			t.Errorf("CanonicalizeObject(%.40q) = %.40q, %v; want %.40q", tt.in, c, cerr, tt.canonjson)
		}
	}
}

// fuzzCorpus reads the inputs of testdata/fuzz/FuzzCanonicalize.
func fuzzCorpus(t *testing.T) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzCanonicalize", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fuzz corpus: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a one-value corpus file", f)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, []byte(s))
	}
	return out
}

// gen writes random JSON texts that exercise the canonical rules: key
// order, escapes of every kind, number spellings, whitespace, and now and
// then a duplicate key, a lone surrogate, deep nesting or a stray byte.
type gen struct {
	r *rand.Rand
	b []byte
}

var (
	genKeys = []string{`a`, `b`, `\u0061`, `A`, `ab`, `é`, `\u00e9`, `😀`, `\ud83d\ude00`, "\ue000", `\ue000`,
		` `, `\n`, `\"`, `\\`, `\/`, `/`, `\u0000`, `\u001F`, "\x7f", "\u2028", `\u2029`, `z`, ``, `<&>`, `\uffff`}
	genPieces = []string{`x`, `Hello`, ` `, `é`, `😀`, "\u2028", "\u2029", "\ue000", "\ufffd", "\ufeff", "\x7f", `<`, `>`, `&`, `/`, `'`,
		`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u0000`, `\u001f`, `\u001F`, `\u007F`, `\u00e9`, `\u00E9`,
		`\u2028`, `\u2029`, `\u003c`, `\u0026`, `\ud83d\ude00`, `\uD83D\uDE00`, `\udbff\udfff`, `\u0041`, `\ufffd`}
	genRare    = []string{`\ud800`, `\udc00`, `\ud800\u0041`, `\ude00\ud83d`}
	genNumbers = []string{`0`, `-0`, `-0.0`, `-0e5`, `1`, `1.0`, `1.50`, `1e3`, `1E3`, `1e+3`, `1E-03`, `1e400`, `-1e400`,
		`100000000000000000000000000001`, `9007199254740993`, `0.1000000000000000055511151231257827`, `-12.5e-7`, `21.5`}
	genWS = []string{``, ``, ``, ` `, "\t", "\n", "\r\n", "  "}
)

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) ws() { g.b = append(g.b, g.pick(genWS)...) }

func (g *gen) document() {
	if g.r.IntN(50) == 0 {
		g.b = append(g.b, g.pick([]string{"\v", "\u00a0", "\u0085", "\f", "\ufeff"})...)
	}
	g.ws()
	maxDepth := 4
	if g.r.IntN(40) == 0 {
		maxDepth = 70
	}
	if g.r.IntN(10) == 0 {
		g.value(0, maxDepth)
	} else {
		g.object(0, maxDepth)
	}
	g.ws()
}

func (g *gen) value(depth, maxDepth int) {
	switch n := g.r.IntN(10); {
	case depth < maxDepth && n < 2:
		g.object(depth+1, maxDepth)
	case depth < maxDepth && n < 4:
		g.array(depth+1, maxDepth)
	case n < 7:
		g.str(genPieces, 6)
	case n < 9:
		g.b = append(g.b, g.pick(genNumbers)...)
	default:
		g.b = append(g.b, g.pick([]string{"true", "false", "null"})...)
	}
}

func (g *gen) object(depth, maxDepth int) {
	g.b = append(g.b, '{')
	n := g.r.IntN(6)
	if maxDepth > 4 {
		n = 1
	}
	used := map[string]bool{}
	for i := 0; i < n; i++ {
		k := g.pick(genKeys)
		if used[k] && g.r.IntN(20) != 0 {
			continue
		}
		used[k] = true
		if i > 0 {
			g.b = append(g.b, ',')
		}
		g.ws()
		g.b = append(g.b, '"')
		g.b = append(g.b, k...)
		g.b = append(g.b, '"')
		g.ws()
		g.b = append(g.b, ':')
		g.ws()
		g.value(depth, maxDepth)
		g.ws()
	}
	g.b = append(g.b, '}')
}

func (g *gen) array(depth, maxDepth int) {
	g.b = append(g.b, '[')
	for i := range g.r.IntN(4) {
		if i > 0 {
			g.b = append(g.b, ',')
		}
		g.ws()
		g.value(depth, maxDepth)
		g.ws()
	}
	g.b = append(g.b, ']')
}

func (g *gen) str(pieces []string, n int) {
	g.b = append(g.b, '"')
	for range g.r.IntN(n) {
		if g.r.IntN(100) == 0 {
			g.b = append(g.b, g.pick(genRare)...)
		} else {
			g.b = append(g.b, g.pick(pieces)...)
		}
	}
	g.b = append(g.b, '"')
}

// mutate returns a copy of b with one to three bytes deleted, inserted or
// replaced.
func mutate(r *rand.Rand, b []byte) []byte {
	m := bytes.Clone(b)
	const stray = "{}[]\",:\\u0e -+.1aE\x00\x1f\x7f\x80\xc0\xed\xef\xff"
	for range 1 + r.IntN(3) {
		if len(m) == 0 {
			m = append(m, stray[r.IntN(len(stray))])
			continue
		}
		i := r.IntN(len(m))
		switch r.IntN(3) {
		case 0:
			m = append(m[:i], m[i+1:]...)
		case 1:
			m = append(m[:i], append([]byte{stray[r.IntN(len(stray))]}, m[i:]...)...)
		default:
			m[i] = stray[r.IntN(len(stray))]
		}
	}
	return m
}
