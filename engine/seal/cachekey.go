package seal

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pawl-dev/pawl/engine/durable"
)

// CacheKeyFile is the compilation cache's MAC key in the keys directory,
// beside the engine key.
const CacheKeyFile = "cache.key"

// CacheKeyBytes is the length of the compilation cache's MAC key.
const CacheKeyBytes = 32

// GenerateCacheKey creates the compilation cache's MAC key in dir: 32
// random bytes, mode 0600. It refuses to replace an existing key (the
// error matches fs.ErrExist).
func GenerateCacheKey(dir string) error {
	key := make([]byte, CacheKeyBytes)
	rand.Read(key)
	line := fmt.Sprintf("hmac-sha256 %s\n", base64.StdEncoding.EncodeToString(key))
	if err := durable.WriteNew(filepath.Join(dir, CacheKeyFile), []byte(line), 0o600); err != nil {
		return fmt.Errorf("cannot create the compilation cache key: %w", err)
	}
	return nil
}

// CacheKey reads the compilation cache's MAC key from dir, creating it
// when the project has none yet (a project made before the key existed).
// The compilation cache is shared by the user's projects and holds native
// code; the key is what tells pawl's own entries from anything else put
// there. A key file that is not a regular file, or that others may read
// or write, is refused.
func CacheKey(dir string) ([]byte, error) {
	if err := CheckKeysDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, CacheKeyFile)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := GenerateCacheKey(dir); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		fi, err = os.Lstat(path)
	}
	if err != nil {
		return nil, fmt.Errorf("compilation cache key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("compilation cache key %s is not a regular file (%v): refusing it", path, fi.Mode().Type())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("compilation cache key %s has mode %v: others may read it or write it; run `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the compilation cache key: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 || f[0] != "hmac-sha256" {
		return nil, fmt.Errorf("compilation cache key %s is not in pawl's format: remove it, and pawl makes a new one (the cache is then compiled afresh)", path)
	}
	key, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(key) != CacheKeyBytes {
		return nil, fmt.Errorf("compilation cache key %s is damaged: remove it, and pawl makes a new one (the cache is then compiled afresh)", path)
	}
	return key, nil
}
