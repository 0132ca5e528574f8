package esign_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/project"
)

// signAs signs batch with meaning as operator (empty: in the caller's
// session).
func signAs(ctx context.Context, p *project.Project, batch, meaning, operator, pass string) (*esign.ESignature, error) {
	return esign.Sign(ctx, p, esign.SignOptions{Batch: batch, Meaning: meaning, Operator: operator, Reason: "checked", Passphrase: []byte(pass)})
}

// sessionOf is the session an esign.signed entry records.
func sessionOf(t *testing.T, p *project.Project, seq int64) *actions.ESignSession {
	t.Helper()
	e, err := p.Trail.Get(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	d, err := actions.Decode[actions.ESignSignedDetails](e)
	if err != nil {
		t.Fatal(err)
	}
	if d.Session == nil {
		t.Fatalf("entry %d records no session", seq)
	}
	return d.Session
}

// noSession checks that err is the refusal of a signing without an
// operator id, naming why and saying to sign with --operator, and that the
// refusal is the newest esign.failed entry, and that signed signatures
// of batches are on record.
func noSession(t *testing.T, p *project.Project, what string, err error, why string, signed int) {
	t.Helper()
	if !errors.Is(err, esign.ErrNoSession) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "sign with --operator ID") ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("%s: want one line refusing for %q, got %v", what, why, err)
	}
	f := enginetest.Details[actions.ESignFailedDetails](t, p.Trail, "")
	if len(f) == 0 || f[len(f)-1].Failure != esign.FailureNoSession || !strings.Contains(f[len(f)-1].Error, why) {
		t.Fatalf("%s: the refusal on record: %+v", what, f)
	}
	n := 0
	for _, e := range enginetest.Entries(t, p.Trail, actions.ESignSigned, "") {
		if strings.HasPrefix(e.Object, "batch:") {
			n++
		}
	}
	if n != signed {
		t.Fatalf("%s: %d signatures of batches on record, want %d", what, n, signed)
	}
}

// TestSessionSigningUsesThePassphraseOnly — 21 CFR 11.200(a)(1)(i): the
// first signing of a continuous period uses both components and opens a
// session; a later one by the same account within esign.session_timeout
// gives no operator id, still needs the passphrase, signs as the
// session's operator, and its entry says which session and which
// components. The signatures verify like any other.
func TestSessionSigningUsesThePassphraseOnly(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	enginetest.EnrolAlice(t, p)
	if _, err := esign.CurrentSession(ctx, p); !errors.Is(err, esign.ErrNoSession) || !strings.Contains(err.Error(), "this account has opened none") {
		t.Fatalf("before any signing: %v", err)
	}
	first, err := signAs(ctx, p, b.BatchID, "reviewed", "alice", enginetest.AlicePass)
	if err != nil {
		t.Fatal(err)
	}
	opened := sessionOf(t, p, first.AuditSeq)
	if !opened.Opened || opened.OpenedEntry != 0 || !slices.Equal(opened.Components, []string{actions.ComponentOperatorID, actions.ComponentPassphrase}) ||
		opened.TimeoutMS != (15*time.Minute).Milliseconds() || opened.Principal.Via != "process" || !strings.HasPrefix(opened.ID, "ses-") {
		t.Fatalf("the first signing's session: %+v", opened)
	}
	s, err := esign.CurrentSession(ctx, p)
	if err != nil || s.ID != opened.ID || s.Operator != "alice" || s.OpenedEntry != first.AuditSeq || s.Signings != 1 {
		t.Fatalf("the session open: %+v %v", s, err)
	}
	// Prepared without an operator id: it is alice's, in the session, and
	// the passphrase is still to come.
	ps, err := esign.PrepareSign(ctx, p, esign.SignOptions{Batch: b.BatchID, Meaning: "approved", Reason: "fit for use"})
	if err != nil || ps.Operator().ID != "alice" || ps.Session() == nil || ps.Session().ID != opened.ID {
		t.Fatalf("prepared in the session: %v", err)
	}
	second, err := ps.Sign([]byte(enginetest.AlicePass))
	if err != nil {
		t.Fatal(err)
	}
	later := sessionOf(t, p, second.AuditSeq)
	if later.Opened || later.ID != opened.ID || later.OpenedEntry != first.AuditSeq || !slices.Equal(later.Components, []string{actions.ComponentPassphrase}) {
		t.Fatalf("the session signing's session: %+v", later)
	}
	if second.SignerID != "alice" || second.Meaning != esign.MeaningApproved || !second.Valid {
		t.Fatalf("the session signing: %+v", second)
	}
	sigs, err := esign.Signatures(ctx, p, b.BatchID)
	if err != nil || len(sigs) != 2 || !sigs[0].Valid || !sigs[1].Valid {
		t.Fatalf("signatures: %+v %v", sigs, err)
	}
	if s, err := esign.CurrentSession(ctx, p); err != nil || s.Signings != 2 || s.LastEntry != second.AuditSeq {
		t.Fatalf("the session after two signings: %+v %v", s, err)
	}
}

