// Package seal is the engine's own signature: the ed25519 engine key (kept
// in <data dir>/keys, the private half mode 0600) and the usability
// signature of a committed batch (signature.json: what was checked,
// against what, with which result), signed over its canonical JSON; and
// beside the engine key the compilation cache's MAC key (keys/cache.key,
// 32 random bytes, mode 0600, made at init or on first use).
//
// It guarantees that a signature is derived from the batch's audit entry
// alone, so recovery writes it again byte for byte (ed25519 signatures are
// deterministic), and that VerifyFile refuses any byte-level edit of
// signature.json, a key that is not trusted, and an output beside it that
// no longer has the signed hash. It does not protect the keys from someone
// who can read the data directory.
package seal
