// Command pawl is the data ratchet: records go through strict decoding, a
// JSON Schema contract and validators to verified output or quarantine, and
// every step is written to a hash-chained audit trail.
//
// The commands are thin: each parses its flags, calls the engine and prints.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/validate"
)

// Exit statuses.
const (
	exitOK     = 0
	exitError  = 1
	exitUsage  = 2
	exitDenied = 3 // a policy said no
	// exitNotVerified: what was checked does not verify — the audit
	// trail, an inspectors' package, a proof, a signature, a replay, a
	// record's lineage — or a command refused to vouch for a trail that
	// does not. Distinct from 1 (pawl could not do the job) so that a
	// script can tell "forged or damaged" from "failed to check".
	exitNotVerified = 4
)

// notVerifiedError marks an error as exitNotVerified's.
type notVerifiedError struct{ err error }

func (e *notVerifiedError) Error() string { return e.err.Error() }
func (e *notVerifiedError) Unwrap() error { return e.err }

// notVerified marks err: what was checked does not verify.
func notVerified(err error) error {
	if err == nil {
		return nil
	}
	return &notVerifiedError{err}
}

func main() {
	// The validation kit's crash challenge starts this binary as a child
	// that runs one batch of its scratch project and dies mid-commit.
	validate.MaybeChild()
	stopProfile := startProfiles(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	stopProfile()
	os.Exit(code)
}

// startProfiles writes a CPU profile of the whole process to the file
// PAWL_CPUPROFILE names and a heap profile (allocations since start, and
// what is in use) at exit to PAWL_MEMPROFILE's: a way to profile a real
// `pawl run` (BENCHMARKS.md), not a user setting. A profile that cannot be
// written is said on stderr; the command runs anyway.
func startProfiles(stderr io.Writer) (stop func()) {
	var stops []func()
	if path := os.Getenv("PAWL_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "pawl: PAWL_CPUPROFILE: %v (no CPU profile written)\n", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv("PAWL_MEMPROFILE"); path != "" {
		stops = append(stops, func() {
			f, err := os.Create(path)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintf(stderr, "pawl: PAWL_MEMPROFILE: %v (no heap profile written)\n", err)
			}
		})
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, s *streams) int {
	root := newRootCmd(s)
	if isCompletion(args) {
		registerCompletions(root)
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(s.err, "pawl: %v\n", err)
	var u *usageError
	var nv *notVerifiedError
	var broken *review.BrokenTrailError
	var refused *review.InspectRefusedError
	switch {
	case errors.As(err, &nv), errors.As(err, &broken), errors.As(err, &refused):
		return exitNotVerified
	case errors.As(err, &u), errors.Is(err, gate.ErrOutsideWindow):
		return exitUsage
	case errors.Is(err, errDenied), errors.Is(err, gate.ErrDenied),
		errors.Is(err, esign.ErrChangeNotApplied), errors.Is(err, esign.ErrOwnChange):
		return exitDenied
	}
	return exitError
}
