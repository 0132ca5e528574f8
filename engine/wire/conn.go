package wire

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Conn sends and receives frames, with their descriptors, on a Unix
// socket. Send is safe from several goroutines; Recv is for one.
type Conn struct {
	c   *net.UnixConn
	wmu sync.Mutex

	buf []byte // bytes read and not yet parsed (Recv's alone)

	fmu    sync.Mutex // guards fds and closed: Close may run beside Recv
	fds    []*os.File // descriptors received and not yet claimed by a frame
	closed bool
}

// NewConn wraps a Unix socket connection.
func NewConn(c *net.UnixConn) *Conn { return &Conn{c: c} }

// Send sends a message with the descriptors its frame carries (Hello:
// stdin, stdout, stderr; a successful Answer: one).
func (c *Conn) Send(msg any, files ...*os.File) error {
	f, err := Encode(msg)
	if err != nil {
		return err
	}
	if len(files) != f.NFDs {
		return fmt.Errorf("wire: %c frame with %d descriptors, want %d", byte(f.Type), len(files), f.NFDs)
	}
	b, err := Append(nil, f)
	if err != nil {
		return err
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, fl := range files {
			fds[i] = int(fl.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, _, err := c.c.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return err
	}
	if n < len(b) {
		_, err = c.c.Write(b[n:])
	}
	return err
}

// Recv reads the next message and the descriptors sent with it. The caller
// owns the files.
func (c *Conn) Recv() (any, []*os.File, error) {
	for {
		f, n, err := Parse(c.buf)
		if err == nil {
			c.fmu.Lock()
			if len(c.fds) < f.NFDs {
				have := len(c.fds)
				c.fmu.Unlock()
				return nil, nil, fmt.Errorf("wire: %c frame announces %d descriptors, %d arrived", byte(f.Type), f.NFDs, have)
			}
			files := append([]*os.File(nil), c.fds[:f.NFDs]...)
			c.fds = c.fds[f.NFDs:]
			c.fmu.Unlock()
			msg, derr := Decode(f)
			c.buf = append(c.buf[:0], c.buf[n:]...)
			if derr != nil {
				closeAll(files)
				return nil, nil, derr
			}
			return msg, files, nil
		}
		if !errors.Is(err, ErrShort) {
			return nil, nil, err
		}
		if err := c.fill(); err != nil {
			return nil, nil, err
		}
	}
}

// fill reads more bytes and any descriptors sent with them.
func (c *Conn) fill() error {
	b := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*MaxFDs*4))
	n, oobn, flags, _, err := c.c.ReadMsgUnix(b, oob)
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if oobn > 0 {
		msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
		if perr != nil {
			return fmt.Errorf("wire: control message: %v", perr)
		}
		for _, m := range msgs {
			fds, perr := unix.ParseUnixRights(&m)
			if perr != nil {
				continue
			}
			for _, fd := range fds {
				unix.CloseOnExec(fd)
				f := os.NewFile(uintptr(fd), "passed descriptor")
				if c.closed {
					f.Close()
					continue
				}
				c.fds = append(c.fds, f)
			}
		}
	}
	if flags&unix.MSG_CTRUNC != 0 {
		return errors.New("wire: descriptors truncated: too many passed at once")
	}
	if len(c.fds) > 4*MaxFDs {
		return errors.New("wire: too many descriptors passed")
	}
	if n < 0 {
		n = 0
	}
	c.buf = append(c.buf, b[:n]...)
	if n == 0 && err == nil {
		return errors.New("wire: connection closed")
	}
	return err
}

// Close closes the connection and any descriptors received and not
// claimed.
func (c *Conn) Close() error {
	c.fmu.Lock()
	closeAll(c.fds)
	c.fds, c.closed = nil, true
	c.fmu.Unlock()
	return c.c.Close()
}

// Unix is the underlying socket.
func (c *Conn) Unix() *net.UnixConn { return c.c }

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
