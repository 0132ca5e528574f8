package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeBehind streams what a File writes to disk as it goes: every window
// of bytes written starts its own writeback (sync_file_range, which does
// not wait), and what was written two windows before, by then on disk,
// is dropped from the page cache (posix_fadvise DONTNEED, which leaves
// pages still being written). A batch's outputs then hold a few windows of
// the page cache instead of all their bytes (1.6 GB for 5M records), the
// pages they free are the next ones they fill, and the fsync at the end
// has little left to write. Both calls only advise: the writer never
// waits on them, and a write error still shows at that fsync.
type writeBehind struct {
	started int64 // writeback started for the bytes before it
	dropped int64 // dropped from the page cache before it (once more for the window before, in case some pages were still being written)
}

func (b *writeBehind) wrote(f *os.File, n int64) {
	if n-b.started < writeBehindWindow {
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), b.started, n-b.started, unix.SYNC_FILE_RANGE_WRITE)
		if done := b.started - writeBehindWindow; done > b.dropped {
			from := max(0, b.dropped-writeBehindWindow)
			_ = unix.Fadvise(int(fd), from, done-from, unix.FADV_DONTNEED)
			b.dropped = done
		}
	})
	b.started = n
}
