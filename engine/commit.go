package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pawl-dev/pawl/audit"
)

// finishCommit does what follows the commit point: it moves pending/<id> to
// batches/<id> and writes the signature. Each step is idempotent, so it can
// be repeated by recovery after a crash at any point.
func (p *Project) finishCommit(id string, e audit.Entry) error {
	pending, final := p.pendingDir(id), p.batchDir(id)
	if _, err := os.Stat(final); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(pending, final); err != nil {
			return fmt.Errorf("moving %s to %s: %w", pending, final, err)
		}
		if err := syncDir(filepath.Dir(final)); err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(pending)); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else {
		os.RemoveAll(pending) // already moved; a stale copy must not linger
	}
	if testHook != nil {
		if err := testHook("before-signature"); err != nil {
			return err
		}
	}
	// The checkpoint of the trail up to this batch's entry travels with
	// the batch: whoever takes the batch away can later prove that the
	// trail still holds it. Like the signature, it is derived from the
	// entry alone and so can be written again byte for byte.
	cpPath := filepath.Join(final, CheckpointFile)
	if _, err := os.Stat(cpPath); err != nil {
		cp, _, err := p.Trail.SignCheckpoint(context.Background(), e.Seq, p.key.Private)
		if err != nil {
			return err
		}
		if err := writeFileSync(cpPath, cp, 0o444); err != nil {
			return err
		}
	}
	sigPath := filepath.Join(final, SignatureFile)
	if _, err := os.Stat(sigPath); err == nil {
		return nil
	}
	sig, err := p.signatureFor(e)
	if err != nil {
		return err
	}
	b, err := sig.Render()
	if err != nil {
		return err
	}
	return writeFileSync(sigPath, b, 0o444)
}

// recover finishes every batch that reached the audit trail and discards
// pending work that did not. It runs whenever a project is opened.
func (p *Project) recover(ctx context.Context) error {
	pend, err := os.ReadDir(filepath.Join(p.Data, "pending"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, d := range pend {
		id := d.Name()
		e, ok, err := p.committedEntry(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			if err := os.RemoveAll(p.pendingDir(id)); err != nil {
				return fmt.Errorf("discarding uncommitted %s: %w", p.pendingDir(id), err)
			}
			continue
		}
		if err := p.finishCommit(id, e); err != nil {
			return err
		}
	}
	done, err := os.ReadDir(filepath.Join(p.Data, "batches"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, d := range done {
		id := d.Name()
		if _, err := os.Stat(filepath.Join(p.batchDir(id), SignatureFile)); err == nil {
			continue
		}
		e, ok, err := p.committedEntry(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s has no batch.committed audit entry: it did not come from this project's commit protocol; move it aside and run `pawl audit verify`", p.batchDir(id))
		}
		if err := p.finishCommit(id, e); err != nil {
			return err
		}
	}
	return nil
}
