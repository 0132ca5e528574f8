package serve

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/cmd/pawl/proctest"
	"github.com/pawl-dev/pawl/engine/config"
)

// The accounts of TestServiceAsItsOwnAccount: the service runs as nobody
// (65534) in group nogroup (65534), a user as an account with no other
// rights, in that group so that it may connect.
const (
	serviceUID = 65534
	serviceGID = 65534
	userUID    = 4321
)

// TestServiceAsItsOwnAccount runs `pawl serve` as a second account that
// owns the project's data directory, and a client as a third: the client
// can neither read the engine key nor write audit.db, yet runs a batch
// from a file only it can read, verifies the trail and shows the batch
// through the service, and the batch is on record as its uid.
func TestServiceAsItsOwnAccount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the service and its client as two other accounts")
	}
	bin := proctest.BuildPawl(t)
	base, err := os.MkdirTemp("", "pawl-serve-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	os.Chmod(filepath.Dir(bin), 0o755)
	os.Chmod(bin, 0o755)
	dir := filepath.Join(base, "project")
	if code, out, errs := proctest.Pawl(t, "init", dir, "--operator", "admin", "--role", "uid-4321=auditor,operator"); code != 0 {
		t.Fatalf("init: %d %s%s", code, out, errs)
	}
	// Under a service every operator acts through an enrolment bound to
	// their account: the user's (uid 4321, no name) is enrolled by the
	// admin.
	if code, out, errs := proctest.PawlPass(t, "a user of the service, 4321", "-C", dir, "operator", "add", "uid-4321", "--name", "User 4321", "--uid", "4321",
		"--reason", "works through the service", "--passphrase-fd", "3"); code != 0 {
		t.Fatalf("enrolling uid-4321: exit %d\n%s%s", code, out, errs)
	}
	os.Chmod(dir, 0o755)
	yaml := filepath.Join(dir, "pawl.yaml")
	b, _ := os.ReadFile(yaml)
	os.WriteFile(yaml, append(b, []byte("serve:\n  group: nogroup\n")...), 0o644)
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
	as := func(uid, gid int, groups ...uint32) *syscall.SysProcAttr {
		return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	}

	// The project owned by root is refused, with the fix.
	svc := exec.Command(bin, "-C", dir, "serve")
	svc.Env, svc.SysProcAttr = env, as(userUID, userUID)
	if out, err := svc.CombinedOutput(); err == nil || !strings.Contains(string(out), "not by the service's account (uid 4321): run chown -R 4321") {
		t.Fatalf("serve as an account that does not own the data: %v\n%s", err, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log bytes.Buffer
	svc = exec.CommandContext(ctx, bin, "-C", dir, "serve")
	svc.Env, svc.SysProcAttr, svc.Stderr = env, as(serviceUID, serviceGID), &log
	svc.Cancel = func() error { return svc.Process.Signal(syscall.SIGTERM) }
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "pawl.sock")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Lstat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not listen:\n%s", log.String())
		}
	}

	// The user's own input, which the service's account cannot read.
	home := filepath.Join(base, "home")
	os.Mkdir(home, 0o700)
	os.Chown(home, userUID, userUID)
	in := filepath.Join(home, "in.jsonl")
	os.WriteFile(in, []byte(proctest.Good+"\n"), 0o600)
	os.Chown(in, userUID, userUID)

	user := func(args ...string) (int, string, string) {
		t.Helper()
		c := exec.Command(bin, args...)
		c.Dir, c.Env, c.SysProcAttr = dir, env, as(userUID, userUID, serviceGID)
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
	// Directly, the user can do nothing to the data.
	for _, f := range []string{filepath.Join(data, "keys", "engine.key"), filepath.Join(data, "audit.db")} {
		c := exec.Command("/bin/sh", "-c", "cat \"$1\" >/dev/null || exit 7; echo x >> \"$1\" || exit 8", "sh", f)
		c.SysProcAttr = as(userUID, userUID, serviceGID)
		if err := c.Run(); err == nil {
			t.Fatalf("uid %d read or wrote %s", userUID, f)
		}
	}
	// Through the service, the user works as locally.
	code, out, errs := user("run", "sensor-feed", "--input", in, "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
	if code != 0 || !strings.Contains(out, `"status": "committed"`) {
		t.Fatalf("run through the service: exit %d\n%s%s\nservice:\n%s", code, out, errs, log.String())
	}
	if code, out, errs := user("audit", "verify"); code != 0 {
		t.Fatalf("audit verify through the service: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = user("audit", "log", "--action", "batch.committed")
	if code != 0 || !strings.Contains(out, "uid-4321") {
		t.Fatalf("the batch is not on record as uid 4321: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := user("batches", "list"); code != 0 || !strings.Contains(out, "sensor-feed") {
		t.Fatalf("batches list through the service: exit %d\n%s%s", code, out, errs)
	}
	// A file the user names is opened with the user's permissions, not
	// the service's: the service's own key is out of reach.
	if code, out, errs := user("audit", "verify", "--checkpoint", filepath.Join(data, "keys", "engine.key")); code == 0 || !strings.Contains(errs, "permission denied") || strings.Contains(out+errs, "PRIVATE") {
		t.Fatalf("audit verify --checkpoint engine.key through the service: exit %d\n%s%s", code, out, errs)
	}
	// The user cannot have the service read the key for them.
	if code, out, errs := user("explain", "--file", filepath.Join(data, "keys", "engine.key"), "--server", sock); code == 0 || strings.Contains(out, "PRIVATE") {
		t.Fatalf("explain of the key: exit %d\n%s%s", code, out, errs)
	}
	// A second service is refused.
	svc2 := exec.Command(bin, "-C", dir, "serve", "--socket", filepath.Join(base, "other.sock"))
	svc2.Env, svc2.SysProcAttr = env, as(serviceUID, serviceGID)
	if out, err := svc2.CombinedOutput(); err == nil || !strings.Contains(string(out), "one service per project") {
		t.Fatalf("second service: %v\n%s", err, out)
	}
	cancel()
	svc.Wait()
	if !strings.Contains(log.String(), "uid 4321 via unix ran") {
		t.Errorf("the service's log does not name the peer:\n%s", log.String())
	}
}

// TestServedProgressOnTheClientsTerminal: a run through the service draws
// its progress bar on the client's terminal as it goes (the service writes
// to the descriptor the client passed), and not when the client's stderr
// is not a terminal.
func TestServedProgressOnTheClientsTerminal(t *testing.T) {
	tooltest.Need(t, "script") // gives the client a terminal
	bin := proctest.BuildPawl(t)
	dir := t.TempDir()
	if code, out, errs := proctest.Pawl(t, "init", dir); code != 0 {
		t.Fatalf("init: %s%s", out, errs)
	}
	// Under a service every operator acts through an enrolment bound to
	// their account: the caller's (every role, as the project's creator).
	if code, out, errs := proctest.PawlPass(t, "the caller's own pass phrase", "-C", dir, "operator", "add", config.Defaults().Operator, "--name", "Served Caller",
		"--reason", "acts through the service", "--passphrase-fd", "3"); code != 0 {
		t.Fatalf("enrolling the caller: exit %d\n%s%s", code, out, errs)
	}
	data := filepath.Join(dir, ".pawl")
	filepath.Walk(data, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			os.Chmod(p, fi.Mode().Perm()&0o700)
		}
		return err
	})
	env := append(os.Environ(), "PAWL_CACHE_DIR="+filepath.Join(data, "cache"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log bytes.Buffer
	svc := exec.CommandContext(ctx, bin, "-C", dir, "serve")
	svc.Env, svc.Stderr = env, &log
	svc.Cancel = func() error { return svc.Process.Signal(syscall.SIGTERM) }
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); svc.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Lstat(filepath.Join(dir, "pawl.sock")); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not listen:\n%s", log.String())
		}
	}
	in := proctest.WriteGen(t, t.TempDir(), 1)
	c := exec.Command("script", "-qec", bin+" -C "+dir+" run sensor-feed -i "+in, "/dev/null")
	c.Env = env
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("run on a terminal through the service: %v\n%s\nservice:\n%s", err, out, log.String())
	}
	if !regexp.MustCompile(`\r\[[=> ]{30}\] +\d+%  [0-9.]+ [KM]iB of [0-9.]+ MiB  [0-9,]+ records/s`).Match(out) {
		t.Fatalf("no progress bar on the client's terminal:\n%q", out)
	}
	if !strings.Contains(log.String(), `ran ["-C" "`+dir+`" "run" "sensor-feed"`) {
		t.Fatalf("the run did not go through the service:\n%s", log.String())
	}
	var errb bytes.Buffer
	c = exec.Command(bin, "-C", dir, "run", "sensor-feed", "-i", in)
	c.Env, c.Stderr = env, &errb
	if out, err := c.Output(); err != nil || !bytes.Contains(out, []byte("COMMITTED")) {
		t.Fatalf("rerun: %v\n%s%s", err, out, errb.String())
	}
	if errb.Len() != 0 {
		t.Fatalf("stderr is not a terminal, yet the service wrote to it: %q", errb.String())
	}
}
