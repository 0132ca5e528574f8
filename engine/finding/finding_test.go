package finding

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

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

func TestEachLine(t *testing.T) {
	long := strings.Repeat("x", 3<<20) + "\n" // longer than the reader's buffer
	in := "a\n" + long + "c"                  // the last line has no LF
	var got []string
	var nums []int64
	if err := EachLine(strings.NewReader(in), func(n int64, l []byte) (bool, error) {
		got = append(got, string(l))
		nums = append(nums, n)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != "a\n" || got[1] != long || got[2] != "c" {
		t.Fatalf("lines: %d, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
	if nums[0] != 1 || nums[2] != 3 {
		t.Fatalf("numbers %v", nums)
	}
	seen := 0
	if err := EachLine(strings.NewReader("1\n2\n3\n"), func(n int64, l []byte) (bool, error) {
		seen++
		return n < 2, nil
	}); err != nil || seen != 2 {
		t.Fatalf("stopping at line 2: saw %d, err %v", seen, err)
	}
	boom := errors.New("boom")
	if err := EachLine(strings.NewReader("1\n2\n"), func(int64, []byte) (bool, error) { return true, boom }); !errors.Is(err, boom) {
		t.Fatalf("fn's error lost: %v", err)
	}
	if err := EachLine(iotest.ErrReader(boom), func(int64, []byte) (bool, error) { return true, nil }); !errors.Is(err, boom) {
		t.Fatalf("reader's error lost: %v", err)
	}
}
