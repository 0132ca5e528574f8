package engine

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/audit"
)

const (
	signGood  = `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`
	signHot   = `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":"hot","unit":"celsius"}`
	alicePass = "correct horse battery staple"
)

// batchOf runs one batch of the given lines and returns it.
func batchOf(t *testing.T, p *Project, lines ...string) *Result {
	t.Helper()
	in := writeInput(t, t.TempDir(), "in.jsonl", []byte(strings.Join(lines, "\n")+"\n"))
	return run(t, p, in, 1)
}

func enrolAlice(t *testing.T, p *Project) *Operator {
	t.Helper()
	op, err := p.EnrolOperator(context.Background(), EnrolOptions{ID: "alice", Name: "Alice Example", Passphrase: []byte(alicePass), Reason: "QA reviewer"})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func entries(t *testing.T, p *Project, action string) []audit.Entry {
	t.Helper()
	es, err := p.Trail.Find(context.Background(), action, "")
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestEnrolSignAndVerify(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	b := batchOf(t, p, signGood, signHot)
	op := enrolAlice(t, p)

	fi, err := os.Stat(op.KeyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v %v, want mode 0600", op.KeyFile, fi.Mode(), err)
	}
	kb, _ := os.ReadFile(op.KeyFile)
	if strings.Contains(string(kb), alicePass) || !strings.Contains(string(kb), "pbkdf2-hmac-sha256") || !strings.Contains(string(kb), op.PublicKey) {
		t.Fatalf("key file content:\n%s", kb)
	}
	en := entries(t, p, ActionOperatorEnrolled)
	if len(en) != 1 || en[0].Object != "operator:alice" {
		t.Fatalf("enrolment entries: %+v", en)
	}
	for _, want := range []string{`"id":"alice"`, `"name":"Alice Example"`, `"public_key":"` + op.PublicKey, `"key_id":"` + op.KeyID} {
		if !strings.Contains(string(en[0].Details), want) {
			t.Errorf("enrolment details lack %s: %s", want, en[0].Details)
		}
	}

	s, err := p.Sign(ctx, SignOptions{Batch: b.BatchID[:8], Meaning: "approved", Operator: "alice", Reason: "release to the LIMS", Passphrase: []byte(alicePass)})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Valid || s.SignerName != "Alice Example" || s.Meaning != MeaningApproved {
		t.Fatalf("signature: %+v", s)
	}
	sigs, err := p.Signatures(ctx, b.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || !sigs[0].Valid || sigs[0].Time.IsZero() || sigs[0].Reason != "release to the LIMS" {
		t.Fatalf("signatures: %+v", sigs)
	}
	m := sigs[0].Manifest
	if m.BatchID != b.BatchID || m.BatchEntrySeq != b.AuditSeq || m.LineageRoot != b.Lineage.Root || m.Outputs[VerifiedFile] != b.Outputs[VerifiedFile].Hash {
		t.Errorf("manifest is not bound to the batch: %+v", m)
	}
	text := sigs[0].String()
	for _, want := range []string{"approved", "Alice Example", "UTC", "valid"} {
		if !strings.Contains(text, want) {
			t.Errorf("%q lacks %q", text, want)
		}
	}
	if ValidSignature(sigs, MeaningApproved) == nil || ValidSignature(sigs, MeaningReviewed) != nil {
		t.Error("ValidSignature does not answer by meaning")
	}
	signed := entries(t, p, ActionESignSigned)
	if len(signed) != 1 || signed[0].Object != "batch:"+b.BatchID || signed[0].Operator != "alice" ||
		!strings.Contains(string(signed[0].Details), sigs[0].Value) || !strings.Contains(string(signed[0].Details), `"manifest"`) {
		t.Fatalf("esign.signed entry: %+v", signed)
	}
	if rep, err := p.VerifyProject(ctx); err != nil || !rep.OK() {
		t.Fatalf("project after signing: %+v %v", rep, err)
	}
}

func TestWrongPassphraseIsAuditedAndNothingSigned(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	b := batchOf(t, p, signGood)
	enrolAlice(t, p)

	cases := []struct {
		opt     SignOptions
		failure string
		is      error
	}{
		{SignOptions{Batch: b.BatchID, Meaning: "approved", Operator: "alice", Passphrase: []byte("correct horse battery stable")}, "wrong passphrase", ErrWrongPassphrase},
		{SignOptions{Batch: b.BatchID, Meaning: "approved", Operator: "mallory", Passphrase: []byte(alicePass)}, "unknown operator", ErrUnknownOperator},
		{SignOptions{Batch: "ffffffffffff", Meaning: "approved", Operator: "alice", Passphrase: []byte(alicePass)}, "unknown batch", nil},
		{SignOptions{Batch: b.BatchID, Meaning: "liked", Operator: "alice", Passphrase: []byte(alicePass)}, "bad meaning", nil},
	}
	for i, tc := range cases {
		_, err := p.Sign(ctx, tc.opt)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Fatalf("case %d (%s): err %v", i, tc.failure, err)
		}
		failed := entries(t, p, ActionESignFailed)
		if len(failed) != i+1 {
			t.Fatalf("case %d: %d esign.failed entries, want %d", i, len(failed), i+1)
		}
		e := failed[i]
		var d map[string]string
		json.Unmarshal(e.Details, &d)
		if d["failure"] != tc.failure || d["error"] == "" {
			t.Errorf("case %d: details %s", i, e.Details)
		}
		if strings.Contains(string(e.Details), "battery") || strings.Contains(e.Reason, "battery") {
			t.Errorf("case %d: the passphrase leaked into the trail: %s", i, e.Details)
		}
	}
	if n := len(entries(t, p, ActionESignSigned)); n != 0 {
		t.Fatalf("%d signatures recorded after failed attempts", n)
	}
	if sigs, err := p.Signatures(ctx, b.BatchID); err != nil || len(sigs) != 0 {
		t.Fatalf("signatures: %v %v", sigs, err)
	}
}

// TestSignatureMovedToAnotherBatchFails: someone able to write the trail
// copies a valid signature onto another batch — verbatim, then with the
// manifest rewritten for that batch, then signed with a key of their own.
// None verifies; the original still does.
func TestSignatureMovedToAnotherBatchFails(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	a := batchOf(t, p, signGood)
	b := batchOf(t, p, signGood, signHot)
	enrolAlice(t, p)
	if _, err := p.Sign(ctx, SignOptions{Batch: a.BatchID, Meaning: "approved", Operator: "alice", Passphrase: []byte(alicePass)}); err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Fatalf("an approval without a reason: %v", err)
	}
	if _, err := p.Sign(ctx, SignOptions{Batch: a.BatchID, Meaning: "approved", Operator: "alice", Reason: "fit for release", Passphrase: []byte(alicePass)}); err != nil {
		t.Fatal(err)
	}
	orig := entries(t, p, ActionESignSigned)[0]
	var d esignDetails
	if err := json.Unmarshal(orig.Details, &d); err != nil {
		t.Fatal(err)
	}
	forge := func(d esignDetails) {
		t.Helper()
		if _, err := p.Trail.Append(ctx, audit.Entry{Time: orig.Time, Operator: orig.Operator, Action: ActionESignSigned,
			Object: "batch:" + b.BatchID, Reason: orig.Reason, Details: mustJSON(d)}); err != nil {
			t.Fatal(err)
		}
	}
	// 1. verbatim
	forge(d)
	// 2. the manifest rewritten to name batch b; the signature value kept
	be, _ := p.Trail.Get(ctx, b.AuditSeq)
	rewritten := d
	op, _ := p.Operator(ctx, "alice")
	rewritten.Manifest = *manifestFor(b, be, d.Manifest.Meaning, op, d.Manifest.Time, d.Manifest.Reason)
	forge(rewritten)
	// 3. a fresh manifest for b signed with the forger's own key
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg, _ := rewritten.Manifest.canonical()
	own := rewritten
	own.Signature.Value = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))
	forge(own)

	sigs, err := p.Signatures(ctx, b.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 3 {
		t.Fatalf("%d signatures on b, want 3 forged ones", len(sigs))
	}
	wants := []string{"it was made for batch " + a.BatchID, "does not verify", "does not verify"}
	for i, s := range sigs {
		if s.Valid || !strings.Contains(s.Problem, wants[i]) {
			t.Errorf("forgery %d: valid=%v problem %q, want a problem mentioning %q", i+1, s.Valid, s.Problem, wants[i])
		}
	}
	if ValidSignature(sigs, MeaningApproved) != nil {
		t.Error("batch b counts as approved")
	}
	if sa, _ := p.Signatures(ctx, a.BatchID); len(sa) != 1 || !sa[0].Valid {
		t.Fatalf("the original signature: %+v", sa)
	}
	// The chain itself is intact (the forger appended properly), but
	// verifying the project names each forged signature.
	rep, err := p.VerifyProject(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Problems) != 3 || !strings.Contains(rep.Problems[0], "e-signature in audit entry") {
		t.Fatalf("verify after forgery: ok=%v problems %q", rep.OK(), rep.Problems)
	}
}

