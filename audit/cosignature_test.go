package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// cosign signs body as a C2SP tlog-cosignature/v1 at time tm, as the spec
// writes it (key hash ‖ big-endian time ‖ ed25519 over "cosignature/v1\ntime
// T\n" ‖ body), for the tests; litewitness is the independent signer
// (cmd/pawl's TestWitnessLitewitness).
func cosign(k WitnessKey, priv ed25519.PrivateKey, tm uint64, body []byte) string {
	sig := binary.BigEndian.AppendUint32(nil, k.Hash)
	sig = binary.BigEndian.AppendUint64(sig, tm)
	sig = append(sig, ed25519.Sign(priv, fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", tm, body))...)
	return "— " + k.Name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

func witnessKey(t testing.TB, name string, seed byte) (WitnessKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	raw := append([]byte{algCosignatureV1}, pub...)
	vkey := fmt.Sprintf("%s+%08x+%s", name, keyHash(name, raw), base64.StdEncoding.EncodeToString(raw))
	k, err := ParseWitnessKey(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if k.String() != vkey {
		t.Fatalf("%q reads back as %q", vkey, k.String())
	}
	return k, priv
}

func TestCosignatures(t *testing.T) {
	k, priv := witnessKey(t, "witness.example/w1", 1)
	other, opriv := witnessKey(t, "witness.example/w2", 2)
	body := Checkpoint{Origin: "pawl.dev/audit/x", Size: 9, Root: bytes.Repeat([]byte{7}, 32)}.Format()
	resp := cosign(other, opriv, 1700000000, body) + cosign(k, priv, 1700000001, body)
	cs, err := ParseCosignatures([]byte(resp), k, body)
	if err != nil || len(cs) != 1 || cs[0].Time != 1700000001 || cs[0].Witness != k.Name || cs[0].Line() != cosign(k, priv, 1700000001, body) {
		t.Fatalf("%+v %v", cs, err)
	}
	if err := cs[0].Verify(k, body); err != nil {
		t.Fatal(err)
	}
	other9 := Checkpoint{Origin: "pawl.dev/audit/x", Size: 9, Root: bytes.Repeat([]byte{8}, 32)}.Format()
	if err := cs[0].Verify(k, other9); err == nil {
		t.Fatal("a cosignature verifies over another root")
	}
	if err := cs[0].Verify(other, body); err == nil {
		t.Fatal("a cosignature verifies under another key")
	}
	for name, bad := range map[string]string{
		"empty":           "",
		"garbage":         "hello\n",
		"no newline":      strings.TrimSuffix(resp, "\n"),
		"only other keys": cosign(other, opriv, 1, body),
		"wrong body":      cosign(k, priv, 1, other9),
		"bad base64":      "— witness.example/w1 AAAA=\n",
		"time changed":    timeChanged(cosign(k, priv, 1700000001, body)),
		"too big":         strings.Repeat(resp, MaxCosignatureResponse/len(resp)+1),
	} {
		if _, err := ParseCosignatures([]byte(bad), k, body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, bad := range []string{
		"witness.example/w1",
		k.Name + "+0000000g+" + base64.StdEncoding.EncodeToString(append([]byte{4}, k.Pub...)),
		k.Name + fmt.Sprintf("+%08x+", k.Hash^1) + base64.StdEncoding.EncodeToString(append([]byte{4}, k.Pub...)),
		k.Name + fmt.Sprintf("+%08x+", k.Hash) + base64.StdEncoding.EncodeToString(append([]byte{1}, k.Pub...)),
		"a b" + fmt.Sprintf("+%08x+", k.Hash) + base64.StdEncoding.EncodeToString(append([]byte{4}, k.Pub...)),
	} {
		if _, err := ParseWitnessKey(bad); err == nil {
			t.Errorf("witness key %q accepted", bad)
		}
	}
}

// FuzzParseCosignatures: a witness's answer is untrusted bytes. Whatever
// ParseCosignatures accepts is one or more cosignatures by the witness key
// that verify over the checkpoint, each a line of the answer as it was
// sent; it never panics.
func FuzzParseCosignatures(f *testing.F) {
	k, priv := witnessKey(f, "witness.example/w1", 1)
	other, opriv := witnessKey(f, "witness.example/w2", 2)
	body := Checkpoint{Origin: "pawl.dev/audit/x", Size: 9, Root: bytes.Repeat([]byte{7}, 32)}.Format()
	f.Add([]byte(cosign(k, priv, 1700000001, body)))
	f.Add([]byte(cosign(other, opriv, 5, body) + cosign(k, priv, 6, body)))
	f.Add([]byte("— witness.example/w1 AAAA\n"))
	f.Fuzz(func(t *testing.T, resp []byte) {
		cs, err := ParseCosignatures(resp, k, body)
		if err != nil {
			return
		}
		if len(cs) == 0 {
			t.Fatal("accepted without a cosignature")
		}
		for _, c := range cs {
			if err := c.Verify(k, body); err != nil {
				t.Fatalf("accepted %q: %v", resp, err)
			}
			if !bytes.Contains(resp, []byte(c.Line())) {
				t.Fatalf("accepted line %q is not in the answer %q", c.Line(), resp)
			}
		}
	})
}

// timeChanged moves a cosignature line's timestamp by one second.
func timeChanged(line string) string {
	name, b64, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(line, "— "), "\n"), " ")
	sig, _ := base64.StdEncoding.DecodeString(b64)
	sig[11]++
	return "— " + name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}
