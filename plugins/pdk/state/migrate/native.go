//go:build !wasip1

package migrate

import "encoding/binary"

// Migrate hands msg to the registered function as the host's call of
// pawl_migrate_state does in a native build (tests run a plugin's Go code
// in the test process, with state.Use giving it its state): "" when it
// migrated the key, else the refusal's text.
func Migrate(msg []byte) string { return handle(msg) }

// Message lays out from, key and value as the host's message to
// pawl_migrate_state: each a u32 LE length and its bytes.
func Message(from string, key, value []byte) []byte {
	var msg []byte
	for _, part := range [][]byte{[]byte(from), key, value} {
		msg = binary.LittleEndian.AppendUint32(msg, uint32(len(part)))
		msg = append(msg, part...)
	}
	return msg
}
