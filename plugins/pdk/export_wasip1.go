//go:build wasip1

package pdk

import "unsafe"

// The guest side of the ABI. Buffers are package globals so the host's
// pointers stay valid (Go's wasm GC does not move objects) and are reused
// across calls.
var (
	inbuf  []byte
	result Result
	errMsg []byte
)

//go:wasmexport pawl_alloc
func pawlAlloc(size uint32) uint32 {
	// Allocate as []uint64 so the buffer is 8-aligned: f64 columns are
	// then read in place.
	words := make([]uint64, (size+7)/8+1)
	inbuf = unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), size)
	return uint32(uintptr(unsafe.Pointer(&words[0])))
}

func pack(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

//go:wasmexport pawl_init
func pawlInit(ptr, size uint32) uint64 {
	if registered == nil {
		errMsg = []byte("pdk: no plugin registered (call pdk.Register in an init func)")
		return pack(errMsg)
	}
	in, err := DecodeInit(inbuf[:size])
	if err == nil {
		err = registered.Init(in)
	}
	if err != nil {
		errMsg = []byte(err.Error())
		if len(errMsg) == 0 {
			errMsg = []byte("init failed")
		}
		return pack(errMsg)
	}
	return 0
}

//go:wasmexport pawl_validate
func pawlValidate(ptr, size uint32) uint64 {
	out, err := Run(registered, inbuf[:size], &result)
	if err != nil {
		panic(err)
	}
	return pack(out)
}
