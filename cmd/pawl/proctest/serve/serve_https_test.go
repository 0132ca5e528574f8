package serve

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/cmd/pawl/proctest"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/serve/tlstest"
)

// TestServiceOverHTTPSAsItsOwnAccount runs `pawl serve` as a second account
// with its HTTPS listener, and a client as a third, on another side of a
// TCP connection: the service refuses a TLS key it does not own; the client
// refuses its own key when others can read it; with its certificate the
// client runs a batch from a file only it can read, as the operator bound
// to the certificate, on record.
func TestServiceOverHTTPSAsItsOwnAccount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the service and its client as two other accounts")
	}
	bin := proctest.BuildPawl(t)
	base, err := os.MkdirTemp("", "pawl-https-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	for _, p := range []string{base, filepath.Dir(bin), bin} {
		os.Chmod(p, 0o755)
	}
	pki := tlstest.New(t)
	// The files each side holds, owned by it: copy writes src to dst with
	// mode and owner uid.
	copyTo := func(src, dst string, mode os.FileMode, uid int) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dst, mode)
		os.Chown(dst, uid, uid)
		return dst
	}
	tlsDir, home := filepath.Join(base, "tls"), filepath.Join(base, "home")
	os.Mkdir(tlsDir, 0o755)
	os.Mkdir(home, 0o700)
	os.Chown(home, userUID, userUID)
	srvCert := copyTo(pki.ServerCert, filepath.Join(tlsDir, "server.crt"), 0o644, 0)
	srvKey := copyTo(pki.ServerKey, filepath.Join(tlsDir, "server.key"), 0o600, 0) // root's, at first
	clientCA := copyTo(pki.CA, filepath.Join(tlsDir, "ca.crt"), 0o644, 0)
	cert := copyTo(pki.Alice.Cert, filepath.Join(home, "alice.crt"), 0o644, userUID)
	key := copyTo(pki.Alice.Key, filepath.Join(home, "alice.key"), 0o600, userUID)
	looseKey := copyTo(pki.Alice.Key, filepath.Join(home, "loose.key"), 0o644, userUID)
	ca := copyTo(pki.CA, filepath.Join(home, "ca.crt"), 0o644, userUID)
	input := filepath.Join(home, "in.jsonl")
	os.WriteFile(input, []byte(proctest.Good+"\n"), 0o600)
	os.Chown(input, userUID, userUID)

	dir := filepath.Join(base, "project")
	if code, out, errs := proctest.Pawl(t, "init", dir, "--operator", "admin", "--role", "alice=operator,auditor"); code != 0 {
		t.Fatalf("init: %d %s%s", code, out, errs)
	}
	fp := principal.Fingerprint(pki.Alice.DER)
	if code, out, errs := proctest.PawlPass(t, "alice works from the lab bench", "-C", dir, "operator", "add", "alice", "--name", "Alice Example", "--cert", fp,
		"--reason", "works over HTTPS", "--operator", "admin", "--passphrase-fd", "3"); code != 0 {
		t.Fatalf("enrolling alice by her certificate: exit %d\n%s%s", code, out, errs)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	os.Chmod(dir, 0o755)
	yaml := filepath.Join(dir, "pawl.yaml")
	b, _ := os.ReadFile(yaml)
	os.WriteFile(yaml, append(b, []byte("serve:\n  https:\n    listen: "+addr+"\n    cert: "+srvCert+"\n    key: "+srvKey+"\n    client_ca: "+clientCA+"\n")...), 0o644)
	data := filepath.Join(dir, ".pawl")
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(p, data) {
			os.Chmod(p, fi.Mode().Perm()&0o700)
		}
		return os.Lchown(p, serviceUID, serviceGID)
	})
	env := append(os.Environ(), "PAWL_CACHE_DIR="+filepath.Join(data, "cache"), "HOME=/nonexistent")
	as := func(uid, gid int) *syscall.SysProcAttr {
		return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}

	// A TLS key the service's account does not own: refused, with the fix.
	svc := exec.Command(bin, "-C", dir, "serve")
	svc.Env, svc.SysProcAttr = env, as(serviceUID, serviceGID)
	if out, err := svc.CombinedOutput(); err == nil || !strings.Contains(string(out), srvKey+" is owned by uid 0, not by the service's account (uid 65534): run chown -R 65534 "+srvKey) {
		t.Fatalf("serve with root's TLS key: %v\n%s", err, out)
	}
	os.Chown(srvKey, serviceUID, serviceGID)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log bytes.Buffer
	svc = exec.CommandContext(ctx, bin, "-C", dir, "serve")
	svc.Env, svc.SysProcAttr, svc.Stderr = env, as(serviceUID, serviceGID), &log
	svc.Cancel = func() error { return svc.Process.Signal(syscall.SIGTERM) }
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not listen on %s", addr)
		}
	}

	user := func(tlsKey string, args ...string) (int, string, string) {
		t.Helper()
		c := exec.Command(bin, append([]string{"--server", "https://" + addr, "--tls-cert", cert, "--tls-key", tlsKey, "--tls-ca", ca}, args...)...)
		c.Dir, c.Env, c.SysProcAttr = home, env, as(userUID, userUID)
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, o.String(), e.String()
	}
	if code, _, errs := user(looseKey, "batches", "list"); code != 1 || !strings.Contains(errs, "--tls-key "+looseKey+" is mode 0644, open to group or others: run chmod 600 "+looseKey) {
		t.Fatalf("a client key others can read: exit %d\n%s", code, errs)
	}
	code, out, errs := user(key, "run", "sensor-feed", "--input", "in.jsonl", "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
	if code != 0 || !strings.Contains(out, `"status": "committed"`) {
		t.Fatalf("run over HTTPS: exit %d\n%s%s\nservice:\n%s", code, out, errs, log.String())
	}
	if code, out, errs := user(key, "audit", "log", "--action", "batch.committed"); code != 0 || !strings.Contains(out, "alice") {
		t.Fatalf("the batch is not on record as alice: exit %d\n%s%s", code, out, errs)
	}
	cancel()
	svc.Wait()
	if want := "certificate " + fp + " (alice) via tls ran"; !strings.Contains(log.String(), want) {
		t.Errorf("the service's log lacks %q:\n%s", want, log.String())
	}
}
