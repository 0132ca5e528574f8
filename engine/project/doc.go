// Package project is a pawl project on disk: the layout of every path of
// the project and its data directory (Layout, the one place paths are
// written), Scaffold and Open, the project lock that makes an open Project
// the project's one writer, pawl.lock and the pins, job specs, the plugin
// modules pinned in the store, the policy bundle loaded as the
// configuration says, and the batches committed so far.
//
// It guarantees that what a run reads is what is pinned: a job, a schema
// or any file its $refs reach, a lookup or reference file, a policy bundle
// or pawl.yaml's pinned settings (the bundle's trust settings with the
// public key's content, the limits) that does not match its pin is refused
// with the file, both digests and what to do, and every pinned file and
// settings document is kept in the content-addressed store so that a batch
// can be rebuilt from the store alone. A job may reference only regular
// files inside the project and outside the data directory, after symlinks.
// Changes to the pins are on record with the digest of the pins written,
// and pawl.lock is read (Pins) only when its digest is the last one on
// record: a hand edit is refused until `pawl pin --reason` records it.
// Under the two-person rule (change.go) a change of a guarded pin — the
// policy bundle, pawl.yaml#policy, #limits, #change — is recorded as a
// proposal instead of written, and written (PinWith with Apply) only once
// esign has checked a second person's approval. The corrections of a
// record are read back as a chain (Corrections). It
// does not run batches (package ratchet does) nor finish interrupted ones
// (engine.Open does).
package project
