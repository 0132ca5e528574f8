package review

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/store"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Audit    *audit.Report `json:"audit"`
	Batches  int           `json:"batches"`
	Blobs    int           `json:"blobs"`
	Problems []string      `json:"problems"`
	// Witnessing is what the witnesses' cosignatures show, when the trail
	// holds any (CheckWitnesses).
	Witnessing *Witnessing `json:"witnessing,omitempty"`
}

// OK says whether everything verified.
func (r *VerifyReport) OK() bool { return r.Audit != nil && r.Audit.OK && len(r.Problems) == 0 }

// Verify checks the audit trail's hash chain, and for every
// committed batch: its folder, its signature, and every blob it refers to in
// the store (input, pinned files, outputs).
func Verify(ctx context.Context, p *project.Project) (*VerifyReport, error) {
	rep := &VerifyReport{Problems: []string{}}
	ar, err := p.Trail.Verify(ctx)
	if err != nil {
		return nil, err
	}
	rep.Audit = ar
	if p.KeysProblem != nil {
		rep.Problems = append(rep.Problems, p.KeysProblem.Error())
	}
	batches, err := p.Batches(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, b := range batches {
		rep.Batches++
		seen[b.BatchID] = true
		chk, err := p.Keys.VerifySignature(b.Signature)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: %v", b.BatchID, err))
		} else if chk.Signature.AuditSeq != b.AuditSeq {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: signature names audit entry %d, the trail has %d", b.BatchID, chk.Signature.AuditSeq, b.AuditSeq))
		} else if len(chk.Outputs) != len(b.Outputs) {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: output files missing from %s", b.BatchID, b.Dir))
		}
		if cp, err := os.ReadFile(filepath.Join(b.Dir, actions.CheckpointFile)); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: %v", b.BatchID, err))
		} else if c, err := p.Keys.VerifyCheckpoint(ctx, p.Trail, cp); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: its checkpoint: %v", b.BatchID, err))
		} else if c.Size != b.AuditSeq {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: its checkpoint is of the trail's first %d entries, not of the %d up to the batch's own entry", b.BatchID, c.Size, b.AuditSeq))
		}
		blobs := map[string]string{string(b.Input): "input"}
		for f, d := range b.Pins {
			blobs[string(d)] = f
		}
		for n, o := range b.Outputs {
			blobs[string(o.Hash)] = n
		}
		blobs[string(b.Lineage.Leaves)] = actions.LineageFile
		blobs[string(b.Lineage.Actions.Hash)] = actions.ActionsFile
		if b.Lineage.Tiles != "" {
			blobs[string(b.Lineage.Tiles)] = actions.TilesFile
		}
		if b.State != nil {
			blobs[string(b.State.In)] = "state_in"
			blobs[string(b.State.Out)] = "state_out"
		}
		if err := checkLineage(p, b); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: %v", b.BatchID, err))
		}
		if sigs, err := esign.Of(ctx, p, b); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: e-signatures: %v", b.BatchID, err))
		} else {
			for _, sg := range sigs {
				if !sg.Valid {
					rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: e-signature in audit entry %d: %s", b.BatchID, sg.AuditSeq, sg.Problem))
				}
			}
		}
		for _, d := range slices.Sorted(maps.Keys(blobs)) {
			rep.Blobs++
			if err := p.Store.Verify(store.Digest(d)); err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: %s blob: %v", b.BatchID, blobs[d], err))
			}
		}
	}
	// The chain of plugin states of each job.
	if resets, err := p.StateResets(ctx); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("state resets: %v", err))
	} else {
		rep.Problems = append(rep.Problems, stateChains(batches, resets, p.ReadBlob)...)
	}
	// The state index (data/state-index) agrees with the trail up to the
	// entry it covers.
	if probs, err := p.CheckStateIndex(ctx); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("the state index: %v", err))
	} else {
		rep.Problems = append(rep.Problems, probs...)
	}
	// Approvals of changes (the two-person rule): each must verify against
	// its change.proposed entry, and an applied change must name approvals
	// that count.
	if cs, err := esign.Changes(ctx, p); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("changes: %v", err))
	} else {
		for _, c := range cs {
			for _, sg := range c.Signatures {
				if !sg.Valid {
					rep.Problems = append(rep.Problems, fmt.Sprintf("change %s: e-signature in audit entry %d: %s", c.ID, sg.AuditSeq, sg.Problem))
				}
			}
			if c.State == esign.ChangeApplied && len(c.Approvals) == 0 {
				rep.Problems = append(rep.Problems, fmt.Sprintf("change %s was put in force (audit entry %d) without a valid approval by another operator than its proposer %s", c.ID, c.AppliedEntry, c.Proposer))
			}
		}
	}
	// Signed reviews of the trail (pawl audit review): each must verify
	// against the entry it names as the last one reviewed.
	if rs, err := esign.TrailReviews(ctx, p); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("trail reviews: %v", err))
	} else {
		for _, r := range rs.Reviews {
			if !r.Valid {
				rep.Problems = append(rep.Problems, fmt.Sprintf("review of the trail through entry %d: e-signature in audit entry %d: %s", r.Through, r.AuditSeq, r.Problem))
			}
		}
	}
	// Witnesses' cosignatures, and the latest checkpoints they cosigned.
	if w, err := CheckWitnesses(ctx, p); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("witnesses: %v", err))
	} else if w.Cosignatures > 0 || len(w.Problems) > 0 {
		rep.Witnessing = w
		rep.Problems = append(rep.Problems, w.Problems...)
	}
	dirs, _ := os.ReadDir(p.BatchesDir())
	var stray []string
	for _, d := range dirs {
		if !seen[d.Name()] {
			stray = append(stray, d.Name())
		}
	}
	sort.Strings(stray)
	for _, s := range stray {
		rep.Problems = append(rep.Problems, fmt.Sprintf("batches/%s has no batch.committed entry in the audit trail", s))
	}
	return rep, nil
}

