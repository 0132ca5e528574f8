package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/serve/tlstest"
	"github.com/pawl-dev/pawl/policies"
)

// servedOverHTTPS is servedProject with the service's HTTPS listener on
// (serve.https.*, from the environment) at a free port of 127.0.0.1; it
// returns the project and the service's https:// address.
func servedOverHTTPS(t *testing.T, pki tlstest.PKI) (dir, socket, server string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("PAWL_SERVE_HTTPS_LISTEN", addr)
	t.Setenv("PAWL_SERVE_HTTPS_CERT", pki.ServerCert)
	t.Setenv("PAWL_SERVE_HTTPS_KEY", pki.ServerKey)
	t.Setenv("PAWL_SERVE_HTTPS_CLIENT_CA", pki.CA)
	dir, socket = servedProject(t)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pawl serve does not listen on %s", addr)
		}
	}
	return dir, socket, "https://" + addr
}

// client runs a command line through the CLI's own dispatch (so its
// --server and --tls-* flags are taken as a user gives them), from the
// current directory, and returns its exit status and output.
func client(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	d := t.TempDir()
	mk := func(name string) *os.File {
		f, err := os.Create(filepath.Join(d, name))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	in, out, errw := mk("in"), mk("out"), mk("err")
	defer in.Close()
	defer out.Close()
	defer errw.Close()
	code := dispatch(context.Background(), args, in, out, errw)
	o, _ := os.ReadFile(filepath.Join(d, "out"))
	e, _ := os.ReadFile(filepath.Join(d, "err"))
	return code, string(o), string(e)
}

// TestServedOverHTTPS: `pawl --server https://… --tls-cert … --tls-key …
// --tls-ca …` runs, signs with --passphrase-fd and exports as the operator
// bound to the client certificate's fingerprint, with the client's files;
// another certificate of the same CA acts as nobody, and signing as the
// operator of another certificate is denied, each on record.
func TestServedOverHTTPS(t *testing.T) {
	pki := tlstest.New(t)
	dir, socket, server := servedOverHTTPS(t, pki)
	ctx := context.Background()
	sum := sha256.Sum256(pki.Alice.DER)
	fp := "sha256:" + hex.EncodeToString(sum[:])
	if fp != principal.Fingerprint(pki.Alice.DER) {
		t.Fatalf("the principal's fingerprint %s is not openssl's %s", principal.Fingerprint(pki.Alice.DER), fp)
	}
	// alice (every role, as the project's creator) is enrolled bound to
	// her certificate, through the socket.
	const pass = "correct horse battery staple of the enclave"
	if code, out, errs := served(t, ctx, socket, "", "operator", "add", "alice", "--name", "Alice Example", "--cert", fp,
		"--passphrase-fd", passFD(t, pass), "--reason", "works from the lab"); code != 0 {
		t.Fatalf("operator add --cert: exit %d\n%s%s", code, out, errs)
	}
	// Bound to the certificate alone: the account that enrolled her cannot
	// act as her.
	if code, _, errs := served(t, ctx, socket, "", "operator", "passwd", "alice", "--passphrase-fd", passFD(t, pass)); code != exitDenied ||
		!strings.Contains(errs, `operator "alice" is bound to certificate `+fp) {
		t.Fatalf("the enroller's account acts as alice: exit %d\n%s", code, errs)
	}
	cwd := t.TempDir()
	t.Chdir(cwd)
	os.WriteFile("in.jsonl", []byte(good+"\n"), 0o600)
	as := func(c tlstest.Client, args ...string) (int, string, string) {
		return client(t, append([]string{"--server", server, "--tls-cert", c.Cert, "--tls-key", c.Key, "--tls-ca", pki.CA}, args...)...)
	}

	code, out, errs := as(pki.Alice, "run", "sensor-feed", "--input", "in.jsonl", "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
	var res map[string]any
	if json.Unmarshal([]byte(out), &res); code != 0 || res["status"] != "committed" {
		t.Fatalf("run over HTTPS: exit %d\n%s%s", code, out, errs)
	}
	id := res["batch_id"].(string)
	if es := enginetest.TrailEntries(t, dir, actions.BatchCommitted, "batch:"+id); len(es) != 1 || es[0].Operator != "alice" {
		t.Fatalf("batch.committed %+v, want one by alice", es)
	}
	// alice signs a batch someone else ran (the caller's account, through
	// the socket): nobody signs their own.
	os.WriteFile("other.jsonl", []byte(strings.Replace(good, "21.5", "22.5", 1)+"\n"), 0o600)
	code, out, errs = served(t, ctx, socket, "", "run", "sensor-feed", "--input", "other.jsonl", "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
	if json.Unmarshal([]byte(out), &res); code != 0 || res["status"] != "committed" {
		t.Fatalf("run through the socket: exit %d\n%s%s", code, out, errs)
	}
	other := res["batch_id"].(string)
	// The environment names the service and the files as well as flags do.
	t.Setenv("PAWL_SERVER", server)
	t.Setenv("PAWL_TLS_CERT", pki.Alice.Cert)
	t.Setenv("PAWL_TLS_KEY", pki.Alice.Key)
	t.Setenv("PAWL_TLS_CA", pki.CA)
	if code, out, errs := client(t, "sign", other, "--meaning", "reviewed", "--operator", "alice", "--reason", "checked", "--passphrase-fd", passFD(t, pass)); code != 0 {
		t.Fatalf("sign over HTTPS: exit %d\n%s%s", code, out, errs)
	}
	if _, out, _ := client(t, "batches", "show", other); !strings.Contains(out, "reviewed by Alice Example") {
		t.Fatalf("batches show after the signature:\n%s", out)
	}
	if code, out, errs := client(t, "audit", "export", "--format", "jsonl", "--reason", "inspection", "pkg"); code != 0 || !strings.Contains(out, "to pkg") {
		t.Fatalf("export over HTTPS: exit %d\n%s%s", code, out, errs)
	}
	sums, err := os.ReadFile("pkg/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		want, name, _ := strings.Cut(line, "  ")
		b, err := os.ReadFile(filepath.Join("pkg", name))
		got := sha256.Sum256(b)
		if err != nil || hex.EncodeToString(got[:]) != want {
			t.Errorf("pkg/%s does not match SHA256SUMS (%v)", name, err)
		}
	}
	for _, k := range []string{"PAWL_SERVER", "PAWL_TLS_CERT", "PAWL_TLS_KEY", "PAWL_TLS_CA"} {
		os.Unsetenv(k)
	}

	// Bob's certificate is from the same CA: admitted, but no operator is
	// bound to it, and alice is bound to another certificate.
	before := len(enginetest.TrailEntries(t, dir, actions.BatchCommitted, ""))
	code, _, errs = as(pki.Bob, "run", "sensor-feed", "--input", "in.jsonl", "--as-of", "2026-11-26T00:00:00Z")
	if code != exitDenied || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `operator "bob"`) {
		t.Fatalf("bob runs: exit %d\n%s", code, errs)
	}
	code, _, errs = as(pki.Bob, "sign", id, "--meaning", "approved", "--operator", "alice", "--reason", "as alice", "--passphrase-fd", passFD(t, pass))
	if code != exitDenied || !strings.Contains(errs, "the request comes from certificate "+principal.Fingerprint(pki.Bob.DER)+" via tls") {
		t.Fatalf("bob signs as alice: exit %d\n%s", code, errs)
	}
	if n := len(enginetest.TrailEntries(t, dir, actions.BatchCommitted, "")); n != before {
		t.Fatalf("%d batches committed by refused requests", n-before)
	}
	var denials []string
	for _, d := range enginetest.TrailEntries(t, dir, actions.PolicyDecision, "") {
		det, _ := actions.Decode[actions.PolicyDecisionDetails](d)
		if det.Kind == policies.KindAuthz && !det.Allow {
			denials = append(denials, d.Operator)
		}
	}
	if strings.Join(denials, ",") != "alice,bob,alice" {
		t.Fatalf("authz denials on record by operator: %v, want alice (the enroller's account), bob, alice (bob's certificate)", denials)
	}
}
