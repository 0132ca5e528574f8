// Package wire is the protocol between the pawl CLI and `pawl serve`:
// length-prefixed frames, each a type, a count of file descriptors passed
// with it (SCM_RIGHTS, on a Unix socket) and a JSON payload (binary for a
// Data frame).
//
// A frame on the wire is
//
//	uint32 big-endian  n, the payload's length (at most MaxPayload)
//	byte               the type (THello, TRequest, TAnswer, TExit; in a streamed session also TPull, TData, TShut, TEnd)
//	byte               the number of descriptors sent with the frame (at most MaxFDs)
//	n bytes            the payload, one JSON object of the type's message
//
// A descriptor session (the Unix socket): the client sends one Hello
// (protocol Version, its command line and working directory) with its
// standard input, output and error attached; the service answers every file the command needs on the
// client's side with a Request, which the client opens with its own
// permissions and returns with an Answer carrying the descriptor; the
// service ends with an Exit carrying the command's exit status. A client
// that closes the connection cancels its command.
//
// A streamed session (HTTPS, one full-duplex HTTP/2 exchange: the request
// body one way, the response body the other) has the same messages with
// no descriptors; the standard streams and every file a Request opens
// become numbered streams whose bytes cross in Data frames: input pulled
// by the service one bounded chunk at a time (at most one Pull outstanding
// per stream, so no stream can hold up another), output pushed, and a
// created file made durable and closed by the client on a Shut, which it
// answers with an End (stream.go says it in full). Version 2 of the
// protocol added the streamed session; Decode and DecodeStreamed each
// refuse the other's frames.
//
// Decoding is strict: an unknown type, a payload over the limit, a
// descriptor count that does not match the message, unknown JSON fields or
// a wrong version are errors, never guesses. It imports nothing of ours.
package wire
