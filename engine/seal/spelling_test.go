package seal

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
)

// TestSignatureHasOneSpelling: the public key and the signature value are
// read only in the base64 spelling pawl writes. The lenient decoder read
// non-zero padding bits as zero, so changing the last character before
// the padding of either to a neighbour verified: an edit that VerifyFile
// promises to refuse.
func TestSignatureHasOneSpelling(t *testing.T) {
	k, _, files := fuzzSignatures(t)
	path := filepath.Join(t.TempDir(), actions.SignatureFile)
	trusted := []ed25519.PublicKey{k.Public}
	if _, err := verify(path, files[0], trusted); err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for _, member := range []string{`"public_key": "`, `"value": "`} {
		start := bytes.Index(files[0], []byte(member)) + len(member)
		end := start + bytes.IndexByte(files[0][start:], '"')
		last := bytes.TrimRight(files[0][start:end], "=")
		i := start + len(last) - 1
		edited := bytes.Clone(files[0])
		edited[i] = alphabet[strings.IndexByte(alphabet, edited[i])^1]
		if _, err := verify(path, edited, trusted); err == nil {
			t.Errorf("%s…: the last character before the padding edited from %q to %q and the signature verifies", member, files[0][i], edited[i])
		}
	}
}

// TestOutputNamesStayBesideTheSignature: with no trusted key any key's
// signature verifies, so a signature.json written by anyone may name its
// outputs; a name that is not a file beside it is refused rather than
// read (a signature naming ../../dev/zero would hash forever).
func TestOutputNamesStayBesideTheSignature(t *testing.T) {
	k, sigs, _ := fuzzSignatures(t)
	dir := t.TempDir()
	for _, name := range []string{"../../../../dev/zero", "/etc/passwd", "..", "sub/verified.jsonl", `..\x`, ""} {
		s := *sigs[0]
		s.Outputs = map[string]actions.OutputRef{name: {Hash: s.InputHash}}
		if err := s.sign(k); err != nil {
			t.Fatal(err)
		}
		b, _ := s.Render()
		if _, err := verify(filepath.Join(dir, actions.SignatureFile), b, nil); err == nil || !strings.Contains(err.Error(), "not the name of a file beside the signature") {
			t.Errorf("output %q: %v", name, err)
		}
	}
}
