//go:build unix

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// ownedByMe refuses a cache directory owned by another user: they could
// put code in it that this process would run.
func ownedByMe(fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("owned by uid %d, not by this process (uid %d)", st.Uid, uid)
	}
	return nil
}

// lockFile takes an exclusive flock on f, waiting while another process
// (or another load of this one) holds it, unless ctx is done.
func lockFile(ctx context.Context, f *os.File) error {
	for {
		err := flockNB(f)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for another load of the same plugin: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tryLockFile takes f's exclusive lock if no one holds it.
func tryLockFile(f *os.File) bool { return flockNB(f) == nil }

// flockNB takes f's exclusive lock without waiting (EWOULDBLOCK: held).
func flockNB(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) }
