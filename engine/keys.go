package engine

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

const (
	privFile = "engine.key"
	pubFile  = "engine.pub"
)

// GenerateKey creates a new engine key in dir and returns its public half in
// the form written to engine.pub. It refuses to replace an existing key.
func GenerateKey(dir string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	privPath := filepath.Join(dir, privFile)
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("cannot create the engine key %s: %w", privPath, err)
	}
	if _, err := fmt.Fprintf(f, "ed25519-private %s\n", base64.StdEncoding.EncodeToString(priv.Seed())); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	line := FormatPublicKey(pub)
	if err := writeFileSync(filepath.Join(dir, pubFile), []byte(line+"\n"), 0o644); err != nil {
		return "", err
	}
	return line, nil
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

// LoadKey reads the engine key from dir. It refuses a private key file that
// others may read.
func LoadKey(dir string) (*Key, error) {
	privPath := filepath.Join(dir, privFile)
	fi, err := os.Stat(privPath)
	if err != nil {
		return nil, fmt.Errorf("engine key %s is missing: restore it from backup (a new key cannot sign for old batches)", privPath)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("engine key %s has mode %v: others may read it; run `chmod 600 %s`", privPath, fi.Mode().Perm(), privPath)
	}
	b, err := os.ReadFile(privPath)
	if err != nil {
		return nil, fmt.Errorf("cannot read the engine key: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 || f[0] != "ed25519-private" {
		return nil, fmt.Errorf("engine key %s is not in pawl's format", privPath)
	}
	seed, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("engine key %s is damaged", privPath)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Key{Private: priv, Public: priv.Public().(ed25519.PublicKey)}, nil
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
