package review

import (
	"bytes"
	"context"
	"fmt"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/seal"
)

// ProveConsistency writes the consistency proof from the trail's first
// oldSize entries to its first newSize (0: the whole trail), in the form
// of a C2SP tlog-witness add-checkpoint body: "old N", the proof's hashes,
// and the signed checkpoint of newSize. Only the key in force at entry
// newSize signs it: after a rotation, a proof to a size before it cannot be
// signed any more (prove to the head instead).
func ProveConsistency(ctx context.Context, p *project.Project, oldSize, newSize int64) (audit.AddCheckpoint, audit.Checkpoint, error) {
	if newSize == 0 {
		head, err := p.Trail.Head(ctx)
		if err != nil {
			return audit.AddCheckpoint{}, audit.Checkpoint{}, err
		}
		newSize = head.Seq
	}
	if oldSize < 1 || oldSize > newSize {
		return audit.AddCheckpoint{}, audit.Checkpoint{}, fmt.Errorf("a consistency proof from %d entries to %d: the old size must be between 1 and the new size", oldSize, newSize)
	}
	if ep, ok := p.Keys.At(newSize); ok && !bytes.Equal(ep.Public(), p.Key.Public) {
		return audit.AddCheckpoint{}, audit.Checkpoint{}, fmt.Errorf("the checkpoint of %d entries is signed by key %s, in force at entry %d, which the engine no longer holds (it holds %s): prove to a size at or after the rotation", newSize, ep.KeyID, newSize, seal.KeyID(p.Key.Public))
	}
	hashes, err := p.Trail.ConsistencyProof(ctx, oldSize, newSize)
	if err != nil {
		return audit.AddCheckpoint{}, audit.Checkpoint{}, err
	}
	cp, c, err := p.Trail.SignCheckpoint(ctx, newSize, p.Key.Private)
	if err != nil {
		return audit.AddCheckpoint{}, c, err
	}
	return audit.AddCheckpoint{OldSize: oldSize, Proof: hashes, Checkpoint: cp}, c, nil
}
