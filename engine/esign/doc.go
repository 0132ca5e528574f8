// Package esign is Part 11's electronic signatures (21 CFR 11.50, 11.70,
// 11.200): operators, each enrolled with an ed25519 key of their own kept
// in <data dir>/operators/<ID>.key encrypted under their passphrase, and
// the signatures they make on committed batches, with a printed name, a
// UTC time and a meaning.
//
// What it guarantees: the trail's operator.enrolled entry, not the key
// file, is the authority on who an operator is and which key is theirs;
// a signature is made over a manifest bound to one batch (its id, its
// batch.committed entry, its input hash, its lineage root and output
// hashes) and is verified again on every read, so a signature moved to
// another batch, made with another key or made before its signer was
// enrolled does not verify. Every failed attempt is on record, never the
// passphrase. What it does not do yet: roles, separation of duties,
// passphrase change, expiry, revocation and lock-out.
package esign
