package review

import (
	"fmt"

	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
)

// stateChains checks the chain of plugin states of every job that keeps
// state, batches and state resets in trail order: a job's first stateful
// batch starts from the empty state, each later one from the state_out of
// the one before, and a resubmission from its original's state_in; a state
// reset replaces the job's state as it was and sets the empty state (a
// reset is the only way a chain may restart); every state_out the trail
// names is a canonical state file with the number of keys on record (read
// loads a blob, checked against its hash).
func stateChains(batches []*project.Batch, resets []*project.StateReset, read func(store.Digest) ([]byte, error)) []string {
	var problems []string
	type last struct{ out, by string }
	jobs := map[string]last{}
	current := func(job string) (string, string) {
		if prev, ok := jobs[job]; ok {
			return prev.out, prev.by
		}
		return plugstate.EmptyDigest, "none: the job's first batch"
	}
	byID := map[string]*project.Batch{}
	ri := 0
	// resetsUpTo applies the resets on record before entry seq.
	resetsUpTo := func(seq int64) {
		for ; ri < len(resets) && (seq < 0 || resets[ri].AuditSeq < seq); ri++ {
			r := resets[ri]
			want, by := current(r.Job)
			if string(r.Replaced) != want {
				problems = append(problems, fmt.Sprintf("the state reset of audit entry %d of job %s replaces state %s, but the job's state was %s (%s): the chain of states is broken", r.AuditSeq, r.Job, r.Replaced, want, by))
			}
			if string(r.After) != plugstate.EmptyDigest {
				problems = append(problems, fmt.Sprintf("the state reset of audit entry %d of job %s sets state %s, not the empty state %s: a reset may only restart the chain", r.AuditSeq, r.Job, r.After, plugstate.EmptyDigest))
			}
			jobs[r.Job] = last{string(r.After), fmt.Sprintf("the state reset of audit entry %d", r.AuditSeq)}
		}
	}
	for _, b := range batches {
		resetsUpTo(b.AuditSeq)
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
			want, by := current(b.Job)
			if string(s.In) != want {
				problems = append(problems, fmt.Sprintf("batch %s of job %s starts from state %s, but the job's state was %s (%s): the chain of states is broken", b.BatchID, b.Job, s.In, want, by))
			}
			jobs[b.Job] = last{string(s.Out), "batch " + b.BatchID}
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
	resetsUpTo(-1)
	return problems
}
