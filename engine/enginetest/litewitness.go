package enginetest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/build/tooltest"
	"golang.org/x/crypto/ssh/agent"
)

// Litewitness is torchwood's witness (filippo.io/torchwood v0.6.1, a
// third-party implementation of C2SP tlog-witness), run by the test: its
// key is served by an in-process ssh-agent (golang.org/x/crypto's), as
// litewitness takes its key from an agent.
type Litewitness struct {
	URL, VKey string
	// ctl and db are witnessctl and the witness's database, for AddKey.
	ctl, db string
}

// AddKey gives the witness another verifier key of the log origin (as
// an operator does after the log's key rotation: witnessctl add-key).
func (w Litewitness) AddKey(t testing.TB, origin, logVKey string) {
	t.Helper()
	if out, err := exec.Command(w.ctl, "add-key", "-db", w.db, "-origin", origin, "-key", logVKey).CombinedOutput(); err != nil {
		t.Fatalf("witnessctl add-key: %v\n%s", err, out)
	}
}

// StartLitewitness starts litewitness (build/setup-tools.sh installs it)
// as witness name for the log origin with verifier key logVKey; it is
// stopped when the test ends.
func StartLitewitness(t testing.TB, name, origin, logVKey string) Litewitness {
	t.Helper()
	lw := tooltest.Need(t, "litewitness")
	ctl := tooltest.Need(t, "witnessctl")
	dir, err := os.MkdirTemp("", "lw") // a short path: a Unix socket's is limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); agent.ServeAgent(keyring, c) }()
		}
	}()
	db := filepath.Join(dir, "litewitness.db")
	for _, args := range [][]string{{"add-log", "-db", db, "-origin", origin}, {"add-key", "-db", db, "-origin", origin, "-key", logVKey}} {
		if out, err := exec.Command(ctl, args...).CombinedOutput(); err != nil {
			t.Fatalf("witnessctl %v: %v\n%s", args, err, out)
		}
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	cmd := exec.Command(lw, "-name", name, "-db", db, "-ssh-agent", sock, "-listen", addr, "-key", hex.EncodeToString(sum[:]))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Its verifier key, as litewitness logs it; then wait for it to listen.
	vkeyRe := regexp.MustCompile(`vkey=(\S+)`)
	vkeys := make(chan string, 1)
	var logMu sync.Mutex
	var logged bytes.Buffer
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			logMu.Lock()
			logged.WriteString(s.Text() + "\n")
			logMu.Unlock()
			if m := vkeyRe.FindStringSubmatch(s.Text()); m != nil {
				select {
				case vkeys <- m[1]:
				default:
				}
			}
		}
	}()
	w := Litewitness{ctl: ctl, db: db}
	select {
	case w.VKey = <-vkeys:
	case <-time.After(20 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("litewitness printed no verifier key:\n%s", logged.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("litewitness does not listen on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.URL = "http://" + addr
	return w
}
