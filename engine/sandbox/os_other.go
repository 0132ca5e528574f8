//go:build !unix

package sandbox

import (
	"context"
	"os"
)

// ownedByMe cannot check ownership portably here; the mode check stands.
func ownedByMe(os.FileInfo) error { return nil }

// lockFile cannot lock across processes portably here: loads within the
// process are serialised by entryLocks.
func lockFile(context.Context, *os.File) error { return nil }

func tryLockFile(*os.File) bool { return true }
