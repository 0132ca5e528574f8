package ratchet

import (
	"context"
	"os"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/policies"
)

// ReplayRecord replays a batch record given in full (one an older pawl
// could have written) and returns the record the replay would write.
func ReplayRecord(ctx context.Context, p *project.Project, rec *actions.BatchRecord, operator string) (*actions.BatchRecord, error) {
	return replay(ctx, p, rec, operator, "")
}

// ReplayInto is ReplayRecord leaving the replay's outputs in out, a
// directory that does not exist yet.
func ReplayInto(ctx context.Context, p *project.Project, rec *actions.BatchRecord, operator, out string) (*actions.BatchRecord, error) {
	return replay(ctx, p, rec, operator, out)
}

// PolicyForRecord is the bundle a resubmission of rec would run under.
func PolicyForRecord(ctx context.Context, p *project.Project, rec *actions.BatchRecord) (*policies.Engine, error) {
	scratch, err := os.MkdirTemp(p.PendingDir(), ".test-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	pl, err := planFromRecord(p, rec, scratch)
	if err != nil {
		return nil, err
	}
	if err := pl.policyFor(ctx, p); err != nil {
		return nil, err
	}
	return pl.Policy, nil
}

// Internals the external tests and benchmarks reach.
var (
	TestHook            = &testHook
	MeasureState        = &measureState
	StateNanos          = &stateNanos
	StateBuffer         = &stateBuffer
	SkipLineage         = &skipLineage
	SkipNormalize       = &skipNormalize
	SkipFlat            = &skipFlat
	NewQuarantineFormat = &newQuarantineFormat
)

// Checker is what a native build of a plugin implements in
// BenchmarkSandboxTax.
type Checker interface {
	Validate(ctx context.Context, b *sandbox.Batch) ([]sandbox.Verdict, error)
	Close(ctx context.Context)
}

// SetNativeCheckers replaces plugins by native builds of the same code, by
// plugin id (nil restores the plugins).
func SetNativeCheckers(m map[string]func(sandbox.InstanceConfig) (Checker, error)) {
	if m == nil {
		nativeCheckers = nil
		return
	}
	nativeCheckers = map[string]func(sandbox.InstanceConfig) (checker, error){}
	for id, f := range m {
		nativeCheckers[id] = func(ic sandbox.InstanceConfig) (checker, error) { return f(ic) }
	}
}
