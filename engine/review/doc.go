// Package review is what a reviewer does with a project: verify it (the
// trail's hash chain, every committed batch's signature, checkpoint,
// lineage, e-signatures and store blobs), sign checkpoints of the trail,
// prove a record's place in its batch's lineage, trace one record's whole
// history, and export a self-contained review package for inspectors
// (JSONL, an offline HTML report, the checkpoint and SHA256SUMS).
//
// It guarantees that it reports, never repairs: a problem found is named
// with its evidence (the entry, the batch, the blob, the expected and the
// actual hash), and a trace whose record does not hash to its leaf says so
// rather than proving it. It only reads, except for the entries that put
// a checkpoint or an export on record.
package review
