// Package proctest holds what the process tests share: building pawl
// (release and -tags failpoints) once per test binary, running it, and the
// steps their projects need. The tests are in its subpackages, one test
// binary each, so that each stays well within go test's default timeout:
//
//   - crash: SIGKILL at every crash point of every protocol that writes;
//   - kill: SIGKILL at random moments, two processes on one batch, the
//     progress bar on a terminal;
//   - fsync: what is fsynced, and in which order (strace);
//   - serve: the service as its own account, over the socket and HTTPS.
//
// They test the pawl binary as a process, the way it fails in the field.
package proctest
