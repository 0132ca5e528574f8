package validate_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/validate"
)

// FuzzVerifyDir: a validation report and its signature are untrusted
// bytes (`pawl validate --verify` reads what someone hands over). Whatever
// they hold, VerifyDir does not panic, and it accepts a report only when
// validation.sig is the given key's signature over validation.json's
// sha256 — checked here independently of it.
func FuzzVerifyDir(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	sign := func(js []byte) []byte {
		sum := sha256.Sum256(js)
		return []byte(validate.Format + " " + seal.KeyID(pub) + " " + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, validate.Message(hex.EncodeToString(sum[:])))) + "\n")
	}
	good := []byte(`{"format":"` + validate.Format + `","run_id":"r1","checks":[],"passed":0,"failed":0}`)
	f.Add(good, sign(good))
	f.Add([]byte(`{}`), sign([]byte(`{}`)))
	f.Add(good, []byte(validate.Format+" x y\n"))
	f.Add([]byte(`{"checks":[{"id":1}]`), sign(good))
	f.Fuzz(func(t *testing.T, js, sig []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, validate.JSONFile), js, 0o644)
		os.WriteFile(filepath.Join(dir, validate.SigFile), sig, 0o644)
		rep, err := validate.VerifyDir(dir, pub)
		if err != nil {
			return
		}
		if rep == nil {
			t.Fatal("no error and no report")
		}
		sum := sha256.Sum256(js)
		f := strings.Fields(string(sig))
		if len(f) != 3 {
			t.Fatalf("a report accepted with a signature line of %d fields: %q", len(f), sig)
		}
		raw, derr := base64.StdEncoding.DecodeString(f[2])
		if derr != nil || !ed25519.Verify(pub, validate.Message(hex.EncodeToString(sum[:])), raw) {
			t.Fatalf("a report accepted whose signature does not verify: %q %q", js, sig)
		}
	})
}
