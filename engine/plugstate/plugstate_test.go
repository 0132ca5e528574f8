package plugstate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
)

func fk(ns, key string) []byte { return FullKey(nil, ns, []byte(key)) }

func TestEmpty(t *testing.T) {
	b := New().Bytes()
	if string(b) != Magic {
		t.Fatalf("empty table = %q, want the magic alone", b)
	}
	s := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(s[:]); got != EmptyDigest {
		t.Fatalf("EmptyDigest %s, the empty file hashes to %s", EmptyDigest, got)
	}
}

// TestPutGetWrite: changes merge with the loaded entries in key order;
// removing a key leaves it out; a reload reads back the same table, and
// the loaded bytes are never changed.
func TestPutGetWrite(t *testing.T) {
	a := New()
	for _, k := range []string{"d", "b", "a", "c"} {
		if err := a.Put(fk("zscore", k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	a.Put(fk("other", "x"), []byte{1, 2, 3})
	file := a.Bytes()
	orig := bytes.Clone(file)
	b, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if b.Keys("zscore") != 4 || b.Keys("other") != 1 || b.Len() != 5 {
		t.Fatalf("keys: zscore %d other %d all %d", b.Keys("zscore"), b.Keys("other"), b.Len())
	}
	if v, ok := b.Get(fk("zscore", "c")); !ok || string(v) != "vc" {
		t.Fatalf("Get c = %q %v", v, ok)
	}
	b.Put(fk("zscore", "c"), []byte("VC"))   // same length: in place
	b.Put(fk("zscore", "b"), nil)            // removed
	b.Put(fk("zscore", "e"), []byte("new"))  // added
	b.Put(fk("zscore", "a"), []byte("long")) // another length
	if _, ok := b.Get(fk("zscore", "b")); ok {
		t.Fatal("a removed key is still there")
	}
	if b.Keys("zscore") != 4 {
		t.Fatalf("zscore keys %d after one removal and one addition, want 4", b.Keys("zscore"))
	}
	if !bytes.Equal(file, orig) {
		t.Fatal("Put changed the loaded bytes")
	}
	c, err := Load(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	c.Each(func(k, v []byte) error {
		got = append(got, fmt.Sprintf("%q=%q", k, v))
		return nil
	})
	want := `["other\x00x"="\x01\x02\x03" "zscore\x00a"="long" "zscore\x00c"="VC" "zscore\x00d"="vd" "zscore\x00e"="new"]`
	if s := "[" + join(got) + "]"; s != want {
		t.Fatalf("entries\n got %s\nwant %s", s, want)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func TestPutRefuses(t *testing.T) {
	tb := New()
	for _, c := range []struct {
		key []byte
		val []byte
	}{
		{fk("zscore", ""), []byte("x")},
		{[]byte("nonamespace"), []byte("x")},
		{fk("Bad", "k"), []byte("x")},
		{fk("zscore", string(make([]byte, MaxKeyBytes+1))), []byte("x")},
		{fk("zscore", "k"), make([]byte, MaxValueBytes+1)},
	} {
		if err := tb.Put(c.key, c.val); err == nil {
			t.Errorf("Put(%q, %d bytes) accepted", c.key, len(c.val))
		}
	}
	if tb.Changed() {
		t.Fatal("a refused Put changed the table")
	}
}

func TestLoadRefuses(t *testing.T) {
	ok := New()
	ok.Put(fk("a", "1"), []byte("x"))
	ok.Put(fk("a", "2"), []byte("y"))
	good := ok.Bytes()
	entry := func(k, v string) []byte {
		var b []byte
		b = append(b, byte(len(k)), 0, 0, 0)
		b = append(b, k...)
		b = append(b, byte(len(v)), 0, 0, 0)
		return append(b, v...)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, b := range map[string][]byte{
		"no magic":        []byte("pawl-state-v0\n"),
		"truncated":       good[:len(good)-1],
		"trailing":        append(bytes.Clone(good), 0),
		"out of order":    cat([]byte(Magic), entry("a\x002", "y"), entry("a\x001", "x")),
		"duplicate":       cat([]byte(Magic), entry("a\x001", "y"), entry("a\x001", "x")),
		"empty value":     cat([]byte(Magic), entry("a\x001", "")),
		"no namespace":    cat([]byte(Magic), entry("\x001", "x")),
		"no key":          cat([]byte(Magic), entry("a\x00", "x")),
		"bad namespace":   cat([]byte(Magic), entry("A\x001", "x")),
		"huge key length": cat([]byte(Magic), []byte{0xff, 0xff, 0xff, 0xff}),
	} {
		_, err := Load(b)
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: Load = %v, want a FormatError", name, err)
		}
	}
	if _, err := Load(good); err != nil {
		t.Fatal(err)
	}
}

// TestFormats: a plugin's keys in format 1 live under its name, in any
// other under name.format; Formats lists the ones that hold keys, and
// Load accepts the namespaces (and only a format after one dot).
func TestFormats(t *testing.T) {
	tb := New()
	tb.Put(fk(Namespace("zscore", "1"), "a"), []byte("x"))
	tb.Put(fk(Namespace("zscore", "2"), "a"), []byte("y"))
	tb.Put(fk(Namespace("zscore-b", "3"), "a"), []byte("z"))
	tb.Put(fk("zscore.4", "a"), []byte("w"))
	tb.Put(fk("zscore.4", "a"), nil) // removed: format 4 holds nothing
	if got := fmt.Sprint(tb.Formats("zscore")); got != "[1 2]" {
		t.Fatalf("Formats(zscore) = %s, want [1 2]", got)
	}
	if _, err := Load(tb.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := New().Put(fk("zscore.a.b", "k"), []byte("x")); err == nil {
		t.Fatal("a namespace with two dots was accepted")
	}
}
