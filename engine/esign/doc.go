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
// passphrase.
//
// The operator lifecycle (21 CFR 11.300, lifecycle.go) is read from the
// trail too, never from files or their times: a new passphrase must be
// hard to guess (zxcvbn, with the operator's id and name counted as
// known); it expires esign.passphrase_max_age_days after the entry that
// set it; esign.lockout_after wrong passphrases in a row lock the operator
// (operator.locked, the alert) until someone unlocks them with a reason;
// a revoked operator never signs again, a signature entry after the
// revocation does not verify, and the id is never enrolled again. A
// passphrase change is on record before its key file replaces the old
// one, and a change cut short is finished or discarded before the key is
// next used. Enrolment binds the operator to an OS uid (or a client
// certificate); signing, enrolling, unlocking and revoking each ask the
// policy bundle's authz question (gate.Authorize) with the facts its rules
// need — who ran the batch, who resubmitted into it, the meanings already
// signed, the printed names enrolled — before any passphrase is tried, and
// the decision is on record. What it does not do: a copy of a key file can
// be attacked offline, where no lock-out counts.
//
// The two-person rule's approvals (change.go): a change of the guarded
// pins that `pawl pin` proposed takes effect only once an enrolled
// operator other than its proposer has e-signed it "approved", through
// the same signing path, over a manifest bound to the change.proposed
// entry; ApplyChange puts exactly the approved pins in force. Approving a
// change is an authz question too (change.approve: policy_admin in the
// default bundle, never the proposer, one approval per person).
package esign
