package esign_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/seal"
)

func TestEnrolSignAndVerify(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
	op := enginetest.EnrolAlice(t, p)

	fi, err := os.Stat(op.KeyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v %v, want mode 0600", op.KeyFile, fi.Mode(), err)
	}
	kb, _ := os.ReadFile(op.KeyFile)
	if strings.Contains(string(kb), enginetest.AlicePass) || !strings.Contains(string(kb), "pbkdf2-hmac-sha256") || !strings.Contains(string(kb), op.PublicKey) {
		t.Fatalf("key file content:\n%s", kb)
	}
	en := enginetest.Entries(t, p.Trail, actions.OperatorEnrolled, "")
	if len(en) != 1 || en[0].Object != "operator:alice" {
		t.Fatalf("enrolment entries: %+v", en)
	}
	for _, want := range []string{`"id":"alice"`, `"name":"Alice Example"`, `"public_key":"` + op.PublicKey, `"key_id":"` + op.KeyID} {
		if !strings.Contains(string(en[0].Details), want) {
			t.Errorf("enrolment details lack %s: %s", want, en[0].Details)
		}
	}

	s, err := esign.Sign(ctx, p, esign.SignOptions{Batch: b.BatchID[:8], Meaning: "approved", Operator: "alice", Reason: "release to the LIMS", Passphrase: []byte(enginetest.AlicePass)})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Valid || s.SignerName != "Alice Example" || s.Meaning != esign.MeaningApproved {
		t.Fatalf("signature: %+v", s)
	}
	sigs, err := esign.Signatures(ctx, p, b.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || !sigs[0].Valid || sigs[0].Time.IsZero() || sigs[0].Reason != "release to the LIMS" {
		t.Fatalf("signatures: %+v", sigs)
	}
	m := sigs[0].Manifest
	if m.BatchID != b.BatchID || m.BatchEntrySeq != b.AuditSeq || m.LineageRoot != b.Lineage.Root || m.Outputs[actions.VerifiedFile] != b.Outputs[actions.VerifiedFile].Hash {
		t.Errorf("manifest is not bound to the batch: %+v", m)
	}
	text := sigs[0].String()
	for _, want := range []string{"approved", "Alice Example", "UTC", "valid"} {
		if !strings.Contains(text, want) {
			t.Errorf("%q lacks %q", text, want)
		}
	}
	if esign.ValidSignature(sigs, esign.MeaningApproved) == nil || esign.ValidSignature(sigs, esign.MeaningReviewed) != nil {
		t.Error("esign.ValidSignature does not answer by meaning")
	}
	signed := enginetest.Entries(t, p.Trail, actions.ESignSigned, "")
	if len(signed) != 1 || signed[0].Object != "batch:"+b.BatchID || signed[0].Operator != "alice" ||
		!strings.Contains(string(signed[0].Details), sigs[0].Value) || !strings.Contains(string(signed[0].Details), `"manifest"`) {
		t.Fatalf("esign.signed entry: %+v", signed)
	}
	if rep, err := review.Verify(ctx, p); err != nil || !rep.OK() {
		t.Fatalf("project after signing: %+v %v", rep, err)
	}
}

func TestWrongPassphraseIsAuditedAndNothingSigned(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	enginetest.EnrolAlice(t, p)

	cases := []struct {
		opt     esign.SignOptions
		failure string
		is      error
	}{
		{esign.SignOptions{Batch: b.BatchID, Meaning: "approved", Operator: "alice", Passphrase: []byte("correct horse battery stable")}, "wrong passphrase", esign.ErrWrongPassphrase},
		{esign.SignOptions{Batch: b.BatchID, Meaning: "approved", Operator: "mallory", Passphrase: []byte(enginetest.AlicePass)}, "unknown operator", esign.ErrUnknownOperator},
		{esign.SignOptions{Batch: "ffffffffffff", Meaning: "approved", Operator: "alice", Passphrase: []byte(enginetest.AlicePass)}, "unknown batch", nil},
		{esign.SignOptions{Batch: b.BatchID, Meaning: "liked", Operator: "alice", Passphrase: []byte(enginetest.AlicePass)}, "bad meaning", nil},
	}
	for i, tc := range cases {
		_, err := esign.Sign(ctx, p, tc.opt)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Fatalf("case %d (%s): err %v", i, tc.failure, err)
		}
		failed := enginetest.Entries(t, p.Trail, actions.ESignFailed, "")
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
	if n := len(enginetest.Entries(t, p.Trail, actions.ESignSigned, "")); n != 0 {
		t.Fatalf("%d signatures recorded after failed attempts", n)
	}
	if sigs, err := esign.Signatures(ctx, p, b.BatchID); err != nil || len(sigs) != 0 {
		t.Fatalf("signatures: %v %v", sigs, err)
	}
}

// TestSignatureMovedToAnotherBatchFails: someone able to write the trail
// copies a valid signature onto another batch — verbatim, then with the
// manifest rewritten for that batch, then signed with a key of their own.
// None verifies; the original still does.
func TestSignatureMovedToAnotherBatchFails(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	a := enginetest.Batch(t, p, enginetest.GoodReading)
	b := enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
	enginetest.EnrolAlice(t, p)
	if _, err := esign.Sign(ctx, p, esign.SignOptions{Batch: a.BatchID, Meaning: "approved", Operator: "alice", Passphrase: []byte(enginetest.AlicePass)}); err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Fatalf("an approval without a reason: %v", err)
	}
	if _, err := esign.Sign(ctx, p, esign.SignOptions{Batch: a.BatchID, Meaning: "approved", Operator: "alice", Reason: "fit for release", Passphrase: []byte(enginetest.AlicePass)}); err != nil {
		t.Fatal(err)
	}
	orig := enginetest.Entries(t, p.Trail, actions.ESignSigned, "")[0]
	d, err := actions.Decode[actions.ESignSignedDetails](orig)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(d actions.ESignSignedDetails) {
		t.Helper()
		if _, err := actions.Append(ctx, p.Trail, actions.Record{Time: orig.Time, Operator: orig.Operator,
			Object: "batch:" + b.BatchID, Reason: orig.Reason, Details: d}); err != nil {
			t.Fatal(err)
		}
	}
	// 1. verbatim
	forge(d)
	// 2. the manifest rewritten to name batch b; the signature value kept
	be, _ := p.Trail.Get(ctx, b.AuditSeq)
	rewritten := d
	op, _ := esign.LookupOperator(ctx, p, "alice")
	rewritten.Manifest = *esign.ManifestFor(&b.Batch, be, esign.Meaning(d.Manifest.Meaning), op, d.Manifest.Time, d.Manifest.Reason)
	forge(rewritten)
	// 3. a fresh manifest for b signed with the forger's own key
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg, _ := esign.Canonical(&rewritten.Manifest)
	own := rewritten
	own.Signature.Value = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))
	forge(own)

	sigs, err := esign.Signatures(ctx, p, b.BatchID)
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
	if esign.ValidSignature(sigs, esign.MeaningApproved) != nil {
		t.Error("batch b counts as approved")
	}
	if sa, _ := esign.Signatures(ctx, p, a.BatchID); len(sa) != 1 || !sa[0].Valid {
		t.Fatalf("the original signature: %+v", sa)
	}
	// The chain itself is intact (the forger appended properly), but
	// verifying the project names each forged signature.
	rep, err := review.Verify(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Problems) != 3 || !strings.Contains(rep.Problems[0], "e-signature in audit entry") {
		t.Fatalf("verify after forgery: ok=%v problems %q", rep.OK(), rep.Problems)
	}
}

