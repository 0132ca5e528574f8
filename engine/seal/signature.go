package seal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/store"
)

// Signature is a batch's usability signature (signature.json): what was
// checked, against what, with which result, signed by the engine key. Its
// content is derived from the batch's audit entry alone, so recovery can
// write it again byte for byte (ed25519 signatures are deterministic).
type Signature struct {
	BatchID        string                          `json:"batch_id"`
	VerifiedAt     string                          `json:"verified_at"` // the batch.committed entry's time, spelled as the trail has it
	AsOf           string                          `json:"as_of"`
	Job            string                          `json:"job"`
	Classification string                          `json:"classification"`
	InputHash      store.Digest                    `json:"input_hash"`
	Schema         actions.SchemaRef               `json:"schema"`
	Validators     map[string]actions.ValidatorRef `json:"validators"`
	Result         SignedResult                    `json:"result"`
	Outputs        map[string]actions.OutputRef    `json:"outputs"`
	// LineageRoot is the root of the Merkle tree over the batch's records:
	// an inclusion proof of any record ends in it.
	LineageRoot string `json:"lineage_root"`
	PawlVersion string `json:"pawl_version"`
	// AuditSeq and AuditEntry bind the signature to the batch's entry in the
	// audit trail.
	AuditSeq   int64  `json:"audit_seq"`
	AuditEntry string `json:"audit_entry"`
	Sig        *Seal  `json:"signature,omitempty"`
}

// SignedResult is the outcome a signature vouches for.
type SignedResult struct {
	Status      string `json:"status"`
	RecordsIn   int64  `json:"records_in"`
	Verified    int64  `json:"records_verified"`
	Quarantined int64  `json:"records_quarantined"`
}

