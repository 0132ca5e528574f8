package esign

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// Electronic signatures (21 CFR 11.50, 11.70, 11.200). An operator signs a
// committed batch with their own key, unlocked by their passphrase, for a
// stated meaning. What is signed is a manifest built from the batch itself
// — its id, its batch.committed entry (seq and hash), its input hash, its
// lineage root and its output hashes — with the meaning, the signer's id,
// printed name and key id, the UTC time and the reason. The signature and
// the manifest are recorded in an esign.signed entry about the batch.
// Verification rebuilds the manifest from the batch and checks the
// signature with the public key the signer's enrolment entry records, so a
// signature copied onto another batch, or made with another key, does not
// verify.

// Valid returns the valid e-signatures on a committed batch in the form
// the egress policy reads them (resource.signatures), so that a
// destination can require an "approved" one.
func Valid(ctx context.Context, p *project.Project, b *project.Batch) ([]policies.ESignature, error) {
	out := []policies.ESignature{}
	sigs, err := Of(ctx, p, b)
	if err != nil {
		return nil, err
	}
	for _, s := range sigs {
		if s.Valid {
			out = append(out, policies.ESignature{BatchID: s.BatchID, Meaning: string(s.Meaning), Signer: s.SignerID,
				Time: s.Time.UTC().Format(time.RFC3339Nano)})
		}
	}
	return out, nil
}

// Meaning is what a signature says: why the signer signed.
type Meaning string

// The meanings of a signature.
const (
	MeaningReviewed    Meaning = "reviewed"    // the signer reviewed the batch
	MeaningApproved    Meaning = "approved"    // the signer approves the batch for use
	MeaningResponsible Meaning = "responsible" // the signer takes responsibility for the batch
)

// Meanings lists the meanings a signature may carry.
var Meanings = []Meaning{MeaningReviewed, MeaningApproved, MeaningResponsible}