// TestSignatureBeforeEnrolmentFails: someone able to write the trail records
// a signature in the name of carol, who is not enrolled yet, and then enrols
// carol with the key it was made with. Everything about the signature checks
// out except its place in the trail: a signer cannot sign before they exist.
func TestSignatureBeforeEnrolmentFails(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	carol := &esign.Operator{ID: "carol", Name: "Carol Example", KeyID: seal.KeyID(pub)}
	be, _ := p.Trail.Get(ctx, b.AuditSeq)
	tm := time.Now().UTC() // not truncated: entry times never go backwards
	m := esign.ManifestFor(&b.Batch, be, esign.MeaningReviewed, carol, tm.Format("2006-01-02T15:04:05.000000000Z"), "looked at it")
	msg, _ := esign.Canonical(m)
	signed, err := actions.Append(ctx, p.Trail, actions.Record{Time: tm, Operator: "carol", Object: "batch:" + b.BatchID, Reason: "looked at it",
		Details: actions.ESignSignedDetails{Manifest: *m, Signature: actions.ESignValue{Alg: "ed25519", KeyID: carol.KeyID,
			Value: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))}}})
	if err != nil {
		t.Fatal(err)
	}
	enrolled, err := actions.Append(ctx, p.Trail, actions.Record{Operator: "tester", Object: "operator:carol",
		Details: actions.OperatorEnrolledDetails{ID: "carol", Name: "Carol Example", PublicKey: seal.FormatPublicKey(pub), KeyID: carol.KeyID,
			KDF: actions.OperatorKDF{Alg: "pbkdf2-hmac-sha256+aes-256-gcm", Iterations: esign.OperatorKDFIterations}}})
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := esign.Signatures(ctx, p, b.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("signer carol was enrolled (entry %d) after this signature (entry %d)", enrolled.Seq, signed.Seq)
	if len(sigs) != 1 || sigs[0].Valid || sigs[0].Problem != want {
		t.Fatalf("signatures: %+v, want one invalid: %q", sigs, want)
	}
	if esign.ValidSignature(sigs, esign.MeaningReviewed) != nil {
		t.Error("the batch counts as reviewed")
	}
	rep, err := review.Verify(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], want) {
		t.Fatalf("verify: ok=%v problems %q", rep.OK(), rep.Problems)
	}
}