// Seal is the ed25519 signature over the canonical payload: the canonical
// JSON of the Signature without its "signature" member.
type Seal struct {
	Alg       string `json:"alg"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
	Value     string `json:"value"`
}

// ForBatch builds the usability signature of a committed batch from its
// batch.committed entry alone and signs it with k.
func ForBatch(e audit.Entry, k *Key) (*Signature, error) {
	s, err := Expected(e)
	if err != nil {
		return nil, err
	}
	if err := s.sign(k); err != nil {
		return nil, err
	}
	return s, nil
}

// Expected is the usability signature a batch.committed entry calls for,
// unsigned: what a signature.json must say, but for its seal.
func Expected(e audit.Entry) (*Signature, error) {
	br, err := actions.Decode[actions.BatchRecord](e)
	if err != nil {
		return nil, err
	}
	validators := br.Validators
	if validators == nil {
		validators = map[string]actions.ValidatorRef{}
	}
	s := &Signature{
		BatchID: br.BatchID, VerifiedAt: audit.FormatTime(e.Time), AsOf: br.AsOf,
		Job: br.Job, Classification: br.Classification, InputHash: br.Input, Schema: br.Schema,
		Validators: validators,
		Result:     SignedResult{Status: "committed", RecordsIn: br.RecordsIn, Verified: br.Verified, Quarantined: br.Quarantined},
		Outputs:    br.Outputs, LineageRoot: br.Lineage.Root,
		PawlVersion: br.PawlVersion, AuditSeq: e.Seq, AuditEntry: e.Hash,
	}
	return s, nil
}

// Payload is the signed message: the canonical JSON of the signature
// without its seal.
func (s *Signature) Payload() ([]byte, error) { return s.payload() }

// payload is the signed message: the canonical JSON of the signature
// without its "signature" member.
func (s *Signature) payload() ([]byte, error) {
	c := *s
	c.Sig = nil
	return canonjson.Marshal(c)
}

func (s *Signature) sign(k *Key) error {
	msg, err := s.payload()
	if err != nil {
		return err
	}
	s.Sig = &Seal{Alg: "ed25519", KeyID: k.ID(), PublicKey: base64.StdEncoding.EncodeToString(k.Public),
		Value: base64.StdEncoding.EncodeToString(ed25519.Sign(k.Private, msg))}
	return nil
}

// Render is the exact form of signature.json.
func (s *Signature) Render() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// SignatureCheck is what VerifyFile found.
type SignatureCheck struct {
	Signature *Signature
	KeyID     string
	Trusted   bool     // the key was one the caller vouched for
	Outputs   []string // output files next to the signature whose hashes matched
}

// VerifyFile checks a signature.json: that it is exactly as pawl
// wrote it, that its ed25519 signature verifies, that the signing key is one
// of trusted (when given), and that the output files beside it, if present,
// still have the hashes it names. Any edit to the file fails.
func VerifyFile(path string, trusted []ed25519.PublicKey) (*SignatureCheck, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return verify(path, b, trusted)
}

// verify is VerifyFile of the bytes b read from path.
func verify(path string, b []byte, trusted []ed25519.PublicKey) (*SignatureCheck, error) {
	chk, err := Verify(path, b, trusted)
	if err != nil {
		return nil, err
	}
	if err := chk.checkOutputs(path); err != nil {
		return nil, err
	}
	return chk, nil
}

// Verify checks the bytes b of a signature.json (path names it in errors)
// as VerifyFile does, except the output files beside it: for a caller that
// holds the outputs' bytes already.
func Verify(path string, b []byte, trusted []ed25519.PublicKey) (*SignatureCheck, error) {
	var s Signature
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s is not a pawl usability signature: %v", path, err)
	}
	if s.Sig == nil || s.Sig.Alg != "ed25519" {
		return nil, fmt.Errorf("%s carries no ed25519 signature", path)
	}
	again, err := s.Render()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%s was edited: its bytes differ from the form pawl writes (byte %d)", path, firstDiffBytes(again, b))
	}
	pub, ok := canonicalBase64(s.Sig.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%s: damaged public key", path)
	}
	if KeyID(pub) != s.Sig.KeyID {
		return nil, fmt.Errorf("%s: key id %s does not match its public key (%s)", path, s.Sig.KeyID, KeyID(pub))
	}
	sig, ok := canonicalBase64(s.Sig.Value)
	if !ok {
		return nil, fmt.Errorf("%s: damaged signature value", path)
	}
	msg, err := s.payload()
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return nil, fmt.Errorf("%s: the signature does not verify: the content was changed after signing", path)
	}
	chk := &SignatureCheck{Signature: &s, KeyID: s.Sig.KeyID}
	for _, t := range trusted {
		if bytes.Equal(t, pub) {
			chk.Trusted = true
		}
	}
	if len(trusted) > 0 && !chk.Trusted {
		return nil, fmt.Errorf("%s is signed by key %s, which is not a trusted key", path, s.Sig.KeyID)
	}
	return chk, nil
}

// checkOutputs hashes the output files beside the signature at path that
// are present and compares them with the signed hashes.
func (chk *SignatureCheck) checkOutputs(path string) error {
	s := chk.Signature
	dir := filepath.Dir(path)
	for _, name := range slices.Sorted(maps.Keys(s.Outputs)) {
		// A signature verifies with any key when no key is trusted: an
		// output name must not lead the check to read (and hash, forever
		// for /dev/zero) a file elsewhere.
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
			return fmt.Errorf("%s: output %q is not the name of a file beside the signature", path, name)
		}
		want := s.Outputs[name]
		f := filepath.Join(dir, name)
		got, _, err := store.HashFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if got != want.Hash {
			return fmt.Errorf("%s does not match the signature: signed %s, actual %s", f, want.Hash, got)
		}
		chk.Outputs = append(chk.Outputs, name)
	}
	return nil
}

// canonicalBase64 decodes s only in the one spelling EncodeToString
// writes: the lenient decoder reads non-zero padding bits as zero and skips
// line breaks, so an edited key or signature value would otherwise still
// verify.
func canonicalBase64(s string) ([]byte, bool) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return b, err == nil && base64.StdEncoding.EncodeToString(b) == s
}

func firstDiffBytes(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}
