//go:build !wasip1

package state

import "sync"

var native struct {
	sync.Mutex
	s Store
}

// Use makes s the state Get and Put reach in a native build (tests and
// benchmarks run plugins' Go code in the test process); nil: none.
func Use(s Store) {
	native.Lock()
	native.s = s
	native.Unlock()
}

func current() Store {
	native.Lock()
	defer native.Unlock()
	if native.s == nil {
		panic("state: no state (state.Use gives a native plugin its state)")
	}
	return native.s
}

func get(key, buf []byte) ([]byte, bool) {
	v, ok := current().Get(key)
	return append(buf[:0], v...), ok
}

func put(key, value []byte) {
	if err := current().Put(key, value); err != nil {
		panic(err)
	}
}
