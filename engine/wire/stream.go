package wire

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// A streamed session carries the same Hello, Request, Answer and Exit as a
// descriptor session, every frame with no descriptor, over a transport that
// cannot pass descriptors (HTTPS). What descriptors did, streams do: each
// is numbered, and its bytes cross in Data frames.
//
//	stream 0            the client's standard input
//	stream 1, 2         the client's standard output and error
//	stream StreamOf(id) the file a successful Answer to Request id opened
//	                    (none for mkdir, whose answer is all there is)
//
// Input (stream 0, and a file opened for reading or a descriptor asked by
// fd) is pulled: the service sends a Pull for at most Max bytes and the
// client answers with one Data frame of 1 to Max bytes, or with an End at
// the end of the input (Error set when reading failed). A service has at
// most one Pull outstanding per stream, so the client never sends what
// was not asked for, and an input the command does not read holds up
// nothing else. Output (streams 1 and 2, and a file created for writing)
// is pushed: the service sends Data frames as the command writes, and,
// when a created file is complete, a Shut; the client makes the file
// durable, closes it and answers with an End (Error set when writing,
// fsync or close failed). The service sends every output stream's bytes
// before its Exit.

// MaxChunk is the most bytes one Data frame carries (its payload is the
// 4-byte stream number and the bytes).
const MaxChunk = MaxPayload - 4

// The standard streams of a streamed session.
const (
	StreamStdin  uint32 = 0
	StreamStdout uint32 = 1
	StreamStderr uint32 = 2
)

// StreamOf is the stream of the file a successful Answer to Request id
// opened, in a streamed session.
func StreamOf(id uint32) uint32 { return id + 2 }

// MaxRequestID is the highest Request ID of a streamed session (its
// stream, StreamOf, must not wrap around).
const MaxRequestID = 1<<32 - 3

// Pull asks the client for the next chunk of an input stream.
type Pull struct {
	Stream uint32 `json:"stream"`
	Max    int    `json:"max"`
}

// Data is bytes of a stream: 1 to MaxChunk of them. Its payload is binary,
// the stream number (uint32 big-endian) and the bytes.
type Data struct {
	Stream uint32
	Bytes  []byte
}

// Shut says an output stream has ended on the service's side: the client
// makes the file durable and closes it, and answers with an End.
type Shut struct {
	Stream uint32 `json:"stream"`
}

// End says a stream has ended on the client's side: the input is at its
// end, or the output file is durable and closed; Error says what failed.
type End struct {
	Stream uint32 `json:"stream"`
	Error  string `json:"error,omitempty"`
}

func streamedOnly(t Type) bool {
	switch t {
	case TPull, TData, TShut, TEnd:
		return true
	}
	return false
}

func decodeData(p []byte) (any, error) {
	if len(p) < 4 {
		return nil, fmt.Errorf("wire: D frame of %d bytes, shorter than its stream number", len(p))
	}
	d := Data{Stream: binary.BigEndian.Uint32(p), Bytes: p[4:]}
	if err := validate(d); err != nil {
		return nil, err
	}
	return d, nil
}

// EncodeStreamed is the frame of a message of a streamed session: Hello,
// Request, Answer, Exit, Pull, Data, Shut or End, with no descriptor.
func EncodeStreamed(msg any) (Frame, error) {
	var f Frame
	switch m := msg.(type) {
	case Hello:
		f.Type = THello
	case Request:
		f.Type = TRequest
	case Answer:
		f.Type = TAnswer
	case Exit:
		f.Type = TExit
	case Pull:
		f.Type = TPull
	case Shut:
		f.Type = TShut
	case End:
		f.Type = TEnd
	case Data:
		if err := validate(m); err != nil {
			return Frame{}, err
		}
		f.Type = TData
		f.Payload = binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(m.Bytes)), m.Stream)
		f.Payload = append(f.Payload, m.Bytes...)
		return f, f.check()
	default:
		return f, fmt.Errorf("wire: cannot encode %T", msg)
	}
	if err := validateStreamed(msg); err != nil {
		return Frame{}, err
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return f, err
	}
	f.Payload = b
	return f, f.check()
}

// DecodeStreamed is the message a frame of a streamed session carries,
// checked as Decode checks, and carrying no descriptor.
func DecodeStreamed(f Frame) (any, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.NFDs != 0 {
		return nil, fmt.Errorf("wire: %c frame with %d descriptors in a streamed session, want 0", byte(f.Type), f.NFDs)
	}
	msg, err := decodeMessage(f)
	if err != nil {
		return nil, err
	}
	if err := validateStreamed(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// validateStreamed checks what only a streamed session asks of a message.
func validateStreamed(msg any) error {
	if err := validate(msg); err != nil {
		return err
	}
	switch m := msg.(type) {
	case Request:
		if m.ID < 1 || m.ID > MaxRequestID {
			return fmt.Errorf("wire: request id %d (1 to %d in a streamed session)", m.ID, uint32(MaxRequestID))
		}
	case Pull:
		if m.Stream == StreamStdout || m.Stream == StreamStderr {
			return fmt.Errorf("wire: pull of output stream %d", m.Stream)
		}
	case Shut:
		if m.Stream <= StreamStderr {
			return fmt.Errorf("wire: shut of standard stream %d", m.Stream)
		}
	}
	return nil
}

// StreamConn sends and receives the frames of a streamed session over a
// byte stream each way (the request and response bodies of one HTTP/2
// exchange). Send is safe from several goroutines; Recv is for one.
type StreamConn struct {
	r     *bufio.Reader
	wmu   sync.Mutex
	w     io.Writer
	flush func() error
	buf   []byte
	shut  bool // CloseSend was called
}

// NewStreamConn reads frames from r and writes them to w, calling flush
// (when not nil) after each frame so that it leaves at once.
func NewStreamConn(r io.Reader, w io.Writer, flush func() error) *StreamConn {
	return &StreamConn{r: bufio.NewReaderSize(r, 64<<10), w: w, flush: flush}
}

// Send sends a message.
func (c *StreamConn) Send(msg any) error {
	f, err := EncodeStreamed(msg)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.shut {
		return ErrSendClosed
	}
	c.buf, err = Append(c.buf[:0], f)
	if err != nil {
		return err
	}
	if _, err := c.w.Write(c.buf); err != nil {
		return err
	}
	if c.flush != nil {
		return c.flush()
	}
	return nil
}

// ErrSendClosed is Send's error after CloseSend.
var ErrSendClosed = errors.New("wire: the session has ended: nothing more is sent")

// CloseSend ends sending: a Send after it (from a goroutine still running)
// is ErrSendClosed and writes nothing, so that nothing is written after
// the session's writer has gone (an HTTP handler has returned).
func (c *StreamConn) CloseSend() {
	c.wmu.Lock()
	c.shut = true
	c.wmu.Unlock()
}

// Recv reads the next message. A Data message's bytes are its own.
func (c *StreamConn) Recv() (any, error) {
	var h [HeaderLen]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("wire: connection closed inside a frame header")
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	f := Frame{Type: Type(h[4]), NFDs: int(h[5])}
	if n > MaxPayload {
		return nil, fmt.Errorf("wire: payload of %d bytes (at most %d)", n, MaxPayload)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(c.r, f.Payload); err != nil {
		return nil, fmt.Errorf("wire: connection closed inside a %c frame: %v", byte(f.Type), err)
	}
	return DecodeStreamed(f)
}
