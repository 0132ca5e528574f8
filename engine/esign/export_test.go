package esign

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// Internals the external tests forge signatures with.
var (
	ManifestFor = manifestFor
	Canonical   = canonical
)

// SetClock moves the clock passphrase ages are measured with until the
// test ends.
func SetClock(t testing.TB, f func() time.Time) {
	old := now
	now = f
	t.Cleanup(func() { now = old })
}

// PrivateKey opens an operator's key as a thief with the key file and the
// passphrase would, outside pawl.
func PrivateKey(op *Operator, pass []byte) (ed25519.PrivateKey, error) { return unlock(op, pass) }
