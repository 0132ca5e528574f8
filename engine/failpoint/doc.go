// Package failpoint names the points at which a crash must leave a pawl
// project whole: after each fsync of a batch's outputs, after the audit
// append, after the rename, around the checkpoint and the signature, in
// recovery, between the files of an export, and in every other protocol
// that writes.
//
// A release build compiles Hit to nothing. A build with -tags failpoints
// reads PAWL_FAILPOINT: when it names the point being passed ("name", or
// "name:N" for the N-th pass), the process kills itself with SIGKILL, as a
// power cut or the OOM killer would, with no deferred function, no buffered
// write and no cleanup running. With PAWL_FAILPOINT_LOG set to a file, every
// point passed is appended to it, so a test can learn which points a
// command reaches and kill it at each in turn (cmd/pawl's
// TestCrashAtEveryPoint).
package failpoint
