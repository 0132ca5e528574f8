package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, msg := range []any{
		Hello{Version: Version, Args: []string{"run", "sensors", "--input", "in.jsonl"}, Cwd: "/home/alice"},
		Request{ID: 7, Op: OpOpen, Path: "in.jsonl"},
		Request{ID: 8, Op: OpCreate, Path: "out/proof.json", Perm: 0o644},
		Request{ID: 9, Op: OpFD, FD: 3},
		Answer{ID: 7},
		Answer{ID: 8, Error: "open out/proof.json: permission denied"},
		Exit{Code: 3},
	} {
		f, err := Encode(msg)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", msg, err)
		}
		b, err := Append(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		// Every prefix is short, never an error or a frame.
		for i := range len(b) {
			if _, _, err := Parse(b[:i]); !errors.Is(err, ErrShort) {
				t.Fatalf("%#v: Parse of %d of %d bytes: %v, want ErrShort", msg, i, len(b), err)
			}
		}
		g, n, err := Parse(append(b, 'x'))
		if err != nil || n != len(b) {
			t.Fatalf("Parse: %v, took %d of %d", err, n, len(b))
		}
		got, err := Decode(g)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, msg) {
			t.Fatalf("round trip: %#v, want %#v", got, msg)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	frame := func(typ Type, nfds int, payload string) []byte {
		b := []byte{0, 0, 0, byte(len(payload)), byte(typ), byte(nfds)}
		return append(b, payload...)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"unknown type", frame('Z', 0, `{}`), "unknown frame type"},
		{"too many descriptors", frame(THello, 9, `{}`), "descriptors in a frame"},
		{"oversized", []byte{0x7f, 0, 0, 0, 'H', 3}, "payload of"},
		{"wrong version", frame(THello, 3, `{"version":1,"args":[],"cwd":"/"}`), "protocol version 1"},
		{"hello without its descriptors", frame(THello, 0, `{"version":2,"args":[],"cwd":"/"}`), "want 3"},
		{"pull in a descriptor session", frame(TPull, 0, `{"stream":0,"max":10}`), "outside a streamed session"},
		{"data in a descriptor session", frame(TData, 0, "\x00\x00\x00\x01x"), "outside a streamed session"},
		{"unknown field", frame(TExit, 0, `{"code":0,"extra":1}`), "unknown field"},
		{"trailing data", frame(TExit, 0, `{"code":0}{}`), "trailing data"},
		{"exit status out of range", frame(TExit, 0, `{"code":256}`), "exit status 256"},
		{"unknown op", frame(TRequest, 0, `{"id":1,"op":"unlink","path":"x"}`), `unknown request "unlink"`},
		{"open without a path", frame(TRequest, 0, `{"id":1,"op":"open"}`), "without a path"},
		{"setuid mode", frame(TRequest, 0, `{"id":1,"op":"create","path":"x","perm":2541}`), "with mode"},
		{"answer without its descriptor", frame(TAnswer, 0, `{"id":1}`), "want 1"},
		{"not JSON", frame(TExit, 0, `code=0`), "invalid character"},
	} {
		f, _, err := Parse(c.b)
		if err == nil {
			_, err = Decode(f)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// FuzzDecode: whatever the bytes, Parse and Decode return an error or a
// message, never panic; a decoded message encodes to a frame that decodes
// to the same message, and a frame never claims more bytes than it has or
// a payload over the limit.
func FuzzDecode(f *testing.F) {
	for _, msg := range []any{
		Hello{Version: Version, Args: []string{"audit", "verify"}, Cwd: "/"},
		Request{ID: 1, Op: OpFD, FD: 3}, Answer{ID: 1}, Answer{ID: 2, Error: "no"}, Exit{Code: 1},
	} {
		fr, _ := Encode(msg)
		b, _ := Append(nil, fr)
		f.Add(b)
	}
	for _, msg := range []any{
		Hello{Version: Version, Args: []string{"run", "j"}, Cwd: "/"}, Answer{ID: 3},
		Pull{Stream: 0, Max: 65536}, Data{Stream: 1, Bytes: []byte("out")}, Shut{Stream: 4}, End{Stream: 3, Error: "disk full"},
	} {
		fr, _ := EncodeStreamed(msg)
		b, _ := Append(nil, fr)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := Parse(b)
		if err != nil {
			return
		}
		if n > len(b) || n != HeaderLen+len(fr.Payload) || len(fr.Payload) > MaxPayload {
			t.Fatalf("Parse took %d of %d bytes with a payload of %d", n, len(b), len(fr.Payload))
		}
		// Both sessions' decoders: what one decodes re-encodes to a frame
		// of the same type and descriptors that decodes to the same
		// message; a frame of a streamed session only never decodes in a
		// descriptor session, and no frame with descriptors in a streamed
		// one.
		for _, s := range []struct {
			name   string
			decode func(Frame) (any, error)
			encode func(any) (Frame, error)
		}{{"descriptor", Decode, Encode}, {"streamed", DecodeStreamed, EncodeStreamed}} {
			msg, err := s.decode(fr)
			if err != nil {
				continue
			}
			if s.name == "descriptor" && streamedOnly(fr.Type) {
				t.Fatalf("a %c frame decoded in a descriptor session", byte(fr.Type))
			}
			if s.name == "streamed" && fr.NFDs != 0 {
				t.Fatalf("a frame with %d descriptors decoded in a streamed session", fr.NFDs)
			}
			fr2, err := s.encode(msg)
			if err != nil {
				t.Fatalf("%s: a decoded %#v does not encode: %v", s.name, msg, err)
			}
			if fr2.Type != fr.Type || fr2.NFDs != fr.NFDs {
				t.Fatalf("%s: re-encoded as %c/%d, was %c/%d", s.name, fr2.Type, fr2.NFDs, fr.Type, fr.NFDs)
			}
			msg2, err := s.decode(fr2)
			if err != nil || !reflect.DeepEqual(msg, msg2) {
				t.Fatalf("%s: re-decoded %#v (%v), want %#v", s.name, msg2, err, msg)
			}
		}
	})
}

// TestConnPassesDescriptors: a descriptor sent with a frame arrives with it,
// and reads the same file.
func TestConnPassesDescriptors(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("secret of the client"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			done <- err
			return
		}
		conn := NewConn(c)
		defer conn.Close()
		f, err := os.Open(file)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := conn.Send(Hello{Version: Version, Args: []string{"x"}, Cwd: dir}, f, f, f); err != nil {
			done <- err
			return
		}
		done <- conn.Send(Answer{ID: 4}, f)
	}()
	c, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	conn := NewConn(c)
	defer conn.Close()
	msg, files, err := conn.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := msg.(Hello); !ok || h.Args[0] != "x" || len(files) != 3 {
		t.Fatalf("got %#v with %d files", msg, len(files))
	}
	b, err := io.ReadAll(files[0])
	if err != nil || !bytes.Equal(b, []byte("secret of the client")) {
		t.Fatalf("read %q, %v through the passed descriptor", b, err)
	}
	msg, files2, err := conn.Recv()
	if err != nil || msg.(Answer).ID != 4 || len(files2) != 1 {
		t.Fatalf("second frame: %#v, %d files, %v", msg, len(files2), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.Recv(); err == nil {
		t.Fatal("Recv after the peer closed: no error")
	}
}
