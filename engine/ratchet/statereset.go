package ratchet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
)

// CurrentState is a job's plugin state now and what put it there: the
// last committed batch of the job that advanced it, or a state reset
// after it, or nothing (the empty state before any).
type CurrentState struct {
	Job   string       `json:"job"`
	State store.Digest `json:"state"`
	Keys  int64        `json:"keys"`
	Batch string       `json:"batch,omitempty"`       // the batch that produced it
	Reset int64        `json:"reset_entry,omitempty"` // the state.reset entry that put it there
	Seq   int64        `json:"entry,omitempty"`       // the entry of either
}

// By says what put the state there, for messages.
func (c *CurrentState) By() string {
	switch {
	case c.Reset != 0:
		return fmt.Sprintf("the state reset of audit entry %d", c.Reset)
	case c.Batch != "":
		return "batch " + c.Batch
	}
	return "nothing: no batch of the job has kept state"
}

// JobStateNow reads a job's current state: the state_out of its last
// committed batch that advances it (resubmissions do not), unless a
// state.reset of the job came after it (then the empty state). It reads the
// project's state index, which the trail's entries since it was written
// bring up to date (project.StateHeadOf): not every batch on record.
func JobStateNow(ctx context.Context, p *project.Project, job string) (*CurrentState, error) {
	cur := &CurrentState{Job: job, State: store.Digest(plugstate.EmptyDigest)}
	h, err := p.StateHeadOf(ctx, job)
	if err != nil || h == nil {
		return cur, err
	}
	cur.State, cur.Keys, cur.Batch, cur.Reset, cur.Seq = h.State, h.Keys, h.Batch, h.Reset, h.Seq
	return cur, nil
}

// ErrNothingToReset is a state reset of a job whose state is already the
// empty state.
var ErrNothingToReset = errors.New("nothing to reset")

// ResetState resets job's plugin state to the empty state, on record
// (state.reset, with the state it replaces): the job's next batch starts
// from the empty state, and its plugins' checks are weaker until they have
// learnt again. The caller has asked the authz question state.reset (an
// approver's action); the reason is required here as well, whatever the
// bundle says. A reset of an empty state is refused: it would record
// nothing.
func ResetState(ctx context.Context, p *project.Project, job, operator, reason string) (audit.Entry, *CurrentState, error) {
	if strings.TrimSpace(reason) == "" {
		return audit.Entry{}, nil, fmt.Errorf("resetting the state of job %s: a reason is required (--reason TEXT): a reset weakens the job's checks", job)
	}
	cur, err := JobStateNow(ctx, p, job)
	if err != nil {
		return audit.Entry{}, nil, err
	}
	if cur.State == store.Digest(plugstate.EmptyDigest) {
		return audit.Entry{}, cur, fmt.Errorf("resetting the state of job %s: %w: the job's state is already the empty state (put there by %s); `pawl state show %s` shows it", job, ErrNothingToReset, cur.By(), job)
	}
	e, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "job:" + job, Reason: reason,
		Details: actions.StateResetDetails{Job: job, Replaced: cur.State, Batch: cur.Batch, Keys: cur.Keys, After: store.Digest(plugstate.EmptyDigest)}})
	if err != nil {
		return audit.Entry{}, nil, fmt.Errorf("resetting the state of job %s: appending the audit entry: %w", job, err)
	}
	return e, cur, nil
}
