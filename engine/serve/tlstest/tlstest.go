// Package tlstest makes the certificates the HTTPS tests of `pawl serve`
// use: real ones, made with crypto/x509 for the test and written as PEM
// files. It imports nothing of ours.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Client is a client's certificate and key files, and its certificate's
// DER (what its fingerprint is of).
type Client struct {
	Cert, Key string
	DER       []byte
}

// PKI is a CA, the service's certificate for 127.0.0.1 from it, two
// client certificates from it (Alice and Bob) and one from another CA
// (Mallory); keys are mode 0600.
type PKI struct {
	CA, OtherCA           string
	ServerCert, ServerKey string
	Alice, Bob, Mallory   Client
}

// New makes a PKI in a temporary directory of t.
func New(t testing.TB) PKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	serial := int64(1)
	type kind int
	const (
		ca kind = iota
		server
		client
	)
	mk := func(cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, k kind) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		switch k {
		case ca:
			tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
		case client:
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		case server:
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, key, der
	}
	keyFile := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "EC PRIVATE KEY", der, 0o600)
	}
	cli := func(name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) Client {
		_, key, der := mk(name, parent, parentKey, client)
		return Client{Cert: write(name+".crt", "CERTIFICATE", der, 0o644), Key: keyFile(name+".key", key), DER: der}
	}
	caCert, caKey, caDER := mk("pawl test CA", nil, nil, ca)
	other, otherKey, otherDER := mk("another CA", nil, nil, ca)
	_, srvKey, srvDER := mk("127.0.0.1", caCert, caKey, server)
	return PKI{
		CA: write("ca.crt", "CERTIFICATE", caDER, 0o644), OtherCA: write("other-ca.crt", "CERTIFICATE", otherDER, 0o644),
		ServerCert: write("server.crt", "CERTIFICATE", srvDER, 0o644), ServerKey: keyFile("server.key", srvKey),
		Alice: cli("alice", caCert, caKey), Bob: cli("bob", caCert, caKey), Mallory: cli("mallory", other, otherKey),
	}
}
