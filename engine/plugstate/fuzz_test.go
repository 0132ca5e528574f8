package plugstate

import (
	"bytes"
	"testing"
)

// FuzzLoad: whatever bytes a state file holds (it comes from the store,
// which a person with access to the disk can edit), Load either refuses
// them or they are exactly the canonical encoding of the table it read:
// writing the table back gives the same bytes, and every entry reads back.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(Magic))
	t := New()
	t.Put(FullKey(nil, "zscore", []byte("dev-1")), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	t.Put(FullKey(nil, "zscore", []byte("dev-2")), []byte{9})
	f.Add(t.Bytes())
	f.Add([]byte("pawl-state-v1\n\x03\x00\x00\x00a\x00b\x01\x00\x00\x00c"))
	f.Fuzz(func(tt *testing.T, b []byte) {
		tb, err := Load(b)
		if err != nil {
			return
		}
		if got := tb.Bytes(); !bytes.Equal(got, b) {
			tt.Fatalf("accepted a non-canonical file:\n in %q\nout %q", b, got)
		}
		type kv struct{ k, v []byte }
		var all []kv
		if err := tb.Each(func(k, v []byte) error {
			all = append(all, kv{bytes.Clone(k), bytes.Clone(v)})
			return nil
		}); err != nil {
			tt.Fatal(err)
		}
		if int64(len(all)) != tb.Len() {
			tt.Fatalf("%d entries, Len %d", len(all), tb.Len())
		}
		for _, e := range all {
			k, v := e.k, e.v
			if got, ok := tb.Get(k); !ok || !bytes.Equal(got, v) {
				tt.Fatalf("entry %q does not read back", k)
			}
			// Writing an entry its own value changes nothing.
			if err := tb.Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
				tt.Fatalf("Put of a loaded entry %q: %v", k, err)
			}
		}
		if got := tb.Bytes(); !bytes.Equal(got, b) {
			tt.Fatalf("rewriting every entry changed the file")
		}
	})
}
