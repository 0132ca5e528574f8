// Package serve is `pawl serve`: a long-running service that alone owns a
// project's data directory, keys and compilation cache, and runs the CLI's
// commands for the people who connect to its Unix socket.
//
// It guarantees:
//   - it starts only when what it owns is private to its account (owned by
//     it, no access for group or others), and says what to fix otherwise;
//   - one service per project: a lock held for the service's life;
//   - every connection is authenticated by the kernel (SO_PEERCRED): the
//     command runs with principal.With(ctx, the peer's uid), never with a
//     name the client gives;
//   - files the command names on the client's side are opened by the
//     client, with the client's permissions, and passed as descriptors
//     (package wire); the service never opens a client's path itself;
//   - commands run one at a time, in the order they arrive (a queued
//     client is told how many are ahead); a client that disconnects
//     cancels its command, which then fails on record or, past its commit
//     point, finishes;
//   - on SIGTERM (ctx done) it stops accepting, refuses the queued
//     commands, lets the running one finish, and returns.
//
// It refuses a client with another protocol version, a malformed frame, or
// a Hello not sent within HelloTimeout.
package serve
