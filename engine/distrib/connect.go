package distrib

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Connect connects to the work queue's NATS server at rawURL (nats:// or
// tls://) as name: with the user nkey seed in creds when given (a file of
// this account's that nobody else may read), trusting the CA certificates
// in the PEM file ca (none: the system's) for a TLS server. what names
// the settings in errors: "distribute" (distribute.credentials, …) or
// "flag" (--credentials, …). A worker reconnects when the link breaks.
func Connect(rawURL, name, creds, ca string, timeout time.Duration, what string) (*nats.Conn, error) {
	credsName, caName := "distribute.credentials", "distribute.ca"
	if what == "flag" {
		credsName, caName = "--credentials", "--ca"
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		return nil, fmt.Errorf("%q is not a NATS server's URL: want nats://HOST:PORT or tls://HOST:PORT", rawURL)
	}
	opts := []nats.Option{nats.Name("pawl " + name), nats.Timeout(timeout), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if creds != "" {
		fi, err := os.Stat(creds)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", credsName, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%s %s is open to group or others (mode %04o): chmod 600 it", credsName, creds, fi.Mode().Perm())
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
			return nil, fmt.Errorf("%s %s is owned by uid %d, not by this account (uid %d): chown it", credsName, creds, st.Uid, os.Getuid())
		}
		seed, err := os.ReadFile(creds)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", credsName, err)
		}
		kp, err := nkeys.ParseDecoratedNKey(seed)
		if err != nil {
			return nil, fmt.Errorf("%s %s: not an nkey seed: %v", credsName, creds, err)
		}
		pub, err := kp.PublicKey()
		if err != nil || !nkeys.IsValidPublicUserKey(pub) {
			return nil, fmt.Errorf("%s %s: not a user nkey seed (SU…)", credsName, creds)
		}
		opts = append(opts, nats.Nkey(pub, kp.Sign))
	}
	if ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", caName, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s %s holds no PEM certificate", caName, ca)
		}
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}))
	}
	nc, err := nats.Connect(rawURL, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) {
			return nil, fmt.Errorf("NATS server %s refused %s's credentials: %v", rawURL, name, err)
		}
		return nil, fmt.Errorf("cannot connect to the NATS server %s: %v", rawURL, err)
	}
	return nc, nil
}
