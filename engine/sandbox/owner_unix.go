//go:build unix

package sandbox

import (
	"fmt"
	"os"
	"syscall"
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
