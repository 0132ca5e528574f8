package esign

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/policies"
	"golang.org/x/text/unicode/norm"
)

// Operators: the people who sign. Each enrolled operator has an ed25519 key
// of their own, kept in <data dir>/operators/<ID>.key (mode 0600) encrypted
// under a passphrase only they know; using the key needs both components,
// the file and the passphrase (21 CFR 11.200(a)(1)). The audit trail's
// operator.enrolled entry, not the key file, is the authority on who an
// operator is and which public key is theirs: signatures are verified
// against the key recorded there, so replacing a key file cannot make a
// forged signature verify.
//
// The private key (its 32-byte ed25519 seed) is sealed with AES-256-GCM
// under a key derived from the passphrase with PBKDF2-HMAC-SHA256
// (crypto/pbkdf2), OperatorKDFIterations iterations, a random 16-byte salt
// and a random 12-byte nonce. The additional authenticated data binds the
// sealed seed to the file's format, the operator id and the public key, so
// neither can be swapped without the passphrase check failing.

// MinPassphraseLen is the fewest characters (Unicode code points) an
// operator's passphrase may have; MaxPassphraseLen bounds it in bytes.
const (
	MinPassphraseLen = 12
	MaxPassphraseLen = 1024
)

// OperatorKDFIterations is the PBKDF2-HMAC-SHA256 iteration count used for
// new operator keys (OWASP's 2023 recommendation for this hash). Key files
// with fewer iterations are refused.
const OperatorKDFIterations = 600_000

const (
	operatorKeyFormat = "pawl-operator-key-v1"
	operatorKDF       = "pbkdf2-hmac-sha256"
	operatorAEAD      = "aes-256-gcm"
)

// ErrWrongPassphrase is returned when a passphrase does not open an
// operator's key.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// ErrUnknownOperator is returned for an operator id that was never enrolled.
var ErrUnknownOperator = errors.New("unknown operator")

var operatorIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// CheckOperatorID says whether id can name an operator: 1 to 64 ASCII
// letters, digits, '.', '_', '@' or '-', starting with a letter or digit
// (it is also a file name).
func CheckOperatorID(id string) error {
	if !operatorIDPattern.MatchString(id) {
		return fmt.Errorf("operator id %q: use 1 to 64 ASCII letters, digits, '.', '_', '@' or '-', starting with a letter or digit", id)
	}
	return nil
}

// CheckPrintedName returns the printed name in NFC, or says why it cannot
// be shown on a signature: it must not be empty and may not hold control,
// format (zero-width, bidi) or line-breaking characters.
func CheckPrintedName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("printed name is not valid UTF-8")
	}
	name = norm.NFC.String(strings.TrimSpace(name))
	if name == "" {
		return "", fmt.Errorf("printed name is empty: pass --name \"First Last\" as it should appear on signatures")
	}
	if utf8.RuneCountInString(name) > 200 {
		return "", fmt.Errorf("printed name is over 200 characters")
	}
	for i, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return "", fmt.Errorf("printed name %q has the invisible or control character U+%04X at byte %d: a name on a signature must read as it is", name, r, i)
		}
	}
	return name, nil
}

