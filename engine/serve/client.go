package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/pawl-dev/pawl/engine/wire"
	"golang.org/x/sys/unix"
)

// ErrUnreachable is matched by Call's error when no service answers on
// the socket.
var ErrUnreachable = errors.New("no pawl service answers")

// Call runs one command line on the service listening on socket, with the
// given standard streams (passed as descriptors), answers the service's
// requests for files with this process's permissions, and returns the
// command's exit status. When ctx is done first the connection is closed,
// which cancels the command on the service.
func Call(ctx context.Context, socket string, args []string, stdin, stdout, stderr *os.File) (int, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return 0, fmt.Errorf("%w on %s: %v (is pawl serve running? start it; a socket left by a service that died can be removed to work locally; see README, \"Running pawl as a service\")", ErrUnreachable, socket, unwrapOp(err))
	}
	conn := wire.NewConn(c)
	defer conn.Close()
	cwd, _ := os.Getwd()
	if err := conn.Send(wire.Hello{Version: wire.Version, Args: args, Cwd: cwd}, stdin, stdout, stderr); err != nil {
		return 0, fmt.Errorf("sending the command to %s: %w", socket, err)
	}
	done := make(chan result, 1)
	go func() {
		for {
			msg, files, err := conn.Recv()
			closeFiles(files)
			if err != nil {
				done <- result{err: fmt.Errorf("the service on %s closed the connection before the command ended: %v", socket, err)}
				return
			}
			switch m := msg.(type) {
			case wire.Exit:
				done <- result{code: m.Code}
				return
			case wire.Request:
				f, err := serveRequest(m)
				if err != nil {
					err = conn.Send(wire.Answer{ID: m.ID, Error: err.Error()})
				} else {
					err = conn.Send(wire.Answer{ID: m.ID}, f)
					if m.Op != wire.OpFD {
						f.Close()
					}
				}
				if err != nil {
					done <- result{err: err}
					return
				}
			default:
				done <- result{err: fmt.Errorf("the service sent an unexpected %T", msg)}
				return
			}
		}
	}()
	return await(ctx, done, func() { conn.Close() })
}

// result is how a session ended: the command's exit status, or what broke.
type result struct {
	code int
	err  error
}

// await waits for the session's result or for ctx; then it hangs up,
// which cancels the command on the service.
func await(ctx context.Context, done <-chan result, hangUp func()) (int, error) {
	select {
	case r := <-done:
		return r.code, r.err
	case <-ctx.Done():
		hangUp()
		return 0, errors.New(interrupted)
	}
}

// serveRequest opens what the service asks for, as this process.
func serveRequest(r wire.Request) (*os.File, error) {
	switch r.Op {
	case wire.OpOpen:
		f, err := os.Open(r.Path)
		if err != nil {
			return nil, err
		}
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			f.Close()
			return nil, fmt.Errorf("%s is a directory; pass a file", r.Path)
		}
		return f, nil
	case wire.OpCreate:
		return os.OpenFile(r.Path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(r.Perm))
	case wire.OpFD:
		if _, err := unix.FcntlInt(uintptr(r.FD), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("descriptor %d is not open in the client: open it, e.g. 3<passphrase-file", r.FD)
		}
		return os.NewFile(uintptr(r.FD), fmt.Sprintf("fd %d", r.FD)), nil
	case wire.OpMkdir:
		if err := os.MkdirAll(r.Path, 0o755); err != nil {
			return nil, err
		}
		d, err := os.Open(r.Path)
		if err != nil {
			return nil, err
		}
		if _, err := d.Readdirnames(1); !errors.Is(err, io.EOF) {
			d.Close()
			return nil, fmt.Errorf("%s is not empty: export into a new directory so that SHA256SUMS covers exactly what is there", r.Path)
		}
		return d, nil
	}
	return nil, fmt.Errorf("unknown request %q", r.Op)
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
