// Package plugstate is the state plugins carry from batch to batch, held by
// the host (docs/plugin-abi.md §8): a table of keys and values, namespaced
// by plugin, whose canonical encoding is a content-addressed file in the
// store.
//
// # The file
//
//	"pawl-state-v1\n"
//	entries, sorted by key (bytewise), strictly ascending:
//	  u32 LE key length, key, u32 LE value length, value
//
// A key is the plugin's name, a zero byte, and the plugin's own key (1 to
// MaxKeyBytes bytes); a value is 1 to MaxValueBytes bytes (a plugin removes
// a key by putting an empty value, which is never written). There is one
// encoding of every table, so the file's sha256 names the state: the empty
// table is the magic alone (EmptyDigest).
//
// # Guarantees
//
//   - Load refuses any file that is not exactly the canonical encoding of
//     some table (order, duplicates, lengths, the namespace, trailing
//     bytes), naming the offset: FuzzLoad holds Load ∘ WriteTo = identity.
//   - A Table never changes the bytes it was opened from: Put writes to a
//     buffer, and WriteTo merges the file and the changes into a new file,
//     so the state a batch started from is untouched until its commit
//     names the new one.
//   - Memory is bounded by Options.Buffer, not by the number of keys: Open
//     checks and hashes the file in one streaming pass and keeps only the
//     first key of every 4 KiB block (a lookup reads one block); changes
//     past the buffer spill to sorted runs on disk (a Bloom filter each,
//     merged into one past eight), newest first on lookup; WriteTo streams
//     the merge (beyond the buffer, about 2 bytes a key: the sparse
//     indexes and the filters). The file written does not depend on the
//     buffer: the same
//     changes give the same bytes (TestSpilledTableMatchesModel), so replay
//     reproduces state_out whatever the buffer.
//
// It imports nothing of ours: the ratchet keeps the files in the store and
// the sandbox reaches a table through its own interface.
package plugstate
