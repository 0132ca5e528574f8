//go:build !linux

package sandbox

import "github.com/tetratelabs/wazero/experimental"

// guestMemory is wazero's own (a Go slice) where pawl has no mapping of
// its own for a guest's memory (memory_linux.go).
var guestMemory experimental.MemoryAllocator
