// Package principal is who is asking: the authenticated identity a request
// to pawl carries, as the operating system or the transport vouches for it
// — never as the caller says. In local mode it is the account running the
// pawl process; under `pawl serve` it is the peer of the Unix socket
// (SO_PEERCRED) or the subject of a verified client certificate.
//
// An operator id (`--operator`) names a person in the trail; a principal
// is what the operator id is checked against (an operator is bound to a
// uid or a certificate at enrolment) and what authorisation decisions are
// asked about.
//
// It imports nothing of ours.
package principal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// How a principal was authenticated.
const (
	ViaProcess = "process" // the account running this pawl process (local mode)
	ViaUnix    = "unix"    // SO_PEERCRED on the service's Unix socket
	ViaTLS     = "tls"     // a client certificate verified by the service
)

// Principal is an authenticated identity.
type Principal struct {
	UID  int    `json:"uid"`            // the OS uid; -1 when authenticated by certificate alone
	User string `json:"user,omitempty"` // the account's name, when it has one
	Via  string `json:"via"`            // ViaProcess, ViaUnix or ViaTLS
	// Cert is the sha256 fingerprint ("sha256:<hex>") of the client
	// certificate, for ViaTLS.
	Cert string `json:"cert,omitempty"`
}

// String names the principal for a person: "uid 1001 (alice) via unix".
func (p Principal) String() string {
	var who string
	switch {
	case p.UID >= 0 && p.User != "":
		who = fmt.Sprintf("uid %d (%s)", p.UID, p.User)
	case p.UID >= 0:
		who = fmt.Sprintf("uid %d", p.UID)
	case p.User != "":
		who = fmt.Sprintf("certificate %s (%s)", p.Cert, p.User)
	default:
		who = "certificate " + p.Cert
	}
	return who + " via " + p.Via
}

// ForUID is the principal of an OS account, its name looked up.
func ForUID(uid int, via string) Principal {
	p := Principal{UID: uid, Via: via}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		p.User = u.Username
	}
	return p
}

// ForCertificate is the principal of a client certificate the transport
// has verified: no uid, its fingerprint (what an operator is bound to) and
// cn, the subject's common name, for messages only.
func ForCertificate(der []byte, cn string) Principal {
	return Principal{UID: -1, User: cn, Via: ViaTLS, Cert: Fingerprint(der)}
}

// Fingerprint is a certificate's fingerprint as pawl writes it: "sha256:"
// and the lower-case hex SHA-256 of its DER encoding (what `openssl x509
// -outform DER | sha256sum` prints).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Process is the principal of this process: its real uid.
func Process() Principal { return ForUID(os.Getuid(), ViaProcess) }

type key struct{}

// With returns ctx carrying p.
func With(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, key{}, p)
}

// From is the principal ctx carries; without one, this process's.
func From(ctx context.Context) Principal {
	if p, ok := ctx.Value(key{}).(Principal); ok {
		return p
	}
	return Process()
}
