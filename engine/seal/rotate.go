package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
)

// NextFile is the new engine key of a rotation that has not finished: it
// is written before the rotation's entry and put in place of engine.key
// after it.
const NextFile = "engine.key.next"

// StageNextKey makes a new engine key and writes it, sealed under secret
// when secret is not nil, to keys/engine.key.next (mode 0600, fsynced),
// replacing a stale one.
func StageNextKey(dir string, secret []byte) (*Key, error) {
	if err := CheckKeysDir(dir); err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	b, err := renderPrivate(priv.Seed(), secret)
	if err != nil {
		return nil, err
	}
	if err := durable.WriteFile(filepath.Join(dir, NextFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("cannot write the new engine key: %w", err)
	}
	return &Key{Private: priv, Public: pub}, nil
}

// FinishRotation settles a rotation a crash interrupted, given the public
// key the trail has in force (current): a staged key that is the key on
// record is put in place (the old one scrubbed and replaced); one that is
// not never reached the trail and is removed. It reports whether it put a
// key in place.
func FinishRotation(dir string, current ed25519.PublicKey, secret []byte) (bool, error) {
	next := filepath.Join(dir, NextFile)
	if _, err := os.Lstat(next); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	k, err := loadKeyFile(dir, next, secret)
	if err != nil || current == nil || !bytes.Equal(k.Public, current) {
		// Not on record (or unreadable, which a rotation that reached the
		// trail cannot leave: the file was fsynced before the entry).
		if err := os.Remove(next); err != nil {
			return false, fmt.Errorf("removing the new key of a rotation that did not reach the trail: %w", err)
		}
		return false, durable.SyncDir(dir)
	}
	return true, InstallNextKey(dir, k)
}

// InstallNextKey puts the staged key k in place once its rotation is on
// record: the old private key is overwritten with zeros and fsynced, the
// staged file renamed over it, and engine.pub rewritten.
func InstallNextKey(dir string, k *Key) error {
	old := filepath.Join(dir, PrivateFile)
	if err := durable.Scrub(old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	failpoint.Hit("rotate.after-scrub")
	if err := durable.Rename(filepath.Join(dir, NextFile), old); err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, PublicFile), []byte(FormatPublicKey(k.Public)+"\n"), 0o644)
}
