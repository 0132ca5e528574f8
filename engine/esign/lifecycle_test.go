package esign_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/store"
)

const newPass = "orbit velvet caramel tundra"

func sign(p *project.Project, batch, pass string) (*esign.ESignature, error) {
	return esign.Sign(context.Background(), p, esign.SignOptions{Batch: batch, Meaning: "reviewed", Operator: "alice", Passphrase: []byte(pass)})
}

func lookup(t *testing.T, p *project.Project, id string) *esign.Operator {
	t.Helper()
	op, err := esign.LookupOperator(context.Background(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// TestWeakPassphrasesAreRefused: a passphrase long enough but easy to
// guess is refused at enrolment and at a change, with its score, what
// makes it weak and what a good one looks like, and never repeated in the
// message.
func TestWeakPassphrasesAreRefused(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	cases := []struct {
		id, name, pass string
		want           []string
	}{
		{"alice", "Alice Example", "aaaaaaaaaaaa", []string{"scores 0 of 4", "at least 3", "characters 1–12: a pattern repeated 12 times", "four or more unrelated words"}},
		{"alice", "Alice Example", "alice-example-2026", []string{"characters 1–13: the operator's id or printed name"}},
		{"alice", "Alice Example", "aliceexample2026", []string{"the operator's id or printed name", "characters 13–16: a year"}},
		{"bob", "Bob Builder", "password1234", []string{"a common password"}},
		{"bob", "Bob Builder", "qwertyuiopasdf", []string{"a common password"}},
		{"bob", "Bob Builder", "abcdefghijklmnop", []string{"a run of consecutive letters or digits"}},
		{"bob", "Bob Builder", "P@ssw0rd2024!", []string{"look-alike substitutions"}},
	}
	for _, tc := range cases {
		_, err := esign.EnrolOperator(ctx, p, esign.EnrolOptions{Reason: "test", ID: tc.id, Name: tc.name, Passphrase: []byte(tc.pass)})
		var weak *esign.WeakPassphraseError
		if !errors.As(err, &weak) || weak.Score >= 3 {
			t.Errorf("%s for %s: err %v, want a weak passphrase", tc.pass, tc.id, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s for %s: %q lacks %q", tc.pass, tc.id, err, w)
			}
		}
		if strings.Contains(err.Error(), tc.pass) {
			t.Errorf("the refusal repeats the passphrase: %v", err)
		}
	}
	if ops, _ := esign.Operators(ctx, p); len(ops) != 0 {
		t.Fatalf("weak passphrases enrolled %d operators", len(ops))
	}
	if n := len(enginetest.Entries(t, p.Trail, actions.OperatorEnrolled, "")); n != 0 {
		t.Fatalf("%d enrolments on record", n)
	}
	// The same passphrase is fine for someone it says nothing about.
	if _, err := esign.EnrolOperator(ctx, p, esign.EnrolOptions{Reason: "test", ID: "carol", Name: "Carol Other", Passphrase: []byte("alice-example-2026 in may")}); err != nil {
		t.Fatalf("a passphrase about someone else: %v", err)
	}
	// A change is weighed the same way, and with the old passphrase known.
	enginetest.EnrolAlice(t, p)
	for _, tc := range []struct{ pass, want string }{
		{"aaaaaaaaaaaa", "scores 0"},
		{enginetest.AlicePass, "the new passphrase is the old one"},
		{enginetest.AlicePass + "!", "the old passphrase"},
		{"Alice Example 1990", "the operator's id or printed name"},
	} {
		_, err := esign.ChangePassphrase(ctx, p, esign.PasswdOptions{ID: "alice", Old: []byte(enginetest.AlicePass), New: []byte(tc.pass)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("change to %q: err %v, want %q", tc.pass, err, tc.want)
		}
	}
	if n := len(enginetest.Entries(t, p.Trail, actions.OperatorPassphraseChanged, "")); n != 0 {
		t.Fatalf("%d changes on record", n)
	}
	// esign.passphrase_min_score 0 checks the length only.
	enginetest.SetESign(t, p, func(c *config.Config) { c.ESignPassphraseMinScore = 0 })
	if _, err := esign.EnrolOperator(ctx, p, esign.EnrolOptions{Reason: "test", ID: "dave", Name: "Dave", Passphrase: []byte("aaaaaaaaaaaa")}); err != nil {
		t.Fatalf("min score 0: %v", err)
	}
}

// TestEightWrongPassphrasesThenTheRightOneIsRefused: the attacker guesses
// eight times, then has the right passphrase. The fifth wrong one locks
// alice (an operator.locked entry: the alert); every attempt after it is
// refused and recorded, the right passphrase included; only an unlock,
// which needs a reason and names who unlocked, lets her sign again.
func TestEightWrongPassphrasesThenTheRightOneIsRefused(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	enginetest.EnrolAlice(t, p)
	for i := 1; i <= 8; i++ {
		_, err := sign(p, b.BatchID, "guess number "+strings.Repeat("x", i)+" of the attacker")
		switch {
		case i < 5 && (!errors.Is(err, esign.ErrWrongPassphrase) || !strings.Contains(err.Error(), "failed attempts in a row before operator alice is locked")):
			t.Fatalf("guess %d: %v", i, err)
		case i == 5 && (!errors.Is(err, esign.ErrWrongPassphrase) || !strings.Contains(err.Error(), "is now locked after 5 failed attempts")):
			t.Fatalf("guess %d: %v", i, err)
		case i > 5 && !errors.Is(err, esign.ErrLocked):
			t.Fatalf("guess %d after the lock-out: %v", i, err)
		}
	}
	_, err := sign(p, b.BatchID, enginetest.AlicePass)
	if !errors.Is(err, esign.ErrLocked) || !strings.Contains(err.Error(), "locked since") || !strings.Contains(err.Error(), "after 5 failed attempts") ||
		!strings.Contains(err.Error(), "pawl operator unlock alice --reason") {
		t.Fatalf("the right passphrase after the lock-out: %v", err)
	}
	if n := len(enginetest.Entries(t, p.Trail, actions.ESignSigned, "")); n != 0 {
		t.Fatalf("%d signatures while locked", n)
	}
	failed := enginetest.Details[actions.ESignFailedDetails](t, p.Trail, "")
	var failures []string
	for _, d := range failed {
		failures = append(failures, d.Failure)
	}
	if got := strings.Join(failures, ","); got != strings.Repeat("wrong passphrase,", 5)+"locked,locked,locked,locked" {
		t.Fatalf("failures on record: %s", got)
	}
	locks := enginetest.Entries(t, p.Trail, actions.OperatorLocked, "operator:alice")
	if len(locks) != 1 {
		t.Fatalf("%d operator.locked entries", len(locks))
	}
	ld, _ := actions.Decode[actions.OperatorLockedDetails](locks[0])
	if ld.FailedAttempts != 5 || len(ld.Attempts) != 5 || ld.LockoutAfter != 5 || ld.Attempts[4] >= locks[0].Seq {
		t.Fatalf("lock details: %+v (entry %d)", ld, locks[0].Seq)
	}
	// A passphrase change is refused too, and so is the right old one.
	if _, err := esign.ChangePassphrase(ctx, p, esign.PasswdOptions{ID: "alice", Old: []byte(enginetest.AlicePass), New: []byte(newPass)}); !errors.Is(err, esign.ErrLocked) {
		t.Fatalf("passwd while locked: %v", err)
	}
	if op := lookup(t, p, "alice"); op.State != esign.StateLocked || op.Locked.AuditSeq != locks[0].Seq {
		t.Fatalf("alice: %+v", op)
	}

	enginetest.Grant(t, p, "qa-admin", "admin")
	if _, err := esign.UnlockOperator(ctx, p, esign.AdminOptions{ID: "alice", By: "qa-admin"}); err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Fatalf("unlock without a reason: %v", err)
	}
	u, err := esign.UnlockOperator(ctx, p, esign.AdminOptions{ID: "alice", By: "qa-admin", Reason: "alice mistyped; confirmed by phone"})
	if err != nil {
		t.Fatal(err)
	}
	un := enginetest.Entries(t, p.Trail, actions.OperatorUnlocked, "operator:alice")
	if len(un) != 1 || un[0].Operator != "qa-admin" || un[0].Reason != "alice mistyped; confirmed by phone" || u.AuditSeq != un[0].Seq ||
		u.Operator.State != esign.StateActive || u.Ended.AuditSeq != locks[0].Seq {
		t.Fatalf("unlock: %+v, entries %+v", u, un)
	}
	if ud, _ := actions.Decode[actions.OperatorUnlockedDetails](un[0]); ud.LockedEntry != locks[0].Seq {
		t.Fatalf("unlock details: %+v", ud)
	}
	if _, err := esign.UnlockOperator(ctx, p, esign.AdminOptions{ID: "alice", Reason: "again"}); err == nil || !strings.Contains(err.Error(), "not locked") {
		t.Fatalf("unlocking an operator who is not locked: %v", err)
	}
	if _, err := sign(p, b.BatchID, enginetest.AlicePass); err != nil {
		t.Fatalf("after the unlock: %v", err)
	}
}

// TestWrongPassphrasesCountInARow: four wrong passphrases, a signature,
// four more: not locked (the signature starts the count again). Wrong old
// passphrases at a change count like wrong ones at signing.
func TestWrongPassphrasesCountInARow(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	enginetest.EnrolAlice(t, p)
	for i := 0; i < 4; i++ {
		sign(p, b.BatchID, "not it, not it at all")
	}
	if _, err := sign(p, b.BatchID, enginetest.AlicePass); err != nil {
		t.Fatal(err)
	}
	// One signature per meaning per person: the next attempts are on
	// another batch (on this one they are refused before the passphrase).
	c := enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
	for i := 0; i < 4; i++ {
		sign(p, c.BatchID, "not it, not it at all")
	}
	if op := lookup(t, p, "alice"); op.State != esign.StateActive || op.FailedAttempts != 4 {
		t.Fatalf("after 4 + 4 wrong passphrases around a signature: %s, %d failed", op.State, op.FailedAttempts)
	}
	_, err := esign.ChangePassphrase(ctx, p, esign.PasswdOptions{ID: "alice", Old: []byte("not it, not it at all"), New: []byte(newPass)})
	if !errors.Is(err, esign.ErrWrongPassphrase) || !strings.Contains(err.Error(), "now locked") {
		t.Fatalf("a fifth wrong passphrase, at a change: %v", err)
	}
	f := enginetest.Details[actions.OperatorPassphraseChangeFailedDetails](t, p.Trail, "operator:alice")
	if len(f) != 1 || f[0].Failure != "wrong passphrase" || strings.Contains(f[0].Error, "not it") {
		t.Fatalf("operator.passphrase_change_failed: %+v", f)
	}
	if op := lookup(t, p, "alice"); op.State != esign.StateLocked {
		t.Fatalf("alice: %s", op.State)
	}
	// Lowering esign.lockout_after locks at the next attempt an operator
	// already past it, and puts the alert on record then.
	p2 := enginetest.NewProject(t)
	b2 := enginetest.Batch(t, p2, enginetest.GoodReading)
	enginetest.EnrolAlice(t, p2)
	for i := 0; i < 3; i++ {
		sign(p2, b2.BatchID, "not it, not it at all")
	}
	enginetest.SetESign(t, p2, func(c *config.Config) { c.ESignLockoutAfter = 2 })
	if op := lookup(t, p2, "alice"); op.State != esign.StateLocked || op.Locked.AuditSeq != 0 {
		t.Fatalf("past a lowered threshold: %+v", op.Locked)
	}
	if _, err := sign(p2, b2.BatchID, enginetest.AlicePass); !errors.Is(err, esign.ErrLocked) {
		t.Fatalf("past a lowered threshold, the right passphrase: %v", err)
	}
	if n := len(enginetest.Entries(t, p2.Trail, actions.OperatorLocked, "")); n != 1 {
		t.Fatalf("%d operator.locked entries", n)
	}
}

// TestExpiredPassphraseIsRefused: 91 days after enrolment, the right
// passphrase no longer signs (a touched key file changes nothing: the age
// comes from the trail); a change, allowed although expired, starts the
// age again.
func TestExpiredPassphraseIsRefused(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	alice := enginetest.EnrolAlice(t, p)
	if op := lookup(t, p, "alice"); op.Passphrase.Expired || op.Passphrase.ExpiresInDays == nil || *op.Passphrase.ExpiresInDays != 89 || op.Passphrase.SetEntry != alice.AuditSeq {
		t.Fatalf("a new passphrase: %+v", op.Passphrase)
	}
	// A project whose pinned rules let passphrases never expire.
	p0 := enginetest.NewProject(t)
	enginetest.EnrolAlice(t, p0)
	enginetest.SetESign(t, p0, func(c *config.Config) { c.ESignPassphraseMaxAgeDays = 0 })
	// pawl.yaml saying so is not enough: the rule in force is the pinned one.
	p.Cfg.ESignPassphraseMaxAgeDays = 0
	later := func() time.Time { return time.Now().Add(91 * 24 * time.Hour) }
	esign.SetClock(t, later)
	future := later()
	os.Chtimes(alice.KeyFile, future, future)
	_, err := sign(p, b.BatchID, enginetest.AlicePass)
	if !errors.Is(err, esign.ErrPassphraseExpired) || !strings.Contains(err.Error(), "last changed 91 days ago") ||
		!strings.Contains(err.Error(), "change it with `pawl operator passwd alice`") {
		t.Fatalf("an expired passphrase: %v", err)
	}
	if f := enginetest.Details[actions.ESignFailedDetails](t, p.Trail, ""); len(f) != 1 || f[0].Failure != "passphrase expired" {
		t.Fatalf("esign.failed: %+v", f)
	}
	if op := lookup(t, p0, "alice"); op.Passphrase.Expired || op.Passphrase.ExpiresInDays != nil {
		t.Fatalf("esign.passphrase_max_age_days 0: %+v", op.Passphrase)
	}
	if _, err := esign.ChangePassphrase(ctx, p, esign.PasswdOptions{ID: "alice", Old: []byte(enginetest.AlicePass), New: []byte(newPass)}); err != nil {
		t.Fatalf("changing an expired passphrase: %v", err)
	}
	esign.SetClock(t, func() time.Time { return time.Now().Add(time.Hour) })
	if _, err := sign(p, b.BatchID, newPass); err != nil {
		t.Fatalf("after the change: %v", err)
	}
}

// TestPasswdChangesThePassphraseNotTheKey: the key is sealed again under
// the new passphrase (a new salt and nonce); the public key, and the
// signatures made before, stay. A wrong old passphrase changes nothing and
// is on record.
func TestPasswdChangesThePassphraseNotTheKey(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	alice := enginetest.EnrolAlice(t, p)
	if _, err := sign(p, b.BatchID, enginetest.AlicePass); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(alice.KeyFile)
	_, err := esign.ChangePassphrase(ctx, p, esign.PasswdOptions{ID: "alice", Old: []byte("a wrong old passphrase"), New: []byte(newPass)})
	if !errors.Is(err, esign.ErrWrongPassphrase) {
		t.Fatalf("wrong old passphrase: %v", err)
	}
	if now, _ := os.ReadFile(alice.KeyFile); !bytes.Equal(now, before) {
		t.Fatal("a failed change rewrote the key file")
	}
	op, err := esign.ChangePassphrase(ctx, p, esign.PasswdOptions{ID: "alice", Old: []byte(enginetest.AlicePass), New: []byte(newPass), Reason: "quarterly"})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(alice.KeyFile)
	if bytes.Equal(after, before) || op.PublicKey != alice.PublicKey || op.KeyID != alice.KeyID || !op.Passphrase.Changed {
		t.Fatalf("after the change: %+v", op)
	}
	if fi, _ := os.Stat(alice.KeyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
	for _, f := range []string{`"salt"`, `"nonce"`} {
		if lineWith(before, f) == lineWith(after, f) {
			t.Errorf("the %s did not change", f)
		}
	}
	ch := enginetest.Entries(t, p.Trail, actions.OperatorPassphraseChanged, "operator:alice")
	if len(ch) != 1 || ch[0].Operator != "alice" || ch[0].Reason != "quarterly" || op.Passphrase.SetEntry != ch[0].Seq {
		t.Fatalf("operator.passphrase_changed: %+v", ch)
	}
	d, _ := actions.Decode[actions.OperatorPassphraseChangedDetails](ch[0])
	if d.KeyFileHash != store.HashBytes(after) || d.KeyID != alice.KeyID || strings.Contains(string(ch[0].Details), "salt") {
		t.Fatalf("details: %s", ch[0].Details)
	}
	for _, e := range enginetest.Entries(t, p.Trail, "", "operator:alice") {
		if strings.Contains(string(e.Details), "wrong old") || strings.Contains(string(e.Details), "velvet") || strings.Contains(string(e.Details), "horse") {
			t.Fatalf("a passphrase in the trail: %s", e.Details)
		}
	}
	c := enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
	if _, err := sign(p, c.BatchID, enginetest.AlicePass); !errors.Is(err, esign.ErrWrongPassphrase) {
		t.Fatalf("the old passphrase after the change: %v", err)
	}
	if _, err := sign(p, c.BatchID, newPass); err != nil {
		t.Fatalf("the new passphrase: %v", err)
	}
	sb, _ := esign.Signatures(ctx, p, b.BatchID)
	sc, _ := esign.Signatures(ctx, p, c.BatchID)
	if len(sb) != 1 || len(sc) != 1 || !sb[0].Valid || !sc[0].Valid {
		t.Fatalf("signatures before and after the change: %+v %+v", sb, sc)
	}
	if _, err := os.Stat(alice.KeyFile + ".pending"); !os.IsNotExist(err) {
		t.Fatalf("the staged key file is left: %v", err)
	}
}

func lineWith(b []byte, s string) string {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// TestPasswdCutShort: the states a crash can leave a change in. Staged but
// not on record: discarded at the next use, the old passphrase in force.
// On record but not in place: put in place at the next use, the new one in
// force. (cmd/pawl/proctest's TestCrashAtEveryPoint kills a real process
// at both points.)
func TestPasswdCutShort(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	b := enginetest.Batch(t, p, enginetest.GoodReading)
	alice := enginetest.EnrolAlice(t, p)
	pending := alice.KeyFile + ".pending"
	old, _ := os.ReadFile(alice.KeyFile)

	// Before the entry: a staged file (and a temporary one) no entry names.
	os.WriteFile(pending, []byte("staged by a change that never went on record\n"), 0o600)
	tmp := filepath.Join(filepath.Dir(pending), "."+filepath.Base(pending)+".tmp-123")
	os.WriteFile(tmp, []byte("half"), 0o600)
	if _, err := sign(p, b.BatchID, enginetest.AlicePass); err != nil {
		t.Fatalf("the old passphrase after a change cut short before its entry: %v", err)
	}
	for _, f := range []string{pending, tmp} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s is left: %v", f, err)
		}
	}

	// After the entry: the change is on record, the old file still in place.
	if _, err := esign.ChangePassphrase(ctx, p, esign.PasswdOptions{ID: "alice", Old: []byte(enginetest.AlicePass), New: []byte(newPass)}); err != nil {
		t.Fatal(err)
	}
	changed, _ := os.ReadFile(alice.KeyFile)
	os.WriteFile(pending, changed, 0o600)
	os.WriteFile(alice.KeyFile, old, 0o600)
	c := enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
	_, err := sign(p, c.BatchID, enginetest.AlicePass)
	if !errors.Is(err, esign.ErrWrongPassphrase) || !strings.Contains(err.Error(), "finished the passphrase change of alice") {
		t.Fatalf("the old passphrase after a change cut short after its entry: %v", err)
	}
	if now, _ := os.ReadFile(alice.KeyFile); !bytes.Equal(now, changed) {
		t.Fatal("the staged key file was not put in place")
	}
	if _, err := sign(p, c.BatchID, newPass); err != nil {
		t.Fatalf("the new passphrase: %v", err)
	}
}

// TestRevokedOperatorCannotSignOrBeReenrolled: after a revocation (reason
// required, on record with who revoked), alice cannot sign or change her
// passphrase, and her id cannot be enrolled again; her signature from
// before stays valid, shown as made before the revocation. A thief with
// her key file and passphrase who appends a signature entry to the trail
// after the revocation gets an invalid signature that `audit verify`
// names.
func TestRevokedOperatorCannotSignOrBeReenrolled(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	a := enginetest.Batch(t, p, enginetest.GoodReading)
	b := enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
	alice := enginetest.EnrolAlice(t, p)
	if _, err := sign(p, a.BatchID, enginetest.AlicePass); err != nil {
		t.Fatal(err)
	}
	enginetest.Grant(t, p, "qa-admin", "admin")
	if _, err := esign.RevokeOperator(ctx, p, esign.AdminOptions{ID: "alice", By: "qa-admin"}); err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Fatalf("revoke without a reason: %v", err)
	}
	op, err := esign.RevokeOperator(ctx, p, esign.AdminOptions{ID: "alice", By: "qa-admin", Reason: "left the company; laptop not returned"})
	if err != nil {
		t.Fatal(err)
	}
	rev := enginetest.Entries(t, p.Trail, actions.OperatorRevoked, "operator:alice")
	if len(rev) != 1 || rev[0].Operator != "qa-admin" || op.State != esign.StateRevoked || op.Revoked.AuditSeq != rev[0].Seq || op.Revoked.By != "qa-admin" {
		t.Fatalf("revocation: %+v %+v", op, rev)
	}

	if _, err := sign(p, b.BatchID, enginetest.AlicePass); !errors.Is(err, esign.ErrRevoked) {
		t.Fatalf("signing after the revocation: %v", err)
	}
	if f := enginetest.Details[actions.ESignFailedDetails](t, p.Trail, ""); len(f) != 1 || f[0].Failure != "revoked" {
		t.Fatalf("esign.failed: %+v", f)
	}
	if _, err := esign.ChangePassphrase(ctx, p, esign.PasswdOptions{ID: "alice", Old: []byte(enginetest.AlicePass), New: []byte(newPass)}); !errors.Is(err, esign.ErrRevoked) {
		t.Fatalf("passwd after the revocation: %v", err)
	}
	if _, err := esign.UnlockOperator(ctx, p, esign.AdminOptions{ID: "alice", Reason: "undo"}); err == nil || !strings.Contains(err.Error(), "never undone") {
		t.Fatalf("unlocking a revoked operator: %v", err)
	}
	if _, err := esign.RevokeOperator(ctx, p, esign.AdminOptions{ID: "alice", Reason: "again"}); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Fatalf("revoking twice: %v", err)
	}
	// The id is never enrolled again, not even once the key file is gone
	// (the thief keeps a copy).
	stolen, _ := os.ReadFile(alice.KeyFile)
	os.Remove(alice.KeyFile)
	_, err = esign.EnrolOperator(ctx, p, esign.EnrolOptions{Reason: "test", ID: "alice", Name: "Alice Impostor", Passphrase: []byte(newPass)})
	if err == nil || !strings.Contains(err.Error(), "never enrolled again") {
		t.Fatalf("re-enrolling a revoked id: %v", err)
	}
	if n := len(enginetest.Entries(t, p.Trail, actions.OperatorEnrolled, "operator:alice")); n != 1 {
		t.Fatalf("%d enrolments", n)
	}

	sa, err := esign.Signatures(ctx, p, a.BatchID)
	if err != nil || len(sa) != 1 || !sa[0].Valid || sa[0].SignerRevoked == nil || !strings.Contains(sa[0].String(), "valid, made before alice was revoked") {
		t.Fatalf("the signature from before the revocation: %+v %v", sa, err)
	}

	// The thief, outside pawl, opens the copy with the passphrase, signs
	// batch b and appends the entry.
	os.WriteFile(alice.KeyFile, stolen, 0o600)
	priv, err := esign.PrivateKey(alice, []byte(enginetest.AlicePass))
	if err != nil {
		t.Fatal(err)
	}
	be, _ := p.Trail.Get(ctx, b.AuditSeq)
	tm := time.Now().UTC()
	m := esign.ManifestFor(&b.Batch, be, esign.MeaningApproved, alice, tm.Format("2006-01-02T15:04:05.000000000Z"), "looks fine")
	msg, _ := esign.Canonical(m)
	forged, err := actions.Append(ctx, p.Trail, actions.Record{Time: tm, Operator: "alice", Object: "batch:" + b.BatchID, Reason: "looks fine",
		Details: actions.ESignSignedDetails{Manifest: *m, Signature: actions.ESignValue{Alg: "ed25519", KeyID: alice.KeyID,
			Value: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))}}})
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := esign.Signatures(ctx, p, b.BatchID)
	if len(sb) != 1 || sb[0].Valid || !strings.Contains(sb[0].Problem, "revoked") {
		t.Fatalf("a signature forged after the revocation: %+v", sb)
	}
	rec, err := p.Batch(ctx, b.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := esign.Valid(ctx, p, rec); len(v) != 0 {
		t.Fatalf("the egress policy would see %d valid signatures", len(v))
	}
	rep, err := review.Verify(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "e-signature in audit entry "+strconv.FormatInt(forged.Seq, 10)) ||
		!strings.Contains(rep.Problems[0], "revoked") {
		t.Fatalf("verify after a forged post-revocation signature: %q", rep.Problems)
	}
}
