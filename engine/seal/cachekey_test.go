package seal_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/seal"
)

// TestCacheKey: made on first use (0600), the same afterwards, refused
// when others may read it or it is not pawl's, never replaced.
func TestCacheKey(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	k1, err := seal.CacheKey(dir)
	if err != nil || len(k1) != seal.CacheKeyBytes {
		t.Fatalf("%d bytes, %v", len(k1), err)
	}
	path := filepath.Join(dir, seal.CacheKeyFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	k2, err := seal.CacheKey(dir)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("a second read: %v", err)
	}
	if err := seal.GenerateCacheKey(dir); err == nil {
		t.Fatal("an existing key was replaced")
	}
	dir3 := t.TempDir()
	os.Chmod(dir3, 0o700)
	if k3, _ := seal.CacheKey(dir3); bytes.Equal(k1, k3) {
		t.Fatal("two projects have the same key")
	}

	os.Chmod(path, 0o640)
	if _, err := seal.CacheKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key others may read: %v", err)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("hmac-sha256 c2hvcnQ=\n"), 0o600)
	if _, err := seal.CacheKey(dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("a short key: %v", err)
	}
	os.Remove(path)
	os.Symlink(filepath.Join(t.TempDir(), "elsewhere"), path)
	if _, err := seal.CacheKey(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a symlink: %v", err)
	}
}
