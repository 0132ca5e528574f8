// Package wire is the protocol between the pawl CLI and `pawl serve` over
// a Unix socket: length-prefixed frames, each a type, a count of file
// descriptors passed with it (SCM_RIGHTS) and a JSON payload.
//
// A frame on the wire is
//
//	uint32 big-endian  n, the payload's length (at most MaxPayload)
//	byte               the type (THello, TRequest, TAnswer, TExit)
//	byte               the number of descriptors sent with the frame (at most MaxFDs)
//	n bytes            the payload, one JSON object of the type's message
//
// A session: the client sends one Hello (protocol Version, its command line
// and working directory) with its standard input, output and error
// attached; the service answers every file the command needs on the
// client's side with a Request, which the client opens with its own
// permissions and returns with an Answer carrying the descriptor; the
// service ends with an Exit carrying the command's exit status. A client
// that closes the connection cancels its command.
//
// Decoding is strict: an unknown type, a payload over the limit, a
// descriptor count that does not match the message, unknown JSON fields or
// a wrong version are errors, never guesses. It imports nothing of ours.
package wire
