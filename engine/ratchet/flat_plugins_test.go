package ratchet_test

import (
	"context"
	"testing"

	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/ratchet"
)

// TestFlatPathWithPlugins: the example job, with its four first-party
// plugins (range, freshness and registry in the workers, zscore on the
// writer with state from the batch before), commits two batches on the
// flat path, where the plugins read the kept members and reject some of
// the records, and a replay of each with the flat path off (every record
// decoded into a map, batchFor reading the map) reproduces every output
// hash, the lineage root and the state.
func TestFlatPathWithPlugins(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	dir := t.TempDir()
	var ids []string
	for seed := uint64(1); seed <= 2; seed++ {
		in := enginetest.WriteInput(t, dir, "in.jsonl", enginetest.GenInput(t, 600, seed))
		res := enginetest.Run(t, p, in, 2)
		var byPlugins int64
		for _, s := range res.Stages {
			if s.Stage == finding.StageValidate {
				byPlugins = s.Rejected
			}
		}
		if res.Verified < 400 || byPlugins == 0 {
			t.Fatalf("batch %d: %d verified, %d rejected by the plugins: the flat path and the plugins' rejections are not both exercised", seed, res.Verified, byPlugins)
		}
		ids = append(ids, res.BatchID)
	}
	*ratchet.SkipFlat = true
	defer func() { *ratchet.SkipFlat = false }()
	for _, id := range ids {
		rep, err := ratchet.Replay(ctx, p, id, "tester", "the flat path against the full one")
		if err != nil || !rep.Match {
			t.Fatalf("batch %s replayed without the flat path: %v %+v", id, err, rep)
		}
	}
}
