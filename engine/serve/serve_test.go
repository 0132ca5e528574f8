package serve

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/principal"
)

// start runs a service in dir with handler h until the test ends.
func start(t *testing.T, dir string, h Handler) (socket string, stop func()) {
	t.Helper()
	socket = filepath.Join(dir, "pawl.sock")
	return socket, startWith(t, Options{Socket: socket, Lock: filepath.Join(dir, "serve.lock"), Handler: h})
}

// startWith runs a service with o until the test ends (or stop).
func startWith(t *testing.T, o Options) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	o.Ready = func() { close(ready) }
	go func() { done <- Serve(ctx, o) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// pipes gives a client's stdin (with content), stdout and stderr as files,
// and a function that returns what was written to stdout and stderr.
func pipes(t *testing.T, stdin string) (in, out, errw *os.File, read func() (string, string)) {
	t.Helper()
	dir := t.TempDir()
	mk := func(name, content string) *os.File {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	in, out, errw = mk("in", stdin), mk("out", ""), mk("err", "")
	return in, out, errw, func() (string, string) {
		o, _ := os.ReadFile(filepath.Join(dir, "out"))
		e, _ := os.ReadFile(filepath.Join(dir, "err"))
		return string(o), string(e)
	}
}

// TestCommandRunsWithThePeerAndTheClientsFiles: the handler sees the
// command line, the kernel's uid of the peer in ctx, the client's stdin,
// and the client's files through requests, relative to the client's
// working directory; the exit status comes back.
func TestCommandRunsWithThePeerAndTheClientsFiles(t *testing.T) {
	dir := t.TempDir()
	socket, _ := start(t, dir, func(ctx context.Context, j *Job) int {
		p := principal.From(ctx)
		fmt.Fprintf(j.Stdout, "args=%s uid=%d via=%s\n", strings.Join(j.Args, ","), p.UID, p.Via)
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
		w, err := j.Create("sub/out.txt", 0o640)
		if err == nil {
			t.Error("Create in a missing directory succeeded")
			w.Close()
		}
		w, err = j.Create("out.txt", 0o640)
		if err != nil {
			fmt.Fprintln(j.Stderr, err)
			return 1
		}
		w.WriteString("written by the service")
		w.Close()
		if _, err := j.Open("missing.txt"); err == nil || !strings.Contains(err.Error(), "missing.txt") {
			t.Errorf("Open of a missing file: %v", err)
		}
		if _, err := j.FD(97); err == nil || !strings.Contains(err.Error(), "descriptor 97 is not open") {
			t.Errorf("FD of a closed descriptor: %v", err)
		}
		return 3
	})
	cwd := t.TempDir()
	if err := os.WriteFile(filepath.Join(cwd, "input.txt"), []byte("client bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(cwd)
	in, out, errw, read := pipes(t, "piped")
	code, err := Call(context.Background(), socket, []string{"run", "job"}, in, out, errw)
	if err != nil {
		t.Fatal(err)
	}
	o, e := read()
	want := fmt.Sprintf("args=run,job uid=%d via=unix\nstdin=piped\nfile=client bytes\n", os.Getuid())
	if code != 3 || o != want {
		t.Fatalf("exit %d, stdout %q (stderr %q); want 3, %q", code, o, e, want)
	}
	b, err := os.ReadFile(filepath.Join(cwd, "out.txt"))
	if err != nil || string(b) != "written by the service" {
		t.Fatalf("out.txt: %q, %v", b, err)
	}
	if fi, _ := os.Stat(filepath.Join(cwd, "out.txt")); fi.Mode().Perm() != 0o640 {
		t.Errorf("out.txt mode %v, want 0640", fi.Mode().Perm())
	}
}

// TestSecondServiceRefused: the lock is held for the service's life.
func TestSecondServiceRefused(t *testing.T) {
	dir := t.TempDir()
	start(t, dir, func(context.Context, *Job) int { return 0 })
	err := Serve(context.Background(), Options{Socket: filepath.Join(dir, "other.sock"), Lock: filepath.Join(dir, "serve.lock")})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("another pawl serve (pid %d) holds", os.Getpid())) {
		t.Fatalf("second Serve: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.sock")); err == nil {
		t.Error("the refused service made its socket")
	}
}

// TestJobsQueue: a second job waits for the first, is told so, and runs
// after it; they never overlap.
func TestJobsQueue(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	started := make(chan string, 2)
	running := 0
	socket, _ := start(t, dir, func(ctx context.Context, j *Job) int {
		running++
		if running > 1 {
			t.Error("two jobs ran at once")
		}
		started <- j.Args[0]
		if j.Args[0] == "first" {
			<-release
		}
		running--
		return 0
	})
	in1, out1, err1, _ := pipes(t, "")
	done1 := make(chan int)
	go func() {
		c, err := Call(context.Background(), socket, []string{"first"}, in1, out1, err1)
		if err != nil {
			t.Error(err)
		}
		done1 <- c
	}()
	if got := <-started; got != "first" {
		t.Fatalf("started %s", got)
	}
	in2, out2, err2, read2 := pipes(t, "")
	done2 := make(chan int)
	go func() {
		c, err := Call(context.Background(), socket, []string{"second"}, in2, out2, err2)
		if err != nil {
			t.Error(err)
		}
		done2 <- c
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, e := read2(); strings.Contains(e, "queued behind 1 job(s)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second client was not told it is queued")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case got := <-started:
		t.Fatalf("%s started while the first ran", got)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-done1
	if got := <-started; got != "second" {
		t.Fatalf("started %s", got)
	}
	<-done2
}

// TestDisconnectCancels: a client that goes away cancels its command's
// context; the service goes on serving.
func TestDisconnectCancels(t *testing.T) {
	dir := t.TempDir()
	cancelled := make(chan struct{})
	begun := make(chan struct{})
	socket, _ := start(t, dir, func(ctx context.Context, j *Job) int {
		if j.Args[0] == "quick" {
			return 0
		}
		close(begun)
		select {
		case <-ctx.Done():
			close(cancelled)
		case <-time.After(20 * time.Second):
			t.Error("the command was not cancelled when its client left")
		}
		return 1
	})
	in, out, errw, _ := pipes(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-begun; cancel() }()
	if _, err := Call(ctx, socket, []string{"long"}, in, out, errw); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Call interrupted: %v", err)
	}
	<-cancelled
	if code, err := Call(context.Background(), socket, []string{"quick"}, in, out, errw); err != nil || code != 0 {
		t.Fatalf("after a disconnect: %d, %v", code, err)
	}
}

// TestStopLetsTheRunningJobFinish: on stop the service accepts no more,
// the running job ends normally and its client gets its status.
func TestStopLetsTheRunningJobFinish(t *testing.T) {
	dir := t.TempDir()
	begun := make(chan struct{})
	release := make(chan struct{})
	socket, stop := start(t, dir, func(ctx context.Context, j *Job) int {
		close(begun)
		<-release
		if ctx.Err() != nil {
			t.Error("the running job was cancelled by the stop")
		}
		return 0
	})
	in, out, errw, _ := pipes(t, "")
	got := make(chan int)
	go func() {
		c, err := Call(context.Background(), socket, []string{"x"}, in, out, errw)
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	<-begun
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := Call(context.Background(), socket, []string{"y"}, in, out, errw); err != nil {
			break // no longer accepting
		}
		if time.Now().After(deadline) {
			t.Fatal("still accepting after stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-stopped:
		t.Fatal("stopped before the running job ended")
	default:
	}
	close(release)
	if c := <-got; c != 0 {
		t.Fatalf("exit %d", c)
	}
	<-stopped
}

func TestCheckPrivate(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	keys := filepath.Join(data, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o700)
	key := filepath.Join(keys, "engine.key")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivate(data, keys, filepath.Join(dir, "no-cache-yet")); err != nil {
		t.Fatalf("private: %v", err)
	}
	os.Chmod(key, 0o644)
	os.Chmod(data, 0o750)
	err := CheckPrivate(data, keys)
	if err == nil {
		t.Fatal("a key readable by others passed")
	}
	for _, want := range []string{key + " is mode 0644, open to group or others: run chmod -R go-rwx " + key,
		data + " is mode 0750, open to group or others: run chmod -R go-rwx " + data} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %q", err, want)
		}
	}
	if os.Geteuid() == 0 {
		os.Chmod(key, 0o600)
		os.Chmod(data, 0o700)
		if err := os.Lchown(key, 65534, -1); err != nil {
			t.Fatal(err)
		}
		err := CheckPrivate(keys)
		if want := key + " is owned by uid 65534, not by the service's account (uid 0): run chown -R 0 " + key; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %q", err, want)
		}
	}
}
