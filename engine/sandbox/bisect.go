package sandbox

import (
	"context"
	"errors"
	"fmt"
)

// BisectResult is what Bisect found: verdicts for every record that did
// not trap, and the trap of each record that did.
type BisectResult struct {
	// Verdicts has one entry per record of the batch; the entries of
	// trapped records are zero.
	Verdicts []Verdict
	// Trapped maps the index (in the batch) of each record that makes the
	// plugin trap to that trap. The caller quarantines these records.
	Trapped map[int]*Error
	// Runs counts the fresh instances used.
	Runs int
}

// Bisect validates b on fresh instances, finding the records that make the
// plugin trap so that the caller can quarantine them instead of failing
// the batch. Call it after Validate returned an error for which IsTrap is
// true (the instance that trapped is gone).
//
// fresh must return a new instance of the same plugin with the same
// InstanceConfig. replay holds the batches this run already fed the
// plugin, without the records quarantined since: an ordered plugin's
// verdicts depend on them, so every fresh instance is fed them first
// (their verdicts are dropped). Pass nil for a stateless plugin.
//
// The search is by prefix: the shortest prefix of the remaining records
// that traps ends with the culprit, which holds for ordered plugins too
// (a record can only be affected by those before it). The culprit is
// removed — as quarantine removes it from the run — and the rest is tried
// again, so t trapping records cost about t·log2(N) runs. Any error that
// is not a trap (a timeout, memory) is returned: the batch fails.
//
// Fail fast: when SameTrapLimit culprits in a row trap with the same
// message, the plugin traps on (nearly) every record — it is broken, and
// bisecting a large batch record by record would take hours. Bisect then
// returns a KindTrapStorm error naming the trap and the records: the
// batch fails with the plugin's own message.
// SameTrapLimit is how many records in a row may trap the same way
// before Bisect gives up on the plugin (KindTrapStorm).
const SameTrapLimit = 16

func Bisect(ctx context.Context, fresh func(context.Context) (*Instance, error), replay []*Batch, b *Batch) (*BisectResult, error) {
	res := &BisectResult{Trapped: map[int]*Error{}}
	try := func(idx []int) ([]Verdict, error) {
		res.Runs++
		in, err := fresh(ctx)
		if err != nil {
			return nil, err
		}
		defer in.Close(ctx)
		for _, rb := range replay {
			if _, err := in.Validate(ctx, rb); err != nil {
				if IsTrap(err) {
					// It passed before: the plugin is not deterministic.
					var e *Error
					errors.As(err, &e)
					c := *e
					c.Kind = KindMalformedResult
					c.Detail = "trapped while replaying records it had accepted (not deterministic): " + e.Detail
					return nil, &c
				}
				return nil, err
			}
		}
		return in.Validate(ctx, b.Subset(idx))
	}
	var same int // culprits in a row with the same trap
	var sameDetail, sameOutput string
	var sameFirst uint64
	remaining := make([]int, b.N)
	for i := range remaining {
		remaining[i] = i
	}
	for {
		v, err := try(remaining)
		if err == nil {
			res.Verdicts = make([]Verdict, b.N)
			for k, i := range remaining {
				res.Verdicts[i] = v[k]
			}
			return res, nil
		}
		if !IsTrap(err) {
			return nil, err
		}
		// Invariant: remaining[:lo] does not trap, remaining[:hi] does.
		lo, hi := 0, len(remaining)
		var last *Error
		errors.As(err, &last)
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			_, err := try(remaining[:mid])
			switch {
			case err == nil:
				lo = mid
			case IsTrap(err):
				hi = mid
				errors.As(err, &last)
			default:
				return nil, err
			}
		}
		culprit := remaining[hi-1]
		e := *last
		e.First, e.Records = b.First+uint64(culprit), 1
		res.Trapped[culprit] = &e
		if same == 0 || e.Detail != sameDetail || e.Output != sameOutput {
			same, sameDetail, sameOutput, sameFirst = 0, e.Detail, e.Output, e.First
		}
		if same++; same >= SameTrapLimit {
			storm := e
			storm.Kind = KindTrapStorm
			storm.First, storm.Records = sameFirst, int(e.First-sameFirst)+1
			storm.Detail = fmt.Sprintf("the same trap on %d records in a row (the first at record %d, the last at %d), so the plugin is broken for this input rather than the records bad; the batch fails instead of bisecting every record: %s",
				same, sameFirst, e.First, e.Detail)
			return nil, &storm
		}
		remaining = append(remaining[:hi-1:hi-1], remaining[hi:]...)
		if len(remaining) == 0 {
			res.Verdicts = make([]Verdict, b.N)
			return res, nil
		}
	}
}
