package engine

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/store"
)

// Batches returns every committed batch, oldest first.
func (p *Project) Batches(ctx context.Context) ([]*Result, error) {
	es, err := p.Trail.List(ctx, audit.Filter{Action: audit.ActionBatchCommitted})
	if err != nil {
		return nil, err
	}
	out := make([]*Result, 0, len(es))
	for _, e := range es {
		r, err := p.resultFromEntry(e)
		if err != nil {
			return nil, err
		}
		r.Status = "committed"
		out = append(out, r)
	}
	return out, nil
}

// Batch returns one committed batch; id may be a unique prefix of at least
// six characters.
func (p *Project) Batch(ctx context.Context, id string) (*Result, error) {
	all, err := p.Batches(ctx)
	if err != nil {
		return nil, err
	}
	var found []*Result
	for _, r := range all {
		if r.BatchID == id || (len(id) >= 6 && strings.HasPrefix(r.BatchID, id)) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no committed batch %q: `pawl batches list` shows them", id)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("batch prefix %q is ambiguous (%d batches): give more characters", id, len(found))
}

// Quarantined reads a batch's quarantine.jsonl, calling fn for each entry in
// input order until fn returns false.
func (p *Project) Quarantined(id string, fn func(*QuarantineEntry) bool) error {
	path := filepath.Join(p.batchDir(id), QuarantineFile)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read the quarantine of batch %s: %w", id, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			var q QuarantineEntry
			if jerr := json.Unmarshal(line, &q); jerr != nil {
				return fmt.Errorf("%s line %d is damaged: %v: run `pawl audit verify`", path, n, jerr)
			}
			if !fn(&q) {
				return nil
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// QuarantineEntry returns one quarantined record by its ordinal.
func (p *Project) QuarantineEntry(id string, ordinal int64) (*QuarantineEntry, error) {
	var found *QuarantineEntry
	err := p.Quarantined(id, func(q *QuarantineEntry) bool {
		if q.Ordinal == ordinal {
			found = q
			return false
		}
		return q.Ordinal < ordinal
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("record %d of batch %s is not in quarantine (it was verified, or the batch has fewer records)", ordinal, id)
	}
	return found, nil
}

// VerifyReport is what VerifyProject found.
type VerifyReport struct {
	Audit    *audit.Report `json:"audit"`
	Batches  int           `json:"batches"`
	Blobs    int           `json:"blobs"`
	Problems []string      `json:"problems"`
}

// OK says whether everything verified.
func (r *VerifyReport) OK() bool { return r.Audit != nil && r.Audit.OK && len(r.Problems) == 0 }

// VerifyProject checks the audit trail's hash chain, and for every
// committed batch: its folder, its signature, and every blob it refers to in
// the store (input, pinned files, outputs).
func (p *Project) VerifyProject(ctx context.Context) (*VerifyReport, error) {
	rep := &VerifyReport{}
	ar, err := p.Trail.Verify(ctx)
	if err != nil {
		return nil, err
	}
	rep.Audit = ar
	batches, err := p.Batches(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, b := range batches {
		rep.Batches++
		seen[b.BatchID] = true
		chk, err := VerifySignatureFile(b.Signature, []ed25519.PublicKey{p.key.Public})
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: %v", b.BatchID, err))
		} else if chk.Signature.AuditSeq != b.AuditSeq {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: signature names audit entry %d, the trail has %d", b.BatchID, chk.Signature.AuditSeq, b.AuditSeq))
		} else if len(chk.Outputs) != len(b.Outputs) {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: output files missing from %s", b.BatchID, b.Dir))
		}
		if cp, err := os.ReadFile(filepath.Join(b.Dir, CheckpointFile)); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: %v", b.BatchID, err))
		} else if _, err := p.Trail.VerifyCheckpoint(ctx, cp, p.key.Public); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: its checkpoint: %v", b.BatchID, err))
		}
		blobs := map[string]string{string(b.Input): "input"}
		for f, d := range b.Pins {
			blobs[string(d)] = f
		}
		for n, o := range b.Outputs {
			blobs[string(o.Hash)] = n
		}
		blobs[string(b.Lineage.Leaves)] = LineageFile
		blobs[string(b.Lineage.Actions.Hash)] = ActionsFile
		if b.Lineage.Tiles != "" {
			blobs[string(b.Lineage.Tiles)] = TilesFile
		}
		if err := p.checkLineage(b); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: %v", b.BatchID, err))
		}
		if sigs, err := p.signaturesOf(ctx, b); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: e-signatures: %v", b.BatchID, err))
		} else {
			for _, sg := range sigs {
				if !sg.Valid {
					rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: e-signature in audit entry %d: %s", b.BatchID, sg.AuditSeq, sg.Problem))
				}
			}
		}
		for _, d := range sortedKeys(blobs) {
			rep.Blobs++
			if err := p.Store.Verify(store.Digest(d)); err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("batch %s: %s blob: %v", b.BatchID, blobs[d], err))
			}
		}
	}
	dirs, _ := os.ReadDir(filepath.Join(p.Data, "batches"))
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
func (p *Project) Checkpoint(ctx context.Context, operator, reason string) ([]byte, audit.Checkpoint, error) {
	cp, c, err := p.Trail.SignCheckpoint(ctx, 0, p.key.Private)
	if err != nil {
		return nil, c, err
	}
	_, err = p.Trail.Append(ctx, audit.Entry{
		Operator: operator, Action: audit.ActionCheckpoint, Object: "trail:" + p.Trail.ID(), Reason: reason,
		Details: mustJSON(map[string]any{"origin": c.Origin, "size": c.Size, "root": c.Root}),
	})
	return cp, c, err
}

// VerifyCheckpoint proves that the trail extends a checkpoint signed with
// the engine key.
func (p *Project) VerifyCheckpoint(ctx context.Context, cp []byte) (audit.Checkpoint, error) {
	return p.Trail.VerifyCheckpoint(ctx, cp, p.key.Public)
}

// checkLineage recomputes the Merkle root over the batch's lineage file and
// compares it with the root on record.
func (p *Project) checkLineage(b *Result) error {
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
func (p *Project) Prove(ctx context.Context, id string, ordinal int64) (*audit.InclusionProof, *Result, error) {
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
		if tiles, err = p.readBlob(b.Lineage.Tiles); err != nil {
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
