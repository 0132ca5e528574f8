package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version a Hello carries; a service refuses any
// other. Version 2 added the streamed session (stream.go), for the HTTPS
// transport; a descriptor session is as it was in version 1.
const Version = 2

// Limits of one frame.
const (
	HeaderLen  = 6
	MaxPayload = 1 << 20
	MaxFDs     = 3
	MaxArgs    = 4096
)

// Type is a frame's type.
type Type byte

// The frame types.
const (
	THello   Type = 'H' // client → service: Hello, with stdin, stdout, stderr
	TRequest Type = 'R' // service → client: Request
	TAnswer  Type = 'A' // client → service: Answer, with one descriptor when it succeeded
	TExit    Type = 'X' // service → client: Exit

	// Only in a streamed session (stream.go):
	TPull Type = 'P' // service → client: Pull, the next chunk of an input stream
	TData Type = 'D' // either way: Data, bytes of a stream (a binary payload, not JSON)
	TShut Type = 'C' // service → client: Shut, an output stream has ended
	TEnd  Type = 'E' // client → service: End, the client's side of a stream has ended
)

// Frame is one frame: its type, the number of descriptors it carries and
// its payload.
type Frame struct {
	Type    Type
	NFDs    int
	Payload []byte
}

// ErrShort is returned by Parse when the bytes hold no whole frame yet.
var ErrShort = errors.New("wire: incomplete frame")

// Append appends f's encoding to dst.
func Append(dst []byte, f Frame) ([]byte, error) {
	if err := f.check(); err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Payload)))
	dst = append(dst, byte(f.Type), byte(f.NFDs))
	return append(dst, f.Payload...), nil
}

func (f Frame) check() error {
	switch f.Type {
	case THello, TRequest, TAnswer, TExit, TPull, TData, TShut, TEnd:
	default:
		return fmt.Errorf("wire: unknown frame type 0x%02x", byte(f.Type))
	}
	if f.NFDs < 0 || f.NFDs > MaxFDs {
		return fmt.Errorf("wire: %d descriptors in a frame (at most %d)", f.NFDs, MaxFDs)
	}
	if len(f.Payload) > MaxPayload {
		return fmt.Errorf("wire: payload of %d bytes (at most %d)", len(f.Payload), MaxPayload)
	}
	return nil
}

// Parse decodes the frame at the start of b and returns it with the number
// of bytes it took; ErrShort when b holds only part of one. The payload
// aliases b.
func Parse(b []byte) (Frame, int, error) {
	if len(b) < HeaderLen {
		return Frame{}, 0, ErrShort
	}
	n := binary.BigEndian.Uint32(b)
	if n > MaxPayload {
		return Frame{}, 0, fmt.Errorf("wire: payload of %d bytes (at most %d)", n, MaxPayload)
	}
	f := Frame{Type: Type(b[4]), NFDs: int(b[5])}
	if err := f.check(); err != nil {
		return Frame{}, 0, err
	}
	if uint32(len(b)-HeaderLen) < n {
		return Frame{}, 0, ErrShort
	}
	f.Payload = b[HeaderLen : HeaderLen+int(n)]
	return f, HeaderLen + int(n), nil
}

// Hello opens a session.
type Hello struct {
	Version int      `json:"version"`
	Args    []string `json:"args"` // the command line after "pawl"
	Cwd     string   `json:"cwd"`  // the client's working directory, for messages
}

// The operations a Request asks of the client.
const (
	OpOpen   = "open"   // open Path for reading
	OpCreate = "create" // create or truncate Path for writing, mode Perm
	OpFD     = "fd"     // the client's own descriptor FD (--passphrase-fd)
	OpMkdir  = "mkdir"  // make directory Path (and its parents), which must be empty; answered with the directory
)

// Request asks the client for a file, opened with the client's
// permissions. A relative Path is relative to the client's working
// directory.
type Request struct {
	ID   uint32 `json:"id"`
	Op   string `json:"op"`
	Path string `json:"path,omitempty"`
	FD   int    `json:"fd,omitempty"`
	Perm uint32 `json:"perm,omitempty"`
}

// Answer answers the Request with the same ID: one descriptor (the file, or
// the directory for mkdir) when Error is empty.
type Answer struct {
	ID    uint32 `json:"id"`
	Error string `json:"error,omitempty"`
}

