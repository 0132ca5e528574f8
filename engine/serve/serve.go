package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/wire"
	"golang.org/x/sys/unix"
)

// HelloTimeout bounds the wait for a client's Hello.
const HelloTimeout = 30 * time.Second

// Handler runs one command line for a job and returns its exit status.
type Handler func(ctx context.Context, j *Job) int

// Options configure a service.
type Options struct {
	Socket string // the Unix socket to listen on (a stale one is replaced)
	// Group is the group given the socket, mode 0660, so that its members
	// may connect; empty: mode 0600, only this account (and root).
	Group string
	// Lock is the file locked for the service's life.
	Lock    string
	Handler Handler
	Log     io.Writer // one line per job and per refusal; nil: discarded
	// HTTPS, when its Listen is set, serves the same commands over HTTPS
	// with client certificates too (https.go).
	HTTPS HTTPSOptions
	// Ready, when set, is called once the socket (and the HTTPS listener)
	// accept connections.
	Ready func()
}

// Job is one command line a client sent, with the client's standard
// streams (its own descriptors) and its authenticated principal.
type Job struct {
	Args                  []string
	Cwd                   string
	Principal             principal.Principal
	Stdin, Stdout, Stderr *os.File
	s                     transport
}

// refusedStatus is the exit status of a queued job the service refuses
// because it is stopping.
const refusedStatus = 1

// Server is a running service.
type Server struct {
	o       Options
	slot    chan struct{} // held by the running job
	waiting atomic.Int32
	stop    chan struct{}
	wg      sync.WaitGroup
	logMu   sync.Mutex
}

// Serve takes the lock, listens and serves until ctx is done, then stops
// accepting, refuses the jobs still queued, waits for the running one and
// returns.
func Serve(ctx context.Context, o Options) error {
	lock, err := TakeLock(o.Lock)
	if err != nil {
		return err
	}
	defer lock.Close()
	ln, err := Listen(o.Socket, o.Group)
	if err != nil {
		return err
	}
	s := &Server{o: o, slot: make(chan struct{}, 1), stop: make(chan struct{})}
	stopHTTPS := func() error { return nil }
	if o.HTTPS.Listen != "" {
		if stopHTTPS, err = s.listenHTTPS(o.HTTPS); err != nil {
			ln.Close()
			os.Remove(o.Socket)
			return err
		}
	}
	go func() {
		<-ctx.Done()
		close(s.stop)
		ln.Close()
	}()
	s.logf("listening on %s (pid %d, uid %d)", o.Socket, os.Getpid(), os.Geteuid())
	if o.Ready != nil {
		o.Ready()
	}
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			select {
			case <-s.stop:
				herr := stopHTTPS()
				s.wg.Wait()
				os.Remove(o.Socket)
				s.logf("stopped")
				return herr
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			stopHTTPS()
			s.wg.Wait()
			return fmt.Errorf("accepting on %s: %w", o.Socket, err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
		}()
	}
}

func (s *Server) logf(format string, a ...any) {
	if s.o.Log == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.o.Log, "%s pawl serve: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, a...))
}

