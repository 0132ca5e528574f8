package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The forms of the engine's private key file.
const (
	plainFormat  = "ed25519-private"
	sealedFormat = "ed25519-private-sealed"
)

// How a private key is kept, as a rotation entry records it.
const (
	AtRestPlain  = "plain"
	AtRestSealed = "sealed"
)

// CredentialName is the systemd credential (LoadCredential=) that holds the
// key-encryption secret when engine_key.secret_file is not set: pawl reads
// $CREDENTIALS_DIRECTORY/pawl-engine-key.
const CredentialName = "pawl-engine-key"

// MinSecretBytes is the shortest key-encryption secret accepted: the
// secret is a key, not a passphrase, and is not stretched.
const MinSecretBytes = 32

// sealAAD binds a sealed key file to its purpose.
const sealAAD = "pawl engine key v1"

// ReadSecret reads the key-encryption secret that seals the engine key at
// rest: from file when it is set, else from the systemd credential
// $CREDENTIALS_DIRECTORY/pawl-engine-key when there is one. It returns nil
// when neither is given. The file must be a regular file that only its
// owner may read, holding at least 32 bytes (e.g. `head -c 32 /dev/urandom
// | base64`); surrounding white space is not part of the secret.
func ReadSecret(file string) ([]byte, error) {
	if file == "" {
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return nil, nil
		}
		file = filepath.Join(dir, CredentialName)
		if _, err := os.Lstat(file); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("engine key secret: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("engine key secret %s is not a regular file", file)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("engine key secret %s has mode %v: others may read it; run `chmod 400 %s`", file, fi.Mode().Perm(), file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("engine key secret: %w", err)
	}
	s := []byte(strings.TrimSpace(string(b)))
	if len(s) < MinSecretBytes {
		return nil, fmt.Errorf("engine key secret %s holds %d bytes: it needs at least %d random bytes (e.g. `head -c 32 /dev/urandom | base64 > %s`)", file, len(s), MinSecretBytes, file)
	}
	return s, nil
}

// kek derives the AES-256 key that seals the engine key from the secret.
func kek(secret []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, "pawl engine key seal v1", 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// renderPrivate is the key file of seed: plain, or sealed under secret
// (AES-256-GCM, a random nonce) when secret is not nil.
func renderPrivate(seed, secret []byte) ([]byte, error) {
	if secret == nil {
		return fmt.Appendf(nil, "%s %s\n", plainFormat, base64.StdEncoding.EncodeToString(seed)), nil
	}
	g, err := kek(secret)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	rand.Read(nonce)
	ct := g.Seal(nonce, nonce, seed, []byte(sealAAD))
	return fmt.Appendf(nil, "%s %s\n", sealedFormat, base64.StdEncoding.EncodeToString(ct)), nil
}

// parsePrivate reads the seed from a key file's bytes b (path names it in
// errors).
func parsePrivate(path string, b, secret []byte) ([]byte, error) {
	f := strings.Fields(string(b))
	if len(f) != 2 || (f[0] != plainFormat && f[0] != sealedFormat) {
		return nil, fmt.Errorf("engine key %s is not in pawl's format", path)
	}
	raw, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return nil, fmt.Errorf("engine key %s is damaged", path)
	}
	if f[0] == sealedFormat {
		if secret == nil {
			return nil, fmt.Errorf("engine key %s is sealed at rest and no secret was given: set engine_key.secret_file, or give the service the systemd credential %s", path, CredentialName)
		}
		g, err := kek(secret)
		if err != nil {
			return nil, err
		}
		if len(raw) < g.NonceSize() {
			return nil, fmt.Errorf("engine key %s is damaged", path)
		}
		raw, err = g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], []byte(sealAAD))
		if err != nil {
			return nil, fmt.Errorf("engine key %s does not open with the secret given: it is the wrong secret or the file was altered", path)
		}
	}
	if len(raw) != ed25519.SeedSize {
		return nil, fmt.Errorf("engine key %s is damaged", path)
	}
	return raw, nil
}