// Operator is an enrolled operator, as the audit trail records them.
type Operator struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`       // printed name, shown on every signature
	PublicKey  string          `json:"public_key"` // "ed25519 BASE64 KEYID"
	KeyID      string          `json:"key_id"`
	EnrolledAt audit.EntryTime `json:"enrolled_at"` // its operator.enrolled entry's time
	EnrolledBy string          `json:"enrolled_by"`
	AuditSeq   int64           `json:"audit_seq"`
	KeyFile    string          `json:"key_file"`
	// KeyFilePresent says whether the encrypted key is still on disk.
	KeyFilePresent bool `json:"key_file_present"`
	// What the enrolment bound them to: only a request from that OS
	// account (UID; Account is its name on this machine, when it has one)
	// or with that client certificate (Cert, "sha256:<hex>") may act as
	// them. Neither: enrolled before operators were bound, and nobody may.
	UID     *int   `json:"uid,omitempty"`
	Account string `json:"account,omitempty"`
	Cert    string `json:"cert,omitempty"`

	// What the trail says of the operator since (lifecycle.go): State is
	// active, locked or revoked; FailedAttempts counts the wrong
	// passphrases in a row since their last signature, passphrase change
	// or unlock.
	State          string      `json:"state"`
	FailedAttempts int         `json:"failed_attempts"`
	Locked         *Lock       `json:"locked,omitempty"`
	Revoked        *Revocation `json:"revoked,omitempty"`
	Passphrase     Passphrase  `json:"passphrase"`
	// lockoutAfter is esign.lockout_after in force when the state was read.
	lockoutAfter int

	pub      ed25519.PublicKey
	attempts []audit.Entry // the failed attempts of a lock-out not on record yet
}

// operatorKeyFile is the JSON form of <ID>.key.
type operatorKeyFile struct {
	Format    string      `json:"format"`
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	PublicKey string      `json:"public_key"`
	KDF       keyFileKDF  `json:"kdf"`
	AEAD      keyFileAEAD `json:"aead"`
	Sealed    string      `json:"sealed_seed"` // base64 ciphertext of the 32-byte seed, with its tag
}

type keyFileKDF struct {
	Alg        string `json:"alg"`
	Iterations int    `json:"iterations"`
	Salt       string `json:"salt,omitempty"` // base64; left out of the audit entry
}

type keyFileAEAD struct {
	Alg   string `json:"alg"`
	Nonce string `json:"nonce"`
}

func (k *operatorKeyFile) aad() []byte {
	return []byte(k.Format + "\x00" + k.ID + "\x00" + k.PublicKey)
}

// EnrolOptions are the inputs of EnrolOperator.
type EnrolOptions struct {
	ID         string
	Name       string // printed name
	Passphrase []byte
	By         string // who performs the enrolment; default the project's operator
	Reason     string
	// UID is the OS account the operator is bound to: only requests from
	// it may act as them. Nil: the caller's (principal.From the context),
	// unless the caller is known by a certificate alone or Cert is given
	// (then the certificate alone).
	UID *int
	// Cert is the sha256 fingerprint of a client certificate to bind them
	// to ("sha256:<hex>"), for a service over HTTPS.
	Cert string
}

// EnrolOperator creates an operator's ed25519 key, writes it encrypted
// under the passphrase to operators/<ID>.key (mode 0600) and records the
// enrolment (id, printed name, public key, key id) in the audit trail. It
// refuses an id that is already enrolled, or was ever (a revoked id is
// never enrolled again), and a passphrase too easy to guess
// (CheckPassphrase with esign.passphrase_min_score). A key file left by an
// enrolment cut short is set aside.
func EnrolOperator(ctx context.Context, p *project.Project, opt EnrolOptions) (*Operator, error) {
	if err := CheckOperatorID(opt.ID); err != nil {
		return nil, err
	}
	name, err := CheckPrintedName(opt.Name)
	if err != nil {
		return nil, err
	}
	if opt.By == "" {
		opt.By = p.Cfg.Operator
	}
	if op, err := LookupOperator(ctx, p, opt.ID); err == nil {
		if op.Revoked != nil {
			// 21 CFR 11.100(a): an id is never reused or reassigned.
			return nil, fmt.Errorf("operator %s (%s) was revoked (audit entry %d): an id is never enrolled again, so that no signature can be read as another person's; enrol them under a new id", op.ID, op.Name, op.Revoked.AuditSeq)
		}
		return nil, fmt.Errorf("operator %s is already enrolled (audit entry %d, %s): pick another id", op.ID, op.AuditSeq, op.Name)
	} else if !errors.Is(err, ErrUnknownOperator) {
		return nil, err
	}
	if opt.UID == nil && opt.Cert == "" {
		// Bound to the caller's account by default — but never when a
		// certificate is given: an admin enrolling someone by their
		// certificate must not become able to act as them.
		if who := principal.From(ctx); who.UID >= 0 {
			opt.UID = &who.UID
		}
	}
	if opt.UID != nil && *opt.UID < 0 {
		return nil, fmt.Errorf("--uid %d: an OS uid is 0 or more", *opt.UID)
	}
	if opt.Cert != "" && !certFingerprint.MatchString(opt.Cert) {
		return nil, fmt.Errorf("certificate fingerprint %q: want sha256: and 64 lower-case hex digits", opt.Cert)
	}
	if opt.UID == nil && opt.Cert == "" {
		return nil, fmt.Errorf("operator %s would be bound to no account: pass --uid N (or a certificate)", opt.ID)
	}
	if err := authorizeEnrol(ctx, p, opt, name); err != nil {
		return nil, err
	}
	minScore, err := PassphraseMinScore(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := CheckPassphrase(opt.Passphrase, minScore, Known{ID: opt.ID, Name: name}); err != nil {
		return nil, err
	}
	path := p.OperatorKeyFile(opt.ID)
	if _, err := os.Lstat(path); err == nil {
		// A key file without its enrolment: an enrolment cut short after
		// the file was written. Nothing signed with it can verify (the
		// trail names no key for the id), so it is set aside, kept as
		// evidence, and the enrolment starts again.
		aside := fmt.Sprintf("%s.unenrolled-%d", path, time.Now().UnixNano())
		if err := durable.Rename(path, aside); err != nil {
			return nil, fmt.Errorf("%s exists but operator %s is not enrolled (an enrolment that did not finish), and it could not be set aside: %w", path, opt.ID, err)
		}
	}
	if err := os.MkdirAll(p.OperatorsDir(), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", p.OperatorsDir(), err)
	}

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	kf := &operatorKeyFile{Format: operatorKeyFormat, ID: opt.ID, Name: name, PublicKey: seal.FormatPublicKey(pub)}
	seed := priv.Seed()
	err = kf.seal(seed, opt.Passphrase)
	clear(seed)
	clear(priv)
	if err != nil {
		return nil, err
	}
	b, err := kf.marshal()
	if err != nil {
		return nil, err
	}
	// The key file first: an enrolment entry without its key could never
	// be used, while a key file without an entry is set aside by the next
	// enrolment of the id.
	if err := durable.WriteNew(path, b, 0o600); err != nil {
		return nil, err
	}
	failpoint.Hit("enrol.after-keyfile")
	details := actions.OperatorEnrolledDetails{ID: opt.ID, Name: name, PublicKey: kf.PublicKey, KeyID: seal.KeyID(pub),
		KDF: actions.OperatorKDF{Alg: operatorKDF + "+" + operatorAEAD, Iterations: OperatorKDFIterations}, UID: opt.UID, Cert: opt.Cert}
	e, err := actions.Append(ctx, p.Trail, actions.Record{Operator: opt.By, Object: "operator:" + opt.ID, Reason: opt.Reason, Details: details})
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("recording the enrolment of %s: %w (nothing was enrolled)", opt.ID, err)
	}
	op, err := operatorFromEntry(p, e)
	if err != nil {
		return nil, err
	}
	if err := lifecycle(ctx, p, []*Operator{op}, true); err != nil {
		return nil, err
	}
	return op, nil
}

var certFingerprint = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// authorizeEnrol asks the authz question for an enrolment, with the
// printed name asked for and those already enrolled (a printed name names
// one person).
func authorizeEnrol(ctx context.Context, p *project.Project, opt EnrolOptions, name string) error {
	ops, err := operators(ctx, p, false)
	if err != nil {
		return err
	}
	f := policies.AuthzFacts{Name: name, EnrolledNames: []string{}, ResubmittedBy: []string{}, SignedMeanings: []string{}}
	for _, op := range ops {
		f.EnrolledNames = append(f.EnrolledNames, op.Name)
	}
	return gate.Authorize(ctx, p, gate.AuthzRequest{Action: gate.ActionEnrol, Object: "operator:" + opt.ID, Operator: opt.By,
		Reason: opt.Reason, Facts: f})
}

// seal encrypts seed under pass with a new random salt and nonce and the
// current KDF parameters.
func (kf *operatorKeyFile) seal(seed, pass []byte) error {
	kf.KDF = keyFileKDF{Alg: operatorKDF, Iterations: OperatorKDFIterations}
	kf.AEAD = keyFileAEAD{Alg: operatorAEAD}
	salt, nonce := make([]byte, 16), make([]byte, 12)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	kf.KDF.Salt = base64.StdEncoding.EncodeToString(salt)
	kf.AEAD.Nonce = base64.StdEncoding.EncodeToString(nonce)
	aead, err := kf.cipher(pass)
	if err != nil {
		return err
	}
	kf.Sealed = base64.StdEncoding.EncodeToString(aead.Seal(nil, nonce, seed, kf.aad()))
	return nil
}

// marshal is the key file's bytes.
func (kf *operatorKeyFile) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func (kf *operatorKeyFile) cipher(pass []byte) (cipher.AEAD, error) {
	salt, err := base64.StdEncoding.DecodeString(kf.KDF.Salt)
	if err != nil || len(salt) < 16 {
		return nil, fmt.Errorf("damaged salt")
	}
	key, err := pbkdf2.Key(sha256.New, string(pass), salt, kf.KDF.Iterations, 32)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func operatorFromEntry(p *project.Project, e audit.Entry) (*Operator, error) {
	d, err := actions.Decode[actions.OperatorEnrolledDetails](e)
	if err != nil {
		return nil, err
	}
	pub, err := seal.ParsePublicKey(d.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("audit entry %d enrols %s with %v", e.Seq, d.ID, err)
	}
	op := &Operator{ID: d.ID, Name: d.Name, PublicKey: d.PublicKey, KeyID: seal.KeyID(pub), EnrolledAt: audit.EntryTime{Time: e.Time.UTC()},
		EnrolledBy: e.Operator, AuditSeq: e.Seq, KeyFile: p.OperatorKeyFile(d.ID), pub: pub}
	if d.UID != nil {
		uid := *d.UID
		op.UID, op.Account = &uid, principal.ForUID(uid, "").User
	}
	op.Cert = d.Cert
	if _, err := os.Stat(op.KeyFile); err == nil {
		op.KeyFilePresent = true
	}
	return op, nil
}

// Operators returns every enrolled operator in enrolment order, each with
// their state as the trail has it now.
func Operators(ctx context.Context, p *project.Project) ([]*Operator, error) {
	return operators(ctx, p, true)
}

// operators reads the enrolled operators and their lifecycle from the
// trail; without attempts, the signatures and failed attempts are not
// read (State and FailedAttempts then ignore lock-outs), which is all a
// signature's verification needs.
func operators(ctx context.Context, p *project.Project, attempts bool) ([]*Operator, error) {
	es, err := p.Trail.List(ctx, audit.Filter{Action: actions.OperatorEnrolled})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*Operator
	for _, e := range es {
		op, err := operatorFromEntry(p, e)
		if err != nil {
			return nil, err
		}
		if seen[op.ID] {
			continue // the first enrolment is the one that counts
		}
		seen[op.ID] = true
		out = append(out, op)
	}
	if err := lifecycle(ctx, p, out, attempts); err != nil {
		return nil, err
	}
	return out, nil
}

// BoundTo says, for a person, what an operator is bound to: "uid 1001
// (alice)", "certificate sha256:…", both, or that they are bound to
// nothing (enrolled before operators were bound: nobody may act as them).
func (op *Operator) BoundTo() string {
	var parts []string
	if op.UID != nil {
		u := fmt.Sprintf("uid %d", *op.UID)
		if op.Account != "" {
			u += " (" + op.Account + ")"
		}
		parts = append(parts, u)
	}
	if op.Cert != "" {
		parts = append(parts, "certificate "+op.Cert)
	}
	if len(parts) == 0 {
		return "nothing (enrolled before operators were bound: nobody may act as them)"
	}
	return strings.Join(parts, " and ")
}

// LookupOperator returns one enrolled operator, or an error wrapping
// ErrUnknownOperator.
func LookupOperator(ctx context.Context, p *project.Project, id string) (*Operator, error) {
	ops, err := Operators(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, op := range ops {
		if op.ID == id {
			return op, nil
		}
	}
	known := make([]string, 0, len(ops))
	for _, op := range ops {
		known = append(known, op.ID)
	}
	sort.Strings(known)
	hint := "none are enrolled yet: `pawl operator add ID --name \"Printed Name\"`"
	if len(known) > 0 {
		hint = "enrolled: " + strings.Join(known, ", ")
	}
	return nil, fmt.Errorf("%w %q (%s)", ErrUnknownOperator, id, hint)
}

