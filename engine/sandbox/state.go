package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"
)

// StateStore is the keyed state a plugin keeps in the host from batch to
// batch (docs/plugin-abi.md §8), as the host hands it to one instance: the
// plugin's own keys, without anyone else's. The sandbox checks the
// plugin's declared limits before it calls Put; the store keeps what it is
// given (copying key and value: they are views of guest memory) and Get's
// value stays valid until the next Put.
type StateStore interface {
	Get(key []byte) ([]byte, bool)
	// Put sets key to value; an empty value removes the key.
	Put(key, value []byte) error
	// Keys is how many keys the plugin holds now.
	Keys() int64
}

// stateAbsent is what state_get returns for a key the state does not hold
// (-1 as an i32).
const stateAbsent = 0xFFFFFFFF

// stateViolation is how a host function stops the guest: the panic ends
// the call, and classify reports the violation it recorded.
type stateViolation struct{ err error }

func (in *Instance) violate(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	if in.stateErr == nil {
		in.stateErr = err
	}
	panic(stateViolation{err})
}

// hostStateGet is pawl.state_get(key_ptr, key_len, buf_ptr, buf_cap) -> i32:
// -1 when the key is absent; otherwise the value's length n, the value
// copied to buf when n <= buf_cap (else nothing is copied: call again with
// a buffer of n bytes).
func hostStateGet(ctx context.Context, mod api.Module, stack []uint64) {
	in, _ := ctx.Value(instanceKey{}).(*Instance)
	if in == nil {
		panic("pawl.state_get outside a call")
	}
	kp, kl, vp, vc := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	key := in.stateKey("state_get", mod, kp, kl)
	v, ok := in.state.Get(key)
	if !ok {
		stack[0] = stateAbsent
		return
	}
	if uint32(len(v)) <= vc && !mod.Memory().Write(vp, v) {
		in.violate("state_get: its buffer 0x%x+%d is outside its memory", vp, vc)
	}
	stack[0] = uint64(uint32(len(v)))
}

// hostStatePut is pawl.state_put(key_ptr, key_len, val_ptr, val_len) -> i32:
// sets the key (an empty value removes it) and returns 0. A key or value
// over the declared limits, a key outside the declared prefixes or one key
// more than max_keys stops the guest and fails the batch (KindState).
func hostStatePut(ctx context.Context, mod api.Module, stack []uint64) {
	in, _ := ctx.Value(instanceKey{}).(*Instance)
	if in == nil {
		panic("pawl.state_put outside a call")
	}
	kp, kl, vp, vl := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	key := in.stateKey("state_put", mod, kp, kl)
	d := in.p.manifest.State
	if int64(vl) > int64(d.MaxValueBytes) {
		in.violate("state_put of key %q: a value of %d bytes; its manifest declares max_value_bytes %d", clip(key), vl, d.MaxValueBytes)
	}
	val, ok := mod.Memory().Read(vp, vl)
	if !ok {
		in.violate("state_put of key %q: its value 0x%x+%d is outside its memory", clip(key), vp, vl)
	}
	if len(d.Prefixes) > 0 {
		declared := false
		for _, p := range d.Prefixes {
			if bytes.HasPrefix(key, []byte(p)) {
				declared = true
				break
			}
		}
		if !declared {
			in.violate("state_put of key %q, which it did not declare: its manifest declares the prefixes %s", clip(key), strings.Join(d.Prefixes, ", "))
		}
	}
	if d.MaxKeys > 0 && vl > 0 && in.state.Keys() >= d.MaxKeys {
		if _, had := in.state.Get(key); !had {
			in.violate("state_put of a new key %q: it holds %d keys; its manifest declares max_keys %d", clip(key), in.state.Keys(), d.MaxKeys)
		}
	}
	if err := in.state.Put(key, val); err != nil {
		in.violate("state_put of key %q: %v", clip(key), err)
	}
	stack[0] = 0
}

// stateKey reads and checks a key, stopping the guest when state is not
// its to use now.
func (in *Instance) stateKey(fn string, mod api.Module, kp, kl uint32) []byte {
	d := in.p.manifest.State
	switch {
	case d == nil || in.state == nil:
		in.violate("%s: its manifest declares no state", fn)
	case !in.validating:
		in.violate("%s outside pawl_validate: state is read and written only while a batch is judged", fn)
	case kl == 0 || int64(kl) > int64(d.MaxKeyBytes):
		in.violate("%s: a key of %d bytes; its manifest declares max_key_bytes %d (and a key has at least 1)", fn, kl, d.MaxKeyBytes)
	}
	key, ok := mod.Memory().Read(kp, kl)
	if !ok {
		in.violate("%s: its key 0x%x+%d is outside its memory", fn, kp, kl)
	}
	return key
}

// maxRefusalBytes bounds the words of a refused migration kept in the
// error: enough for a sentence that says what to do.
const maxRefusalBytes = 512

// clipText is the UTF-8 text b, cut to at most n bytes at a character
// boundary (never inside a character), with "…" when cut.
func clipText(b []byte, n int) string {
	if len(b) <= n {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	i := n
	for i > 0 && !utf8.RuneStart(b[i]) {
		i--
	}
	return strings.ToValidUTF8(string(b[:i]), "\uFFFD") + "…"
}

func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// MemState is a StateStore in a map, for tests and tools.
type MemState struct{ M map[string][]byte }

// NewMemState returns an empty MemState.
func NewMemState() *MemState { return &MemState{M: map[string][]byte{}} }

// Get implements StateStore.
func (s *MemState) Get(key []byte) ([]byte, bool) { v, ok := s.M[string(key)]; return v, ok }

// Put implements StateStore.
func (s *MemState) Put(key, value []byte) error {
	if len(value) == 0 {
		delete(s.M, string(key))
		return nil
	}
	s.M[string(key)] = bytes.Clone(value)
	return nil
}

// Keys implements StateStore.
func (s *MemState) Keys() int64 { return int64(len(s.M)) }
