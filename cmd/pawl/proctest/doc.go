// Package proctest tests the pawl binary as a process, the way it fails in
// the field: killed with SIGKILL at every crash point of every protocol that
// writes (a build with -tags failpoints) and at random moments, watched
// with strace for what it fsyncs and in which order, run on a terminal, and
// run twice in two processes for byte-identical output. It holds tests
// only; they build pawl from ../ and run it.
package proctest
