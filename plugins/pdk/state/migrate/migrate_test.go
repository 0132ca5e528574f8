//go:build !wasip1

package migrate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/plugins/pdk/state"
)

// raw lays out parts by hand (not with Message), each a u32 LE length
// (lens[i] when given, else its own) and its bytes.
func raw(lens []uint32, parts ...string) []byte {
	var b []byte
	for i, p := range parts {
		n := uint32(len(p))
		if i < len(lens) {
			n = lens[i]
		}
		b = binary.LittleEndian.AppendUint32(b, n)
		b = append(b, p...)
	}
	return b
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name       string
		msg        []byte
		from       string
		key, value string
	}{
		{"ordinary", raw(nil, "1", "k/0", "12345678"), "1", "k/0", "12345678"},
		{"empty key and value", raw(nil, "v1.2", "", ""), "v1.2", "", ""},
		{"binary key", raw(nil, "1", "k/\x00\xff", "\x00"), "1", "k/\x00\xff", "\x00"},
		{"Message", Message("2", []byte("key"), []byte("value")), "2", "key", "value"},
	} {
		from, key, value, err := parse(c.msg)
		if err != nil || from != c.from || string(key) != c.key || string(value) != c.value {
			t.Errorf("%s: parse = %q %q %q %v, want %q %q %q", c.name, from, key, value, err, c.from, c.key, c.value)
		}
		if cap(key) != len(key) {
			t.Errorf("%s: the key's capacity reaches into the value: an append would overwrite it", c.name)
		}
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	for _, c := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"empty", nil, "malformed message of 0 bytes: the length of the format (part 1 of 3) is cut off at byte 0"},
		{"two parts", raw(nil, "1", "k"), "the length of the value (part 3 of 3) is cut off at byte 10"},
		{"four parts", raw(nil, "1", "k", "v", "w"), "malformed message of 20 bytes: 5 bytes after its three parts"},
		{"trailing byte", append(raw(nil, "1", "k", "v"), 0), "1 bytes after its three parts"},
		{"key too long", raw([]uint32{1, 9}, "1", "k", "v"), "the key (part 2 of 3) claims 9 bytes but 6 remain"},
		{"huge length", raw([]uint32{0xFFFFFFFF}, "1", "k", "v"), "the format (part 1 of 3) claims 4294967295 bytes but 11 remain"},
		{"value cut", raw([]uint32{1, 1, 2}, "1", "k", "v"), "the value (part 3 of 3) claims 2 bytes but 1 remain"},
		{"empty format", raw(nil, "", "k", "v"), `the old format "" is not a format name`},
		{"format not UTF-8", raw(nil, "\xff", "k", "v"), `the old format "\xff" is not a format name`},
	} {
		_, _, _, err := parse(c.msg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: parse(% x) = %v, want an error containing %q", c.name, c.msg, err, c.want)
		}
	}
	// Every proper prefix of a good message, and the message with any byte
	// after it, is refused.
	good := raw(nil, "1", "k/0", "12345678")
	for n := range len(good) {
		if _, _, _, err := parse(good[:n]); err == nil {
			t.Errorf("the first %d of %d bytes parsed", n, len(good))
		}
	}
	for b := range 256 {
		if _, _, _, err := parse(append(bytes.Clone(good), byte(b))); err == nil {
			t.Errorf("the message with byte %d after it parsed", b)
		}
	}
}

type mapStore map[string]string

func (m mapStore) Get(k []byte) ([]byte, bool) { v, ok := m[string(k)]; return []byte(v), ok }
func (m mapStore) Put(k, v []byte) error {
	if len(v) == 0 {
		delete(m, string(k))
	} else {
		m[string(k)] = string(v)
	}
	return nil
}

// TestMigrate: Migrate (pawl_migrate_state's body) gives the registered
// function the message's parts and returns "" when it keeps them, its
// error's text when it refuses; no function, a malformed message and a
// panic are refusals in words, and the function is not called on a
// malformed message.
func TestMigrate(t *testing.T) {
	t.Cleanup(func() { registered = nil; state.Use(nil) })
	registered = nil
	if got := Migrate(Message("1", []byte("k"), []byte("v"))); !strings.Contains(got, "registered no migration (call migrate.Register in an init func)") {
		t.Fatalf("with no migration registered: %q", got)
	}

	s := mapStore{}
	state.Use(s)
	calls := 0
	Register(func(from string, key, value []byte) error {
		calls++
		switch string(key) {
		case "k/bad":
			return errors.New("stategomigrate: k/bad has no format-2 form")
		case "k/empty":
			return errors.New("")
		case "k/panic":
			panic("boom")
		case "k/invalid":
			return errors.New("not \xffUTF-8")
		}
		state.Put(append([]byte("v2/"), key...), append([]byte(from+":"), value...))
		return nil
	})
	if got := Migrate(Message("1", []byte("k/0"), []byte("12345678"))); got != "" || s["v2/k/0"] != "1:12345678" || len(s) != 1 {
		t.Fatalf("migrating k/0: refusal %q, state %v", got, s)
	}
	for key, want := range map[string]string{
		"k/bad":     "stategomigrate: k/bad has no format-2 form",
		"k/empty":   `migration of key "k/empty" from format 1 refused`,
		"k/panic":   `migrate: the migration of key "k/panic" from format 1 panicked: boom`,
		"k/invalid": "not \uFFFDUTF-8",
	} {
		if got := Migrate(Message("1", []byte(key), []byte("v"))); got != want {
			t.Errorf("%s: refusal %q, want %q", key, got, want)
		}
	}
	before := calls
	if got := Migrate(append(Message("1", []byte("k/1"), []byte("v")), 'x')); !strings.Contains(got, "malformed message") || calls != before {
		t.Fatalf("a malformed message: refusal %q, the function called %d times", got, calls-before)
	}
	if len(s) != 1 {
		t.Fatalf("refusals wrote to the state: %v", s)
	}
}