// ParseMeaning checks a meaning given by a person.
func ParseMeaning(s string) (Meaning, error) {
	for _, m := range Meanings {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("meaning %q: want reviewed, approved or responsible", s)
}

// esignFormat names the manifest's version; it is part of what is signed.
const esignFormat = "pawl-esign-v1"

// esignTimeLayout is the manifest's time: UTC, nine fractional digits, the
// spelling of audit entry times.
const esignTimeLayout = "2006-01-02T15:04:05.000000000Z"

// canonical is the signed message: the canonical JSON of the manifest.
func canonical(m *actions.ESignManifest) ([]byte, error) { return canonjson.Marshal(m) }

// ESignature is one e-signature on a batch, as read back from the audit
// trail and verified.
type ESignature struct {
	BatchID    string          `json:"batch_id"`
	ChangeID   string          `json:"change_id,omitempty"` // a signature on a change instead of a batch
	Meaning    Meaning         `json:"meaning"`
	SignerID   string          `json:"signer_id"`
	SignerName string          `json:"signer_name"` // the printed name
	Time       audit.EntryTime `json:"time"`        // UTC; the esign.signed entry's time
	Reason     string          `json:"reason"`
	KeyID      string          `json:"key_id"`
	Value      string          `json:"value"`
	AuditSeq   int64           `json:"audit_seq"`
	AuditEntry string          `json:"audit_entry"`
	// Valid is true when the signature verifies against this batch and the
	// signer's enrolled key, and was made before any revocation of the
	// signer; otherwise Problem says what is wrong.
	Valid   bool   `json:"valid"`
	Problem string `json:"problem,omitempty"`
	// SignerRevoked is set on a valid signature whose signer was revoked
	// after it: it stays valid, made before the revocation.
	SignerRevoked *Revocation           `json:"signer_revoked,omitempty"`
	Manifest      actions.ESignManifest `json:"manifest"`
}

// String is the signature for a person: printed name, UTC time, meaning.
func (s *ESignature) String() string {
	v := "valid"
	if r := s.SignerRevoked; r != nil {
		v = fmt.Sprintf("valid, made before %s was revoked at %s (audit entry %d)", s.SignerID, utc(r.At), r.AuditSeq)
	}
	if !s.Valid {
		v = "NOT VALID: " + s.Problem
	}
	r := ""
	if s.Reason != "" {
		r = fmt.Sprintf(", reason %q", s.Reason)
	}
	return fmt.Sprintf("%s by %s (%s) at %s UTC%s — %s", s.Meaning, s.SignerName, s.SignerID,
		s.Time.UTC().Format("2006-01-02 15:04:05"), r, v)
}

// ValidSignature returns the first valid signature with the given meaning,
// or nil: "does this batch carry a valid approved signature?"
func ValidSignature(sigs []ESignature, meaning Meaning) *ESignature {
	for i := range sigs {
		if sigs[i].Valid && sigs[i].Meaning == meaning {
			return &sigs[i]
		}
	}
	return nil
}

// SignOptions are the inputs of Sign.
type SignOptions struct {
	Batch      string // a batch id or a unique prefix
	Meaning    string
	Operator   string // the signer's operator id
	Reason     string
	Passphrase []byte
}

// Sign records the operator's e-signature on a committed batch. Every
// failure — an unknown batch or operator, a wrong passphrase, a bad
// meaning, a revoked or locked operator, an expired passphrase — is
// recorded too, as an esign.failed entry with the reason (never the
// passphrase), and nothing is signed. A revoked, locked or expired
// operator is refused before the key file is opened; a wrong passphrase
// that completes a lock-out appends operator.locked. Without an operator
// id it signs in the caller's signing session (session.go), or is refused.
func Sign(ctx context.Context, p *project.Project, opt SignOptions) (*ESignature, error) {
	ps, err := PrepareSign(ctx, p, opt)
	if err != nil {
		return nil, err
	}
	return ps.Sign(opt.Passphrase)
}

// PrepareSign makes every check of a signature on a batch that needs no
// passphrase — the meaning, the batch, the operator (or the caller's
// signing session, when opt.Operator is empty), their state and the authz
// question, on record allow or deny — so that a person who may not sign
// is told so before being asked for a passphrase. Each refusal is on
// record as Sign's are. The Pending it returns signs with the passphrase.
func PrepareSign(ctx context.Context, p *project.Project, opt SignOptions) (*Pending, error) {
	var b *project.Batch
	var be audit.Entry
	return prepare(ctx, p, opt, "batch:"+opt.Batch, signTarget{
		resolve: func() (string, string, error) {
			var err error
			if b, err = p.Batch(ctx, opt.Batch); err != nil {
				return "", "unknown batch", err
			}
			if be, err = p.Trail.Get(ctx, b.AuditSeq); err != nil {
				return "", "", err
			}
			return "batch:" + b.BatchID, "", nil
		},
		approvalHint: "why this batch is approved",
		manifest: func(meaning Meaning, op *Operator, tm, reason string) *actions.ESignManifest {
			return manifestFor(b, be, meaning, op, tm, reason)
		},
		authorize: func(op *Operator, meaning Meaning) error {
			return authorizeSign(ctx, p, b, op.ID, string(meaning), opt.Reason)
		},
		verify: func(ops map[string]*Operator, e audit.Entry) ESignature { return verifyESign(b, be, ops, e) },
	})
}

// signTarget is what a signature is about: a batch, or a change.
type signTarget struct {
	// resolve finds it and returns its object ("batch:<id>"); on failure
	// the failure recorded ("" for an error that is not the signer's).
	resolve func() (object, failure string, err error)
	// refuse, when set, says why op may not sign it (failure, error).
	refuse func(op *Operator) (string, error)
	// authorize asks the authz question (gate.Authorize) for op signing it
	// with meaning: the decision is on record, allow or deny.
	authorize    func(op *Operator, meaning Meaning) error
	approvalHint string
	manifest     func(meaning Meaning, op *Operator, tm, reason string) *actions.ESignManifest
	verify       func(ops map[string]*Operator, e audit.Entry) ESignature
}

// Pending is a signature whose every check that needs no passphrase has
// passed (PrepareSign, PrepareApproval): Sign completes it.
type Pending struct {
	ctx     context.Context
	p       *project.Project
	opt     SignOptions
	object  string
	t       signTarget
	meaning Meaning
	op      *Operator
	session *Session // the session it signs in; nil: every component is used
	done    bool
}

// Operator is who signs: the operator id given, or the session's.
func (ps *Pending) Operator() *Operator { return ps.op }

// Session is the signing session it signs in, or nil when it uses every
// component (and opens a session, when esign.session_timeout is not 0).
func (ps *Pending) Session() *Session { return ps.session }

// fail records a failed attempt (esign.failed, never the passphrase) and
// returns the error that says so.
func (ps *Pending) fail(why string, err error) (*ESignature, error) {
	opt := ps.opt
	// The entry names the operator the attempt claimed to be (or its
	// session's); the OS user beside it says who ran pawl.
	who := opt.Operator
	if who == "" || !utf8.ValidString(who) {
		who = ps.p.Cfg.Operator
	}
	d := actions.ESignFailedDetails{Batch: opt.Batch, Operator: opt.Operator, Meaning: opt.Meaning, Failure: why, Error: err.Error()}
	if ps.session != nil {
		d.Session = ps.session.ID
	}
	_, aerr := actions.Append(context.WithoutCancel(ps.ctx), ps.p.Trail, actions.Record{Operator: who, Object: ps.object, Reason: opt.Reason, Details: d})
	if aerr != nil {
		return nil, errors.Join(err, fmt.Errorf("and the failed attempt could not be recorded: %w", aerr))
	}
	return nil, fmt.Errorf("nothing signed: %w (the attempt is recorded in the audit trail)", err)
}

// prepare is every e-signature's checks before the passphrase: each
// failure is recorded (esign.failed), a revoked, locked or expired
// operator is refused before the key is opened, and the authz question is
// asked (on record) before anyone is asked for a passphrase.
func prepare(ctx context.Context, p *project.Project, opt SignOptions, object string, t signTarget) (*Pending, error) {
	ps := &Pending{ctx: ctx, p: p, opt: opt, object: object, t: t}
	fail := func(why string, err error) (*Pending, error) {
		_, err = ps.fail(why, err)
		return nil, err
	}
	meaning, err := ParseMeaning(opt.Meaning)
	if err != nil {
		return fail("bad meaning", err)
	}
	ps.meaning = meaning
	obj, why, err := t.resolve()
	if err != nil {
		if why == "" {
			return nil, err
		}
		return fail(why, err)
	}
	ps.object = obj
	if opt.Operator == "" {
		// No operator id: a later signing of a continuous period, in the
		// caller's session (21 CFR 11.200(a)(1)(i)), or refused.
		s, err := CurrentSession(ctx, p)
		if err != nil {
			if !errors.Is(err, ErrNoSession) {
				return nil, err
			}
			return fail(FailureNoSession, err)
		}
		ps.session, ps.opt.Operator = s, s.Operator
	}
	op, err := LookupOperator(ctx, p, ps.opt.Operator)
	if err != nil {
		return fail(FailureUnknownOperator, err)
	}
	// Revoked, locked (a lock-out not on record yet is recorded first: the
	// alert), or an expired passphrase: refused without trying the
	// passphrase, and recorded.
	if err := recordLock(ctx, p, op); err != nil {
		return nil, err
	}
	if err := op.CanSign(); err != nil {
		return fail(failureOf(err), err)
	}
	if t.refuse != nil {
		if why, err := t.refuse(op); err != nil {
			return fail(why, err)
		}
	}
	// May the caller sign as op, with this meaning, this batch or change?
	// Asked before the passphrase is tried: a caller who may not act as op
	// cannot count towards op's lock-out either. A denial is on record as
	// the authz decision itself.
	if t.authorize != nil {
		if err := t.authorize(op, meaning); err != nil {
			return nil, err
		}
	}
	ps.op = op
	return ps, nil
}

// Sign opens the operator's key with the passphrase and records the
// signature. A wrong passphrase is a failed attempt on record that counts
// towards the lock-out, in a session as outside one. A Pending signs once.
func (ps *Pending) Sign(passphrase []byte) (*ESignature, error) {
	if ps.done {
		return nil, fmt.Errorf("this signature was already attempted: prepare another")
	}
	ps.done = true
	ctx, p, op, t, opt := ps.ctx, ps.p, ps.op, ps.t, ps.opt
	note, err := settleKeyFile(ctx, p, op)
	if err != nil {
		return ps.fail(FailureKeyUnusable, err)
	}
	priv, err := unlock(op, passphrase)
	if errors.Is(err, ErrWrongPassphrase) {
		if note != "" {
			err = fmt.Errorf("%w (pawl %s)", err, note)
		}
		_, ferr := ps.fail(FailureWrongPassphrase, err)
		return nil, afterWrongPassphrase(ctx, p, op.ID, ferr)
	}
	if err != nil {
		return ps.fail(FailureKeyUnusable, err)
	}
	defer clear(priv)
	if ps.meaning == MeaningApproved && strings.TrimSpace(opt.Reason) == "" {
		// An approval is a decision someone must be able to read the
		// grounds of later.
		return ps.fail("no reason", fmt.Errorf("an approval needs a reason: pass --reason %q", t.approvalHint))
	}
	var sess *actions.ESignSession
	timeout, err := sessionTimeout(ctx, p)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		// The session this signing opens (every component) or continues
		// (the passphrase only).
		sess = &actions.ESignSession{Principal: gate.Caller(ctx), TimeoutMS: timeout.Milliseconds()}
		if s := ps.session; s != nil {
			sess.ID, sess.OpenedEntry, sess.Components = s.ID, s.OpenedEntry, []string{actions.ComponentPassphrase}
		} else {
			if sess.ID, err = newSessionID(); err != nil {
				return nil, err
			}
			sess.Opened, sess.Components = true, []string{actions.ComponentOperatorID, actions.ComponentPassphrase}
		}
	}
	now := time.Now().UTC()
	m := t.manifest(ps.meaning, op, now.Format(esignTimeLayout), opt.Reason)
	msg, err := canonical(m)
	if err != nil {
		return nil, err
	}
	d := actions.ESignSignedDetails{Manifest: *m, Signature: actions.ESignValue{Alg: "ed25519", KeyID: op.KeyID,
		Value: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))}, Session: sess}
	failpoint.Hit("sign.before-record")
	e, err := actions.Append(ctx, p.Trail, actions.Record{Time: now, Operator: op.ID, Object: ps.object, Reason: opt.Reason, Details: d})
	if err != nil {
		return nil, fmt.Errorf("recording the signature: %w (nothing signed)", err)
	}
	s := t.verify(map[string]*Operator{op.ID: op}, e)
	return &s, nil
}

