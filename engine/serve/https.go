package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/wire"
)

// CommandPath is the one HTTPS endpoint: a POST whose request body carries
// the client's frames and whose response body the service's, full duplex
// over HTTP/2 (a streamed session, package wire).
const CommandPath = "/v1/command"

// ContentType is the media type of both bodies.
const ContentType = "application/x-pawl-wire"

// pullChunk is the most bytes the service asks of an input stream at once.
const pullChunk = 256 << 10

// HTTPSOptions configure the HTTPS listener: off unless Listen is set.
type HTTPSOptions struct {
	Listen   string // host:port
	Cert     string // the service's certificate chain (PEM)
	Key      string // its private key (PEM), private to the service's account
	ClientCA string // the CA certificates (PEM) whose client certificates are admitted
}

// tlsConfig checks the files of o and is the service's TLS configuration:
// TLS 1.3 at least, HTTP/2, and a client certificate required and
// verified against ClientCA.
func (o HTTPSOptions) tlsConfig() (*tls.Config, error) {
	for _, f := range []struct{ key, path string }{{"serve.https.cert", o.Cert}, {"serve.https.key", o.Key}, {"serve.https.client_ca", o.ClientCA}} {
		if f.path == "" {
			return nil, fmt.Errorf("serve.https.listen is %s but %s is not set: set it in pawl.yaml (README, \"Running pawl as a service\", HTTPS)", o.Listen, f.key)
		}
	}
	if _, err := os.Stat(o.Key); err != nil {
		return nil, fmt.Errorf("serve.https.key: %w", err)
	}
	if err := CheckPrivate(o.Key); err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(o.Cert, o.Key)
	if err != nil {
		return nil, fmt.Errorf("serve.https.cert %s and serve.https.key %s: %v: give the service's certificate and its own private key, both PEM", o.Cert, o.Key, err)
	}
	b, err := os.ReadFile(o.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("serve.https.client_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("serve.https.client_ca %s holds no PEM certificate: give the certificate of the CA that issues the clients' certificates", o.ClientCA)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// listenHTTPS starts the HTTPS listener of s; the returned function stops
// it, waiting for the requests in flight (queued ones are refused by s.stop).
func (s *Server) listenHTTPS(o HTTPSOptions) (stop func() error, err error) {
	cfg, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("serve.https.listen: %w", err)
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	mux := http.NewServeMux()
	mux.HandleFunc(CommandPath, s.serveHTTPS)
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         cfg,
		Protocols:         &protos,
		ReadHeaderTimeout: HelloTimeout,
		ErrorLog:          log.New(httpLog{s}, "", 0),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	s.logf("listening on https://%s%s (TLS 1.3, client certificates from %s)", ln.Addr(), CommandPath, o.ClientCA)
	return func() error {
		err := srv.Shutdown(context.Background())
		if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		return err
	}, nil
}

// httpLog turns net/http's error lines (a refused TLS handshake above
// all) into the service's log lines.
type httpLog struct{ s *Server }

func (l httpLog) Write(b []byte) (int, error) {
	line := strings.TrimSpace(string(b))
	if rest, ok := strings.CutPrefix(line, "http: TLS handshake error from "); ok {
		addr, why, _ := strings.Cut(rest, ": ")
		l.s.logf("refused a connection from %s: TLS handshake: %s", addr, why)
	} else {
		l.s.logf("https: %s", line)
	}
	return len(b), nil
}

// CertPrincipal is the principal of a verified client certificate: its
// fingerprint (what an operator is bound to), no uid, and its subject's
// common name for messages.
func CertPrincipal(cs *tls.ConnectionState) (principal.Principal, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return principal.Principal{}, errors.New("no verified client certificate")
	}
	leaf := cs.PeerCertificates[0]
	return principal.ForCertificate(leaf.Raw, leaf.Subject.CommonName), nil
}

func (s *Server) serveHTTPS(w http.ResponseWriter, r *http.Request) {
	who, err := CertPrincipal(r.TLS)
	if err != nil {
		s.logf("refused %s: %v", r.RemoteAddr, err)
		http.Error(w, "a client certificate is required", http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method != http.MethodPost:
		s.logf("refused %s: %s %s (want POST)", who, r.Method, r.URL.Path)
		http.Error(w, "POST a pawl command", http.StatusMethodNotAllowed)
		return
	case r.ProtoMajor != 2:
		s.logf("refused %s: %s (want HTTP/2)", who, r.Proto)
		http.Error(w, "HTTP/2 only", http.StatusHTTPVersionNotSupported)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		s.logf("refused %s: %v", who, err)
		return
	}
	conn := wire.NewStreamConn(r.Body, w, rc.Flush)
	defer conn.CloseSend() // last: nothing is written once the handler returns
	timer := time.AfterFunc(HelloTimeout, func() { r.Body.Close() })
	msg, err := conn.Recv()
	timer.Stop()
	if err != nil {
		s.logf("refused %s: %v", who, err)
		return
	}
	h, ok := msg.(wire.Hello)
	if !ok {
		s.logf("refused %s: the first frame is not a Hello", who)
		return
	}
	ctx, cancel := context.WithCancel(principal.With(r.Context(), who))
	defer cancel()
	ss := &streamSession{conn: conn, cancel: cancel, who: who, log: s.logf, done: make(chan struct{}),
		inputs: map[uint32]*inStream{}, outputs: map[uint32]*outStream{}, byFile: map[*os.File]*outStream{}}
	j := &Job{Args: h.Args, Cwd: h.Cwd, Principal: who, s: ss}
	if j.Stdin, err = ss.input(wire.StreamStdin); err == nil {
		if j.Stdout, err = ss.output(wire.StreamStdout, false); err == nil {
			j.Stderr, err = ss.output(wire.StreamStderr, false)
		}
	}
	if err != nil {
		s.logf("refused %s: %v", who, err)
		ss.gone(err) // stops the pumps already started
		ss.end()
		return
	}
	go ss.read()
	code, ok := s.runJob(ctx, j)
	ss.end()
	if ok {
		conn.Send(wire.Exit{Code: code})
	}
}

// streamSession is the service's side of an HTTPS exchange while its job
// runs: the client's streams as pipes the job reads and writes, the pumps
// that move their bytes, and the requests for client-side files.
type streamSession struct {
	conn   *wire.StreamConn
	cancel context.CancelFunc
	who    principal.Principal
	log    func(string, ...any)
	done   chan struct{} // closed when the client is gone (or broke the protocol)
	once   sync.Once

	q requests

	mu      sync.Mutex
	inputs  map[uint32]*inStream
	outputs map[uint32]*outStream
	byFile  map[*os.File]*outStream // the job's end of a created file
	mine    []*os.File              // the job's ends, closed when it returns

	pumps sync.WaitGroup // the output pumps
}

// inStream is an input stream: the pump writes what it pulls into w; the
// job reads the other end.
type inStream struct {
	w       *os.File
	ch      chan inChunk // the answer to the outstanding pull
	pulling bool
}

type inChunk struct {
	b   []byte
	end bool
}

// outStream is an output stream: the job writes into the pipe, the pump
// reads r and pushes Data; for a created file, a Shut, whose End comes
// back on ack.
type outStream struct {
	r    *os.File
	file bool
	shut bool
	ack  chan string
}

// input makes stream id an input: the job's end of a pipe that the pump
// fills by pulling from the client.
func (s *streamSession) input(id uint32) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	in := &inStream{w: w, ch: make(chan inChunk, 1)}
	s.mu.Lock()
	s.inputs[id] = in
	s.mine = append(s.mine, r)
	s.mu.Unlock()
	go s.pumpIn(id, in)
	return r, nil
}

// output makes stream id an output: the job's end of a pipe that the pump
// empties to the client.
func (s *streamSession) output(id uint32, file bool) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	o := &outStream{r: r, file: file, ack: make(chan string, 1)}
	s.mu.Lock()
	s.outputs[id] = o
	s.byFile[w] = o
	s.mine = append(s.mine, w)
	s.mu.Unlock()
	s.pumps.Add(1)
	go s.pumpOut(id, o)
	return w, nil
}

// pumpIn pulls stream id one chunk at a time (one pull outstanding) and
// writes it for the job, until the client's input ends, the job closes its
// end, or the client goes.
func (s *streamSession) pumpIn(id uint32, in *inStream) {
	defer in.w.Close()
	for {
		s.mu.Lock()
		in.pulling = true
		s.mu.Unlock()
		if err := s.conn.Send(wire.Pull{Stream: id, Max: pullChunk}); err != nil {
			return
		}
		var c inChunk
		select {
		case c = <-in.ch:
		case <-s.done:
			return
		}
		if c.end {
			return
		}
		if _, err := in.w.Write(c.b); err != nil {
			return // the job closed its end: it reads no more
		}
	}
}

// pumpOut pushes what the job writes to stream id, then, for a file,
// shuts it.
func (s *streamSession) pumpOut(id uint32, o *outStream) {
	defer s.pumps.Done()
	defer o.r.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := o.r.Read(buf)
		if n > 0 {
			if serr := s.conn.Send(wire.Data{Stream: id, Bytes: buf[:n]}); serr != nil {
				io.Copy(io.Discard, o.r) // the client is gone: let the job write on
				return
			}
		}
		if err != nil {
			break
		}
	}
	if o.file {
		s.mu.Lock()
		o.shut = true
		s.mu.Unlock()
		s.conn.Send(wire.Shut{Stream: id})
	}
}

