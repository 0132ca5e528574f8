package audit

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
)

// TestVerifyLines: an exported trail verifies from its lines as the
// database does; one byte changed, a line dropped or re-spelled, a line cut
// short, each fails naming the entry. A checkpoint of the trail verifies
// against the lines, and RootOf agrees with TreeRoot.
func TestVerifyLines(t *testing.T) {
	_, priv := checkpointKey(t)
	p, es := tamperedTrail(t, 4)
	var buf bytes.Buffer
	for _, e := range es {
		b, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(append(b, '\n'))
	}
	good := buf.Bytes()
	rep, got := VerifyLines(good)
	if !rep.OK || rep.Entries != int64(len(es)) || len(got) != len(es) || rep.Head != es[len(es)-1].Hash {
		t.Fatalf("an untouched export: %+v, %d entries read", rep, len(got))
	}
	tr, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	want, err := tr.TreeRoot(ctx, int64(len(es)))
	if err != nil {
		t.Fatal(err)
	}
	if root, err := RootOf(got); err != nil || !bytes.Equal(root, want) {
		t.Fatalf("RootOf %x %v, TreeRoot %x", root, err, want)
	}
	cp := issue(t, p, priv)
	pub := priv.Public().(ed25519.PublicKey)
	if c, err := VerifyCheckpointOf(cp, tr.Origin(), pub, got); err != nil || c.Size != int64(len(es)) {
		t.Fatalf("checkpoint against the lines: %v", err)
	}
	if _, err := VerifyCheckpointOf(cp, tr.Origin(), pub, got[:len(got)-1]); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("checkpoint against the lines without the last: %v", err)
	}

	lines := bytes.SplitAfter(good, []byte("\n"))
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"one byte of a reason": {bytes.Replace(good, []byte(`"object":"batch:1"`), []byte(`"object":"batch:9"`), 1), "entry 3: hash mismatch"},
		"entry 2 dropped":      {append(append([]byte{}, lines[0]...), bytes.Join(lines[2:], nil)...), "entry 2: missing"},
		"cut short":            {good[:len(good)-1], "does not end in a newline"},
		"re-spelled":           {bytes.Replace(good, []byte(`{"seq":2,`), []byte(`{"seq": 2,`), 1), "line 2 (entry 2) is not in the form pawl writes"},
		"not JSON":             {append([]byte("x\n"), good...), "line 1:"},
	} {
		rep, _ := VerifyLines(c.data)
		if rep.OK || !strings.Contains(rep.Problem, c.want) {
			t.Errorf("%s: %+v, want %q", name, rep, c.want)
		}
	}
}
