package seal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzTrustedKeys: a verifier's --key file is bytes from elsewhere. It
// never panics; a history it accepts is a chain whose every rotation
// verifies (so it is accepted again, identically, after a round trip
// through JSON, and agrees with itself); a list it accepts holds only
// well-formed keys.
func FuzzTrustedKeys(f *testing.F) {
	a, b := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	ka := &Key{Private: a, Public: a.Public().(ed25519.PublicKey)}
	kb := &Key{Private: b, Public: b.Public().(ed25519.PublicKey)}
	d, _ := SignRotation("trail-1", ka, kb, AtRestPlain)
	h := KeyHistory{Trail: "trail-1", Keys: []KeyEpoch{
		{Key: FormatPublicKey(ka.Public), KeyID: ka.ID(), From: 2},
		{Key: d.NewKey, KeyID: kb.ID(), From: 9, OldSignature: d.OldSignature, NewSignature: d.NewSignature},
	}}
	js, _ := json.Marshal(h)
	f.Add(js)
	f.Add([]byte(FormatPublicKey(ka.Public) + "\n# comment\n" + FormatPublicKey(kb.Public) + "\n"))
	f.Add([]byte(`{"trail":"t","keys":[]}`))
	f.Add([]byte("ed25519 AAAA\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "keys")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadTrustedKeys(path)
		if err != nil {
			return
		}
		if len(got.Keys) == 0 {
			t.Fatalf("%q: accepted with no key", data)
		}
		for _, k := range got.Keys {
			if len(k.Public()) != ed25519.PublicKeySize || k.KeyID != KeyID(k.Public()) {
				t.Fatalf("%q: a malformed key accepted: %+v", data, k)
			}
		}
		if got.anyTime {
			return
		}
		if err := got.Agrees(got); err != nil {
			t.Fatalf("%q: a history that disagrees with itself: %v", data, err)
		}
		again, _ := json.Marshal(got)
		os.WriteFile(path, again, 0o600)
		back, err := ReadTrustedKeys(path)
		if err != nil || back.Agrees(got) != nil || got.Agrees(back) != nil {
			t.Fatalf("%q: accepted, then not after a round trip: %v", data, err)
		}
	})
}

// FuzzPrivateKeyFile: a key file (plain or sealed) never panics the
// reader; a seed it returns is a seed, and a file written by
// renderPrivate reads back to its seed under the secret it was sealed
// with and under no other.
func FuzzPrivateKeyFile(f *testing.F) {
	secret := bytes.Repeat([]byte("s"), 32)
	seed := bytes.Repeat([]byte{7}, 32)
	plain, _ := renderPrivate(seed, nil)
	sealed, _ := renderPrivate(seed, secret)
	f.Add(plain, false)
	f.Add(sealed, true)
	f.Add([]byte("ed25519-private-sealed AAAA\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, withSecret bool) {
		var s []byte
		if withSecret {
			s = secret
		}
		got, err := parsePrivate("key", data, s)
		if err == nil && len(got) != ed25519.SeedSize {
			t.Fatalf("%q: a seed of %d bytes", data, len(got))
		}
		if len(data) >= 32 {
			seed := data[:32]
			b, err := renderPrivate(seed, s)
			if err != nil {
				t.Fatal(err)
			}
			back, err := parsePrivate("key", b, s)
			if err != nil || !bytes.Equal(back, seed) {
				t.Fatalf("a rendered key does not read back: %v", err)
			}
			if withSecret {
				if _, err := parsePrivate("key", b, bytes.Repeat([]byte("t"), 32)); err == nil {
					t.Fatal("a sealed key opened with another secret")
				}
			}
		}
	})
}
