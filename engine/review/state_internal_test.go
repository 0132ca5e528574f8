package review

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/store"
)

// TestStateChains: the checks of audit verify on each job's chain of
// states, each attack one case — a batch that starts from a state the job
// was not in (a history rewritten, or a batch spliced in from elsewhere), a
// state_out that is not in the store or not a state file, a key count that
// is not the file's, a resubmission judged against another state.
func TestStateChains(t *testing.T) {
	one := plugstate.New()
	one.Put(plugstate.FullKey(nil, "zscore", []byte("dAB")), []byte{1})
	blobs := map[store.Digest][]byte{
		store.Digest(plugstate.EmptyDigest): []byte(plugstate.Magic),
		"sha256:one":                        one.Bytes(),
		"sha256:junk":                       []byte("not a state"),
	}
	read := func(d store.Digest) ([]byte, error) {
		if b, ok := blobs[d]; ok {
			return b, nil
		}
		return nil, fmt.Errorf("blob %s is missing", d)
	}
	seq := int64(0)
	batch := func(id, job, in, out string, keys int64, resubmits string) *project.Batch {
		seq++
		b := &project.Batch{AuditSeq: seq}
		b.BatchID, b.Job = id, job
		b.State = &actions.StateRef{In: store.Digest(in), Out: store.Digest(out), Keys: keys}
		if resubmits != "" {
			b.Resubmits = &actions.Resubmission{OriginalBatch: resubmits, OriginalOrdinal: 1}
		}
		return b
	}
	reset := func(job, replaced, after string) *project.StateReset {
		seq++
		return &project.StateReset{AuditSeq: seq, StateResetDetails: actions.StateResetDetails{Job: job, Replaced: store.Digest(replaced), After: store.Digest(after)}}
	}
	e := plugstate.EmptyDigest
	good := []*project.Batch{
		batch("b1", "j", e, "sha256:one", 1, ""),
		batch("other", "k", e, e, 0, ""), // another job has its own chain
		batch("b2", "j", "sha256:one", "sha256:one", 1, ""),
		batch("r1", "j", e, e, 0, "b1"), // a resubmission of b1: from b1's state_in; advances nothing
		batch("b3", "j", "sha256:one", e, 0, ""),
	}
	if p := stateChains(good, nil, read); len(p) != 0 {
		t.Fatalf("a sound chain: %q", p)
	}
	// A reset restarts the chain: the batch after it starts from the empty
	// state, and so may a batch of a job whose last link is a reset.
	rb1 := batch("b1", "j", e, "sha256:one", 1, "")
	rr := reset("j", "sha256:one", e)
	rb2 := batch("b2", "j", e, "sha256:one", 1, "")
	rr2 := reset("j", "sha256:one", e)
	if p := stateChains([]*project.Batch{rb1, rb2}, []*project.StateReset{rr, rr2}, read); len(p) != 0 {
		t.Fatalf("a chain across resets: %q", p)
	}
	// The same batches without the reset are a broken chain.
	if p := stateChains([]*project.Batch{rb1, rb2}, nil, read); len(p) != 1 || !strings.Contains(p[0], "the chain of states is broken") {
		t.Fatalf("a chain restarted without a reset: %q", p)
	}
	midReset := reset("j", "sha256:one", e)
	afterReset := batch("b2", "j", "sha256:one", "sha256:one", 1, "")
	for name, c := range map[string]struct {
		bs   []*project.Batch
		rs   []*project.StateReset
		want string
	}{
		"a reset of a state the job was not in":   {[]*project.Batch{rb1}, []*project.StateReset{reset("j", e, e)}, "replaces state " + e + ", but the job's state was sha256:one (batch b1): the chain of states is broken"},
		"a reset to a state that is not empty":    {[]*project.Batch{rb1, batch("b2", "j", "sha256:one", "sha256:one", 1, "")}, []*project.StateReset{reset("j", "sha256:one", "sha256:one")}, "not the empty state"},
		"after a reset, not from the empty state": {[]*project.Batch{rb1, afterReset}, []*project.StateReset{midReset}, "but the job's state was " + e + " (the state reset of audit entry"},
		"a reset of another job restarts nothing": {[]*project.Batch{rb1, batch("b2", "j", e, e, 0, "")}, []*project.StateReset{reset("k", e, e)}, "batch b2 of job j starts from state " + e + ", but the job's state was sha256:one (batch b1)"},
		"first batch not from the empty state":    {[]*project.Batch{batch("b1", "j", "sha256:one", "sha256:one", 1, "")}, nil, "batch b1 of job j starts from state sha256:one, but the job's state was " + e},
		"a batch skipped":                         {[]*project.Batch{good[0], batch("b2", "j", e, e, 0, "")}, nil, "batch b2 of job j starts from state " + e + ", but the job's state was sha256:one (batch b1): the chain of states is broken"},
		"state_out missing":                       {[]*project.Batch{batch("b1", "j", e, "sha256:gone", 0, "")}, nil, "batch b1: its state_out: blob sha256:gone is missing"},
		"state_out not a state":                   {[]*project.Batch{batch("b1", "j", e, "sha256:junk", 0, "")}, nil, "not a state file"},
		"wrong key count":                         {[]*project.Batch{batch("b1", "j", e, "sha256:one", 7, "")}, nil, "holds 1 keys, the record says 7"},
		"resubmission from another state":         {[]*project.Batch{good[0], batch("r1", "j", "sha256:one", e, 0, "b1")}, nil, "a resubmission of batch b1 starts from state sha256:one, not from its original's"},
	} {
		p := stateChains(c.bs, c.rs, read)
		if len(p) != 1 || !strings.Contains(p[0], c.want) {
			t.Errorf("%s: %q, want one problem containing %q", name, p, c.want)
		}
	}
}
