package serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/serve/tlstest"
	"github.com/pawl-dev/pawl/engine/wire"
)

// files are a client's TLS files, trusting ca for the service.
func files(c tlstest.Client, ca string) TLSFiles { return TLSFiles{Cert: c.Cert, Key: c.Key, CA: ca} }

func alice(pki tlstest.PKI) TLSFiles { return files(pki.Alice, pki.CA) }

// logBuf is a service log the test reads while the service writes it.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startHTTPS runs a service with an HTTPS listener on a free port of
// 127.0.0.1 until the test ends; server is its https:// address.
func startHTTPS(t *testing.T, pki tlstest.PKI, h Handler) (server string, log *logBuf, stop func()) {
	t.Helper()
	dir := t.TempDir()
	log = &logBuf{}
	stop = startWith(t, Options{Socket: filepath.Join(dir, "pawl.sock"), Lock: filepath.Join(dir, "serve.lock"), Handler: h, Log: log,
		HTTPS: HTTPSOptions{Listen: "127.0.0.1:0", Cert: pki.ServerCert, Key: pki.ServerKey, ClientCA: pki.CA}})
	_, addr, ok := strings.Cut(log.String(), "listening on https://")
	if !ok {
		t.Fatalf("no HTTPS listener in the log:\n%s", log)
	}
	addr, _, _ = strings.Cut(addr, "/")
	return "https://" + addr, log, stop
}

// TestHTTPSCommandRunsWithTheCertificateAndTheClientsFiles: over HTTPS the
// handler sees the command line, the client certificate's principal (its
// fingerprint, no uid, the CN for messages), the client's stdin, and the
// client's files through requests, as streams; a created file is durable
// and closed on the client's side when Finish returns; mkdir works; the
// exit status comes back.
func TestHTTPSCommandRunsWithTheCertificateAndTheClientsFiles(t *testing.T) {
	pki := tlstest.New(t)
	server, log, _ := startHTTPS(t, pki, func(ctx context.Context, j *Job) int {
		p := principal.From(ctx)
		fmt.Fprintf(j.Stdout, "args=%s uid=%d via=%s cert=%s user=%s\n", strings.Join(j.Args, ","), p.UID, p.Via, p.Cert, p.User)
		in, _ := io.ReadAll(j.Stdin)
		fmt.Fprintf(j.Stdout, "stdin=%s\n", in)
		f, err := j.Open("input.txt")
		if err != nil {
			fmt.Fprintln(j.Stderr, err)
			return 1
		}
		b, _ := io.ReadAll(f)
		f.Close()
		fmt.Fprintf(j.Stdout, "file=%s\n", b)
		if w, err := j.Create("sub/out.txt", 0o640); err == nil {
			t.Error("Create in a missing directory succeeded")
			w.Close()
		}
		if err := j.Mkdir("sub/deeper"); err != nil {
			t.Errorf("Mkdir: %v", err)
		}
		w, err := j.Create("sub/deeper/out.txt", 0o640)
		if err != nil {
			fmt.Fprintln(j.Stderr, err)
			return 1
		}
		w.WriteString("written by the service")
		if err := j.Finish(w); err != nil {
			t.Errorf("Finish: %v", err)
		}
		// Finish returned: the file is whole on the client's side.
		if got, _ := os.ReadFile("sub/deeper/out.txt"); string(got) != "written by the service" {
			t.Errorf("after Finish the client's file holds %q", got)
		}
		if err := j.Mkdir("sub"); err == nil || !strings.Contains(err.Error(), "is not empty") {
			t.Errorf("Mkdir of a directory with files: %v", err)
		}
		if _, err := j.Open("missing.txt"); err == nil || !strings.Contains(err.Error(), "missing.txt") {
			t.Errorf("Open of a missing file: %v", err)
		}
		if _, err := j.FD(97); err == nil || !strings.Contains(err.Error(), "descriptor 97 is not open") {
			t.Errorf("FD of a closed descriptor: %v", err)
		}
		fmt.Fprint(j.Stderr, "done")
		return 3
	})
	cwd := t.TempDir()
	if err := os.WriteFile(filepath.Join(cwd, "input.txt"), []byte("client bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(cwd)
	in, out, errw, read := pipes(t, "piped")
	code, err := CallHTTPS(context.Background(), server, alice(pki), []string{"run", "job"}, in, out, errw)
	if err != nil {
		t.Fatal(err)
	}
	o, e := read()
	want := fmt.Sprintf("args=run,job uid=-1 via=tls cert=%s user=alice\nstdin=piped\nfile=client bytes\n", principal.Fingerprint(pki.Alice.DER))
	if code != 3 || o != want || e != "done" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 3, %q, \"done\"", code, o, e, want)
	}
	if fi, err := os.Stat(filepath.Join(cwd, "sub/deeper/out.txt")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("out.txt: %v, %v; want mode 0640", fi, err)
	}
	if want := "certificate " + principal.Fingerprint(pki.Alice.DER) + " (alice) via tls ran [\"run\" \"job\"]: exit 3"; !strings.Contains(log.String(), want) {
		t.Errorf("the service's log lacks %q:\n%s", want, log)
	}
}

