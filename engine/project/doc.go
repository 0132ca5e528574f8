// Package project is a pawl project on disk: the layout of every path of
// the project and its data directory (Layout, the one place paths are
// written), Scaffold and Open, the project lock that makes an open Project
// the project's one writer, pawl.lock and the pins, job specs, the plugin
// modules pinned in the store, the policy bundle loaded as the
// configuration says, and the batches committed so far.
//
// It guarantees that what a run reads is what is pinned: a job, a schema,
// a lookup file or a policy bundle that does not match its pin is refused
// with the file, both digests and what to do, and every pinned file is kept
// in the content-addressed store so that a batch can be rebuilt from the
// store alone. Changes to the pins are on record. It does not run batches
// (package ratchet does) nor finish interrupted ones (engine.Open does).
package project
