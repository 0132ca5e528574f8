//go:build wasip1

// Command stateprobe is a test plugin that uses the host's state as each
// record's value tells it (the sandbox's state tests):
//
//	1: put "k/<First+i>" = 8 bytes (within every limit)
//	2: put a key of 33 bytes (max_key_bytes is 32)
//	3: put a value of 65 bytes (max_value_bytes is 64)
//	4: put "other" (the manifest declares the prefix "k/" only)
//	5: get "k/0" and reject the record with what it read
//	6: remove "k/0"
//
// With the config {"init_put": true} it puts a key during init.
package main

import (
	"strconv"
	"strings"

	"github.com/pawl-dev/pawl/plugins/pdk"
	"github.com/pawl-dev/pawl/plugins/pdk/state"
)

type probe struct{}

func (probe) Init(in pdk.Init) error {
	if strings.Contains(string(in.Config), "init_put") {
		state.Put([]byte("k/init"), []byte("x"))
	}
	return nil
}

func (probe) Validate(b *pdk.Batch, r *pdk.Result) {
	vals := b.Numbers(0)
	for i := 0; i < b.N; i++ {
		v, _ := vals.Get(i)
		switch v {
		case 1:
			state.Put([]byte("k/"+strconv.FormatUint(b.First+uint64(i), 10)), []byte("12345678"))
		case 2:
			state.Put([]byte("k/"+strings.Repeat("x", 31)), []byte("v"))
		case 3:
			state.Put([]byte("k/big"), []byte(strings.Repeat("v", 65)))
		case 4:
			state.Put([]byte("other"), []byte("v"))
		case 5:
			got, ok := state.Get([]byte("k/0"), nil)
			r.Reject(i, 0, "probe.read", strconv.Quote(string(got))+" "+strconv.FormatBool(ok))
		case 6:
			state.Put([]byte("k/0"), nil)
		}
	}
}

func init() { pdk.Register(probe{}) }

func main() {}