// TestHTTPSLargeStreamsBothWays: the command copies 6 MiB of stdin to
// stdout while it writes 3 MiB to stderr and a 5 MiB client file to a new
// client file: no stream waits on another, every byte arrives in order.
func TestHTTPSLargeStreamsBothWays(t *testing.T) {
	pki := tlstest.New(t)
	server, _, _ := startHTTPS(t, pki, func(ctx context.Context, j *Job) int {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 << 10 {
				fmt.Fprintf(j.Stderr, "%01023d\n", i)
			}
		}()
		if _, err := io.Copy(j.Stdout, j.Stdin); err != nil {
			t.Errorf("copying stdin to stdout: %v", err)
		}
		f, err := j.Open("big.in")
		if err != nil {
			t.Error(err)
			return 1
		}
		w, err := j.Create("big.out", 0o600)
		if err != nil {
			t.Error(err)
			return 1
		}
		if _, err := io.Copy(w, f); err != nil {
			t.Error(err)
		}
		f.Close()
		if err := j.Finish(w); err != nil {
			t.Error(err)
		}
		wg.Wait()
		return 0
	})
	cwd := t.TempDir()
	t.Chdir(cwd)
	stdin := bytes.Repeat([]byte("0123456789abcdef"), 6<<16)
	file := bytes.Repeat([]byte("fedcba9876543210"), 5<<16)
	if err := os.WriteFile("big.in", file, 0o600); err != nil {
		t.Fatal(err)
	}
	in, out, errw, read := pipes(t, string(stdin))
	done := make(chan error, 1)
	go func() {
		code, err := CallHTTPS(context.Background(), server, alice(pki), []string{"copy"}, in, out, errw)
		if err == nil && code != 0 {
			err = fmt.Errorf("exit %d", code)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("deadlock: the command did not end in 2 minutes")
	}
	o, e := read()
	if o != string(stdin) {
		t.Errorf("stdout: %d bytes, want stdin's %d back", len(o), len(stdin))
	}
	if len(e) != 3<<20 || !strings.HasSuffix(e, fmt.Sprintf("%01023d\n", 3<<10-1)) {
		t.Errorf("stderr: %d bytes, want %d ending with the last line", len(e), 3<<20)
	}
	if got, _ := os.ReadFile("big.out"); !bytes.Equal(got, file) {
		t.Errorf("big.out: %d bytes, want the %d of big.in", len(got), len(file))
	}
}

// TestHTTPSQueueAndDisconnect: an HTTPS job queues behind a running one
// (and is told), and a client that goes away cancels its command; the
// service goes on.
func TestHTTPSQueueAndDisconnect(t *testing.T) {
	pki := tlstest.New(t)
	begun := make(chan string, 2)
	cancelled := make(chan struct{})
	server, log, _ := startHTTPS(t, pki, func(ctx context.Context, j *Job) int {
		begun <- j.Args[0]
		if j.Args[0] != "long" {
			return 0
		}
		select {
		case <-ctx.Done():
			close(cancelled)
		case <-time.After(30 * time.Second):
			t.Error("the command was not cancelled when its client left")
		}
		return 1
	})
	in, out, errw, _ := pipes(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := CallHTTPS(ctx, server, alice(pki), []string{"long"}, in, out, errw)
		first <- err
	}()
	if got := <-begun; got != "long" {
		t.Fatalf("began %s", got)
	}
	in2, out2, err2, read2 := pipes(t, "")
	second := make(chan error, 1)
	go func() {
		code, err := CallHTTPS(context.Background(), server, alice(pki), []string{"quick"}, in2, out2, err2)
		if err == nil && code != 0 {
			err = fmt.Errorf("exit %d", code)
		}
		second <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, e := read2(); strings.Contains(e, "queued behind 1 job(s)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second client was not told it is queued")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-first; err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("the interrupted client: %v", err)
	}
	<-cancelled
	if err := <-second; err != nil {
		t.Fatalf("the queued client: %v", err)
	}
	if got := <-begun; got != "quick" {
		t.Fatalf("began %s", got)
	}
	if !strings.Contains(log.String(), `ran ["long"]: exit 1`) || !strings.Contains(log.String(), "(the client disconnected: the command was cancelled)") {
		t.Errorf("the log does not say the command was cancelled:\n%s", log)
	}
}

