package project

import (
	"context"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
)

// StateReset is a state.reset entry: a job's plugin state reset to the
// empty state by an approver, with a reason.
type StateReset struct {
	actions.StateResetDetails
	AuditSeq int64
	Operator string
	Reason   string
}

// StateResets returns every state reset on record, oldest first.
func (p *Project) StateResets(ctx context.Context) ([]*StateReset, error) {
	es, err := p.Trail.List(ctx, audit.Filter{Action: actions.StateReset})
	if err != nil {
		return nil, err
	}
	out := make([]*StateReset, 0, len(es))
	for _, e := range es {
		d, err := actions.Decode[actions.StateResetDetails](e)
		if err != nil {
			return nil, err
		}
		out = append(out, &StateReset{StateResetDetails: d, AuditSeq: e.Seq, Operator: e.Operator, Reason: e.Reason})
	}
	return out, nil
}
