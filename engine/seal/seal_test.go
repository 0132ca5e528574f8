package seal_test

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/seal"
)

func TestSignatureEditsAreDetected(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 50, 6))
	res := enginetest.Run(t, p, in, 1)
	orig, _ := os.ReadFile(res.Signature)
	trusted := []ed25519.PublicKey{p.Key.Public}
	edits := map[string]func([]byte) []byte{
		"count": func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"records_in": 50`), []byte(`"records_in": 51`), 1)
		},
		"whitespace": func(b []byte) []byte { return bytes.Replace(b, []byte("{\n"), []byte("{ \n"), 1) },
		"duplicate key": func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"batch_id"`), []byte(`"job": "x", "batch_id"`), 1)
		},
		"signature value": func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"value": "`)) + len(`"value": "`)
			c := append([]byte{}, b...)
			if c[i] == 'A' {
				c[i] = 'B'
			} else {
				c[i] = 'A'
			}
			return c
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), actions.SignatureFile)
			e := edit(orig)
			if bytes.Equal(e, orig) {
				t.Fatal("the edit changed nothing")
			}
			os.WriteFile(path, e, 0o644)
			if _, err := seal.VerifyFile(path, trusted); err == nil {
				t.Fatal("an edited signature verified")
			}
		})
	}
	// An edited output beside the signature fails too.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, actions.SignatureFile), orig, 0o644)
	v, _ := os.ReadFile(filepath.Join(res.Dir, actions.VerifiedFile))
	os.WriteFile(filepath.Join(dir, actions.VerifiedFile), append(v, '\n'), 0o644)
	if _, err := seal.VerifyFile(filepath.Join(dir, actions.SignatureFile), trusted); err == nil || !strings.Contains(err.Error(), actions.VerifiedFile) {
		t.Fatalf("edited output: %v", err)
	}
	// A key that is not trusted is refused.
	other, _, _ := ed25519.GenerateKey(nil)
	if _, err := seal.VerifyFile(res.Signature, []ed25519.PublicKey{other}); err == nil {
		t.Fatal("signature accepted for an untrusted key")
	}
}