func TestEnrolRefuses(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	enrolAlice(t, p)
	cases := []struct {
		opt  EnrolOptions
		want string
	}{
		{EnrolOptions{ID: "bob", Name: "Bob", Passphrase: []byte("short")}, "at least 12"},
		{EnrolOptions{ID: "../bob", Name: "Bob", Passphrase: []byte(alicePass)}, "operator id"},
		{EnrolOptions{ID: "bob", Name: "Bob\u202eevil", Passphrase: []byte(alicePass)}, "U+202E"},
		{EnrolOptions{ID: "bob", Name: "  ", Passphrase: []byte(alicePass)}, "printed name is empty"},
		{EnrolOptions{ID: "alice", Name: "Alice Again", Passphrase: []byte(alicePass)}, "already enrolled"},
	}
	for _, tc := range cases {
		if _, err := p.EnrolOperator(ctx, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.opt.ID, err, tc.want)
		}
	}
	ops, err := p.Operators(ctx)
	if err != nil || len(ops) != 1 || ops[0].ID != "alice" || !ops[0].KeyFilePresent {
		t.Fatalf("operators: %+v %v", ops, err)
	}
}

// TestReplacedKeyFileCannotSign: the enrolment entry, not the key file, says
// which key is alice's; a key file swapped for another one is refused.
func TestReplacedKeyFileCannotSign(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	b := batchOf(t, p, signGood)
	alice := enrolAlice(t, p)
	if _, err := p.EnrolOperator(ctx, EnrolOptions{ID: "mallory", Name: "Mallory", Passphrase: []byte("mallory's own passphrase")}); err != nil {
		t.Fatal(err)
	}
	mk, _ := os.ReadFile(p.OperatorKeyFile("mallory"))
	os.Chmod(alice.KeyFile, 0o600)
	if err := os.WriteFile(alice.KeyFile, mk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := p.Sign(ctx, SignOptions{Batch: b.BatchID, Meaning: "approved", Operator: "alice", Passphrase: []byte("mallory's own passphrase")})
	if err == nil || !strings.Contains(err.Error(), "not the key enrolled for alice") {
		t.Fatalf("err %v", err)
	}
	if f := entries(t, p, ActionESignFailed); len(f) != 1 || !strings.Contains(string(f[0].Details), "key unusable") {
		t.Fatalf("esign.failed: %+v", f)
	}
}

// TestReadableKeyFileIsRefused: a key file others may read is not used.
func TestReadableKeyFileIsRefused(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	b := batchOf(t, p, signGood)
	alice := enrolAlice(t, p)
	if err := os.Chmod(alice.KeyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := p.Sign(ctx, SignOptions{Batch: b.BatchID, Meaning: "reviewed", Operator: "alice", Passphrase: []byte(alicePass)})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err %v", err)
	}
	if n := len(entries(t, p, ActionESignSigned)); n != 0 {
		t.Fatalf("%d signatures", n)
	}
}
