package esign

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
)

// The operator lifecycle (21 CFR 11.300): passphrase change and expiry,
// lock-out after repeated wrong passphrases, unlock, and revocation. Like
// the enrolment, all of it is read from the audit trail, never from files
// or their times:
//
//   - the passphrase's age runs from the operator.enrolled entry or the last
//     operator.passphrase_changed entry, and esign.passphrase_max_age_days
//     bounds it;
//   - the wrong passphrases in a row — esign.failed and
//     operator.passphrase_change_failed entries whose failure is "wrong
//     passphrase" — are counted since the operator's last esign.signed,
//     operator.passphrase_changed or operator.unlocked entry; at
//     esign.lockout_after the operator is locked, the operator.locked
//     entry is the alert, and only an operator.unlocked entry ends it;
//   - an operator.revoked entry ends an operator for good: no signature
//     after it is valid, and the id is never enrolled again.

// The failures of esign.failed and operator.passphrase_change_failed
// entries that the lifecycle reads or writes.
const (
	FailureWrongPassphrase = "wrong passphrase"
	FailureExpired         = "passphrase expired"
	FailureLocked          = "locked"
	FailureRevoked         = "revoked"
	FailureUnknownOperator = "unknown operator"
	FailureKeyUnusable     = "key unusable"
)

// The states of an operator.
const (
	StateActive  = "active"
	StateLocked  = "locked"
	StateRevoked = "revoked"
)

// Errors a refused attempt matches (errors.Is).
var (
	ErrLocked            = errors.New("operator locked")
	ErrRevoked           = errors.New("operator revoked")
	ErrPassphraseExpired = errors.New("passphrase expired")
)

// now is the clock passphrase ages are measured with; tests move it.
var now = time.Now

// MoveClockForTest moves the clock passphrase ages are measured with by d
// until the returned function restores it: the commands' tests cannot wait
// 90 days, and entry times never go backwards, so an old passphrase cannot
// be put on record any more. Only tests call it; no configuration or
// environment reaches it, and the audit trail's own clock does not move.
func MoveClockForTest(d time.Duration) (restore func()) {
	old := now
	now = func() time.Time { return old().Add(d) }
	return func() { now = old }
}

// Lock says since when, and after how many failed attempts, an operator
// is locked.
type Lock struct {
	Since          audit.EntryTime `json:"since"`
	AuditSeq       int64           `json:"audit_seq,omitempty"` // the operator.locked entry; 0 until it is recorded (the next attempt records it)
	FailedAttempts int             `json:"failed_attempts"`
}

// Revocation says when, by whom and why an operator was revoked.
type Revocation struct {
	At       audit.EntryTime `json:"at"`
	AuditSeq int64           `json:"audit_seq"`
	By       string          `json:"by"`
	Reason   string          `json:"reason"`
}

// Passphrase says when an operator's passphrase was set and when it
// expires.
type Passphrase struct {
	SetAt    audit.EntryTime `json:"set_at"`    // the time of the entry that set it
	SetEntry int64           `json:"set_entry"` // operator.enrolled, or the last operator.passphrase_changed
	Changed  bool            `json:"changed"`   // false: set at enrolment
	AgeDays  int             `json:"age_days"`
	// MaxAgeDays is esign.passphrase_max_age_days; 0: it never expires, and
	// ExpiresInDays is left out.
	MaxAgeDays    int  `json:"max_age_days"`
	ExpiresInDays *int `json:"expires_in_days,omitempty"` // below 0 once expired
	Expired       bool `json:"expired"`
}

// How describes when the passphrase was set, for a person.
func (pp Passphrase) How() string {
	if pp.Changed {
		return fmt.Sprintf("by `pawl operator passwd`, audit entry %d", pp.SetEntry)
	}
	return fmt.Sprintf("at enrolment, audit entry %d", pp.SetEntry)
}

// refusal is an attempt refused for the operator's state.
type refusal struct {
	kind error
	msg  string
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.kind }

// utc writes an entry time to the second, for a person.
func utc(t audit.EntryTime) string { return t.UTC().Format(time.DateTime) + " UTC" }

// CanSign says why op may not sign now (revoked, locked, passphrase
// expired), or nil. Sign asks it again and records the refusal.
func (op *Operator) CanSign() error { return op.refusal(true) }

// CanChangePassphrase says why op may not change their passphrase now
// (revoked, locked), or nil; an expired passphrase may be changed.
func (op *Operator) CanChangePassphrase() error { return op.refusal(false) }

