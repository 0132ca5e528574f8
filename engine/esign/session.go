package esign

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/policies"
)

// Signing sessions (21 CFR 11.200(a)(1)). (i): during a single, continuous
// period of controlled system access, the first signing uses every
// component — the operator id and the passphrase — and later signings at
// least one component only the individual can execute: the passphrase.
// (ii): signings not in one continuous period each use every component.
//
// A session is read from the trail, never from a file, a cookie or the
// memory of a process, so it is the same in local mode and under `pawl
// serve`, and on record:
//
//   - a signing with every component (an operator id given) opens one: its
//     esign.signed entry carries session {id, opened: true, components,
//     principal, timeout_ms};
//   - a signing without an operator id, by the same account (principal:
//     uid, how it was authenticated, certificate) within
//     esign.session_timeout of the session's last signing, signs as the
//     session's operator — the passphrase is still asked and checked, and
//     a wrong one counts towards the lock-out like any other — and its
//     entry carries session {id, opened_entry, components: [passphrase]};
//   - a session ends after esign.session_timeout without a signing, when
//     its account asks (`pawl session end`, an esign.session_ended entry),
//     when the account opens another, or when its operator is locked
//     (an operator.locked entry after it opened: an unlock does not revive
//     it), revoked or their passphrase expires.
//
// A signing without an operator id when the caller's account has no
// session open is refused, and the refusal is on record (esign.failed,
// failure "no session").

// FailureNoSession is the failure of an esign.failed entry for a signing
// without an operator id when no session is open.
const FailureNoSession = "no session"

// ErrNoSession is matched by the refusal of a signing without an operator
// id when the caller's account has no session open.
var ErrNoSession = errors.New("no signing session")

// Session is a signing session as the trail has it.
type Session struct {
	ID          string          `json:"id"`
	Operator    string          `json:"operator"`
	Principal   policies.Caller `json:"principal"`
	OpenedAt    audit.EntryTime `json:"opened_at"`
	OpenedEntry int64           `json:"opened_entry"`
	LastAt      audit.EntryTime `json:"last_signing_at"`
	LastEntry   int64           `json:"last_signing_entry"`
	Signings    int             `json:"signings"`
	Timeout     string          `json:"timeout"`    // esign.session_timeout in force
	ExpiresAt   audit.EntryTime `json:"expires_at"` // its last signing and the timeout

	timeout time.Duration
}

// sessionTimeout is esign.session_timeout in force: as pinned on record
// (project.ESignSettingsInForce), not as pawl.yaml says now.
func sessionTimeout(ctx context.Context, p *project.Project) (time.Duration, error) {
	s, err := p.ESignSettingsInForce(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading esign.session_timeout in force: %w", err)
	}
	return time.Duration(s.SessionTimeoutMS) * time.Millisecond, nil
}

// samePrincipal says whether two principals are one account, authenticated
// the same way.
func samePrincipal(a, b policies.Caller) bool {
	return a.UID == b.UID && a.Via == b.Via && a.Cert == b.Cert
}

// describeCaller names an account for a person: "uid 1001 (alice) via unix".
func describeCaller(c policies.Caller) string {
	var who string
	switch {
	case c.UID >= 0 && c.User != "":
		who = fmt.Sprintf("uid %d (%s)", c.UID, c.User)
	case c.UID >= 0:
		who = fmt.Sprintf("uid %d", c.UID)
	default:
		who = "certificate " + c.Cert
	}
	return who + " via " + c.Via
}

