package finding

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/pawl-dev/pawl/audit"
)

// TestReasonsDigestIsTheSpec: the digest written directly in canonical form
// is audit.ReasonsDigest over the findings' JSON, for findings with every
// kind of string and with and without offsets.
func TestReasonsDigestIsTheSpec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "a", "é\u2028<&>\"\\\x00\x1f\x7f", "/x~1y", "schema", "type: want number, got \"hot\""}
	pick := func() string { return strs[r.IntN(len(strs))] }
	gen := func() []Finding {
		var fs []Finding
		for range r.IntN(4) {
			f := Finding{Stage: pick(), Rule: pick(), Pointer: pick(), Message: pick()}
			if r.IntN(2) == 0 {
				f.Offset = at(r.Int64N(1 << 40))
			}
			fs = append(fs, f)
		}
		return fs
	}
	for range 500 {
		a, q := gen(), gen()
		var aj, qj []byte
		if len(a) > 0 {
			aj, _ = json.Marshal(a)
		}
		if len(q) > 0 {
			qj, _ = json.Marshal(q)
		}
		want, err := audit.ReasonsDigest(aj, qj)
		if err != nil {
			t.Fatal(err)
		}
		if got := ReasonsDigest(a, q); got != want {
			t.Fatalf("actions %+v reasons %+v: digest %x, the spec says %x", a, q, got, want)
		}
	}
}