func (op *Operator) refusal(signing bool) error {
	switch {
	case op.Revoked != nil:
		r := op.Revoked
		return &refusal{ErrRevoked, fmt.Sprintf("operator %s was revoked at %s by %s (audit entry %d, reason %q): a revoked operator can never sign or change a passphrase again",
			op.ID, utc(r.At), r.By, r.AuditSeq, r.Reason)}
	case op.Locked != nil:
		l := op.Locked
		entry := fmt.Sprintf("audit entry %d", l.AuditSeq)
		if l.AuditSeq == 0 {
			entry = "its entry is recorded at the next attempt"
		}
		return &refusal{ErrLocked, fmt.Sprintf("operator %s is locked since %s after %d failed attempts (%s); an admin unlocks with `pawl operator unlock %s --reason TEXT`",
			op.ID, utc(l.Since), l.FailedAttempts, entry, op.ID)}
	case signing && op.Passphrase.Expired:
		pp := op.Passphrase
		return &refusal{ErrPassphraseExpired, fmt.Sprintf("the passphrase of operator %s has expired: it was last changed %d days ago (%s, %s), and esign.passphrase_max_age_days allows %d; change it with `pawl operator passwd %s`",
			op.ID, pp.AgeDays, utc(pp.SetAt), pp.How(), pp.MaxAgeDays, op.ID)}
	}
	return nil
}

// failureOf is the failure an entry records for a refusal.
func failureOf(err error) string {
	switch {
	case errors.Is(err, ErrRevoked):
		return FailureRevoked
	case errors.Is(err, ErrLocked):
		return FailureLocked
	case errors.Is(err, ErrPassphraseExpired):
		return FailureExpired
	}
	return FailureKeyUnusable
}

// opHistory is what the trail says of one operator, read in seq order.
type opHistory struct {
	op       *Operator
	failures []audit.Entry // wrong passphrases since the last reset
	locked   *audit.Entry  // the operator.locked entry in force
	lockedD  actions.OperatorLockedDetails
}

func (h *opHistory) reset() { h.failures = nil }

