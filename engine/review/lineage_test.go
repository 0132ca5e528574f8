package review_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/seal"
)

func TestEveryRecordIsProvable(t *testing.T) {
	p := enginetest.NewProject(t)
	input := enginetest.GenInput(t, 300, 21)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", input)
	res := enginetest.Run(t, p, in, 3)
	if res.Lineage.Size != 300 || len(res.Lineage.Root) != 64 {
		t.Fatalf("lineage on record: %+v", res.Lineage)
	}
	chk, err := seal.VerifyFile(res.Signature, nil)
	if err != nil || chk.Signature.LineageRoot != res.Lineage.Root {
		t.Fatalf("the signature does not carry the lineage root: %v", err)
	}
	for ord := int64(1); ord <= 300; ord++ {
		pr, _, err := review.Prove(context.Background(), p, res.BatchID, ord)
		if err != nil {
			t.Fatalf("prove %d: %v", ord, err)
		}
		if err := pr.Verify(); err != nil {
			t.Fatalf("proof of %d does not verify: %v", ord, err)
		}
		if pr.Root != res.Lineage.Root || pr.Ordinal != ord {
			t.Fatalf("proof of %d: %+v", ord, pr)
		}
	}
	// A quarantined record's leaf is recomputable from what the batch holds:
	// its input bytes and its quarantine line (which holds its reasons: in
	// quarantine format 2 the leaf's reasons digest is zero).
	qs := enginetest.Quarantine(t, p, res.BatchID)
	q := qs[len(qs)/2]
	raw, _ := q.RawBytes()
	qlines := enginetest.ReadLines(t, filepath.Join(res.Dir, actions.QuarantineFile))
	var line []byte
	for _, l := range qlines {
		if bytes.Contains(l, []byte(`"ordinal":`+itoa(q.Ordinal)+`,`)) {
			line = append(append([]byte{}, l...), '\n')
		}
	}
	leaf := audit.LineageLeaf{Ordinal: q.Ordinal, Outcome: audit.OutcomeQuarantined, Input: sha256.Sum256(raw),
		Output: sha256.Sum256(line)}
	h := leaf.Hash()
	pr, _, _ := review.Prove(context.Background(), p, res.BatchID, q.Ordinal)
	if pr.LeafHash != hex.EncodeToString(h[:]) {
		t.Fatalf("record %d: recomputed leaf %x, proof has %s", q.Ordinal, h, pr.LeafHash)
	}
	// A proof edited anywhere fails, and so does a proof moved to another record.
	bad := *pr
	bad.Hashes = append([]string{}, pr.Hashes...)
	bad.Hashes[0] = strings.Repeat("0", 64)
	if bad.Verify() == nil {
		t.Fatal("an edited proof verified")
	}
	other, _, _ := review.Prove(context.Background(), p, res.BatchID, q.Ordinal%300+1)
	moved := *other
	moved.LeafHash = pr.LeafHash
	if moved.Verify() == nil {
		t.Fatal("a leaf verified at another record's place")
	}
	if _, _, err := review.Prove(context.Background(), p, res.BatchID, 301); err == nil {
		t.Fatal("proved a record beyond the batch")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestEditedLineageIsDetected(t *testing.T) {
	p := enginetest.NewProject(t)
	in := enginetest.WriteInput(t, t.TempDir(), "in.jsonl", enginetest.GenInput(t, 100, 22))
	res := enginetest.Run(t, p, in, 2)
	path := p.Store.Path(res.Lineage.Leaves)
	b, _ := os.ReadFile(path)
	b[40] ^= 1 // one bit of record 2's leaf hash
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := review.Verify(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "lineage") {
		t.Fatalf("an edited lineage file verified: %+v", rep.Problems)
	}
	if _, _, err := review.Prove(context.Background(), p, res.BatchID, 2); err == nil {
		t.Fatal("proved a record from an edited lineage file")
	}
}
