package review

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/build/tooltest"
)

// TestPythonEd25519AgreesWithGo: verify.py's pure-Python ed25519 says of
// every case what Go's crypto/ed25519 says: the RFC 8032 §7.1 vectors
// verify; Go's own signatures verify; a wrong key, a flipped bit in R, in
// S or in the message, a non-canonical S (S + L, which Go refuses), a key
// that is no point, and the small-order key (the identity, in its three
// encodings Go accepts: y = 1, with the sign bit set, and y = 1 + p) with
// a signature made for it, each get Go's answer.
func TestPythonEd25519AgreesWithGo(t *testing.T) {
	py := tooltest.Need(t, "python3")
	type tc struct {
		Name string `json:"name"`
		Pub  string `json:"pub"`
		Msg  string `json:"msg"`
		Sig  string `json:"sig"`
		want bool
	}
	var cases []tc
	add := func(name string, pub, msg, sig []byte) {
		cases = append(cases, tc{Name: name, Pub: hex.EncodeToString(pub), Msg: hex.EncodeToString(msg), Sig: hex.EncodeToString(sig),
			want: len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)})
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// RFC 8032 §7.1, TEST 1, 2, 3 and SHA(abc).
	for _, v := range [][3]string{
		{"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
			"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
		{"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
			"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
		{"fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
			"6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
		{"ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
			"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
			"dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
	} {
		add("rfc8032", unhex(v[0]), unhex(v[1]), unhex(v[2]))
	}
	for i := range 6 {
		pub, priv, _ := ed25519.GenerateKey(nil)
		other, _, _ := ed25519.GenerateKey(nil)
		msg := []byte(strings.Repeat("pawl ", i*7))
		sig := ed25519.Sign(priv, msg)
		add("go", pub, msg, sig)
		add("wrong key", other, msg, sig)
		flipR := append([]byte{}, sig...)
		flipR[i] ^= 1
		add("bit of R", pub, msg, flipR)
		flipS := append([]byte{}, sig...)
		flipS[40+i] ^= 0x10
		add("bit of S", pub, msg, flipS)
		add("bit of the message", pub, append([]byte("x"), msg...), sig)
		// S + L: the same point equation, a second spelling of S.
		l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
		s := new(big.Int).SetBytes(reverse(sig[32:]))
		big2 := reverse(new(big.Int).Add(s, l).FillBytes(make([]byte, 32)))
		add("S + L", pub, msg, append(append([]byte{}, sig[:32]...), big2...))
		negA := append([]byte{}, pub...)
		negA[31] ^= 0x80
		add("the key's negation", negA, msg, sig)
	}
	notAPoint := make([]byte, 32)
	notAPoint[0] = 2
	add("no point", notAPoint, []byte("m"), make([]byte, 64))
	// The identity as the key: R = [S]B verifies any message. [S]B is the
	// public key of a seed whose clamped scalar is S (mod L).
	seedPub, seedPriv, _ := ed25519.GenerateKey(nil)
	h := sha512.Sum512(seedPriv.Seed())
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	sc := new(big.Int).Mod(new(big.Int).SetBytes(reverse(h[:32])), l)
	smallSig := append(append([]byte{}, seedPub...), reverse(sc.FillBytes(make([]byte, 32)))...)
	identity := make([]byte, 32)
	identity[0] = 1
	signed := append([]byte{}, identity...)
	signed[31] |= 0x80
	p1 := reverse(new(big.Int).Add(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19)), big.NewInt(1)).FillBytes(make([]byte, 32)))
	add("identity key", identity, []byte("anything"), smallSig)
	add("identity key, sign bit set", signed, []byte("anything"), smallSig)
	add("identity key, y = 1 + p", p1, []byte("anything"), smallSig)

	// The cases test what they say.
	for i, want := range map[int]bool{0: true, 3: true, 4: true, 9: false, 10: false} {
		if cases[i].want != want {
			t.Fatalf("case %d (%s): Go says %v", i, cases[i].Name, cases[i].want)
		}
	}
	if !cases[len(cases)-3].want {
		t.Fatal("Go refuses the identity key's signature: the small-order case tests nothing")
	}
	b, _ := json.Marshal(cases)
	f := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "verify.py", "--ed25519-cases", f).CombinedOutput()
	if err != nil {
		t.Fatalf("verify.py --ed25519-cases: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	if len(got) != len(cases) {
		t.Fatalf("%d answers for %d cases:\n%s", len(got), len(cases), out)
	}
	for i, c := range cases {
		if (got[i] == "1") != c.want {
			t.Errorf("case %d (%s): Python says %s, Go says %v", i, c.Name, got[i], c.want)
		}
	}
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}