// Exit ends a session with the command's exit status.
type Exit struct {
	Code int `json:"code"`
}

// Encode is the frame of a message of a descriptor session: Hello,
// Request, Answer or Exit.
func Encode(msg any) (Frame, error) {
	var f Frame
	switch m := msg.(type) {
	case Hello:
		f.Type, f.NFDs = THello, 3
	case Request:
		f.Type = TRequest
	case Answer:
		f.Type = TAnswer
		if m.Error == "" {
			f.NFDs = 1
		}
	case Exit:
		f.Type = TExit
	default:
		return f, fmt.Errorf("wire: cannot encode %T", msg)
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return f, err
	}
	f.Payload = b
	if err := f.check(); err != nil {
		return Frame{}, err
	}
	if err := validate(msg); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// Decode is the message a frame of a descriptor session carries, checked:
// the JSON is one object of the type's fields and nothing else, and the
// descriptor count is the one the message takes. A frame of a streamed
// session only (Pull, Data, Shut, End) is refused.
func Decode(f Frame) (any, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if streamedOnly(f.Type) {
		return nil, fmt.Errorf("wire: %c frame outside a streamed session", byte(f.Type))
	}
	msg, err := decodeMessage(f)
	if err != nil {
		return nil, err
	}
	want := 0
	switch m := msg.(type) {
	case Hello:
		want = 3
	case Answer:
		if m.Error == "" {
			want = 1
		}
	}
	if f.NFDs != want {
		return nil, fmt.Errorf("wire: %c frame with %d descriptors, want %d", byte(f.Type), f.NFDs, want)
	}
	return msg, nil
}

// decodeMessage decodes and validates the payload of a checked frame of
// any type, its descriptor count aside.
func decodeMessage(f Frame) (any, error) {
	if f.Type == TData {
		return decodeData(f.Payload)
	}
	var msg any
	var err error
	switch f.Type {
	case THello:
		msg, err = decodeAs[Hello](f.Payload)
	case TRequest:
		msg, err = decodeAs[Request](f.Payload)
	case TAnswer:
		msg, err = decodeAs[Answer](f.Payload)
	case TExit:
		msg, err = decodeAs[Exit](f.Payload)
	case TPull:
		msg, err = decodeAs[Pull](f.Payload)
	case TShut:
		msg, err = decodeAs[Shut](f.Payload)
	case TEnd:
		msg, err = decodeAs[End](f.Payload)
	}
	if err != nil {
		return nil, fmt.Errorf("wire: %c frame: %v", byte(f.Type), err)
	}
	if err := validate(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// decodeAs decodes payload strictly (strict) as a message of type T.
func decodeAs[T any](payload []byte) (any, error) {
	var m T
	err := strict(payload, &m)
	return m, err
}

func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// validate checks a message's values.
func validate(msg any) error {
	switch m := msg.(type) {
	case Hello:
		if m.Version != Version {
			return fmt.Errorf("wire: protocol version %d, this side speaks %d: use the same pawl version on both sides", m.Version, Version)
		}
		if len(m.Args) > MaxArgs {
			return fmt.Errorf("wire: %d arguments (at most %d)", len(m.Args), MaxArgs)
		}
	case Request:
		switch m.Op {
		case OpOpen, OpCreate, OpMkdir:
			if m.Path == "" {
				return fmt.Errorf("wire: %s request without a path", m.Op)
			}
			if m.Perm&^0o777 != 0 {
				return fmt.Errorf("wire: %s request with mode %o", m.Op, m.Perm)
			}
		case OpFD:
			if m.FD < 0 {
				return fmt.Errorf("wire: fd request for descriptor %d", m.FD)
			}
		default:
			return fmt.Errorf("wire: unknown request %q", m.Op)
		}
	case Exit:
		if m.Code < 0 || m.Code > 255 {
			return fmt.Errorf("wire: exit status %d", m.Code)
		}
	case Pull:
		if m.Max < 1 || m.Max > MaxChunk {
			return fmt.Errorf("wire: pull of %d bytes (1 to %d)", m.Max, MaxChunk)
		}
	case Data:
		if len(m.Bytes) < 1 || len(m.Bytes) > MaxChunk {
			return fmt.Errorf("wire: data of %d bytes (1 to %d)", len(m.Bytes), MaxChunk)
		}
	}
	return nil
}
