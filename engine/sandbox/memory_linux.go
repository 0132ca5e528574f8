//go:build linux

package sandbox

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// guestMemory gives each instance's linear memory an anonymous private
// mapping of its maximum size (the memory limit), reserved, not committed,
// at instantiation: growing it only lengthens the slice over the mapping,
// a page costs memory when the guest first writes it, and closing the
// instance unmaps it, so the host's memory per instance is what its guest
// touched plus a fixed overhead. wazero's own memory is a Go slice grown
// by append: each growth past the capacity copies the whole memory, the
// old copies wait for the collector, and the collector's pacing counts
// them, so a guest at a 256 MiB cap held the host at ~1 GiB and spent its
// call deadline copying (BENCHMARKS.md, "Start-up and memory").
//
// Unmapping is safe because nothing touches guest memory after its
// module is closed: an instance is closed under its lock, which every
// call holds; a call past its deadline leaves the closing to the calling
// goroutine (wazero defers it); and Runtime.Close waits for the calls in
// flight (Runtime.calls) before it closes the plugins' runtimes.
var guestMemory experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(mapGuestMemory)

func mapGuestMemory(capBytes, maxBytes uint64) experimental.LinearMemory {
	if maxBytes == 0 || maxBytes > 1<<32 {
		maxBytes = 1 << 32 // a 32-bit memory's
	}
	b, err := syscall.Mmap(-1, 0, int(maxBytes), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		// No address space for it (a ulimit -v): a Go slice, as wazero's own.
		return &heapMemory{buf: make([]byte, 0, capBytes), max: maxBytes}
	}
	return &mappedMemory{buf: b}
}

// mappedMemory is a linear memory in its own mapping, which never moves.
type mappedMemory struct{ buf []byte }

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil // past the limit: memory.grow returns -1
	}
	return m.buf[:size:size]
}

func (m *mappedMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}

// heapMemory is the fallback: a Go slice grown by copying.
type heapMemory struct {
	buf []byte
	max uint64
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	switch {
	case size > m.max:
		return nil
	case size > uint64(cap(m.buf)):
		b := make([]byte, size)
		copy(b, m.buf)
		m.buf = b
	default:
		m.buf = m.buf[:size]
	}
	return m.buf
}

func (m *heapMemory) Free() { m.buf = nil }