// Checkpoint signs the trail's current head as a C2SP tlog-checkpoint with
// the engine key and records that it was issued. Keep it outside the
// enclave: it is what later proves that no entry was deleted or rewritten.
func Checkpoint(ctx context.Context, p *project.Project, operator, reason string) ([]byte, audit.Checkpoint, error) {
	cp, c, err := p.Trail.SignCheckpoint(ctx, 0, p.Key.Private)
	if err != nil {
		return nil, c, err
	}
	_, err = actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "trail:" + p.Trail.ID(), Reason: reason,
		Details: actions.CheckpointDetails{Origin: c.Origin, Size: c.Size, Root: c.Root}})
	failpoint.Hit("checkpoint.after-record")
	return cp, c, err
}

// VerifyCheckpoint proves that the trail extends a checkpoint signed with
// the engine key in force at the checkpoint's last entry (the trail's key
// history), or, with trusted, with the key the verifier's own history (or
// list of keys) has in force there: a checkpoint and a history kept outside
// the enclave are what catch a trail rewritten and re-signed by someone who
// held the engine key.
func VerifyCheckpoint(ctx context.Context, p *project.Project, cp []byte, trusted *seal.KeyHistory) (audit.Checkpoint, error) {
	if trusted != nil {
		return trusted.VerifyCheckpoint(ctx, p.Trail, cp)
	}
	return p.Keys.VerifyCheckpoint(ctx, p.Trail, cp)
}

// checkLineage recomputes the Merkle root over the batch's lineage file and
// compares it with the root on record.
func checkLineage(p *project.Project, b *project.Batch) error {
	r, err := p.Store.Open(b.Lineage.Leaves)
	if err != nil {
		return fmt.Errorf("lineage: %w", err)
	}
	defer r.Close()
	n, root, err := audit.LineageRoot(r)
	if err != nil {
		return fmt.Errorf("lineage: %w", err)
	}
	if n != b.RecordsIn || hex.EncodeToString(root) != b.Lineage.Root {
		return fmt.Errorf("lineage: %d leaves with root %x, the audit entry records %d records with root %s", n, root, b.RecordsIn, b.Lineage.Root)
	}
	return nil
}

// Prove builds the inclusion proof of one record of a committed batch: the
// record's leaf hash and the hashes that lead from it to the batch's
// lineage root, which the audit entry and the signature carry.
func Prove(ctx context.Context, p *project.Project, id string, ordinal int64) (*audit.InclusionProof, *project.Batch, error) {
	b, err := p.Batch(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(p.Store.Path(b.Lineage.Leaves))
	if err != nil {
		return nil, nil, fmt.Errorf("lineage of batch %s: %w", b.BatchID, err)
	}
	defer f.Close()
	var tiles []byte
	if b.Lineage.Tiles != "" {
		if tiles, err = p.ReadBlob(b.Lineage.Tiles); err != nil {
			return nil, nil, fmt.Errorf("lineage tiles of batch %s: %w", b.BatchID, err)
		}
	}
	root, err := hex.DecodeString(b.Lineage.Root)
	if err != nil {
		return nil, nil, fmt.Errorf("batch %s: recorded lineage root %q: %w", b.BatchID, b.Lineage.Root, err)
	}
	pr, err := audit.ProveLineage(f, b.Lineage.Size, tiles, ordinal-1, root)
	if err != nil {
		return nil, nil, fmt.Errorf("batch %s: %w: run `pawl audit verify`", b.BatchID, err)
	}
	pr.BatchID = b.BatchID
	return pr, b, nil
}

// TrailReviews is every signed review of the audit trail (pawl audit
// review), each verified, with the newest entry a valid review covers and
// how many entries are unreviewed since: what the inspectors' report shows
// beside the e-signatures (esign.TrailReviews).
func TrailReviews(ctx context.Context, p *project.Project) (*esign.Reviews, error) {
	return esign.TrailReviews(ctx, p)
}