// TestSessionIsRefusedToAnotherAccount: a session belongs to the account
// whose signing opened it. Another account giving no operator id is
// refused, on record, and nothing is signed; it does not count towards
// alice's lock-out.
func TestSessionIsRefusedToAnotherAccount(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	enginetest.EnrolAlice(t, p)
	if _, err := signAs(ctx, p, b.BatchID, "reviewed", "alice", enginetest.AlicePass); err != nil {
		t.Fatal(err)
	}
	_, err := signAs(asUID(4242), p, b.BatchID, "approved", "", enginetest.AlicePass)
	noSession(t, p, "another account", err, "no signing session open for uid 4242 via unix: this account has opened none", 1)
	if op := lookup(t, p, "alice"); op.FailedAttempts != 0 {
		t.Fatalf("alice has %d failed attempts", op.FailedAttempts)
	}
	// Her own account still signs in it.
	if _, err := signAs(ctx, p, b.BatchID, "approved", "", enginetest.AlicePass); err != nil {
		t.Fatalf("alice in her session: %v", err)
	}
}

// TestSessionTimesOut — 11.200(a)(1)(ii): esign.session_timeout after its
// last signing, the session is over and the operator id is needed again.
// Each signing in the session starts the timeout again. 0 turns sessions
// off: every signing gives the operator id, and no entry names a session.
func TestSessionTimesOut(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b1 := enginetest.Batch(t, p, enginetest.GoodReading)
	b2 := enginetest.Batch(t, p, enginetest.HotReading)
	enginetest.EnrolAlice(t, p)
	// Seconds, so that the trail's own clock (which no test moves) can
	// show a session kept open by its signings beyond its timeout. The
	// setting is pinned: pawl.yaml alone changes nothing, and pinning it is
	// a change a second person approves (enginetest.Pin: bob).
	p.Cfg.ESignSessionTimeout = 5 * time.Second
	if s, err := p.ESignSettingsInForce(ctx); err != nil || s.SessionTimeoutMS != (15*time.Minute).Milliseconds() {
		t.Fatalf("in force before the pin: %+v %v", s, err)
	}
	if res := enginetest.Pin(t, p, "tester", "shorter sessions"); res.Applied == nil || res.ESign == nil || res.ESign.SessionTimeoutMS != 5000 {
		t.Fatalf("pinning esign.session_timeout: %+v", res)
	}
	proposed := enginetest.Details[actions.ChangeProposedDetails](t, p.Trail, "")
	if len(proposed) == 0 || proposed[len(proposed)-1].ESign == nil || proposed[len(proposed)-1].ESign.SessionTimeoutMS != 5000 {
		t.Fatalf("the change proposed: %+v", proposed)
	}
	if _, err := signAs(ctx, p, b1.BatchID, "reviewed", "alice", enginetest.AlicePass); err != nil {
		t.Fatal(err)
	}
	opened := time.Now()
	time.Sleep(3 * time.Second)
	if _, err := signAs(ctx, p, b1.BatchID, "approved", "", enginetest.AlicePass); err != nil {
		t.Fatalf("3s after the first signing: %v", err)
	}
	time.Sleep(3 * time.Second)
	if time.Since(opened) <= p.Cfg.ESignSessionTimeout {
		t.Fatal("the test ran too fast to show anything")
	}
	if _, err := signAs(ctx, p, b2.BatchID, "reviewed", "", enginetest.AlicePass); err != nil {
		t.Fatalf("3s after the last signing, over 5s after the first: %v", err)
	}
	restore := esign.MoveClockForTest(6 * time.Second)
	_, err := signAs(ctx, p, b2.BatchID, "approved", "", enginetest.AlicePass)
	restore()
	noSession(t, p, "after the timeout", err, "timed out: its last signing (audit entry", 3)
	if !strings.Contains(err.Error(), "esign.session_timeout is 5s") {
		t.Fatalf("the refusal does not name the timeout: %v", err)
	}
	// With the id again, a new session.
	again, err := signAs(ctx, p, b2.BatchID, "approved", "alice", enginetest.AlicePass)
	if err != nil {
		t.Fatal(err)
	}
	if s := sessionOf(t, p, again.AuditSeq); !s.Opened {
		t.Fatalf("signing with the id after a timeout: %+v", s)
	}

	// Sessions off, once pinned.
	p.Cfg.ESignSessionTimeout = 0
	enginetest.Pin(t, p, "tester", "no sessions")
	_, err = signAs(ctx, p, b2.BatchID, "responsible", "", enginetest.AlicePass)
	noSession(t, p, "sessions off", err, "sessions are off (esign.session_timeout is 0", 4)
	enginetest.Grant(t, p, "alice", "reviewer", "approver", "operator")
	s, err := signAs(ctx, p, b2.BatchID, "responsible", "alice", enginetest.AlicePass)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := p.Trail.Get(ctx, s.AuditSeq)
	if d, _ := actions.Decode[actions.ESignSignedDetails](e); d.Session != nil {
		t.Fatalf("with sessions off the entry names a session: %+v", d.Session)
	}
}