// lifecycle fills in the state of ops from the trail. Without attempts,
// signatures and failed attempts are not read: lock-outs not yet on record
// and FailedAttempts are then left out.
func lifecycle(ctx context.Context, p *project.Project, ops []*Operator, attempts bool) error {
	byID := map[string]*opHistory{}
	for _, op := range ops {
		op.Passphrase = Passphrase{SetAt: op.EnrolledAt, SetEntry: op.AuditSeq}
		byID[op.ID] = &opHistory{op: op}
	}
	es, err := p.Trail.List(ctx, audit.Filter{ObjectPrefix: "operator:"})
	if err != nil {
		return err
	}
	if attempts {
		for _, a := range []string{actions.ESignSigned, actions.ESignFailed} {
			more, err := p.Trail.List(ctx, audit.Filter{Action: a})
			if err != nil {
				return err
			}
			es = append(es, more...)
		}
		sort.Slice(es, func(i, j int) bool { return es[i].Seq < es[j].Seq })
	}
	// of returns the history of an enrolled operator for an entry after
	// their enrolment, or nil.
	of := func(id string, e audit.Entry) *opHistory {
		h := byID[id]
		if h == nil || e.Seq <= h.op.AuditSeq {
			return nil
		}
		return h
	}
	for _, e := range es {
		switch e.Action {
		case actions.OperatorPassphraseChanged:
			d, err := actions.Decode[actions.OperatorPassphraseChangedDetails](e)
			if err != nil {
				return err
			}
			if h := of(d.ID, e); h != nil {
				h.op.Passphrase = Passphrase{SetAt: audit.EntryTime{Time: e.Time.UTC()}, SetEntry: e.Seq, Changed: true}
				h.reset()
			}
		case actions.OperatorPassphraseChangeFailed:
			d, err := actions.Decode[actions.OperatorPassphraseChangeFailedDetails](e)
			if err != nil {
				return err
			}
			if h := of(d.ID, e); h != nil && attempts && d.Failure == FailureWrongPassphrase {
				h.failures = append(h.failures, e)
			}
		case actions.ESignFailed:
			d, err := actions.Decode[actions.ESignFailedDetails](e)
			if err != nil {
				return err
			}
			if h := of(d.Operator, e); h != nil && d.Failure == FailureWrongPassphrase {
				h.failures = append(h.failures, e)
			}
		case actions.ESignSigned:
			if h := of(e.Operator, e); h != nil {
				h.reset()
			}
		case actions.OperatorLocked:
			d, err := actions.Decode[actions.OperatorLockedDetails](e)
			if err != nil {
				return err
			}
			if h := of(d.ID, e); h != nil && h.locked == nil {
				h.locked, h.lockedD = &e, d
			}
		case actions.OperatorUnlocked:
			d, err := actions.Decode[actions.OperatorUnlockedDetails](e)
			if err != nil {
				return err
			}
			if h := of(d.ID, e); h != nil {
				h.locked = nil
				h.reset()
			}
		case actions.OperatorRevoked:
			d, err := actions.Decode[actions.OperatorRevokedDetails](e)
			if err != nil {
				return err
			}
			if h := of(d.ID, e); h != nil && h.op.Revoked == nil {
				h.op.Revoked = &Revocation{At: audit.EntryTime{Time: e.Time.UTC()}, AuditSeq: e.Seq, By: e.Operator, Reason: e.Reason}
			}
		}
	}
	rules, err := p.ESignRulesInForce(ctx)
	if err != nil {
		return err
	}
	lockAt, maxDays := rules.LockoutAfter, rules.PassphraseMaxAgeDays
	t := now()
	for _, h := range byID {
		op := h.op
		op.FailedAttempts = len(h.failures)
		op.lockoutAfter = lockAt
		switch {
		case h.locked != nil:
			op.Locked = &Lock{Since: audit.EntryTime{Time: h.locked.Time.UTC()}, AuditSeq: h.locked.Seq, FailedAttempts: h.lockedD.FailedAttempts}
		case attempts && lockAt > 0 && len(h.failures) >= lockAt:
			// Locked, but the alert is not on record yet (a crash after
			// the last failed attempt, or esign.lockout_after lowered):
			// the next attempt records it.
			op.Locked = &Lock{Since: audit.EntryTime{Time: h.failures[lockAt-1].Time.UTC()}, FailedAttempts: len(h.failures)}
			op.attempts = h.failures
		}
		switch {
		case op.Revoked != nil:
			op.State = StateRevoked
		case op.Locked != nil:
			op.State = StateLocked
		default:
			op.State = StateActive
		}
		pp := &op.Passphrase
		age := t.Sub(pp.SetAt.Time)
		pp.AgeDays = max(0, int(age/(24*time.Hour)))
		pp.MaxAgeDays = maxDays
		if maxDays > 0 {
			deadline := pp.SetAt.Add(time.Duration(maxDays) * 24 * time.Hour)
			left := int(math.Floor(float64(deadline.Sub(t)) / float64(24*time.Hour)))
			pp.ExpiresInDays = &left
			pp.Expired = !t.Before(deadline)
		}
	}
	return nil
}

// recordLock puts a lock-out that is not on record yet on record (the
// alert), and fills in its entry.
// PassphraseMinScore is esign.passphrase_min_score in force (pinned in
// pawl.yaml#esign; the default for pins from before it was pinned): what a
// new passphrase must score.
func PassphraseMinScore(ctx context.Context, p *project.Project) (int, error) {
	r, err := p.ESignRulesInForce(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the e-signature rules in force: %w", err)
	}
	return r.PassphraseMinScore, nil
}

func recordLock(ctx context.Context, p *project.Project, op *Operator) error {
	if op.Locked == nil || op.Locked.AuditSeq != 0 || op.Revoked != nil {
		return nil // not locked, already on record, or revoked: nothing to alert
	}
	seqs := make([]int64, len(op.attempts))
	for i, e := range op.attempts {
		seqs[i] = e.Seq
	}
	e, err := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: op.ID, Object: "operator:" + op.ID,
		Details: actions.OperatorLockedDetails{ID: op.ID, FailedAttempts: len(seqs), Attempts: seqs, LockoutAfter: op.lockoutAfter}})
	if err != nil {
		return fmt.Errorf("recording that operator %s is locked: %w", op.ID, err)
	}
	op.Locked = &Lock{Since: audit.EntryTime{Time: e.Time.UTC()}, AuditSeq: e.Seq, FailedAttempts: len(seqs)}
	op.State = StateLocked
	return nil
}

