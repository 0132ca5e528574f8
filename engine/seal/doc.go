// Package seal is the engine's own signature: the ed25519 engine key (kept
// in <data dir>/keys, a 0700 directory, the private half a regular file of
// mode 0600, plain or sealed at rest under a key-encryption secret), its
// rotation and the key history the audit trail holds (project.init's key,
// then each engine.key_rotated entry, cross-signed by the old and the new
// key), and the usability signature of a committed batch (signature.json:
// what was checked, against what, with which result), signed over its
// canonical JSON; and beside the engine key the compilation cache's MAC key
// (keys/cache.key, 32 random bytes, mode 0600, made at init or on first use).
//
// It guarantees that a signature is derived from the batch's audit entry
// alone, so recovery writes it again byte for byte (ed25519 signatures are
// deterministic); that VerifyFile refuses any byte-level edit of
// signature.json, a key that is not trusted, and an output beside it that
// no longer has the signed hash; and that a KeyHistory accepts a batch
// signature or a checkpoint only from the key in force at its entry. It
// refuses keys others may read or write. It does not protect a key from
// whoever runs as its owner (or root) while it is in use.
package seal