// read dispatches the client's frames until it goes; then cancels the job.
func (s *streamSession) read() {
	for {
		msg, err := s.conn.Recv()
		if err != nil {
			s.gone(fmt.Errorf("the client disconnected: %w", err))
			return
		}
		if err := s.deliver(msg); err != nil {
			s.log("%s: %v: the command is cancelled", s.who, err)
			s.gone(err)
			return
		}
	}
}

func (s *streamSession) deliver(msg any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m := msg.(type) {
	case wire.Answer:
		if !s.q.deliver(answer{msg: m}) {
			return fmt.Errorf("an answer to request %d, which is not pending", m.ID)
		}
	case wire.Data:
		in := s.inputs[m.Stream]
		if in == nil || !in.pulling {
			return fmt.Errorf("data on stream %d, which was not pulled", m.Stream)
		}
		if len(m.Bytes) > pullChunk {
			return fmt.Errorf("%d bytes on stream %d, more than the %d pulled", len(m.Bytes), m.Stream, pullChunk)
		}
		in.pulling = false
		in.ch <- inChunk{b: m.Bytes}
	case wire.End:
		if in := s.inputs[m.Stream]; in != nil && in.pulling {
			if m.Error != "" {
				// A truncated input must never read as a whole one.
				return fmt.Errorf("reading input stream %d failed on the client: %s", m.Stream, m.Error)
			}
			in.pulling = false
			in.ch <- inChunk{end: true}
			return nil
		}
		if o := s.outputs[m.Stream]; o != nil && o.shut {
			o.shut = false
			o.ack <- m.Error
			return nil
		}
		return fmt.Errorf("an end of stream %d, which was neither pulled nor shut", m.Stream)
	default:
		return fmt.Errorf("an unexpected %T", msg)
	}
	return nil
}

