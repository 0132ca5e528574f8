//go:build linux

package sandbox

import (
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// guestMemory gives each instance's linear memory an anonymous private
// mapping of its maximum size (the memory limit), reserved, not committed,
// at instantiation: growing it only lengthens the slice over the mapping,
// a page costs memory when the guest first writes it, and closing the
// instance gives its pages back to the system at once (MADV_DONTNEED), so
// the host's memory per instance is what its guest touched plus a fixed
// overhead. wazero's own memory is a Go slice grown by append: each growth
// past the capacity copies the whole memory, the old copies wait for the
// collector, and the collector's pacing counts them, so a guest at a
// 256 MiB cap held the host at ~1 GiB and spent its call deadline copying
// (BENCHMARKS.md, "Start-up and memory").
//
// A closed instance's mapping is kept for the next instance of the same
// size (its pages read as zeros again after MADV_DONTNEED), not unmapped:
// a read of a closed instance's memory that slipped through would then
// see zeros, not fault and take the process down. The mappings kept are
// as many as instances were ever open at once. Host code still copies
// what it keeps of guest memory before it closes an instance, and
// Runtime.Close waits for the calls in flight (Runtime.calls).
var guestMemory experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(mapGuestMemory)

// spare holds the mappings of closed instances, by size.
var spare struct {
	sync.Mutex
	bySize map[int][][]byte
}

func mapGuestMemory(capBytes, maxBytes uint64) experimental.LinearMemory {
	if maxBytes == 0 || maxBytes > 1<<32 {
		maxBytes = 1 << 32 // a 32-bit memory's
	}
	spare.Lock()
	if l := spare.bySize[int(maxBytes)]; len(l) > 0 {
		b := l[len(l)-1]
		spare.bySize[int(maxBytes)] = l[:len(l)-1]
		spare.Unlock()
		return &mappedMemory{buf: b}
	}
	spare.Unlock()
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
	if m.buf == nil {
		return
	}
	b := m.buf
	m.buf = nil
	if err := syscall.Madvise(b, syscall.MADV_DONTNEED); err != nil {
		_ = syscall.Munmap(b)
		return
	}
	spare.Lock()
	if spare.bySize == nil {
		spare.bySize = map[int][][]byte{}
	}
	spare.bySize[len(b)] = append(spare.bySize[len(b)], b)
	spare.Unlock()
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
