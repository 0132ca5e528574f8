// Package migrate is the guest side of state-format migration
// (docs/plugin-abi.md §8) for Go plugins: Register a function, and the
// module exports pawl_migrate_state, which the host calls once per key the
// job's state holds in a format the plugin's manifest does not declare.
//
// It is a package of its own, not part of state, so that only the plugins
// that migrate export the function: every other module stays byte for byte
// what it was, and a module without the export is refused a state in
// another format rather than handed one.
package migrate

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Func migrates one key of the old format from with its value: it writes
// what it keeps in the plugin's declared format with state.Put (the key,
// other keys, or nothing; the host removes the old key afterwards) and
// returns nil, or an error whose text refuses the migration and fails the
// batch (nothing committed, the job's state as it was).
type Func func(from string, key, value []byte) error

var registered Func

// Register makes f the plugin's migration. Call it from an init func, as
// pdk.Register.
func Register(f Func) { registered = f }

// parse splits the host's message: three parts, each a u32 LE length and
// its bytes (the old format, the key, the value), and nothing after them.
// key and value alias msg.
func parse(msg []byte) (from string, key, value []byte, err error) {
	var parts [3][]byte
	names := [3]string{"format", "key", "value"}
	rest := msg
	for i := range parts {
		if len(rest) < 4 {
			return "", nil, nil, fmt.Errorf("migrate: malformed message of %d bytes: the length of the %s (part %d of 3) is cut off at byte %d", len(msg), names[i], i+1, len(msg)-len(rest))
		}
		n := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return "", nil, nil, fmt.Errorf("migrate: malformed message of %d bytes: the %s (part %d of 3) claims %d bytes but %d remain", len(msg), names[i], i+1, n, len(rest))
		}
		parts[i], rest = rest[:n:n], rest[n:]
	}
	if len(rest) != 0 {
		return "", nil, nil, fmt.Errorf("migrate: malformed message of %d bytes: %d bytes after its three parts", len(msg), len(rest))
	}
	if len(parts[0]) == 0 || !utf8.Valid(parts[0]) {
		return "", nil, nil, fmt.Errorf("migrate: malformed message: the old format %q is not a format name", parts[0])
	}
	return string(parts[0]), parts[1], parts[2], nil
}

// handle is pawl_migrate_state's body: "" when the registered function
// migrated the message's key, else the refusal's text (valid UTF-8, never
// empty). A malformed message, no registered function and a panic in it
// are refusals too, never a trap.
func handle(msg []byte) (refusal string) {
	if registered == nil {
		return "migrate: the plugin exports pawl_migrate_state but registered no migration (call migrate.Register in an init func)"
	}
	from, key, value, err := parse(msg)
	if err == nil {
		err = call(from, key, value)
	}
	if err == nil {
		return ""
	}
	refusal = strings.ToValidUTF8(err.Error(), "\uFFFD")
	if refusal == "" {
		refusal = fmt.Sprintf("migration of key %q from format %s refused", key, from)
	}
	return refusal
}

func call(from string, key, value []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("migrate: the migration of key %q from format %s panicked: %v", key, from, r)
		}
	}()
	return registered(from, key, value)
}
