// Package ratchet runs batches: it resolves a Plan once — job, pins,
// schema, Unicode profile, validators with their configs, policy bundle,
// limits, input, as-of time, seed — and executes it, taking every record
// through every stage to verified output or quarantine, and commits the
// batch atomically and idempotently. Run, Replay and Resubmit all execute
// a Plan; Replay and Resubmit rebuild theirs from the store and the batch's
// record, so a batch is reproduced whatever the configuration is today.
//
// The commit protocol is the heart of it. Outputs are written to
// pending/<batch>/ and fsynced; the batch's audit entry is appended — the
// audit append is the commit point; the folder is renamed to
// batches/<batch>/; the checkpoint and the signed usability signature are
// written last. Recover rolls forward a batch that reached the trail but
// not its folder or signature, and discards pending work that never
// reached the trail. A batch id is derived from the job spec, the input,
// the pins and the limits that can change a verdict, so running the same
// batch again is answered from the record.
//
// Data errors quarantine records; infrastructure errors (I/O, a corrupt
// store blob, a plugin over its time or memory, a cancelled context) fail
// the batch, commit nothing and are on record.
package ratchet
