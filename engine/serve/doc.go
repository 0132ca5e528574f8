// Package serve is `pawl serve`: a long-running service that alone owns a
// project's data directory, keys and compilation cache, and runs the CLI's
// commands for the people who connect to its Unix socket or, when
// HTTPSOptions.Listen is set, to its HTTPS listener with a client
// certificate.
//
// It guarantees:
//   - it starts only when what it owns is private to its account (owned by
//     it, no access for group or others), and says what to fix otherwise;
//   - one service per project: a lock held for the service's life;
//   - every connection is authenticated by the kernel (SO_PEERCRED): the
//     command runs with principal.With(ctx, the peer's uid), never with a
//     name the client gives;
//   - over HTTPS (https.go): TLS 1.3, HTTP/2, a client certificate
//     verified against the configured CAs (a refused handshake is logged);
//     the command runs with principal.ForCertificate — the leaf's sha256
//     fingerprint, no uid, the CN for messages; it refuses to start when
//     its TLS key is open to others;
//   - files the command names on the client's side are opened by the
//     client, with the client's permissions, and passed as descriptors
//     (package wire) or, over HTTPS, as streams the service pulls in
//     bounded chunks and pushes, through pipes so that a Job's files are
//     *os.File either way; the service never opens a client's path itself,
//     and every output reaches the client before the Exit;
//   - commands run one at a time, in the order they arrive (a queued
//     client is told how many are ahead); a client that disconnects
//     cancels its command, which then fails on record or, past its commit
//     point, finishes;
//   - on SIGTERM (ctx done) it stops accepting, refuses the queued
//     commands, lets the running one finish, and returns.
//
// It refuses a client with another protocol version, a malformed frame, a
// frame out of turn on a stream, or a Hello not sent within HelloTimeout.
package serve
