package ratchet

import (
	"context"

	"github.com/pawl-dev/pawl/engine/sandbox"
)

// Internals the external tests and benchmarks reach.
var (
	TestHook      = &testHook
	SkipLineage   = &skipLineage
	SkipNormalize = &skipNormalize
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