// unlock opens the operator's key file with the passphrase. The key must
// be the one recorded at enrolment.
func unlock(op *Operator, pass []byte) (ed25519.PrivateKey, error) {
	kf, err := readKeyFile(op)
	if err != nil {
		return nil, err
	}
	seed, err := kf.open(op, pass)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), op.pub) {
		clear(priv)
		return nil, fmt.Errorf("%s opens to a key that is not the one enrolled for %s", op.KeyFile, op.ID)
	}
	return priv, nil
}

// readKeyFile reads and checks the operator's key file: private, of the
// format this pawl writes, for this operator's enrolled key.
func readKeyFile(op *Operator) (*operatorKeyFile, error) {
	b, err := os.ReadFile(op.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("the key of operator %s cannot be read: %w (restore %s from backup)", op.ID, err, op.KeyFile)
	}
	if fi, err := os.Stat(op.KeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("operator key %s has mode %v: others may read it; run `chmod 600 %s`", op.KeyFile, fi.Mode().Perm(), op.KeyFile)
	}
	var kf operatorKeyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("%s is not a pawl operator key: %v", op.KeyFile, err)
	}
	switch {
	case kf.Format != operatorKeyFormat || kf.KDF.Alg != operatorKDF || kf.AEAD.Alg != operatorAEAD:
		return nil, fmt.Errorf("%s: format %s with %s and %s: this pawl reads %s with %s and %s", op.KeyFile, kf.Format, kf.KDF.Alg, kf.AEAD.Alg, operatorKeyFormat, operatorKDF, operatorAEAD)
	case kf.KDF.Iterations < OperatorKDFIterations:
		return nil, fmt.Errorf("%s: %d PBKDF2 iterations, fewer than the %d required: the file was altered", op.KeyFile, kf.KDF.Iterations, OperatorKDFIterations)
	case kf.ID != op.ID || kf.PublicKey != op.PublicKey:
		return nil, fmt.Errorf("%s holds the key of %s (%s), not the key enrolled for %s (%s, audit entry %d)", op.KeyFile, kf.ID, kf.PublicKey, op.ID, op.KeyID, op.AuditSeq)
	}
	return &kf, nil
}

// open decrypts the sealed seed with the passphrase; a passphrase that
// does not open it is ErrWrongPassphrase.
func (kf *operatorKeyFile) open(op *Operator, pass []byte) ([]byte, error) {
	nonce, err := base64.StdEncoding.DecodeString(kf.AEAD.Nonce)
	if err != nil || len(nonce) != 12 {
		return nil, fmt.Errorf("%s: damaged nonce", op.KeyFile)
	}
	sealed, err := base64.StdEncoding.DecodeString(kf.Sealed)
	if err != nil {
		return nil, fmt.Errorf("%s: damaged sealed key", op.KeyFile)
	}
	aead, err := kf.cipher(pass)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.KeyFile, err)
	}
	seed, err := aead.Open(nil, nonce, sealed, kf.aad())
	if err != nil {
		return nil, fmt.Errorf("%w for operator %s", ErrWrongPassphrase, op.ID)
	}
	if len(seed) != ed25519.SeedSize {
		clear(seed)
		return nil, fmt.Errorf("%s: damaged sealed key", op.KeyFile)
	}
	return seed, nil
}
