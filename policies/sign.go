package policies

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/util"
)

// SigningAlgorithm is the JWS algorithm of bundle signatures: EdDSA over an
// ed25519 key, the same kind of key pawl signs batches with. OPA's bundle
// signer and verifier (jwx) support it, and so does the `opa` CLI given the
// bundle as a tarball (`opa build -b b.tgz --verification-key PUB
// --signing-alg EdDSA`; docs/policy-guide.md, TestOPAVerifiesPawlSignatures).
const SigningAlgorithm = "EdDSA"

// GenerateSigningKey returns a new ed25519 key pair for signing bundles: the
// private key as PKCS#8 PEM ("PRIVATE KEY", keep it outside the enclave's
// data paths and readable only by the compliance team) and the public key as
// PKIX PEM ("PUBLIC KEY", given to every pawl that loads the bundle).
func GenerateSigningKey() (privatePEM, publicPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pb, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pb}), nil
}

// KeyFingerprint names an ed25519 public key given as PKIX PEM ("PUBLIC
// KEY"): "sha256:" and the hex sha256 of its DER encoding, whatever the
// PEM's line breaks or comments. `openssl pkey -pubin -in KEY -outform DER |
// sha256sum` computes the same. Anything but one ed25519 public key is an
// error.
func KeyFingerprint(publicPEM []byte) (string, error) {
	blk, _ := pem.Decode(publicPEM)
	if blk == nil {
		return "", errors.New("public key: no PEM block found")
	}
	if blk.Type != "PUBLIC KEY" {
		return "", fmt.Errorf("public key: PEM type %q, want \"PUBLIC KEY\" (PKIX ed25519)", blk.Type)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return "", fmt.Errorf("public key: %w", err)
	}
	if _, ok := k.(ed25519.PublicKey); !ok {
		return "", fmt.Errorf("public key: %T, want an ed25519 key", k)
	}
	sum := sha256.Sum256(blk.Bytes)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// checkEd25519Private refuses anything but a PKCS#8 ed25519 private key, so
// a wrong key is reported as such rather than as a JWS error.
func checkEd25519Private(privatePEM []byte) error {
	blk, _ := pem.Decode(privatePEM)
	if blk == nil {
		return errors.New("private key: no PEM block found")
	}
	if blk.Type != "PRIVATE KEY" {
		return fmt.Errorf("private key: PEM type %q, want \"PRIVATE KEY\" (PKCS#8 ed25519)", blk.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return fmt.Errorf("private key: %w", err)
	}
	if _, ok := k.(ed25519.PrivateKey); !ok {
		return fmt.Errorf("private key: %T, want an ed25519 key", k)
	}
	return nil
}

// SignBundle signs the bundle in dir with an ed25519 private key (PKCS#8
// PEM) and returns the content of its .signatures.json (SignaturesFile),
// which the caller writes into dir: an OPA bundle signature, a JWS
// (EdDSA) whose payload lists every file of the bundle with its SHA-256
// (data.json and .manifest hashed in OPA's canonical JSON form, other files
// byte for byte). keyID is recorded in the JWS header ("kid"); DefaultKeyID
// when empty. Any existing signature is ignored and will be replaced. The bundle is loaded and
// checked (Rego compiles with the production capabilities) before it is
// signed: a signature vouches for a bundle that can run.
func SignBundle(dir string, privatePEM []byte, keyID string) ([]byte, error) {
	if keyID == "" {
		keyID = DefaultKeyID
	}
	if err := checkEd25519Private(privatePEM); err != nil {
		return nil, fmt.Errorf("policies: sign %s: %w", dir, err)
	}
	files, err := readBundleFiles(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("policies: sign %s: %w", dir, err)
	}
	var unsigned []memFile
	for _, f := range files {
		if f.path != signaturesFile {
			unsigned = append(unsigned, f)
		}
	}
	if _, err := loadFiles(dir, unsigned, LoadOptions{}); err != nil {
		return nil, fmt.Errorf("policies: sign: refusing to sign a bundle that does not load: %w", err)
	}
	infos, err := signatureFileInfos(unsigned)
	if err != nil {
		return nil, fmt.Errorf("policies: sign %s: %w", dir, err)
	}
	sc := bundle.NewSigningConfig(string(privatePEM), SigningAlgorithm, "")
	token, err := bundle.GenerateSignedToken(infos, sc, keyID)
	if err != nil {
		return nil, fmt.Errorf("policies: sign %s: %w", dir, err)
	}
	out, err := json.MarshalIndent(bundle.SignaturesConfig{Signatures: []string{token}}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// signatureFileInfos hashes files the way OPA's verifier will: structured
// documents (data.json, .manifest) as canonical JSON, others as bytes.
func signatureFileInfos(files []memFile) ([]bundle.FileInfo, error) {
	h, err := bundle.NewSignatureHasher(bundle.SHA256)
	if err != nil {
		return nil, err
	}
	infos := make([]bundle.FileInfo, 0, len(files))
	for _, f := range files {
		var v any = f.data
		if bundle.IsStructuredDoc(f.path) {
			var parsed any
			if err := util.UnmarshalJSON(f.data, &parsed); err != nil {
				return nil, fmt.Errorf("%s: %w", f.path, err)
			}
			v = parsed
		}
		sum, err := h.HashFile(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		infos = append(infos, bundle.NewFile(f.path, hex.EncodeToString(sum), string(bundle.SHA256)))
	}
	return infos, nil
}

// VerifyBundle checks the bundle in dir against its .signatures.json with
// the given public key (PKIX PEM) and returns its identity. An unsigned
// bundle, a file that changed, was added or was removed, or a signature by
// another key is an error naming the file or the reason.
func VerifyBundle(dir string, publicPEM []byte, keyID string) (BundleInfo, error) {
	b, err := LoadBundle(dir, LoadOptions{PublicKeyPEM: publicPEM, KeyID: keyID, RequireSignature: true})
	if err != nil {
		return BundleInfo{}, err
	}
	return b.Info, nil
}