// TestSessionEnds: the account ends its session on record
// (esign.session_ended); after that, and after its operator is locked
// (even once unlocked), revoked or their passphrase expired, a signing
// without the operator id is refused, on record.
func TestSessionEnds(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	enginetest.EnrolAlice(t, p)
	first, err := signAs(ctx, p, b.BatchID, "reviewed", "alice", enginetest.AlicePass)
	if err != nil {
		t.Fatal(err)
	}
	s, seq, err := esign.EndSession(ctx, p, "going home")
	if err != nil {
		t.Fatal(err)
	}
	ended := enginetest.Details[actions.ESignSessionEndedDetails](t, p.Trail, "operator:alice")
	if len(ended) != 1 || ended[0].ID != s.ID || ended[0].OpenedEntry != first.AuditSeq || ended[0].LastEntry != first.AuditSeq || ended[0].Signings != 1 || seq == 0 {
		t.Fatalf("esign.session_ended: %+v", ended)
	}
	_, err = signAs(ctx, p, b.BatchID, "approved", "", enginetest.AlicePass)
	noSession(t, p, "after the end", err, "was ended (audit entry", 1)
	if _, _, err := esign.EndSession(ctx, p, "again"); !errors.Is(err, esign.ErrNoSession) {
		t.Fatalf("ending an ended session: %v", err)
	}

	// Revoked, or the passphrase expired: the session ends with them.
	b2 := enginetest.Batch(t, p, enginetest.HotReading)
	if _, err := signAs(ctx, p, b2.BatchID, "reviewed", "alice", enginetest.AlicePass); err != nil {
		t.Fatal(err)
	}
	restore := esign.MoveClockForTest(91 * 24 * time.Hour)
	_, err = signAs(ctx, p, b2.BatchID, "approved", "", enginetest.AlicePass)
	restore()
	noSession(t, p, "passphrase expired", err, "the passphrase of operator alice has expired", 2)
	if _, err := esign.RevokeOperator(ctx, p, esign.AdminOptions{ID: "alice", By: "tester", Reason: "left"}); err != nil {
		t.Fatal(err)
	}
	_, err = signAs(ctx, p, b2.BatchID, "approved", "", enginetest.AlicePass)
	noSession(t, p, "revoked", err, "operator alice was revoked", 2)
}

// TestWrongPassphraseInSessionCountsTowardsLockOut: in a session the
// passphrase is still checked; a wrong one is a failed attempt on record,
// naming the session, and counts towards the lock-out like any other. The
// lock ends the session: after an unlock the operator id is needed again.
func TestWrongPassphraseInSessionCountsTowardsLockOut(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	enginetest.EnrolAlice(t, p)
	enginetest.SetESign(t, p, func(c *config.Config) { c.ESignLockoutAfter = 3 })
	first, err := signAs(ctx, p, b.BatchID, "reviewed", "alice", enginetest.AlicePass)
	if err != nil {
		t.Fatal(err)
	}
	id := sessionOf(t, p, first.AuditSeq).ID
	for i := 1; i <= 3; i++ {
		_, err := signAs(ctx, p, b.BatchID, "approved", "", "not the passphrase of alice")
		if !errors.Is(err, esign.ErrWrongPassphrase) {
			t.Fatalf("wrong passphrase %d in the session: %v", i, err)
		}
	}
	f := enginetest.Details[actions.ESignFailedDetails](t, p.Trail, "")
	if len(f) != 3 {
		t.Fatalf("%d failed attempts on record", len(f))
	}
	for _, d := range f {
		if d.Failure != esign.FailureWrongPassphrase || d.Operator != "alice" || d.Session != id {
			t.Fatalf("a wrong passphrase in the session on record as %+v", d)
		}
	}
	op := lookup(t, p, "alice")
	if op.State != esign.StateLocked || op.Locked == nil || op.Locked.AuditSeq == 0 {
		t.Fatalf("alice after 3 wrong passphrases in her session: %+v", op)
	}
	_, err = signAs(ctx, p, b.BatchID, "approved", "", enginetest.AlicePass)
	noSession(t, p, "locked", err, "ended when alice was locked", 1)
	if _, err := esign.UnlockOperator(ctx, p, esign.AdminOptions{ID: "alice", By: "tester", Reason: "it was her"}); err != nil {
		t.Fatal(err)
	}
	_, err = signAs(ctx, p, b.BatchID, "approved", "", enginetest.AlicePass)
	noSession(t, p, "unlocked", err, "ended when alice was locked", 1)
	if _, err := signAs(ctx, p, b.BatchID, "approved", "alice", enginetest.AlicePass); err != nil {
		t.Fatalf("with her id after the unlock: %v", err)
	}
}
