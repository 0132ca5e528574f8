package review

import (
	"context"
	"fmt"
	"strings"

	"github.com/pawl-dev/pawl/engine/project"
)

// BrokenTrailError is why a trail that does not verify cannot be vouched
// for: the first bad entry (0 when the problem is outside the entries: the
// meta table, the schema, the engine key history) and what is wrong.
type BrokenTrailError struct {
	FirstBad int64
	Problem  string
}

func (e *BrokenTrailError) Error() string {
	return e.Summary() + "; nothing was done or written: run `pawl audit verify` for the details, and restore the project's data directory from its backup"
}

// Summary says that the trail does not verify, where and why, without
// what to do.
func (e *BrokenTrailError) Summary() string {
	where, problem := "the audit trail does not verify", e.Problem
	if e.FirstBad > 0 {
		where = fmt.Sprintf("the audit trail does not verify at entry %d", e.FirstBad)
		problem = strings.TrimPrefix(problem, fmt.Sprintf("entry %d: ", e.FirstBad))
	}
	return where + ": " + problem
}

// CheckTrail is the check a command runs before it vouches for the trail
// or appends to it (audit checkpoint, audit export, sign, export): the hash
// chain entry by entry (audit.Trail.Verify) and the engine key history the
// chain carries (each key rotation signed by the key before it). It is
// what `pawl audit verify` checks first, without the per-batch signatures,
// checkpoints and store blobs, so it costs one read of the entries table
// (about 10 µs an entry: 50 ms for 5,000). A trail that does not verify
// gives a *BrokenTrailError naming the first bad entry.
func CheckTrail(ctx context.Context, p *project.Project) error {
	rep, err := p.Trail.Verify(ctx)
	if err != nil {
		return err
	}
	if !rep.OK {
		return &BrokenTrailError{FirstBad: rep.FirstBad, Problem: rep.Problem}
	}
	if p.KeysProblem != nil {
		return &BrokenTrailError{Problem: "engine key history: " + p.KeysProblem.Error()}
	}
	return nil
}