// afterWrongPassphrase reads the operator's state again once a wrong
// passphrase is on record: when it locks them, the operator.locked entry
// is appended (the alert) and err says so; otherwise err says how many
// attempts are left.
func afterWrongPassphrase(ctx context.Context, p *project.Project, id string, err error) error {
	op, lerr := LookupOperator(context.WithoutCancel(ctx), p, id)
	if lerr != nil {
		return errors.Join(err, lerr)
	}
	if op.Locked == nil {
		return fmt.Errorf("%w; %d of %d failed attempts in a row before operator %s is locked", err, op.FailedAttempts, op.lockoutAfter, id)
	}
	if rerr := recordLock(ctx, p, op); rerr != nil {
		return errors.Join(err, rerr)
	}
	return fmt.Errorf("%w; operator %s is now locked after %d failed attempts in a row (audit entry %d): an admin unlocks with `pawl operator unlock %s --reason TEXT`",
		err, id, op.Locked.FailedAttempts, op.Locked.AuditSeq, id)
}

// mayAdminister asks the authz question for an unlock or a revocation
// (action is gate.ActionUnlock or gate.ActionRevoke) of op by by: the
// default bundle wants the admin role. The decision is on record, allow
// or deny.
func mayAdminister(ctx context.Context, p *project.Project, by, action, reason string, op *Operator) error {
	return gate.Authorize(ctx, p, gate.AuthzRequest{Action: action, Object: "operator:" + op.ID, Operator: by, Reason: reason})
}

// PasswdOptions are the inputs of ChangePassphrase.
type PasswdOptions struct {
	ID       string
	Old, New []byte
	Reason   string
}

