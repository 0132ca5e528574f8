//go:build wasip1

package state

import "unsafe"

//go:wasmimport pawl state_get
func stateGet(kp unsafe.Pointer, kl uint32, vp unsafe.Pointer, vc uint32) int32

//go:wasmimport pawl state_put
func statePut(kp unsafe.Pointer, kl uint32, vp unsafe.Pointer, vl uint32) int32

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func get(key, buf []byte) ([]byte, bool) {
	buf = buf[:cap(buf)]
	n := stateGet(ptr(key), uint32(len(key)), ptr(buf), uint32(len(buf)))
	if n < 0 {
		return nil, false
	}
	if int(n) > len(buf) {
		buf = make([]byte, n)
		if m := stateGet(ptr(key), uint32(len(key)), ptr(buf), uint32(len(buf))); m != n {
			panic("state: state_get changed its answer")
		}
	}
	return buf[:n], true
}

func put(key, value []byte) {
	statePut(ptr(key), uint32(len(key)), ptr(value), uint32(len(value)))
}