// authorizeSign asks the authz question for a signature, with the facts
// the rules of separation of duties need: who ran the batch, who
// resubmitted records of it, and the meanings the signer already signed it
// with.
func authorizeSign(ctx context.Context, p *project.Project, b *project.Batch, signer, meaning, reason string) error {
	be, err := p.Trail.Get(ctx, b.AuditSeq)
	if err != nil {
		return err
	}
	f := policies.AuthzFacts{Meaning: meaning, BatchRunBy: be.Operator, ResubmittedBy: []string{}, SignedMeanings: []string{}}
	rs, err := p.Trail.Find(ctx, actions.RecordResubmitted, "batch:"+b.BatchID)
	if err != nil {
		return err
	}
	for _, e := range rs {
		if !slices.Contains(f.ResubmittedBy, e.Operator) {
			f.ResubmittedBy = append(f.ResubmittedBy, e.Operator)
		}
	}
	sigs, err := Of(ctx, p, b)
	if err != nil {
		return err
	}
	for _, sg := range sigs {
		if sg.SignerID == signer && sg.Valid && !slices.Contains(f.SignedMeanings, string(sg.Meaning)) {
			f.SignedMeanings = append(f.SignedMeanings, string(sg.Meaning))
		}
	}
	slices.Sort(f.ResubmittedBy)
	slices.Sort(f.SignedMeanings)
	return gate.Authorize(ctx, p, gate.AuthzRequest{Action: gate.ActionSign, Object: "batch:" + b.BatchID, Operator: signer,
		Reason: reason, Facts: f, BatchID: b.BatchID})
}

