package plugstate

import (
	"encoding/binary"
	"testing"
)

// BenchmarkGetPut: a state_get and a state_put of one of 5,000 keys (the
// host's side of zscore's calls for one reading), against a table whose
// keys are in its buffer.
func BenchmarkGetPut(b *testing.B) {
	tb := NewWith(Options{Dir: b.TempDir()})
	defer tb.Close()
	var k []byte
	val := make([]byte, 24)
	for i := 0; b.Loop(); i++ {
		binary.LittleEndian.PutUint64(val, uint64(i))
		k = FullKey(k[:0], "zscore", []byte{'d', byte(i % 5000 >> 8), byte(i % 5000), '-'})
		tb.Get(k)
		if err := tb.Put(k, val); err != nil {
			b.Fatal(err)
		}
	}
}