// TestHTTPSRefusals: each way in that is not a verified client with a
// certificate of the configured CA is refused, with one line saying what
// to fix, and the service says so in its log; nothing runs.
func TestHTTPSRefusals(t *testing.T) {
	pki := tlstest.New(t)
	ran := make(chan string, 10)
	server, log, _ := startHTTPS(t, pki, func(ctx context.Context, j *Job) int {
		ran <- j.Args[0]
		return 0
	})
	in, out, errw, _ := pipes(t, "")
	call := func(tf TLSFiles, srv string) error {
		_, err := CallHTTPS(context.Background(), srv, tf, []string{"x"}, in, out, errw)
		return err
	}
	// A certificate from another CA: refused at the handshake, on the log.
	err := call(files(pki.Mallory, pki.CA), server)
	if err == nil || !strings.Contains(err.Error(), "refused this client's certificate (--tls-cert "+pki.Mallory.Cert+")") {
		t.Errorf("a certificate of another CA: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "TLS handshake: tls: failed to verify certificate") {
		if time.Now().After(deadline) {
			t.Errorf("the refused handshake is not in the log:\n%s", log)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// No certificate at all.
	if err := call(TLSFiles{CA: pki.CA}, server); err == nil || !strings.Contains(err.Error(), "no client certificate: pass --tls-cert FILE and --tls-key FILE") {
		t.Errorf("no certificate: %v", err)
	}
	// The service's certificate from a CA the client does not trust.
	wrongCA := files(pki.Alice, pki.OtherCA)
	if err := call(wrongCA, server); err == nil || !strings.Contains(err.Error(), "is not trusted by --tls-ca "+pki.OtherCA) {
		t.Errorf("an untrusted service: %v", err)
	}
	// A client key others can read.
	loose := filepath.Join(t.TempDir(), "loose.key")
	b, _ := os.ReadFile(pki.Alice.Key)
	os.WriteFile(loose, b, 0o644)
	looseFiles := alice(pki)
	looseFiles.Key = loose
	if err := call(looseFiles, server); err == nil || !strings.Contains(err.Error(), "mode 0644, open to group or others: run chmod 600 "+loose) {
		t.Errorf("a key readable by others: %v", err)
	}
	// Plain HTTP, by this client and by another.
	if err := call(alice(pki), strings.Replace(server, "https://", "http://", 1)); err == nil || !strings.Contains(err.Error(), "plain HTTP is refused: use https://") {
		t.Errorf("http://: %v", err)
	}
	resp, err := http.Post(strings.Replace(server, "https://", "http://", 1)+CommandPath, ContentType, strings.NewReader("x"))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP answered %s", resp.Status)
		}
	}
	// HTTPS without a client certificate, by a general client.
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(pki.CA)
	pool.AppendCertsFromPEM(caPEM)
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	if resp, err := anon.Post(server+CommandPath, ContentType, strings.NewReader("x")); err == nil {
		resp.Body.Close()
		t.Errorf("a client without a certificate got %s", resp.Status)
	}
	// Nobody listening.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "https://" + l.Addr().String()
	l.Close()
	if err := call(alice(pki), closed); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "is pawl serve running there, with serve.https.listen set?") {
		t.Errorf("nobody listening: %v", err)
	}
	select {
	case got := <-ran:
		t.Fatalf("a refused client ran %q", got)
	default:
	}
	// And a client with its certificate still gets in.
	if err := call(alice(pki), server); err != nil {
		t.Fatalf("alice: %v", err)
	}
}

// TestHTTPSKeyMustBePrivate: the service refuses to start when its TLS
// private key is open to others, saying what to run; nothing listens.
func TestHTTPSKeyMustBePrivate(t *testing.T) {
	pki := tlstest.New(t)
	os.Chmod(pki.ServerKey, 0o640)
	dir := t.TempDir()
	err := Serve(context.Background(), Options{Socket: filepath.Join(dir, "pawl.sock"), Lock: filepath.Join(dir, "serve.lock"),
		HTTPS: HTTPSOptions{Listen: "127.0.0.1:0", Cert: pki.ServerCert, Key: pki.ServerKey, ClientCA: pki.CA}})
	if want := pki.ServerKey + " is mode 0640, open to group or others: run chmod -R go-rwx " + pki.ServerKey; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Serve with a key others read: %v, want %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "pawl.sock")); err == nil {
		t.Error("the refused service left its socket")
	}
	err = Serve(context.Background(), Options{Socket: filepath.Join(dir, "pawl.sock"), Lock: filepath.Join(dir, "serve.lock"),
		HTTPS: HTTPSOptions{Listen: "127.0.0.1:0", Cert: pki.ServerCert, Key: pki.ServerKey}})
	if err == nil || !strings.Contains(err.Error(), "serve.https.client_ca is not set") {
		t.Fatalf("Serve without a client CA: %v", err)
	}
}

