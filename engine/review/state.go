package review

import (
	"fmt"

	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
)

// stateChains checks the chain of plugin states of every job that keeps
// state, batches in commit order: a job's first stateful batch starts from
// the empty state, each later one from the state_out of the one before, and
// a resubmission from its original's state_in; every state_out the trail
// names is a canonical state file with the number of keys on record (read
// loads a blob, checked against its hash).
func stateChains(batches []*project.Batch, read func(store.Digest) ([]byte, error)) []string {
	var problems []string
	type last struct{ out, by string }
	jobs := map[string]last{}
	byID := map[string]*project.Batch{}
	for _, b := range batches {
		byID[b.BatchID] = b
		if b.State == nil {
			continue
		}
		s := b.State
		if r := b.Resubmits; r != nil {
			if o, ok := byID[r.OriginalBatch]; ok && (o.State == nil || o.State.In != s.In) {
				problems = append(problems, fmt.Sprintf("batch %s: a resubmission of batch %s starts from state %s, not from its original's", b.BatchID, r.OriginalBatch, s.In))
			}
		} else {
			prev, ok := jobs[b.Job]
			want, by := plugstate.EmptyDigest, "(none: the job's first batch)"
			if ok {
				want, by = prev.out, prev.by
			}
			if string(s.In) != want {
				problems = append(problems, fmt.Sprintf("batch %s of job %s starts from state %s, but the job's state was %s (batch %s): the chain of states is broken", b.BatchID, b.Job, s.In, want, by))
			}
			jobs[b.Job] = last{string(s.Out), b.BatchID}
		}
		data, err := read(s.Out)
		if err != nil {
			problems = append(problems, fmt.Sprintf("batch %s: its state_out: %v", b.BatchID, err))
			continue
		}
		t, err := plugstate.Load(data)
		if err != nil {
			problems = append(problems, fmt.Sprintf("batch %s: its state_out %s: %v", b.BatchID, s.Out, err))
			continue
		}
		if t.Len() != s.Keys {
			problems = append(problems, fmt.Sprintf("batch %s: its state_out %s holds %d keys, the record says %d", b.BatchID, s.Out, t.Len(), s.Keys))
		}
	}
	return problems
}
