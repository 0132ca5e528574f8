// Package engine is the ratchet: it opens a pawl project, runs one batch of
// records through every stage to verified output or quarantine, and commits
// the batch atomically and idempotently.
//
// The commit protocol is the heart of it. Outputs are written to
// pending/<batch>/ and fsynced; the batch's audit entry is appended — the
// audit append is the commit point; the folder is renamed to
// batches/<batch>/; the signed usability signature is written last. Opening
// a project rolls forward a batch that reached the audit trail but not its
// folder or signature, and discards pending work that never reached the
// trail. A batch id is derived from the job spec, the input and the pins, so
// running the same batch again is answered from the record.
//
// Data errors quarantine records; infrastructure errors (I/O, a corrupt store
// blob, a cancelled context) fail the batch, commit nothing and are audited.
package engine