// TestHTTPSStop: on stop, an HTTPS job that is running finishes and its
// client gets its status and output; one queued behind it is told nothing
// was done; then the service returns.
func TestHTTPSStop(t *testing.T) {
	pki := tlstest.New(t)
	begun := make(chan struct{})
	release := make(chan struct{})
	server, _, stop := startHTTPS(t, pki, func(ctx context.Context, j *Job) int {
		if j.Args[0] != "first" {
			t.Errorf("%s ran after the stop", j.Args[0])
			return 0
		}
		close(begun)
		<-release
		if ctx.Err() != nil {
			t.Error("the running job was cancelled by the stop")
		}
		fmt.Fprint(j.Stdout, "finished")
		return 4
	})
	in, out, errw, read := pipes(t, "")
	first := make(chan int, 1)
	go func() {
		code, err := CallHTTPS(context.Background(), server, alice(pki), []string{"first"}, in, out, errw)
		if err != nil {
			t.Error(err)
		}
		first <- code
	}()
	<-begun
	in2, out2, err2, read2 := pipes(t, "")
	second := make(chan int, 1)
	go func() {
		code, err := CallHTTPS(context.Background(), server, alice(pki), []string{"second"}, in2, out2, err2)
		if err != nil {
			t.Error(err)
		}
		second <- code
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, e := read2(); strings.Contains(e, "queued behind 1 job(s)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second client was not queued")
		}
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	if code := <-second; code != refusedStatus {
		t.Errorf("the queued job: exit %d, want %d", code, refusedStatus)
	}
	if _, e := read2(); !strings.Contains(e, "the service is stopping: nothing was done") {
		t.Errorf("the queued client was told %q", e)
	}
	select {
	case <-stopped:
		t.Fatal("stopped before the running job ended")
	default:
	}
	close(release)
	if code := <-first; code != 4 {
		t.Errorf("the running job: exit %d, want 4", code)
	}
	if o, _ := read(); o != "finished" {
		t.Errorf("the running job's stdout: %q", o)
	}
	<-stopped
}

// TestHTTPSFrameOutOfTurnCancels: a client that sends what was not asked
// for (data on a stream nobody pulled) ends its session: the command is
// cancelled and the service says why in its log.
func TestHTTPSFrameOutOfTurnCancels(t *testing.T) {
	pki := tlstest.New(t)
	cancelled := make(chan struct{})
	server, log, _ := startHTTPS(t, pki, func(ctx context.Context, j *Job) int {
		select {
		case <-ctx.Done():
			close(cancelled)
		case <-time.After(30 * time.Second):
			t.Error("the command was not cancelled")
		}
		return 1
	})
	cfg, err := clientTLS(alice(pki), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	tr := &http.Transport{TLSClientConfig: cfg, Protocols: &protos, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPost, server+CommandPath, pr)
	out := wire.NewStreamConn(strings.NewReader(""), pw, nil)
	go func() {
		out.Send(wire.Hello{Version: wire.Version, Args: []string{"x"}, Cwd: "/"})
		out.Send(wire.Data{Stream: 9, Bytes: []byte("unasked")})
	}()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	select {
	case <-cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("not cancelled")
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), "data on stream 9, which was not pulled: the command is cancelled"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not say why:\n%s", log)
		}
	}
}

// TestHTTPSFilesClosedWithoutFinish: files the command closes without
// Finish, or leaves open, are whole and closed on the client's side before
// the client gets the exit status.
func TestHTTPSFilesClosedWithoutFinish(t *testing.T) {
	pki := tlstest.New(t)
	server, _, _ := startHTTPS(t, pki, func(ctx context.Context, j *Job) int {
		for _, name := range []string{"closed.txt", "left-open.txt"} {
			w, err := j.Create(name, 0o600)
			if err != nil {
				t.Error(err)
				return 1
			}
			fmt.Fprintf(w, "all of %s", name)
			if name == "closed.txt" {
				w.Close()
			}
		}
		return 5
	})
	t.Chdir(t.TempDir())
	in, out, errw, _ := pipes(t, "")
	for range 3 {
		code, err := CallHTTPS(context.Background(), server, alice(pki), []string{"x"}, in, out, errw)
		if err != nil || code != 5 {
			t.Fatalf("exit %d, %v; want 5", code, err)
		}
		for _, name := range []string{"closed.txt", "left-open.txt"} {
			if b, err := os.ReadFile(name); err != nil || string(b) != "all of "+name {
				t.Fatalf("%s: %q, %v", name, b, err)
			}
		}
	}
}
