package esign_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/review"
)

// TestTrailReview: a signed review of the audit trail (21 CFR 11.10(e)).
// An entry the trail does not have, a meaning other than reviewed, an
// operator whose roles do not grant audit.review and a wrong passphrase
// are refused, each on record (the wrong passphrase counting towards the
// lock-out); alice's review verifies, names entry SEQ by hash, and
// TrailReviews says what is left unreviewed. A review moved to another
// entry (its manifest rewritten) fails review.Verify; in an inspection
// package a review rewritten fails `audit verify --package` and verify.py.
func TestTrailReview(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	enginetest.EnrolAlice(t, p)
	enginetest.EnrolPat(t, p)
	enginetest.Batch(t, p, enginetest.GoodReading)
	rs, err := esign.TrailReviews(ctx, p)
	if err != nil || len(rs.Reviews) != 0 || rs.Through != 0 || rs.Unreviewed != rs.Head || rs.Head < 2 {
		t.Fatalf("before any review: %+v %v", rs, err)
	}
	review1 := func(through int64, meaning, op, pass string) (*esign.ESignature, error) {
		ps, err := esign.PrepareReview(ctx, p, esign.ReviewOptions{Through: through, Meaning: meaning, Operator: op, Reason: "weekly review"})
		if err != nil {
			return nil, err
		}
		return ps.Sign([]byte(pass))
	}
	head := rs.Head
	for _, c := range []struct {
		through          int64
		meaning, failure string
	}{{0, "reviewed", esign.FailureUnknownEntry}, {head + 5, "reviewed", esign.FailureUnknownEntry}, {head, "approved", "bad meaning"}} {
		obj := fmt.Sprintf("review:%d", c.through)
		_, err := review1(c.through, c.meaning, "alice", enginetest.AlicePass)
		if err == nil || !strings.Contains(err.Error(), "recorded in the audit trail") {
			t.Fatalf("review through %d as %q: %v", c.through, c.meaning, err)
		}
		if got := failures(t, p, obj); len(got) != 1 || got[0] != c.failure {
			t.Fatalf("review through %d as %q: failures on record %v, want %q", c.through, c.meaning, got, c.failure)
		}
	}
	// pat (policy_admin) may not sign a review: denied by policy, on record.
	_, err = review1(head, "reviewed", "pat", enginetest.PatPass)
	denied(t, p, "pat reviews the trail", err, "authz.role: audit.review needs one of the roles")
	if !errors.Is(err, gate.ErrDenied) {
		t.Fatal(err)
	}
	// A wrong passphrase is on record and counts towards the lock-out.
	if _, err := review1(head, "reviewed", "alice", "not alice's passphrase at all"); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("a wrong passphrase: %v", err)
	}
	if op := lookup(t, p, "alice"); op.FailedAttempts != 1 {
		t.Fatalf("a wrong passphrase on a review counted %d failed attempts, want 1", op.FailedAttempts)
	}
	s, err := review1(head, "reviewed", "alice", enginetest.AlicePass)
	if err != nil {
		t.Fatal(err)
	}
	te, err := p.Trail.Get(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Valid || s.SignerName != "Alice Example" || s.Manifest.Format != "pawl-esign-review-v1" || s.Manifest.ThroughSeq != head || s.Manifest.ThroughEntry != te.Hash {
		t.Fatalf("the review: %+v", s)
	}
	rs, err = esign.TrailReviews(ctx, p)
	if err != nil || len(rs.Reviews) != 1 || !rs.Reviews[0].Valid || rs.Through != head || rs.Reviews[0].Covered != head || rs.Unreviewed != rs.Head-head || rs.Unreviewed < 1 {
		t.Fatalf("after the review: %+v %v", rs, err)
	}
	if rep, err := review.Verify(ctx, p); err != nil || !rep.OK() {
		t.Fatalf("verify after an honest review: %+v %v", rep, err)
	}

	// The package, written while the trail verifies: both verifiers
	// accept it; alice's review rewritten to cover one entry less (its
	// object and manifest, as someone would who wants it to say less was
	// reviewed): both name the e-signature.
	pkg := filepath.Join(t.TempDir(), "pkg")
	if _, err := review.Inspect(ctx, p, pkg, "tester", "inspection"); err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.CopyFS(moved, os.DirFS(pkg)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(moved, "entries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// The trail rewritten from the review on, every hash and link
	// recomputed, so that the chain holds and the e-signature check is
	// what must catch it (SHA256SUMS and the checkpoint do too).
	_, es := audit.VerifyLines(b)
	if int64(len(es)) < s.AuditSeq {
		t.Fatalf("entries.jsonl holds %d entries; the review is entry %d", len(es), s.AuditSeq)
	}
	var out bytes.Buffer
	for i := range es {
		e := &es[i]
		if e.Seq == s.AuditSeq {
			e.Object = fmt.Sprintf("review:%d", head-1)
			e.Details = bytes.Replace(e.Details, fmt.Appendf(nil, `"through_seq":%d`, head), fmt.Appendf(nil, `"through_seq":%d`, head-1), 1)
			e.Details = bytes.Replace(e.Details, []byte(te.Hash), []byte(es[head-2].Hash), 1)
		}
		if i > 0 {
			e.PrevHash = es[i-1].Hash
		}
		e.Hash = audit.ComputeHash(*e)
		line, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		out.Write(append(line, '\n'))
	}
	if bytes.Equal(out.Bytes(), b) || !bytes.Contains(out.Bytes(), fmt.Appendf(nil, `"through_seq":%d`, head-1)) {
		t.Fatal("the review was not rewritten")
	}
	if rep, _ := audit.VerifyLines(out.Bytes()); !rep.OK {
		t.Fatalf("the rewritten trail does not chain: %+v", rep)
	}
	os.WriteFile(filepath.Join(moved, "entries.jsonl"), out.Bytes(), 0o644)
	for dir, ok := range map[string]bool{pkg: true, moved: false} {
		rep, err := review.VerifyPackage(dir, review.PackageOptions{})
		if err != nil || rep.OK() != ok || !ok && !strings.Contains(strings.Join(rep.Problems, "\n"), "e-signature: the signature does not verify with alice's enrolled key") {
			t.Errorf("audit verify --package %s: OK %v, want %v: %v %v", filepath.Base(dir), rep.OK(), ok, rep.Problems, err)
		}
	}
	py := tooltest.Need(t, "python3")
	for dir, ok := range map[string]bool{pkg: true, moved: false} {
		out, err := exec.Command(py, filepath.Join(dir, "verify.py"), dir).CombinedOutput()
		if (err == nil) != ok || !ok && !strings.Contains(string(out), "e-signature: the signature does not verify with alice's enrolled key") {
			t.Errorf("verify.py %s: %v, want OK %v:\n%s", filepath.Base(dir), err, ok, out)
		}
	}

	// In the trail: alice's signed review copied onto another entry, as if
	// she had signed it: it is not valid, counts for nothing, and
	// review.Verify names it.
	signed := enginetest.Entries(t, p.Trail, actions.ESignSigned, fmt.Sprintf("review:%d", head))[0]
	sd, _ := actions.Decode[actions.ESignSignedDetails](signed)
	later, _ := p.Trail.Head(ctx)
	sd.Manifest.ThroughSeq, sd.Manifest.ThroughEntry = later.Seq, later.Hash
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: signed.Operator, Object: fmt.Sprintf("review:%d", later.Seq), Reason: signed.Reason, Details: sd}); err != nil {
		t.Fatal(err)
	}
	rs, err = esign.TrailReviews(ctx, p)
	if err != nil || len(rs.Reviews) != 2 || rs.Reviews[1].Valid || rs.Through != head {
		t.Fatalf("a copied review counted: %+v %v", rs, err)
	}
	rep, err := review.Verify(ctx, p)
	if err != nil || rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), fmt.Sprintf("review of the trail through entry %d: e-signature in audit entry", later.Seq)) {
		t.Fatalf("verify does not name the copied review: %+v %v", rep.Problems, err)
	}
}