// manifestFor builds the manifest of a signature on batch b (whose
// batch.committed entry is be).
func manifestFor(b *project.Batch, be audit.Entry, meaning Meaning, op *Operator, tm, reason string) *actions.ESignManifest {
	outs := map[string]store.Digest{}
	for n, o := range b.Outputs {
		outs[n] = o.Hash
	}
	return &actions.ESignManifest{
		Format: esignFormat, BatchID: b.BatchID, BatchEntrySeq: be.Seq, BatchEntry: be.Hash,
		Input: b.Input, LineageRoot: b.Lineage.Root, Outputs: outs,
		Meaning: string(meaning), SignerID: op.ID, SignerName: op.Name, SignerKeyID: op.KeyID, Time: tm, Reason: reason,
	}
}

// Signatures returns the e-signatures on a committed batch (id or unique
// prefix), oldest first, each verified: rebuilt from the batch and checked
// with the key its signer's enrolment recorded.
func Signatures(ctx context.Context, p *project.Project, batchID string) ([]ESignature, error) {
	b, err := p.Batch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	return Of(ctx, p, b)
}

func Of(ctx context.Context, p *project.Project, b *project.Batch) ([]ESignature, error) {
	es, err := p.Trail.Find(ctx, actions.ESignSigned, "batch:"+b.BatchID)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return []ESignature{}, nil
	}
	be, err := p.Trail.Get(ctx, b.AuditSeq)
	if err != nil {
		return nil, err
	}
	ops, err := operators(ctx, p, false)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Operator{}
	for _, op := range ops {
		byID[op.ID] = op
	}
	out := make([]ESignature, 0, len(es))
	for _, e := range es {
		out = append(out, verifyESign(b, be, byID, e))
	}
	return out, nil
}