// gone records that the client is gone, cancels the job and wakes every
// waiter.
func (s *streamSession) gone(err error) {
	s.cancel()
	s.q.fail(err)
	s.once.Do(func() { close(s.done) })
}

// end, once the job has returned: closes the job's ends of every stream,
// waits until every output is pushed and every file shut, and until the
// client has answered each Shut (a file the job closed without Finish), so
// that the Exit goes after all of it and the client's answers arrive while
// the exchange is open.
func (s *streamSession) end() {
	s.mu.Lock()
	mine := s.mine
	s.mine = nil
	s.mu.Unlock()
	closeFiles(mine)
	s.pumps.Wait()
	s.mu.Lock()
	var waiting []*outStream
	for _, o := range s.outputs {
		if o.file && o.shut {
			waiting = append(waiting, o)
		}
	}
	s.mu.Unlock()
	for _, o := range waiting {
		select {
		case <-o.ack:
		case <-s.done:
			return
		}
	}
}

func (s *streamSession) ask(r wire.Request) (*os.File, error) {
	_, r, err := s.q.ask(r, func(r wire.Request) error { return s.conn.Send(r) })
	if err != nil {
		return nil, err
	}
	switch r.Op {
	case wire.OpOpen, wire.OpFD:
		return s.input(wire.StreamOf(r.ID))
	case wire.OpCreate:
		return s.output(wire.StreamOf(r.ID), true)
	}
	return nil, nil // mkdir: the answer is all there is
}

// finish closes the job's end of a created file and waits for the client
// to make it durable and close it.
func (s *streamSession) finish(f *os.File) error {
	s.mu.Lock()
	o := s.byFile[f]
	s.mu.Unlock()
	if o == nil || !o.file {
		return fmt.Errorf("finishing %s: not a file created on the client's side", f.Name())
	}
	if err := f.Close(); err != nil {
		return err
	}
	select {
	case msg := <-o.ack:
		if msg != "" {
			return errors.New(msg)
		}
		return nil
	case <-s.done:
		return s.q.err()
	}
}
