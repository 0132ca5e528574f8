package seal_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/seal"
)

// keysDir makes a keys directory as init does: 0700, an engine key 0600.
func keysDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.GenerateKey(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestKeyCustody: the engine key is created 0600 in a 0700 directory, and
// refused, with the command that fixes it, when group or others may read
// or write the key or the directory, or when it is not a regular file.
func TestKeyCustody(t *testing.T) {
	dir := keysDir(t)
	priv := filepath.Join(dir, seal.PrivateFile)
	if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
		t.Fatalf("engine key created %v", fi.Mode().Perm())
	}
	if _, err := seal.LoadKey(dir, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file, dir os.FileMode
		want      string
	}{
		{0o640, 0o700, "chmod 600"},
		{0o602, 0o700, "chmod 600"},
		{0o600, 0o750, "chmod 700"},
		{0o600, 0o701, "chmod 700"},
	} {
		os.Chmod(priv, c.file)
		os.Chmod(dir, c.dir)
		if _, err := seal.LoadKey(dir, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("key %v in a directory %v: %v", c.file, c.dir, err)
		}
		if _, err := seal.CacheKey(dir); c.dir != 0o700 && (err == nil || !strings.Contains(err.Error(), "chmod 700")) {
			t.Errorf("the cache key in a directory %v: %v", c.dir, err)
		}
	}
	os.Chmod(priv, 0o600)
	os.Chmod(dir, 0o700)
	// A symbolic link to a key elsewhere is not the key.
	other := keysDir(t)
	os.Remove(priv)
	os.Symlink(filepath.Join(other, seal.PrivateFile), priv)
	if _, err := seal.LoadKey(dir, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a symlinked key: %v", err)
	}
}

// TestKeySealedAtRest: with a secret, a rotation's new key is written
// sealed (AES-256-GCM): the file holds no seed, opens only with the
// secret, and is refused with a wrong one or none.
func TestKeySealedAtRest(t *testing.T) {
	dir := keysDir(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==\n"), 0o400)
	secret, err := seal.ReadSecret(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.StageNextKey(dir, secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, seal.NextFile))
	if !strings.HasPrefix(string(b), "ed25519-private-sealed ") || bytes.Contains(b, k.Private.Seed()) {
		t.Fatalf("sealed key file: %q", b)
	}
	if err := seal.InstallNextKey(dir, k); err != nil {
		t.Fatal(err)
	}
	got, err := seal.LoadKey(dir, secret)
	if err != nil || !bytes.Equal(got.Public, k.Public) {
		t.Fatalf("the sealed key with its secret: %v", err)
	}
	if _, err := seal.LoadKey(dir, nil); err == nil || !strings.Contains(err.Error(), "engine_key.secret_file") {
		t.Errorf("a sealed key without a secret: %v", err)
	}
	if _, err := seal.LoadKey(dir, bytes.Repeat([]byte("w"), 32)); err == nil || !strings.Contains(err.Error(), "wrong secret") {
		t.Errorf("a sealed key with another secret: %v", err)
	}
	if pub, _ := seal.ReadPublicKey(filepath.Join(dir, seal.PublicFile)); !bytes.Equal(pub, k.Public) {
		t.Error("engine.pub was not rewritten for the new key")
	}

	// The secret itself: owner-only, at least 32 bytes; the systemd
	// credential is taken when no file is named.
	os.Chmod(secretFile, 0o644)
	if _, err := seal.ReadSecret(secretFile); err == nil || !strings.Contains(err.Error(), "chmod 400") {
		t.Errorf("a secret others may read: %v", err)
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("too short\n"), 0o400)
	if _, err := seal.ReadSecret(short); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("a short secret: %v", err)
	}
	creds := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	if s, err := seal.ReadSecret(""); s != nil || err != nil {
		t.Errorf("no credential: %q %v", s, err)
	}
	os.WriteFile(filepath.Join(creds, seal.CredentialName), secret, 0o400)
	if s, err := seal.ReadSecret(""); !bytes.Equal(s, secret) || err != nil {
		t.Errorf("the systemd credential: %q %v", s, err)
	}
}

// TestFinishRotation: a staged key the trail has in force is put in place
// (the old key scrubbed and replaced); one it does not know is removed and
// the old key stays.
func TestFinishRotation(t *testing.T) {
	dir := keysDir(t)
	old, _ := seal.LoadKey(dir, nil)
	next, err := seal.StageNextKey(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not on record: removed.
	if done, err := seal.FinishRotation(dir, old.Public, nil); done || err != nil {
		t.Fatalf("%v %v", done, err)
	}
	if _, err := os.Stat(filepath.Join(dir, seal.NextFile)); !os.IsNotExist(err) {
		t.Fatal("a staged key the trail does not know was kept")
	}
	if k, _ := seal.LoadKey(dir, nil); !bytes.Equal(k.Public, old.Public) {
		t.Fatal("the old key was replaced")
	}
	// On record: installed.
	next, _ = seal.StageNextKey(dir, nil)
	if done, err := seal.FinishRotation(dir, next.Public, nil); !done || err != nil {
		t.Fatalf("%v %v", done, err)
	}
	if k, _ := seal.LoadKey(dir, nil); !bytes.Equal(k.Public, next.Public) {
		t.Fatal("the new key was not put in place")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("the keys directory holds %d files after a rotation", len(ents))
	}
}
