package seal

import (
	"bytes"
	"fmt"

	"github.com/pawl-dev/pawl/audit"
)

// OpenCheckpoint verifies a signed checkpoint without the trail: it must
// be signed by the key the history had in force at its last entry (any key
// of a plain list of trusted keys).
func (h *KeyHistory) OpenCheckpoint(cp []byte) (audit.Checkpoint, error) {
	size, err := audit.CheckpointSize(cp)
	if err != nil {
		return audit.Checkpoint{}, &audit.CheckpointError{Problem: err.Error()}
	}
	if h == nil || len(h.Keys) == 0 {
		return audit.Checkpoint{}, fmt.Errorf("%w to check the checkpoint against: run inside the project, or pass --key FILE (engine.pub, a list of public keys, or `pawl key history --output json`)", ErrNoTrustedKey)
	}
	if h.anyTime {
		var first error
		for _, k := range h.Keys {
			c, err := audit.OpenCheckpoint(cp, k.pub)
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		return audit.Checkpoint{}, first
	}
	want, _ := h.At(size)
	c, err := audit.OpenCheckpoint(cp, want.pub)
	if err != nil {
		return c, fmt.Errorf("%w (the key in force at entry %d is %s)", err, size, want.KeyID)
	}
	if h.Trail != "" && c.Origin != "pawl.dev/audit/"+h.Trail {
		return c, &audit.CheckpointError{Problem: fmt.Sprintf("the checkpoint is for %s, the trusted keys are trail %s's", c.Origin, h.Trail)}
	}
	return c, nil
}

// VerifyConsistency checks, offline, a consistency proof as `pawl audit
// prove --consistency` writes it (a tlog-witness add-checkpoint body)
// against an older signed checkpoint: both checkpoints verify under the
// keys in force at their sizes, name the same trail, the proof starts at
// the old checkpoint's size, and its hashes lead from the old root to the
// new. It returns the old and the new checkpoint.
func (h *KeyHistory) VerifyConsistency(proof, oldCp []byte) (audit.Checkpoint, audit.Checkpoint, error) {
	a, err := audit.ParseAddCheckpoint(proof)
	if err != nil {
		return audit.Checkpoint{}, audit.Checkpoint{}, err
	}
	old, err := h.OpenCheckpoint(oldCp)
	if err != nil {
		return old, audit.Checkpoint{}, fmt.Errorf("the old checkpoint: %w", err)
	}
	nw, err := h.OpenCheckpoint(a.Checkpoint)
	if err != nil {
		return old, nw, fmt.Errorf("the proof's checkpoint: %w", err)
	}
	if old.Origin != nw.Origin {
		return old, nw, fmt.Errorf("the old checkpoint is of %s, the proof's of %s", old.Origin, nw.Origin)
	}
	if a.OldSize != old.Size {
		return old, nw, fmt.Errorf("the proof starts at %d entries, the old checkpoint has %d: prove again with --consistency %d", a.OldSize, old.Size, old.Size)
	}
	if old.Size == nw.Size && !bytes.Equal(old.Root, nw.Root) {
		return old, nw, fmt.Errorf("two checkpoints of %d entries with different roots: the trail was forked or rewritten", old.Size)
	}
	if err := audit.VerifyConsistency(old.Size, nw.Size, a.Proof, old.Root, nw.Root); err != nil {
		return old, nw, fmt.Errorf("%v: the trail of the new checkpoint does not extend the old one (rewritten or forked)", err)
	}
	return old, nw, nil
}
