package version

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// HashCache is where the executable's hash is kept between processes: a
// directory (the compilation cache's, beside its wasm entries) and the
// key that MACs its entries (the compilation cache's key). An entry says
// "the file with this identity — device, inode, size, modification and
// change times in nanoseconds — has this sha256", under an HMAC-SHA256 of
// all of it; it is used only when the MAC matches and the file's identity
// is still exactly that. A file written in place changes its change time
// (ctime), which no user can set; a file replaced by another is another
// inode or another ctime. So a run hashes the ~80 MB binary again only
// when the file changed (SECURITY.md, "The executable's hash").
type HashCache struct {
	Dir string // made 0700 when missing
	Key []byte // at least 32 bytes
}

var exe struct {
	once sync.Once
	sum  string
	err  error
}

// HashBinary starts BinarySHA256 on a goroutine of its own, with the
// cache c (nil: none), and returns: a command that will put the
// executable's hash on record calls it as soon as it knows the cache, so
// that a hash not found there (~70 ms of CPU) overlaps the command's other
// work. BinarySHA256 then waits for that same hashing; nothing is hashed
// twice in a process.
func HashBinary(c *HashCache) {
	go binarySHA256(c) // its result is kept for BinarySHA256
}

// BinarySHA256 is the hex sha256 of the running executable's file: what
// a site compares with the hash of the binary it qualified. It is the one
// HashBinary found, or computed, when HashBinary was called first.
func BinarySHA256() (string, error) { return binarySHA256(nil) }

func binarySHA256(c *HashCache) (string, error) {
	exe.once.Do(func() {
		path, err := os.Executable()
		if err != nil {
			exe.err = err
			return
		}
		exe.sum, _, exe.err = hashFile(path, c)
	})
	return exe.sum, exe.err
}

// racyWindow: a file changed less than this before it was hashed is not
// cached. File times come from a coarse clock (a tick of up to 10 ms), so
// a file written again within the same tick as the hash began could keep
// its times; an entry is written only for a file older than that.
var racyWindow = 2 * time.Second

// fileID is what identifies a file's content without reading it.
type fileID struct {
	dev, ino, size, mtime, ctime int64
}

func (id fileID) fields() []int64 { return []int64{id.dev, id.ino, id.size, id.mtime, id.ctime} }

// hashFile returns the hex sha256 of the file at path, from c when it
// holds a valid entry for the file as it is now (cached true), else by
// reading it, then kept in c (when the file did not change while it was
// read and is not too recent: racyWindow).
func hashFile(path string, c *HashCache) (sum string, cached bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", false, err
	}
	id, idOK := identity(fi)
	if c != nil && idOK {
		if s, ok := c.lookup(id); ok {
			return s, true, nil
		}
	}
	start := time.Now()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", false, err
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if c != nil && idOK && time.Unix(0, id.ctime).Before(start.Add(-racyWindow)) && time.Unix(0, id.mtime).Before(start.Add(-racyWindow)) {
		if fi2, err := f.Stat(); err == nil {
			if id2, ok := identity(fi2); ok && id2 == id {
				c.keep(id, sum) // a cache: failing to keep it costs a hash next time
			}
		}
	}
	return sum, false, nil
}

// hashDomain starts every MAC of an entry, so it cannot be mistaken for
// another use of the key (the compilation cache's entries have their own).
const hashDomain = "pawl executable hash v1\x00"

// entryPrefix starts an entry's one line.
const entryPrefix = "pawl-exe-sha256 v1"

func (c *HashCache) mac(id fileID, sum string) []byte {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte(hashDomain))
	for _, v := range id.fields() {
		binary.Write(m, binary.BigEndian, v)
	}
	m.Write([]byte(sum))
	return m.Sum(nil)
}

// dir is the entries' directory for this key: caches of projects with
// other keys never overwrite each other's entries.
func (c *HashCache) dir() string {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte("pawl executable hash namespace v1"))
	return filepath.Join(c.Dir, "key-"+hex.EncodeToString(m.Sum(nil)[:8]))
}

// entry is the file of the entry for the file at (dev, inode).
func (c *HashCache) entry(id fileID) string {
	return filepath.Join(c.dir(), fmt.Sprintf("exe-%x-%x", id.dev, id.ino))
}

func (c *HashCache) line(id fileID, sum string) string {
	return fmt.Sprintf("%s %d %d %d %d %d %s %s\n", entryPrefix, id.dev, id.ino, id.size, id.mtime, id.ctime, sum, hex.EncodeToString(c.mac(id, sum)))
}

// lookup returns the sha256 the entry for id holds when its MAC matches
// and it is for exactly that identity.
func (c *HashCache) lookup(id fileID) (string, bool) {
	if len(c.Key) < 32 {
		return "", false
	}
	f, err := os.Open(c.entry(id))
	if err != nil {
		return "", false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 512))
	if err != nil {
		return "", false
	}
	fs := strings.Fields(string(b))
	if len(fs) != 9 || len(fs[7]) != 64 {
		return "", false
	}
	sum := fs[7]
	if _, err := hex.DecodeString(sum); err != nil || strings.ToLower(sum) != sum {
		return "", false
	}
	// The whole line as pawl writes it for this identity and this sum:
	// any other identity, spelling or MAC is not this entry.
	if !hmac.Equal(b, []byte(c.line(id, sum))) {
		return "", false
	}
	return sum, true
}

// keep writes the entry for id beside its place and renames it there.
func (c *HashCache) keep(id fileID, sum string) error {
	if len(c.Key) < 32 {
		return errors.New("version: the executable hash cache needs a key of at least 32 bytes")
	}
	dir := c.dir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, ".tmp-"+hex.EncodeToString(rnd[:]))
	if err := os.WriteFile(tmp, []byte(c.line(id, sum)), 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, c.entry(id)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
