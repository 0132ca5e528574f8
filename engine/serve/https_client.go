package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/wire"
)

// TLSFiles are a client's certificate, its private key, and the CA
// certificates it trusts for the service's certificate (empty: the
// system's).
type TLSFiles struct {
	Cert, Key, CA string
}

// IsHTTPS says whether a --server names an HTTPS service rather than a
// Unix socket.
func IsHTTPS(server string) bool {
	return strings.HasPrefix(server, "https://") || strings.HasPrefix(server, "http://")
}

// clientTLS checks the client's files and is its TLS configuration.
func clientTLS(tf TLSFiles, host string) (*tls.Config, error) {
	if tf.Cert == "" || tf.Key == "" {
		return nil, errors.New("no client certificate: pass --tls-cert FILE and --tls-key FILE (or PAWL_TLS_CERT and PAWL_TLS_KEY): the service admits only clients with a certificate its CA issued")
	}
	fi, err := os.Stat(tf.Key)
	if err != nil {
		return nil, fmt.Errorf("--tls-key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("--tls-key %s is mode %04o, open to group or others: run chmod 600 %s (whoever reads it acts as you)", tf.Key, perm, tf.Key)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("--tls-key %s is owned by uid %d, not by you (uid %d): use a key of your own", tf.Key, st.Uid, os.Geteuid())
	}
	pair, err := tls.LoadX509KeyPair(tf.Cert, tf.Key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s and --tls-key %s: %v: give your certificate and its own private key, both PEM", tf.Cert, tf.Key, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: host, NextProtos: []string{"h2"},
		// Always the one certificate, even when the service asks for
		// another CA's: then its refusal, and its log, say why.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }}
	if tf.CA != "" {
		b, err := os.ReadFile(tf.CA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--tls-ca %s holds no PEM certificate: give the certificate of the CA that issued the service's", tf.CA)
		}
	}
	return cfg, nil
}

// parseServer is the endpoint of an https:// server.
func parseServer(server string) (endpoint, host string, err error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || u.Scheme != "https" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		if err == nil && u.Scheme == "http" {
			return "", "", fmt.Errorf("--server %s: plain HTTP is refused: use https://", server)
		}
		return "", "", fmt.Errorf("--server %s: want https://HOST:PORT (or the path of a Unix socket)", server)
	}
	return "https://" + u.Host + CommandPath, u.Hostname(), nil
}

// CallHTTPS is Call over HTTPS: it runs one command line on the service at
// server (https://host:port), authenticated by the client certificate in
// tf, with the given standard streams; the service's requests for files
// are answered with this process's permissions, their bytes crossing as
// streams (a streamed session, package wire).
func CallHTTPS(ctx context.Context, server string, tf TLSFiles, args []string, stdin, stdout, stderr *os.File) (int, error) {
	endpoint, host, err := parseServer(server)
	if err != nil {
		return 0, err
	}
	cfg, err := clientTLS(tf, host)
	if err != nil {
		return 0, err
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	tr := &http.Transport{TLSClientConfig: cfg, Protocols: &protos, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, endpoint, pr)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ContentType)
	out := wire.NewStreamConn(strings.NewReader(""), pw, nil)
	cwd, _ := os.Getwd()
	go out.Send(wire.Hello{Version: wire.Version, Args: args, Cwd: cwd})
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, httpsError(server, tf, diagnose(ctx, endpoint, cfg, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("the service at %s answered %s: %s", server, resp.Status, strings.TrimSpace(string(b)))
	}
	cs := &clientStreams{conn: out, in: map[uint32]*os.File{wire.StreamStdin: stdin},
		out: map[uint32]*clientOut{wire.StreamStdout: {f: stdout}, wire.StreamStderr: {f: stderr}}}
	defer cs.closeOwned()
	in := wire.NewStreamConn(resp.Body, io.Discard, nil)
	done := make(chan result, 1)
	go func() {
		for {
			msg, err := in.Recv()
			if err != nil {
				done <- result{err: fmt.Errorf("the service at %s closed the connection before the command ended: %v", server, httpsError(server, tf, err))}
				return
			}
			if m, ok := msg.(wire.Exit); ok {
				done <- result{code: m.Code}
				return
			}
			if err := cs.handle(msg); err != nil {
				done <- result{err: err}
				return
			}
		}
	}()
	return await(ctx, done, cancel)
}

// interrupted is what a client interrupted while its command runs says.
const interrupted = "interrupted: the command is cancelled on the service (a batch not yet committed fails on record; check with pawl audit log)"

// httpsError says in one line what to fix for an error reaching the
// service: unreachable, its certificate not trusted, or this client's
// certificate refused.
func httpsError(server string, tf TLSFiles, err error) error {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var op *net.OpError
	switch {
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr):
		ca := "the system's CAs"
		if tf.CA != "" {
			ca = "--tls-ca " + tf.CA
		}
		return fmt.Errorf("the service's certificate at %s is not trusted by %s: %v: pass the certificate of the CA that issued it with --tls-ca (PAWL_TLS_CA)", server, ca, unwrapTLS(err))
	case strings.Contains(err.Error(), "remote error: tls:"):
		_, why, _ := strings.Cut(err.Error(), "remote error: ")
		return fmt.Errorf("the service at %s refused this client's certificate (--tls-cert %s): %s: ask its administrator for a certificate issued by the CA in its serve.https.client_ca", server, tf.Cert, why)
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("%w at %s: %v (is pawl serve running there, with serve.https.listen set?)", ErrUnreachable, server, unwrapOp(err))
	}
	return err
}

// diagnose, when a request failed, finds why when HTTP/2 did not say: in
// TLS 1.3 the service refuses a client certificate after the client's side
// of the handshake is done, so the alert arrives as the first read, and
// the HTTP/2 client reports only that no connection was established. It
// dials once more and reads.
func diagnose(ctx context.Context, endpoint string, cfg *tls.Config, err error) error {
	var op *net.OpError
	var verr *tls.CertificateVerificationError
	if errors.As(err, &op) && op.Op == "dial" || errors.As(err, &verr) || ctx.Err() != nil {
		return err
	}
	u, perr := url.Parse(endpoint)
	if perr != nil {
		return err
	}
	d := &tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	c, derr := d.DialContext(ctx, "tcp", u.Host)
	if derr != nil {
		return derr
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, rerr := c.Read(make([]byte, 1)); rerr != nil && strings.Contains(rerr.Error(), "remote error: tls:") {
		return rerr
	}
	return err
}

func unwrapTLS(err error) error {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return verr.Err
	}
	var uerr x509.UnknownAuthorityError
	if errors.As(err, &uerr) {
		return uerr
	}
	return err
}

// clientStreams are the client's side of a streamed session's streams.
type clientStreams struct {
	conn  *wire.StreamConn
	mu    sync.Mutex
	in    map[uint32]*os.File
	out   map[uint32]*clientOut
	owned []*os.File // opened for the service: closed at the end
}

type clientOut struct {
	f    *os.File
	path string
	err  error // the first write that failed
}

// handle answers one frame of the service. Its error is a frame the
// session cannot take; a failed send is not one: what went wrong (the
// service gone, or its Exit already on the way) is what the next read
// finds.
func (c *clientStreams) handle(msg any) error {
	switch m := msg.(type) {
	case wire.Request:
		c.request(m)
	case wire.Pull:
		c.mu.Lock()
		f := c.in[m.Stream]
		c.mu.Unlock()
		if f == nil {
			return fmt.Errorf("the service pulled stream %d, which is no input", m.Stream)
		}
		go c.pull(f, m)
	case wire.Data:
		c.mu.Lock()
		o := c.out[m.Stream]
		c.mu.Unlock()
		if o == nil {
			return fmt.Errorf("the service sent data on stream %d, which is no output", m.Stream)
		}
		if o.err == nil {
			_, o.err = o.f.Write(m.Bytes)
		}
	case wire.Shut:
		c.mu.Lock()
		o := c.out[m.Stream]
		delete(c.out, m.Stream)
		c.mu.Unlock()
		if o == nil || o.path == "" {
			return fmt.Errorf("the service shut stream %d, which is no file", m.Stream)
		}
		err := o.err
		if err == nil {
			err = durable.Finish(o.f)
		} else {
			o.f.Close()
			err = fmt.Errorf("writing %s: %w", o.path, err)
		}
		end := wire.End{Stream: m.Stream}
		if err != nil {
			end.Error = err.Error()
		}
		c.conn.Send(end) // the service gone, its Exit or the closed connection is what the next read finds
	default:
		return fmt.Errorf("the service sent an unexpected %T", msg)
	}
	return nil
}

// request opens what the service asks for, as this process, and makes it
// the request's stream before answering.
func (c *clientStreams) request(r wire.Request) {
	f, err := serveRequest(r)
	if err != nil {
		c.conn.Send(wire.Answer{ID: r.ID, Error: err.Error()})
		return
	}
	id := wire.StreamOf(r.ID)
	c.mu.Lock()
	switch r.Op {
	case wire.OpOpen, wire.OpFD:
		c.in[id] = f
		if r.Op == wire.OpOpen {
			c.owned = append(c.owned, f)
		}
	case wire.OpCreate:
		c.out[id] = &clientOut{f: f, path: r.Path}
		c.owned = append(c.owned, f)
	default: // mkdir: made; the answer is all there is
		f.Close()
	}
	c.mu.Unlock()
	c.conn.Send(wire.Answer{ID: r.ID})
}

// pull answers one Pull: one read of at most Max bytes, or the end.
func (c *clientStreams) pull(f *os.File, p wire.Pull) {
	buf := make([]byte, p.Max)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			c.conn.Send(wire.Data{Stream: p.Stream, Bytes: buf[:n]})
			return
		}
		if err != nil {
			end := wire.End{Stream: p.Stream}
			if !errors.Is(err, io.EOF) {
				end.Error = err.Error()
			}
			c.conn.Send(end)
			return
		}
	}
}

func (c *clientStreams) closeOwned() {
	c.mu.Lock()
	defer c.mu.Unlock()
	closeFiles(c.owned) // a file already finished is closed again, harmlessly
}