// verifyESign checks one esign.signed entry against batch b.
func verifyESign(b *project.Batch, be audit.Entry, ops map[string]*Operator, e audit.Entry) ESignature {
	s := verifySigned(ops, e, func(m *actions.ESignManifest, op *Operator) (*actions.ESignManifest, string) {
		if m.BatchID != b.BatchID {
			return nil, fmt.Sprintf("it was made for batch %s (audit entry %d), not batch %s: a signature cannot be moved to another batch", m.BatchID, m.BatchEntrySeq, b.BatchID)
		}
		return manifestFor(b, be, Meaning(m.Meaning), op, m.Time, m.Reason), ""
	})
	s.BatchID = b.BatchID
	return s
}

// verifySigned checks one esign.signed entry: want rebuilds, from what it
// is about, the manifest the signer must have signed (or says why it
// cannot be about it).
func verifySigned(ops map[string]*Operator, e audit.Entry, want func(m *actions.ESignManifest, op *Operator) (*actions.ESignManifest, string)) ESignature {
	s := ESignature{AuditSeq: e.Seq, AuditEntry: e.Hash, Time: audit.EntryTime{Time: e.Time.UTC()}, SignerID: e.Operator, Reason: e.Reason}
	bad := func(format string, args ...any) ESignature {
		s.Problem = fmt.Sprintf(format, args...)
		return s
	}
	d, err := actions.Decode[actions.ESignSignedDetails](e)
	if err != nil {
		return bad("%v", err)
	}
	m := d.Manifest
	s.Manifest, s.Meaning, s.SignerID, s.SignerName, s.Reason = m, Meaning(m.Meaning), m.SignerID, m.SignerName, m.Reason
	s.KeyID, s.Value = d.Signature.KeyID, d.Signature.Value
	if t, err := time.Parse(esignTimeLayout, m.Time); err == nil {
		s.Time = audit.EntryTime{Time: t}
	}
	if _, err := ParseMeaning(string(m.Meaning)); err != nil {
		return bad("%v", err)
	}
	op := ops[m.SignerID]
	if op == nil {
		return bad("signer %q is not an enrolled operator", m.SignerID)
	}
	if op.AuditSeq >= e.Seq {
		return bad("signer %s was enrolled (entry %d) after this signature (entry %d)", op.ID, op.AuditSeq, e.Seq)
	}
	if r := op.Revoked; r != nil && r.AuditSeq < e.Seq {
		return bad("signer %s was revoked (audit entry %d, %s) before this signature (entry %d): a revoked operator's signature is never valid", op.ID, r.AuditSeq, utc(r.At), e.Seq)
	}
	w, problem := want(&m, op)
	if problem != "" {
		return bad("%s", problem)
	}
	if diff := manifestDiff(w, &m); len(diff) > 0 {
		return bad("what was signed does not match %s and signer in %s: the signature belongs to other content", e.Object, strings.Join(diff, ", "))
	}
	if e.Operator != m.SignerID || e.Reason != m.Reason || m.Time != e.Time.UTC().Format(esignTimeLayout) {
		return bad("audit entry %d (operator %s, time %s, reason %q) does not match the signed manifest (signer %s, time %s, reason %q)",
			e.Seq, e.Operator, e.Time.UTC().Format(esignTimeLayout), e.Reason, m.SignerID, m.Time, m.Reason)
	}
	if d.Signature.Alg != "ed25519" || d.Signature.KeyID != op.KeyID {
		return bad("signed with %s key %s; %s's enrolled key is %s", d.Signature.Alg, d.Signature.KeyID, op.ID, op.KeyID)
	}
	sig, err := base64.StdEncoding.DecodeString(d.Signature.Value)
	if err != nil {
		return bad("damaged signature value")
	}
	msg, err := canonical(w)
	if err != nil {
		return bad("%v", err)
	}
	if !ed25519.Verify(op.pub, msg, sig) {
		return bad("the signature value does not verify with %s's enrolled key %s", op.ID, op.KeyID)
	}
	s.Valid = true
	s.SignerRevoked = op.Revoked
	return s
}

// manifestDiff names the manifest fields where got differs from want.
func manifestDiff(want, got *actions.ESignManifest) []string {
	var a, b map[string]json.RawMessage
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	json.Unmarshal(wb, &a)
	json.Unmarshal(gb, &b)
	var diff []string
	// Both sides are encoded by encoding/json from the same struct type
	// (map keys sorted), so equal values have equal bytes.
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	return diff
}