// CurrentSession is the signing session of the caller's account
// (principal.From ctx) open now, or an error matching ErrNoSession that
// says, in one line, why there is none and what to do.
func CurrentSession(ctx context.Context, p *project.Project) (*Session, error) {
	who := gate.Caller(ctx)
	none := func(format string, args ...any) (*Session, error) {
		return nil, fmt.Errorf("%w open for %s: %s; sign with --operator ID (your operator id and passphrase, 21 CFR 11.200(a)(1)(ii))",
			ErrNoSession, describeCaller(who), fmt.Sprintf(format, args...))
	}
	timeout, err := sessionTimeout(ctx, p)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return none("sessions are off (esign.session_timeout is 0, or not pinned yet: `pawl pin`)")
	}
	es, err := p.Trail.List(ctx, audit.Filter{Action: actions.ESignSigned})
	if err != nil {
		return nil, err
	}
	var s *Session
	for _, e := range es {
		d, err := actions.Decode[actions.ESignSignedDetails](e)
		if err != nil {
			return nil, err
		}
		ss := d.Session
		if ss == nil || !samePrincipal(ss.Principal, who) {
			continue
		}
		switch {
		case ss.Opened:
			s = &Session{ID: ss.ID, Operator: e.Operator, Principal: ss.Principal, OpenedAt: audit.EntryTime{Time: e.Time.UTC()}, OpenedEntry: e.Seq}
		case s == nil || ss.ID != s.ID || e.Operator != s.Operator:
			continue
		}
		s.LastAt, s.LastEntry = audit.EntryTime{Time: e.Time.UTC()}, e.Seq
		s.Signings++
	}
	if s == nil {
		return none("this account has opened none (a session belongs to the account whose signing opened it)")
	}
	s.timeout, s.Timeout = timeout, timeout.String()
	s.ExpiresAt = audit.EntryTime{Time: s.LastAt.Add(timeout)}
	ended, err := p.Trail.Find(ctx, actions.ESignSessionEnded, "operator:"+s.Operator)
	if err != nil {
		return nil, err
	}
	for _, e := range ended {
		if d, err := actions.Decode[actions.ESignSessionEndedDetails](e); err == nil && d.ID == s.ID {
			return none("session %s of operator %s was ended (audit entry %d)", s.ID, s.Operator, e.Seq)
		}
	}
	locks, err := p.Trail.Find(ctx, actions.OperatorLocked, "operator:"+s.Operator)
	if err != nil {
		return nil, err
	}
	for _, e := range locks {
		if e.Seq > s.OpenedEntry {
			return none("session %s of operator %s ended when %s was locked (audit entry %d)", s.ID, s.Operator, s.Operator, e.Seq)
		}
	}
	op, err := LookupOperator(ctx, p, s.Operator)
	if err != nil {
		return nil, err
	}
	if err := op.CanSign(); err != nil {
		// Revoked, expired, or locked with the alert not on record yet.
		return none("session %s of operator %s ended: %v", s.ID, s.Operator, err)
	}
	if idle := now().Sub(s.LastAt.Time); idle > timeout {
		return none("session %s of operator %s timed out: its last signing (audit entry %d) was %s ago, and esign.session_timeout is %s",
			s.ID, s.Operator, s.LastEntry, idle.Truncate(time.Second), timeout)
	}
	return s, nil
}

// newSessionID is a random id for a session opened now.
func newSessionID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "ses-" + hex.EncodeToString(b), nil
}

// EndSession ends the caller's signing session (principal.From ctx), on
// record: an esign.session_ended entry. With no session open it is an
// error matching ErrNoSession, and nothing is recorded.
func EndSession(ctx context.Context, p *project.Project, reason string) (*Session, int64, error) {
	s, err := CurrentSession(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	e, err := actions.Append(ctx, p.Trail, actions.Record{Operator: s.Operator, Object: "operator:" + s.Operator, Reason: reason,
		Details: actions.ESignSessionEndedDetails{ID: s.ID, Operator: s.Operator, Principal: s.Principal, OpenedEntry: s.OpenedEntry,
			LastEntry: s.LastEntry, Signings: s.Signings}})
	if err != nil {
		return nil, 0, fmt.Errorf("recording the end of session %s: %w (the session is still open)", s.ID, err)
	}
	return s, e.Seq, nil
}
