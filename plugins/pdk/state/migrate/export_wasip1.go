//go:build wasip1

package migrate

import "unsafe"

// refusal keeps the last refusal's bytes alive for the host to read (Go's
// wasm GC does not move objects).
var refusal []byte

//go:wasmexport pawl_migrate_state
func pawlMigrateState(ptr, size uint32) uint64 {
	// The host wrote the message into the buffer pawl_alloc returned, at ptr.
	msg := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(nil), uintptr(ptr))), size)
	r := handle(msg)
	if r == "" {
		return 0
	}
	refusal = []byte(r)
	return uint64(uintptr(unsafe.Pointer(&refusal[0])))<<32 | uint64(len(refusal))
}
