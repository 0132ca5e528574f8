package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestStreamedRoundTrip(t *testing.T) {
	for _, msg := range []any{
		Hello{Version: Version, Args: []string{"export", "x"}, Cwd: "/home/bob"},
		Request{ID: 1, Op: OpCreate, Path: "out.json", Perm: 0o600},
		Answer{ID: 1}, Answer{ID: 2, Error: "permission denied"},
		Pull{Stream: StreamStdin, Max: 1}, Pull{Stream: 7, Max: MaxChunk},
		Data{Stream: StreamStdout, Bytes: []byte{0}}, Data{Stream: 9, Bytes: bytes.Repeat([]byte("x"), MaxChunk)},
		Shut{Stream: 3}, End{Stream: 3}, End{Stream: 0, Error: "read error"},
		Exit{Code: 0},
	} {
		f, err := EncodeStreamed(msg)
		if err != nil {
			t.Fatalf("EncodeStreamed(%T): %v", msg, err)
		}
		if f.NFDs != 0 {
			t.Fatalf("%T: %d descriptors in a streamed frame", msg, f.NFDs)
		}
		b, err := Append(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		g, n, err := Parse(b)
		if err != nil || n != len(b) {
			t.Fatalf("%T: Parse: %v (%d of %d)", msg, err, n, len(b))
		}
		got, err := DecodeStreamed(g)
		if err != nil {
			t.Fatalf("%T: %v", msg, err)
		}
		if !reflect.DeepEqual(got, msg) {
			t.Fatalf("round trip: %#v, want %#v", got, msg)
		}
	}
}

func TestDecodeStreamedRefuses(t *testing.T) {
	frame := func(typ Type, nfds int, payload string) Frame {
		return Frame{Type: typ, NFDs: nfds, Payload: []byte(payload)}
	}
	for _, c := range []struct {
		name string
		f    Frame
		want string
	}{
		{"hello with descriptors", frame(THello, 3, `{"version":2,"args":[],"cwd":"/"}`), "descriptors in a streamed session"},
		{"answer with a descriptor", frame(TAnswer, 1, `{"id":1}`), "descriptors in a streamed session"},
		{"empty data", frame(TData, 0, "\x00\x00\x00\x01"), "data of 0 bytes"},
		{"data shorter than its stream", frame(TData, 0, "\x00\x01"), "shorter than its stream number"},
		{"pull of nothing", frame(TPull, 0, `{"stream":0,"max":0}`), "pull of 0 bytes"},
		{"pull over a chunk", frame(TPull, 0, `{"stream":0,"max":1048573}`), "pull of 1048573 bytes"},
		{"pull of stdout", frame(TPull, 0, `{"stream":1,"max":10}`), "pull of output stream 1"},
		{"shut of stderr", frame(TShut, 0, `{"stream":2}`), "shut of standard stream 2"},
		{"request id 0", frame(TRequest, 0, `{"id":0,"op":"open","path":"x"}`), "request id 0"},
		{"request id that wraps its stream", frame(TRequest, 0, `{"id":4294967294,"op":"open","path":"x"}`), "request id 4294967294"},
		{"end with an unknown field", frame(TEnd, 0, `{"stream":3,"ok":true}`), "unknown field"},
		{"old version", frame(THello, 0, `{"version":1,"args":[],"cwd":"/"}`), "protocol version 1"},
	} {
		_, err := DecodeStreamed(c.f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	if _, err := EncodeStreamed(Data{Stream: 1}); err == nil {
		t.Error("an empty Data encoded")
	}
}

// TestStreamConn: frames cross a byte stream each way, a Data frame's bytes
// intact; a stream cut inside a frame is an error, not a frame.
func TestStreamConn(t *testing.T) {
	pr, pw := io.Pipe()
	flushed := 0
	tx := NewStreamConn(strings.NewReader(""), pw, func() error { flushed++; return nil })
	rx := NewStreamConn(pr, io.Discard, nil)
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	go func() {
		tx.Send(Hello{Version: Version, Args: []string{"run"}, Cwd: "/"})
		tx.Send(Data{Stream: 5, Bytes: big})
		pw.Close()
	}()
	msg, err := rx.Recv()
	if h, ok := msg.(Hello); err != nil || !ok || h.Args[0] != "run" {
		t.Fatalf("first: %#v, %v", msg, err)
	}
	msg, err = rx.Recv()
	if d, ok := msg.(Data); err != nil || !ok || d.Stream != 5 || !bytes.Equal(d.Bytes, big) {
		t.Fatalf("second: %T, %v", msg, err)
	}
	if _, err := rx.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: %v, want EOF", err)
	}
	if flushed != 2 {
		t.Errorf("flushed %d times for 2 frames", flushed)
	}
	tx.CloseSend()
	if err := tx.Send(Exit{Code: 0}); !errors.Is(err, ErrSendClosed) || flushed != 2 {
		t.Errorf("Send after CloseSend: %v, flushed %d", err, flushed)
	}
	f, _ := EncodeStreamed(Exit{Code: 1})
	b, _ := Append(nil, f)
	cut := NewStreamConn(bytes.NewReader(b[:len(b)-1]), io.Discard, nil)
	if _, err := cut.Recv(); err == nil || !strings.Contains(err.Error(), "inside a X frame") {
		t.Fatalf("a cut frame: %v", err)
	}
}

// FuzzStreamRecv: whatever bytes arrive on a streamed session, Recv
// returns messages then an error, never panics or reads a payload over the
// limit; each message it returns re-encodes to a frame that decodes to the
// same message, and it never returns more frames than the bytes can hold.
func FuzzStreamRecv(f *testing.F) {
	var session []byte
	for _, msg := range []any{
		Hello{Version: Version, Args: []string{"run", "j", "--input", "-"}, Cwd: "/"},
		Pull{Stream: 0, Max: 4096}, Data{Stream: 0, Bytes: []byte("{\"a\":1}\n")}, End{Stream: 0},
		Request{ID: 1, Op: OpCreate, Path: "out.json", Perm: 0o644}, Answer{ID: 1},
		Data{Stream: 3, Bytes: []byte("x")}, Shut{Stream: 3}, End{Stream: 3}, Exit{Code: 0},
	} {
		fr, err := EncodeStreamed(msg)
		if err != nil {
			f.Fatal(err)
		}
		session, _ = Append(session, fr)
		one, _ := Append(nil, fr)
		f.Add(one)
	}
	f.Add(session)
	f.Fuzz(func(t *testing.T, b []byte) {
		c := NewStreamConn(bytes.NewReader(b), io.Discard, nil)
		n := 0
		for {
			msg, err := c.Recv()
			if err != nil {
				break
			}
			n++
			if n > len(b)/HeaderLen {
				t.Fatalf("%d frames from %d bytes", n, len(b))
			}
			fr, err := EncodeStreamed(msg)
			if err != nil {
				t.Fatalf("a received %#v does not encode: %v", msg, err)
			}
			back, err := DecodeStreamed(fr)
			if err != nil || !reflect.DeepEqual(back, msg) {
				t.Fatalf("re-decoded %#v (%v), want %#v", back, err, msg)
			}
		}
	})
}