// ChangePassphrase re-seals an operator's key under a new passphrase, with
// a new salt and nonce; the key, and so the enrolled public key, do not
// change. The old passphrase must open the key: a wrong one is a failed
// attempt (operator.passphrase_change_failed) that counts towards the
// lock-out; a revoked or locked operator is refused and the attempt
// recorded. A new passphrase that is too weak is refused before anything
// else and is not recorded (the reasons describe it).
//
// Crash safety: the new key file is staged as <ID>.key.pending
// (durable.WriteFile), the operator.passphrase_changed entry naming its
// sha256 is appended — the commit point — and only then is it renamed over
// <ID>.key (durable.Rename). Before any use of the key, settleKeyFile puts
// a staged file in place when the trail's last change names it and
// discards it otherwise. So the key file in force always opens with the
// passphrase the trail last recorded: a crash before the entry leaves the
// old passphrase in force and a retry starts over; a crash after it leaves
// the new one in force once the next command settles it.
func ChangePassphrase(ctx context.Context, p *project.Project, opt PasswdOptions) (*Operator, error) {
	if err := CheckOperatorID(opt.ID); err != nil {
		return nil, err
	}
	fail := func(failure string, err error) (*Operator, error) {
		_, aerr := actions.Append(context.WithoutCancel(ctx), p.Trail, actions.Record{Operator: opt.ID, Object: "operator:" + opt.ID, Reason: opt.Reason,
			Details: actions.OperatorPassphraseChangeFailedDetails{ID: opt.ID, Failure: failure, Error: err.Error()}})
		if aerr != nil {
			return nil, errors.Join(err, fmt.Errorf("and the failed attempt could not be recorded: %w", aerr))
		}
		return nil, fmt.Errorf("nothing changed: %w (the attempt is recorded in the audit trail)", err)
	}
	op, err := LookupOperator(ctx, p, opt.ID)
	if errors.Is(err, ErrUnknownOperator) {
		return fail(FailureUnknownOperator, err)
	}
	if err != nil {
		return nil, err
	}
	if err := recordLock(ctx, p, op); err != nil {
		return nil, err
	}
	if err := op.CanChangePassphrase(); err != nil {
		return fail(failureOf(err), err)
	}
	minScore, err := PassphraseMinScore(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := CheckPassphrase(opt.New, minScore, Known{ID: op.ID, Name: op.Name, Old: opt.Old}); err != nil {
		return nil, fmt.Errorf("nothing changed: the new passphrase: %w", err)
	}
	note, err := settleKeyFile(ctx, p, op)
	if err != nil {
		return fail(FailureKeyUnusable, err)
	}
	kf, err := readKeyFile(op)
	if err != nil {
		return fail(FailureKeyUnusable, err)
	}
	seed, err := kf.open(op, opt.Old)
	if errors.Is(err, ErrWrongPassphrase) {
		if note != "" {
			err = fmt.Errorf("%w (pawl %s)", err, note)
		}
		_, ferr := fail(FailureWrongPassphrase, fmt.Errorf("the old passphrase: %w", err))
		return nil, afterWrongPassphrase(ctx, p, op.ID, ferr)
	}
	if err != nil {
		return fail(FailureKeyUnusable, err)
	}
	defer clear(seed)
	priv := ed25519.NewKeyFromSeed(seed)
	same := bytes.Equal(priv.Public().(ed25519.PublicKey), op.pub)
	clear(priv)
	if !same {
		return fail(FailureKeyUnusable, fmt.Errorf("%s opens to a key that is not the one enrolled for %s", op.KeyFile, op.ID))
	}
	nkf := &operatorKeyFile{Format: operatorKeyFormat, ID: kf.ID, Name: kf.Name, PublicKey: kf.PublicKey}
	if err := nkf.seal(seed, opt.New); err != nil {
		return nil, err
	}
	b, err := nkf.marshal()
	if err != nil {
		return nil, err
	}
	pending := pendingKeyFile(op)
	if err := durable.WriteFile(pending, b, 0o600); err != nil {
		return nil, fmt.Errorf("nothing changed: %w", err)
	}
	failpoint.Hit("passwd.after-keyfile")
	e, err := actions.Append(ctx, p.Trail, actions.Record{Operator: op.ID, Object: "operator:" + op.ID, Reason: opt.Reason,
		Details: actions.OperatorPassphraseChangedDetails{ID: op.ID, KeyID: op.KeyID,
			KDF: actions.OperatorKDF{Alg: operatorKDF + "+" + operatorAEAD, Iterations: nkf.KDF.Iterations}, KeyFileHash: store.HashBytes(b)}})
	if err != nil {
		os.Remove(pending)
		durable.SyncDir(filepath.Dir(pending))
		return nil, fmt.Errorf("recording the passphrase change of %s: %w (nothing changed: the old passphrase is still in force)", op.ID, err)
	}
	failpoint.Hit("passwd.after-record")
	if err := durable.Rename(pending, op.KeyFile); err != nil {
		return nil, fmt.Errorf("the passphrase change of %s is on record (audit entry %d) but %s could not be put in place: %w; the next use of the key finishes it", op.ID, e.Seq, pending, err)
	}
	return LookupOperator(ctx, p, op.ID)
}

// pendingKeyFile is where a passphrase change stages the new key file.
func pendingKeyFile(op *Operator) string { return op.KeyFile + ".pending" }

// settleKeyFile finishes or discards a passphrase change a crash cut short,
// before the key is used: a staged <ID>.key.pending whose sha256 the
// trail's last operator.passphrase_changed entry for the operator names
// is put in place; any other is discarded (its change never went on
// record), as are the temporary files of a staging cut short. It says
// what it did, or "".
func settleKeyFile(ctx context.Context, p *project.Project, op *Operator) (string, error) {
	pending := pendingKeyFile(op)
	dir := filepath.Dir(pending)
	temps, _ := filepath.Glob(filepath.Join(dir, "."+filepath.Base(pending)+".tmp-*"))
	for _, t := range temps {
		if err := os.Remove(t); err != nil {
			return "", fmt.Errorf("removing %s, left by a passphrase change cut short: %w", t, err)
		}
	}
	b, err := os.ReadFile(pending)
	if errors.Is(err, os.ErrNotExist) {
		if len(temps) > 0 {
			return "", durable.SyncDir(dir)
		}
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", pending, err)
	}
	es, err := p.Trail.Find(ctx, actions.OperatorPassphraseChanged, "operator:"+op.ID)
	if err != nil {
		return "", err
	}
	if n := len(es); n > 0 && es[n-1].Seq > op.AuditSeq {
		d, err := actions.Decode[actions.OperatorPassphraseChangedDetails](es[n-1])
		if err != nil {
			return "", err
		}
		if d.KeyFileHash == store.HashBytes(b) {
			if err := durable.Rename(pending, op.KeyFile); err != nil {
				return "", fmt.Errorf("finishing the passphrase change of %s (audit entry %d): %w", op.ID, es[n-1].Seq, err)
			}
			return fmt.Sprintf("finished the passphrase change of %s cut short after its audit entry %d: the new passphrase is in force", op.ID, es[n-1].Seq), nil
		}
	}
	if err := os.Remove(pending); err != nil {
		return "", fmt.Errorf("discarding %s, a passphrase change that never went on record: %w", pending, err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return "", err
	}
	return fmt.Sprintf("discarded a passphrase change of %s cut short before its audit entry: the passphrase before it is still in force", op.ID), nil
}

// AdminOptions are the inputs of UnlockOperator and RevokeOperator.
type AdminOptions struct {
	ID     string
	By     string // who unlocks or revokes; default the project's operator
	Reason string // required
}

func (opt *AdminOptions) check(p *project.Project, what string) error {
	if strings.TrimSpace(opt.Reason) == "" {
		return fmt.Errorf("%s needs a reason: pass --reason TEXT (it goes on record)", what)
	}
	if opt.By == "" {
		opt.By = p.Cfg.Operator
	}
	return CheckOperatorID(opt.ID)
}

// Unlocked is what UnlockOperator did.
type Unlocked struct {
	Operator *Operator `json:"operator"`  // as they are now
	Ended    Lock      `json:"ended"`     // the lock-out it ended
	By       string    `json:"by"`        // who unlocked them
	AuditSeq int64     `json:"audit_seq"` // the operator.unlocked entry
}

// UnlockOperator ends a lock-out: an operator.unlocked entry, with who
// unlocked and why (required), after which the count of failed attempts
// starts again. A lock-out not on record yet is recorded first, so that
// the unlock names it.
func UnlockOperator(ctx context.Context, p *project.Project, opt AdminOptions) (*Unlocked, error) {
	if err := opt.check(p, "an unlock"); err != nil {
		return nil, err
	}
	op, err := LookupOperator(ctx, p, opt.ID)
	if err != nil {
		return nil, err
	}
	if op.Revoked != nil {
		return nil, fmt.Errorf("operator %s was revoked (audit entry %d): a revocation is never undone; enrol them under a new id", op.ID, op.Revoked.AuditSeq)
	}
	if op.Locked == nil {
		return nil, fmt.Errorf("operator %s is not locked (%d failed attempts in a row; %d lock them): nothing to unlock", op.ID, op.FailedAttempts, op.lockoutAfter)
	}
	if err := mayAdminister(ctx, p, opt.By, gate.ActionUnlock, opt.Reason, op); err != nil {
		return nil, err
	}
	if err := recordLock(ctx, p, op); err != nil {
		return nil, err
	}
	e, err := actions.Append(ctx, p.Trail, actions.Record{Operator: opt.By, Object: "operator:" + op.ID, Reason: opt.Reason,
		Details: actions.OperatorUnlockedDetails{ID: op.ID, LockedEntry: op.Locked.AuditSeq}})
	if err != nil {
		return nil, fmt.Errorf("recording the unlock of %s: %w (still locked)", op.ID, err)
	}
	after, err := LookupOperator(ctx, p, op.ID)
	if err != nil {
		return nil, err
	}
	return &Unlocked{Operator: after, Ended: *op.Locked, By: opt.By, AuditSeq: e.Seq}, nil
}

// RevokeOperator ends an operator for good (21 CFR 11.300(c)): an
// operator.revoked entry, with who revoked them and why (required). They
// can never sign or change their passphrase again; the signatures they
// made before the entry stay valid and are shown as made before the
// revocation; a signature entry after it is invalid; and the id is never
// enrolled again (11.100(a)). The key file is left where it is.
func RevokeOperator(ctx context.Context, p *project.Project, opt AdminOptions) (*Operator, error) {
	if err := opt.check(p, "a revocation"); err != nil {
		return nil, err
	}
	op, err := LookupOperator(ctx, p, opt.ID)
	if err != nil {
		return nil, err
	}
	if op.Revoked != nil {
		return nil, fmt.Errorf("operator %s is already revoked (audit entry %d)", op.ID, op.Revoked.AuditSeq)
	}
	if err := mayAdminister(ctx, p, opt.By, gate.ActionRevoke, opt.Reason, op); err != nil {
		return nil, err
	}
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: opt.By, Object: "operator:" + op.ID, Reason: opt.Reason,
		Details: actions.OperatorRevokedDetails{ID: op.ID, KeyID: op.KeyID}}); err != nil {
		return nil, fmt.Errorf("recording the revocation of %s: %w (nothing revoked)", op.ID, err)
	}
	return LookupOperator(ctx, p, op.ID)
}
