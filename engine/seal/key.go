package seal

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pawl-dev/pawl/engine/durable"
)

// Key is the engine's ed25519 signing key. The private half lives in
// keys/engine.key (mode 0600), the public half in keys/engine.pub.
type Key struct {
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
}

// KeyID names a public key: "ed25519:" and the first 16 hex digits of the
// sha256 of the key bytes.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(h[:8])
}

// ID is the key's KeyID.
func (k *Key) ID() string { return KeyID(k.Public) }

// The engine key's files in the keys directory.
const (
	PrivateFile = "engine.key"
	PublicFile  = "engine.pub"
)

// GenerateKey creates a new engine key in dir and returns its public half in
// the form written to engine.pub. It refuses to replace an existing key.
func GenerateKey(dir string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	privPath := filepath.Join(dir, PrivateFile)
	line := fmt.Sprintf("%s %s\n", plainFormat, base64.StdEncoding.EncodeToString(priv.Seed()))
	if err := durable.WriteNew(privPath, []byte(line), 0o600); err != nil {
		return "", fmt.Errorf("cannot create the engine key: %w", err)
	}
	pubLine := FormatPublicKey(pub)
	if err := durable.WriteFile(filepath.Join(dir, PublicFile), []byte(pubLine+"\n"), 0o644); err != nil {
		return "", err
	}
	return pubLine, nil
}

// FormatPublicKey renders a public key as "ed25519 BASE64 KEYID".
func FormatPublicKey(pub ed25519.PublicKey) string {
	return fmt.Sprintf("ed25519 %s %s", base64.StdEncoding.EncodeToString(pub), KeyID(pub))
}

// ParsePublicKey reads the form FormatPublicKey writes.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	f := strings.Fields(s)
	if len(f) < 2 || f[0] != "ed25519" {
		return nil, fmt.Errorf("not a pawl public key (want \"ed25519 BASE64 [KEYID]\")")
	}
	b, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("not a pawl public key: bad ed25519 key bytes")
	}
	return ed25519.PublicKey(b), nil
}

// LoadKey reads the engine key from dir, opening it with secret when it
// is sealed at rest (secret may be nil for a plain key). It refuses a keys
// directory or a private key file that others may read or write, and a
// key file that is not a regular file.
func LoadKey(dir string, secret []byte) (*Key, error) {
	return loadKeyFile(dir, filepath.Join(dir, PrivateFile), secret)
}

func loadKeyFile(dir, privPath string, secret []byte) (*Key, error) {
	if err := CheckKeysDir(dir); err != nil {
		return nil, err
	}
	fi, err := os.Lstat(privPath)
	if err != nil {
		return nil, fmt.Errorf("engine key %s is missing: restore it from backup (a new key cannot sign for old batches)", privPath)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("engine key %s is not a regular file (%v): refusing it; put the key file itself there", privPath, fi.Mode().Type())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("engine key %s has mode %v: others may read it or write it; run `chmod 600 %s`", privPath, fi.Mode().Perm(), privPath)
	}
	b, err := os.ReadFile(privPath)
	if err != nil {
		return nil, fmt.Errorf("cannot read the engine key: %w", err)
	}
	seed, err := parsePrivate(privPath, b, secret)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Key{Private: priv, Public: priv.Public().(ed25519.PublicKey)}, nil
}

// CheckKeysDir refuses a keys directory that is not a directory or that
// group or others may read, write or enter.
func CheckKeysDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("keys directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("keys directory %s is not a directory (%v): refusing it", dir, fi.Mode().Type())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("keys directory %s has mode %v: others may read or replace the keys in it; run `chmod 700 %s`", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// ReadPublicKey reads engine.pub (or any file in that form).
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// WritePublicKey writes engine.pub for pub.
func WritePublicKey(dir string, pub ed25519.PublicKey) error {
	return durable.WriteFile(filepath.Join(dir, PublicFile), []byte(FormatPublicKey(pub)+"\n"), 0o644)
}
