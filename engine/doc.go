// Package engine is pawl's ratchet, put together: Open opens a project and
// finishes any batch a crash interrupted, Init creates one. The work is
// done by the packages below it, one job each, imports flowing one way
// (docs/architecture.md draws the graph):
//
//	project   the layout of every path, open/init, the lock, pins, jobs, plugins, the policy bundle
//	ratchet   the Plan; Run, Replay and Resubmit execute one; the commit protocol and recovery
//	finding   one finding type for every stage; quarantine and actions lines
//	gate      policy decisions, each on record
//	seal      the engine key and the usability signature
//	esign     operators, key files and Part 11 e-signatures
//	review    batches, quarantine, trace, proofs, verification, the inspectors' export
//	egress    exports to a destination (file outboxes, https)
//	actions   every audit action with its typed details; the batch record
//	config    every configuration key, its default, validation and documentation
//	lockfile  pawl.lock
//	durable   the one way bytes are made durable
//	failpoint named crash points (a build with -tags failpoints kills itself at one)
//	version   the version strings that go on record
//	demo      generated demonstration data
//	enginetest helpers the engine's and the CLI's tests share
//
// and the stages: records (framing, strict JSON), normalize (the Unicode
// boundary), schema (the JSON Schema contract), sandbox (WebAssembly
// validators), store (content-addressed blobs).
package engine