// Peer is the principal the kernel vouches for at the other end of c.
func Peer(c *net.UnixConn) (principal.Principal, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return principal.Principal{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return principal.Principal{}, err
	}
	if cerr != nil {
		return principal.Principal{}, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return principal.ForUID(int(cred.Uid), principal.ViaUnix), nil
}

func (s *Server) serveConn(c *net.UnixConn) {
	conn := wire.NewConn(c)
	defer conn.Close()
	who, err := Peer(c)
	if err != nil {
		s.logf("refused a connection: %v", err)
		return
	}
	c.SetReadDeadline(time.Now().Add(HelloTimeout))
	msg, files, err := conn.Recv()
	if err != nil {
		s.logf("refused %s: %v", who, err)
		return
	}
	c.SetReadDeadline(time.Time{})
	h, ok := msg.(wire.Hello)
	if !ok {
		closeFiles(files)
		s.logf("refused %s: the first frame is not a Hello", who)
		return
	}
	defer closeFiles(files)
	ctx, cancel := context.WithCancel(principal.With(context.Background(), who))
	defer cancel()
	us := &unixSession{conn: conn}
	j := &Job{Args: h.Args, Cwd: h.Cwd, Principal: who, Stdin: files[0], Stdout: files[1], Stderr: files[2], s: us}
	go us.read(cancel)
	if code, ok := s.runJob(ctx, j); ok {
		conn.Send(wire.Exit{Code: code})
	}
}

// runJob queues j behind the jobs before it, runs it, and logs it, the
// same for every transport. It returns the exit status to send the client;
// ok is false when the client left the queue before its job ran (there is
// no one to send it to).
func (s *Server) runJob(ctx context.Context, j *Job) (code int, ok bool) {
	who := j.Principal
	// The queue: one job at a time, in the order they arrive.
	if n := s.waiting.Add(1); n > 1 {
		fmt.Fprintf(j.Stderr, "pawl serve: queued behind %d job(s)\n", n-1)
	}
	select {
	case s.slot <- struct{}{}:
	case <-ctx.Done():
		s.waiting.Add(-1)
		s.logf("%s left the queue before %q ran", who, j.Args)
		return 0, false
	case <-s.stop:
		s.waiting.Add(-1)
		fmt.Fprintln(j.Stderr, "pawl: the service is stopping: nothing was done; run the command again when it is back")
		return refusedStatus, true
	}
	start := time.Now()
	code = s.run(ctx, j)
	<-s.slot
	s.waiting.Add(-1)
	gone := ""
	if ctx.Err() != nil {
		gone = " (the client disconnected: the command was cancelled)"
	}
	s.logf("%s ran %q: exit %d in %s%s", who, j.Args, code, time.Since(start).Round(time.Millisecond), gone)
	return code, true
}

// run calls the handler, turning a panic into exit status 1.
func (s *Server) run(ctx context.Context, j *Job) (code int) {
	defer func() {
		if r := recover(); r != nil {
			s.logf("%s: the command panicked: %v", j.Principal, r)
			fmt.Fprintf(j.Stderr, "pawl: internal error in the service: %v\n", r)
			code = 1
		}
	}()
	return s.o.Handler(ctx, j)
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// transport is how a job reaches the client's side: the Unix socket's
// descriptors (unixSession) or an HTTPS exchange's streams (streamSession).
type transport interface {
	// ask sends a request for a client-side file and waits for the
	// answer: the file (nil for mkdir), or why the client could not.
	ask(r wire.Request) (*os.File, error)
	// finish makes a file from ask(create) durable on the client's side
	// and closes it.
	finish(f *os.File) error
}

// unixSession is the service's side of a Unix connection while its job
// runs: the requests for client-side files and their answers.
type unixSession struct {
	conn *wire.Conn
	q    requests
}

// requests are a session's requests for client-side files awaiting their
// answers, the same on either transport.
type requests struct {
	mu      sync.Mutex
	next    uint32
	pending map[uint32]chan answer
	closed  error
}

// ask sends r under a new ID and waits for its answer: the file (nil for
// mkdir over HTTPS), or why the client could not.
func (q *requests) ask(r wire.Request, send func(wire.Request) error) (answer, wire.Request, error) {
	ch := make(chan answer, 1)
	q.mu.Lock()
	if q.closed != nil {
		q.mu.Unlock()
		return answer{}, r, q.closed
	}
	if q.next >= wire.MaxRequestID {
		q.mu.Unlock()
		return answer{}, r, errors.New("too many files asked of the client in one command")
	}
	if q.pending == nil {
		q.pending = map[uint32]chan answer{}
	}
	q.next++
	r.ID = q.next
	q.pending[r.ID] = ch
	q.mu.Unlock()
	if err := send(r); err != nil {
		return answer{}, r, fmt.Errorf("asking the client for %s: %w", r.Path, err)
	}
	a, ok := <-ch
	if !ok {
		return answer{}, r, q.err()
	}
	if a.msg.Error != "" {
		return answer{}, r, errors.New(a.msg.Error)
	}
	return a, r, nil
}

// deliver hands a to the request waiting for it; false when none waits.
func (q *requests) deliver(a answer) bool {
	q.mu.Lock()
	ch := q.pending[a.msg.ID]
	delete(q.pending, a.msg.ID)
	q.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- a
	return true
}

// fail ends every wait, and every later ask, with err (the first one).
func (q *requests) fail(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed == nil {
		q.closed = err
	}
	for id, ch := range q.pending {
		close(ch)
		delete(q.pending, id)
	}
}

func (q *requests) err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

type answer struct {
	msg  wire.Answer
	file *os.File
}

// read delivers answers until the client goes; then cancels the job.
func (s *unixSession) read(cancel context.CancelFunc) {
	for {
		msg, files, err := s.conn.Recv()
		if err != nil {
			s.q.fail(fmt.Errorf("the client disconnected: %w", err))
			cancel()
			return
		}
		a, ok := msg.(wire.Answer)
		if !ok {
			closeFiles(files)
			continue
		}
		var f *os.File
		if len(files) == 1 {
			f = files[0]
		}
		if !s.q.deliver(answer{msg: a, file: f}) && f != nil {
			f.Close()
		}
	}
}

// ask sends a request and waits for its answer.
func (s *unixSession) ask(r wire.Request) (*os.File, error) {
	a, _, err := s.q.ask(r, func(r wire.Request) error { return s.conn.Send(r) })
	return a.file, err
}

// finish: the descriptor is the client's file itself.
func (s *unixSession) finish(f *os.File) error { return durable.Finish(f) }

// Open opens path on the client's side, with the client's permissions,
// for reading; a relative path is relative to the client's working
// directory.
func (j *Job) Open(path string) (*os.File, error) {
	return j.s.ask(wire.Request{Op: wire.OpOpen, Path: path})
}

// Create creates or truncates path on the client's side, for writing.
func (j *Job) Create(path string, perm os.FileMode) (*os.File, error) {
	return j.s.ask(wire.Request{Op: wire.OpCreate, Path: path, Perm: uint32(perm.Perm())})
}

// FD is the client's descriptor n (a --passphrase-fd).
func (j *Job) FD(n int) (*os.File, error) {
	return j.s.ask(wire.Request{Op: wire.OpFD, FD: n})
}

// Finish makes a file from Create durable on the client's side and closes
// it: use it, not f.Close, so that a write the client could not make
// durable is an error.
func (j *Job) Finish(f *os.File) error { return j.s.finish(f) }

// Mkdir makes the empty directory path (and its parents) on the client's
// side; an existing directory must be empty.
func (j *Job) Mkdir(path string) error {
	f, err := j.s.ask(wire.Request{Op: wire.OpMkdir, Path: path})
	if f != nil {
		f.Close()
	}
	return err
}

// TakeLock locks path for the life of the returned file: a second service
// on the same project is refused, naming the holder.
func TakeLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the service lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another pawl serve (pid %s) holds %s: one service per project; stop it first", string(trimSpace(b)), path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return []byte("unknown")
	}
	return b
}

// Listen listens on the Unix socket path (replacing a stale one: the
// caller holds the lock), mode 0660 with group, else 0600.
func Listen(path, group string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket: move it away, or set serve.socket", path)
		}
		os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	gid := -1
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("serve.group %q: %v: create the group (groupadd %s) or set serve.group to an existing one", group, err, group)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	old := syscall.Umask(0o177) // the socket is born 0600, never open to others for a moment
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("giving %s to group %s: %w (the service account must be a member of it)", path, group, err)
		}
		if err := os.Chmod(path, 0o660); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}
