package ratchet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/seal"
)

// finishCommit does what follows the commit point: it moves pending/<id> to
// batches/<id> and writes the checkpoint and the signature. Each step is
// idempotent, so it can be repeated by recovery after a crash at any point.
func finishCommit(p *project.Project, id string, e audit.Entry) error {
	pending, final := p.PendingBatch(id), p.BatchDir(id)
	if _, err := os.Stat(final); errors.Is(err, os.ErrNotExist) {
		if err := durable.Rename(pending, final); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else {
		os.RemoveAll(pending) // already moved; a stale copy must not linger
	}
	if err := step("commit.after-rename"); err != nil {
		return err
	}
	// Only the key in force at the batch's entry signs for it. After a
	// rotation the old key is gone: a signature or checkpoint of a batch
	// from before it that has since been lost stays missing (audit verify
	// reports it) rather than be signed by a key that was not in force.
	if ep, ok := p.Keys.At(e.Seq); ok && !bytes.Equal(ep.Public(), p.Key.Public) {
		return nil
	}
	// The checkpoint of the trail up to this batch's entry travels with
	// the batch: whoever takes the batch away can later prove that the
	// trail still holds it. Like the signature, it is derived from the
	// entry alone and so can be written again byte for byte.
	cpPath := filepath.Join(final, actions.CheckpointFile)
	if _, err := os.Stat(cpPath); err != nil {
		cp, _, err := p.Trail.SignCheckpoint(context.Background(), e.Seq, p.Key.Private)
		if err != nil {
			return err
		}
		if err := durable.WriteFile(cpPath, cp, 0o444); err != nil {
			return err
		}
		failpoint.Hit("commit.after-checkpoint")
	}
	sigPath := filepath.Join(final, actions.SignatureFile)
	if _, err := os.Stat(sigPath); err == nil {
		return nil
	}
	sig, err := seal.ForBatch(e, p.Key)
	if err != nil {
		return err
	}
	b, err := sig.Render()
	if err != nil {
		return err
	}
	if err := durable.WriteFile(sigPath, b, 0o444); err != nil {
		return err
	}
	failpoint.Hit("commit.after-signature")
	return nil
}

// Recover finishes every batch that reached the audit trail and discards
// pending work that did not. engine.Open runs it whenever a project is
// opened, holding the project lock.
func Recover(ctx context.Context, p *project.Project) error {
	pend, err := os.ReadDir(p.PendingDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, d := range pend {
		id := d.Name()
		e, ok, err := p.CommittedEntry(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			if err := os.RemoveAll(p.PendingBatch(id)); err != nil {
				return fmt.Errorf("discarding uncommitted %s: %w", p.PendingBatch(id), err)
			}
			failpoint.Hit("recover.discarded")
			continue
		}
		if err := finishCommit(p, id, e); err != nil {
			return err
		}
	}
	done, err := os.ReadDir(p.BatchesDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, d := range done {
		id := d.Name()
		if _, err := os.Stat(p.SignaturePath(id)); err == nil {
			continue
		}
		e, ok, err := p.CommittedEntry(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s has no batch.committed audit entry: it did not come from this project's commit protocol; move it aside and run `pawl audit verify`", p.BatchDir(id))
		}
		if err := finishCommit(p, id, e); err != nil {
			return err
		}
	}
	return nil
}
