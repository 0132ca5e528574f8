// Package store is pawl's content-addressed blob store: every input and
// output file is kept under the SHA-256 of its bytes, so a digest written
// in the audit trail names exactly one content, forever.
//
// # Layout
//
// A store is a directory:
//
//	<dir>/sha256/<first two hex digits>/<64 hex digits>   blobs, mode 0444
//	<dir>/tmp/                                            files being written
//
// Digests are written "sha256:" followed by 64 lowercase hex digits (see
// [Digest]); no other spelling is accepted, so a digest string compares
// equal exactly when the content does.
//
// # Guarantees
//
//   - Put streams: content is hashed while it is copied to a temporary file
//     in the store's own tmp/ directory, never held in memory as a whole.
//   - A blob appears at its content path only complete and durable: the
//     temporary file is fsynced, made read-only, linked (or renamed) into
//     place, and the containing directory is fsynced before Put returns.
//   - Put is idempotent and safe for concurrent use, from goroutines and from
//     separate processes: putting content that is already stored keeps the
//     existing blob and removes the temporary file.
//   - A failed Put leaves no temporary file behind (a crash can; anything in
//     tmp/ that no running Put owns is safe to delete).
//   - Reading is checked: [Store.Open] returns a reader that hashes what it
//     delivers and reports a [*CorruptError] instead of io.EOF when the bytes
//     on disk no longer match their name. [Store.Verify] does the same check
//     without handing out the content.
//   - A file written through a [File] (created read-only, hashed as it is
//     written, fsynced by Finish) is adopted by [Store.AdoptFile] under the
//     hash computed while writing, without a second read; it refuses a file
//     whose write failed or that changed (identity, size, modification
//     time) after Finish. [File] says why that hash is trustworthy and what
//     only a later read (Open, Verify) can catch.
//
// # What it refuses and what it does not promise
//
// Digests that are not in canonical form are refused everywhere, so a
// digest can never be used to reach a path outside the store. [Store.Adopt]
// refuses anything that is not a regular file (symlinks included) and
// refuses a file that changed while it was being hashed.
//
// Read-only file modes stop accidents, not an administrator: someone with
// write access to the directory can still change a blob. The store does not
// prevent that; it makes it evident, at the latest when the blob is read
// through Open or checked with Verify. Adopt shares the inode with the
// original path (a hard link), so writing through the original name after a
// chmod changes the blob too; Verify will then report it as corrupt.
//
// The store never deletes blobs; garbage collection, if ever needed, is a
// separate, audited operation.
package store
