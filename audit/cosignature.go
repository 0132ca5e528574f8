package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// algCosignatureV1 is the signed-note signature type of a C2SP
// tlog-cosignature (timestamped ed25519 over "cosignature/v1\ntime T\n"
// and the checkpoint body).
const algCosignatureV1 = 0x04

// WitnessKey is a witness's verifier key: name+hash+base64(0x04 ‖ ed25519
// public key), as litewitness prints it. golang.org/x/mod/sumdb/note knows
// only plain ed25519 keys (type 0x01), and torchwood (v0.6.1) builds the
// verifier from a private key only, so pawl reads the key itself; what it
// verifies is cross-checked against torchwood's litewitness in
// cmd/pawl's witness tests.
type WitnessKey struct {
	Name string
	Hash uint32
	Pub  ed25519.PublicKey
}

// String is the key in its vkey spelling.
func (k WitnessKey) String() string {
	return fmt.Sprintf("%s+%08x+%s", k.Name, k.Hash, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, k.Pub...)))
}

// ParseWitnessKey reads a witness's vkey in its one spelling.
func ParseWitnessKey(vkey string) (WitnessKey, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !validNoteName(name) || len(hash16) != 8 {
		return WitnessKey{}, fmt.Errorf("witness key %q: want NAME+HASH+BASE64 (c2sp.org/signed-note)", vkey)
	}
	hash, err := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.Strict().DecodeString(key64)
	if err != nil || err2 != nil || fmt.Sprintf("%08x", hash) != hash16 || base64.StdEncoding.EncodeToString(key) != key64 {
		return WitnessKey{}, fmt.Errorf("witness key %q: the hash must be 8 lower-case hex digits and the key canonical base64", vkey)
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignatureV1 {
		return WitnessKey{}, fmt.Errorf("witness key %q: not a cosignature/v1 key (type 0x04 and 32 bytes of ed25519 public key)", vkey)
	}
	k := WitnessKey{Name: name, Hash: uint32(hash), Pub: ed25519.PublicKey(key[1:])}
	if keyHash(name, key) != k.Hash {
		return WitnessKey{}, fmt.Errorf("witness key %q: the key hash does not match the name and key", vkey)
	}
	return k, nil
}

func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func validNoteName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// Cosignature is one witness's timestamped signature of a checkpoint.
type Cosignature struct {
	Witness string // the witness key's name
	KeyHash uint32
	Time    int64 // seconds since the Unix epoch, as the witness signed it
	// Signature is the whole signed-note signature (key hash, time,
	// ed25519 signature), as the note line carries it in base64.
	Signature []byte
}

// Line is the cosignature as a signed-note signature line.
func (c Cosignature) Line() string {
	return "— " + c.Witness + " " + base64.StdEncoding.EncodeToString(c.Signature) + "\n"
}

// Verify checks the cosignature of the checkpoint body (origin, size and
// root lines) with the witness key.
func (c Cosignature) Verify(k WitnessKey, body []byte) error {
	if c.Witness != k.Name || c.KeyHash != k.Hash {
		return fmt.Errorf("cosignature by %s+%08x, not by witness key %s+%08x", c.Witness, c.KeyHash, k.Name, k.Hash)
	}
	if len(c.Signature) != 4+8+ed25519.SignatureSize || binary.BigEndian.Uint32(c.Signature) != c.KeyHash ||
		int64(binary.BigEndian.Uint64(c.Signature[4:])) != c.Time || c.Time < 0 {
		return fmt.Errorf("cosignature by %s: malformed (want key hash, time and a 64-byte ed25519 signature)", c.Witness)
	}
	msg := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", c.Time, body)
	if !ed25519.Verify(k.Pub, msg, c.Signature[12:]) {
		return fmt.Errorf("cosignature by %s does not verify over the checkpoint", c.Witness)
	}
	return nil
}

// MaxCosignatureResponse bounds what pawl reads of a witness's answer.
const MaxCosignatureResponse = 64 << 10

// ParseCosignatures reads a witness's answer to add-checkpoint: one or more
// signed-note signature lines ("— NAME BASE64\n"). Only lines by the
// witness key k are taken (the protocol says to ignore others); each must
// verify over the checkpoint body. At least one must: an answer without a
// valid cosignature by k is refused, saying what it held.
func ParseCosignatures(resp []byte, k WitnessKey, body []byte) ([]Cosignature, error) {
	if len(resp) == 0 {
		return nil, errors.New("the witness answered with an empty body: no cosignature")
	}
	if len(resp) > MaxCosignatureResponse {
		return nil, fmt.Errorf("the witness answered with %d bytes, more than the %d a few cosignature lines take", len(resp), MaxCosignatureResponse)
	}
	if !utf8.Valid(resp) || resp[len(resp)-1] != '\n' {
		return nil, errors.New("the witness's answer is not signature lines (not UTF-8, or not ending in a newline)")
	}
	var out []Cosignature
	for i, line := range strings.Split(string(resp[:len(resp)-1]), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		name, b64, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 {
			return nil, fmt.Errorf("the witness's answer, line %d, is not a signature line (\"— NAME BASE64\"): %.60q", i+1, line)
		}
		sig, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || base64.StdEncoding.EncodeToString(sig) != b64 || len(sig) < 4 {
			return nil, fmt.Errorf("the witness's answer, line %d: the signature is not canonical base64", i+1)
		}
		if name != k.Name || binary.BigEndian.Uint32(sig) != k.Hash {
			continue
		}
		c := Cosignature{Witness: name, KeyHash: k.Hash, Signature: sig}
		if len(sig) >= 12 {
			c.Time = int64(binary.BigEndian.Uint64(sig[4:]))
		}
		if err := c.Verify(k, body); err != nil {
			return nil, fmt.Errorf("the witness's answer, line %d: %v", i+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the witness's answer holds no cosignature by its key %s+%08x", k.Name, k.Hash)
	}
	return out, nil
}

// CheckpointBody is the unsigned text of a signed checkpoint: what
// cosignatures sign.
func CheckpointBody(cp []byte) ([]byte, error) {
	split := bytes.LastIndex(cp, []byte("\n\n"))
	if split < 0 {
		return nil, errors.New("not a signed checkpoint: no signature block")
	}
	if _, err := parseCheckpoint(string(cp[:split+1])); err != nil {
		return nil, err
	}
	return cp[:split+1], nil
}