func TestEnrolRefuses(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	enginetest.EnrolAlice(t, p)
	cases := []struct {
		opt  esign.EnrolOptions
		want string
	}{
		{esign.EnrolOptions{Reason: "test", ID: "bob", Name: "Bob", Passphrase: []byte("short")}, "at least 12"},
		{esign.EnrolOptions{Reason: "test", ID: "bob", Name: "Bob", Passphrase: []byte("aaaaaaaaaaaa")}, "too easy to guess: it scores 0 of 4"},
		{esign.EnrolOptions{Reason: "test", ID: "../bob", Name: "Bob", Passphrase: []byte(enginetest.AlicePass)}, "operator id"},
		{esign.EnrolOptions{Reason: "test", ID: "bob", Name: "Bob\u202eevil", Passphrase: []byte(enginetest.AlicePass)}, "U+202E"},
		{esign.EnrolOptions{Reason: "test", ID: "bob", Name: "  ", Passphrase: []byte(enginetest.AlicePass)}, "printed name is empty"},
		{esign.EnrolOptions{Reason: "test", ID: "alice", Name: "Alice Again", Passphrase: []byte(enginetest.AlicePass)}, "already enrolled"},
	}
	for _, tc := range cases {
		if _, err := esign.EnrolOperator(ctx, p, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.opt.ID, err, tc.want)
		}
	}
	ops, err := esign.Operators(ctx, p)
	if err != nil || len(ops) != 1 || ops[0].ID != "alice" || !ops[0].KeyFilePresent {
		t.Fatalf("operators: %+v %v", ops, err)
	}
}

// TestReplacedKeyFileCannotSign: the enrolment entry, not the key file, says
// which key is alice's; a key file swapped for another one is refused.
func TestReplacedKeyFileCannotSign(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	alice := enginetest.EnrolAlice(t, p)
	if _, err := esign.EnrolOperator(ctx, p, esign.EnrolOptions{Reason: "test", ID: "mallory", Name: "Mallory", Passphrase: []byte("mallory's own passphrase")}); err != nil {
		t.Fatal(err)
	}
	mk, _ := os.ReadFile(p.OperatorKeyFile("mallory"))
	os.Chmod(alice.KeyFile, 0o600)
	if err := os.WriteFile(alice.KeyFile, mk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := esign.Sign(ctx, p, esign.SignOptions{Batch: b.BatchID, Meaning: "approved", Operator: "alice", Passphrase: []byte("mallory's own passphrase")})
	if err == nil || !strings.Contains(err.Error(), "not the key enrolled for alice") {
		t.Fatalf("err %v", err)
	}
	if f := enginetest.Entries(t, p.Trail, actions.ESignFailed, ""); len(f) != 1 || !strings.Contains(string(f[0].Details), "key unusable") {
		t.Fatalf("esign.failed: %+v", f)
	}
}

// TestReadableKeyFileIsRefused: a key file others may read is not used.
func TestReadableKeyFileIsRefused(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	alice := enginetest.EnrolAlice(t, p)
	if err := os.Chmod(alice.KeyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := esign.Sign(ctx, p, esign.SignOptions{Batch: b.BatchID, Meaning: "reviewed", Operator: "alice", Passphrase: []byte(enginetest.AlicePass)})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err %v", err)
	}
	if n := len(enginetest.Entries(t, p.Trail, actions.ESignSigned, "")); n != 0 {
		t.Fatalf("%d signatures", n)
	}
}
