package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// hashReader serves the stored hashes of golang.org/x/mod/sumdb/tlog's
// tree, built independently of transparency-dev/merkle.
type hashReader []tlog.Hash

func (r hashReader) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = r[x]
	}
	return out, nil
}

// TestConsistencyProofEveryPair proves every (old, new) pair of a trail of
// 17 entries and checks each proof three ways: transparency-dev's RFC 6962
// verifier, golang.org/x/mod/sumdb/tlog's independent implementation (which
// must also produce the very same hashes), and the RFC's properties: a proof
// between equal sizes is empty, and any changed hash, any other root and
// any other size is refused.
func TestConsistencyProofEveryPair(t *testing.T) {
	const n = 17
	p, _ := tamperedTrail(t, n-1)
	tr, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// x/mod's tree: the same leaves (each entry's raw 32-byte hash).
	var stored hashReader
	for seq := int64(1); seq <= n; seq++ {
		e, err := tr.Get(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := hex.DecodeString(strings.TrimPrefix(e.Hash, "sha256:"))
		hs, err := tlog.StoredHashes(seq-1, raw, stored)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	roots := make([][]byte, n+1)
	for s := int64(1); s <= n; s++ {
		if roots[s], err = tr.TreeRoot(ctx, s); err != nil {
			t.Fatal(err)
		}
		th, err := tlog.TreeHash(s, stored)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(th[:], roots[s]) {
			t.Fatalf("root of %d entries: ours %x, x/mod's %x", s, roots[s], th)
		}
	}
	for old := int64(1); old <= n; old++ {
		for nw := old; nw <= n; nw++ {
			pr, err := tr.ConsistencyProof(ctx, old, nw)
			if err != nil {
				t.Fatalf("(%d,%d): %v", old, nw, err)
			}
			if err := VerifyConsistency(old, nw, pr, roots[old], roots[nw]); err != nil {
				t.Fatalf("(%d,%d): %v", old, nw, err)
			}
			theirs, err := tlog.ProveTree(nw, old, stored)
			if err != nil {
				t.Fatal(err)
			}
			if len(theirs) != len(pr) {
				t.Fatalf("(%d,%d): %d hashes, x/mod proves with %d", old, nw, len(pr), len(theirs))
			}
			for i := range pr {
				if !bytes.Equal(pr[i], theirs[i][:]) {
					t.Fatalf("(%d,%d): hash %d differs from x/mod's", old, nw, i)
				}
			}
			var th tlog.Hash
			copy(th[:], roots[old])
			var nh tlog.Hash
			copy(nh[:], roots[nw])
			if err := tlog.CheckTree(theirs, nw, nh, old, th); err != nil {
				t.Fatalf("(%d,%d): x/mod refuses: %v", old, nw, err)
			}
			if old == nw {
				if len(pr) != 0 {
					t.Fatalf("(%d,%d): a proof between equal sizes holds %d hashes", old, nw, len(pr))
				}
				continue
			}
			for i := range pr {
				bad := cloneHashes(pr)
				bad[i][0] ^= 1
				if VerifyConsistency(old, nw, bad, roots[old], roots[nw]) == nil {
					t.Fatalf("(%d,%d): hash %d changed, the proof still verifies", old, nw, i)
				}
			}
			if VerifyConsistency(old, nw, pr, roots[nw], roots[nw]) == nil && !bytes.Equal(roots[old], roots[nw]) {
				t.Fatalf("(%d,%d): verifies against another old root", old, nw)
			}
			if old > 1 && VerifyConsistency(old-1, nw, pr, roots[old-1], roots[nw]) == nil {
				t.Fatalf("(%d,%d): verifies as a proof from %d", old, nw, old-1)
			}
		}
	}
	if _, err := tr.ConsistencyProof(ctx, 5, 4); err == nil {
		t.Fatal("a proof from 5 entries to 4 was made")
	}
	if _, err := tr.ConsistencyProof(ctx, 0, 4); err == nil {
		t.Fatal("a proof from the empty tree was made")
	}
	if _, err := tr.ConsistencyProof(ctx, 3, n+1); err == nil || !strings.Contains(err.Error(), "fewer than") {
		t.Fatalf("a proof beyond the trail's end: %v", err)
	}
}

func cloneHashes(hs [][]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = bytes.Clone(h)
	}
	return out
}

// TestConsistencyProofRefusesAForkedTrail: after an entry is rewritten (and
// the chain re-hashed), no proof from a checkpoint signed before the
// rewrite verifies against the old root.
func TestConsistencyProofRefusesAForkedTrail(t *testing.T) {
	_, priv := checkpointKey(t)
	p, es := tamperedTrail(t, 6)
	cp := issue(t, p, priv)
	before, err := ParseCheckpointBody(cp)
	if err != nil {
		t.Fatal(err)
	}
	// Entry 3 edited, it and every later entry re-hashed, and one more
	// appended: a fork at size 7 that the chain alone does not show.
	var stmts []string
	prev := es[1].Hash
	for _, e := range es[2:] {
		if e.Seq == 3 {
			e.Reason = "rewritten history"
		}
		e.PrevHash = prev
		e.Hash = ComputeHash(e)
		prev = e.Hash
		stmts = append(stmts, fmt.Sprintf("UPDATE entries SET reason = %s, prev_hash = %s, hash = %s WHERE seq = %d",
			sqlQuote(e.Reason), sqlQuote(e.PrevHash), sqlQuote(e.Hash), e.Seq))
	}
	attack(t, p, true, stmts...)
	if w, err := Open(p); err != nil {
		t.Fatal(err)
	} else {
		fillTrail(t, w, 1)
		w.Close()
	}
	tr, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	head, err := tr.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	newRoot, err := tr.TreeRoot(ctx, head.Seq)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := tr.ConsistencyProof(ctx, before.Size, head.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyConsistency(before.Size, head.Seq, pr, before.Root, newRoot); err == nil {
		t.Fatal("a proof from a checkpoint of the trail before its rewrite verifies")
	}
}

func TestAddCheckpointRoundTripAndRefusals(t *testing.T) {
	_, priv := checkpointKey(t)
	p, _ := tamperedTrail(t, 9)
	tr, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	cp, _, err := tr.SignCheckpoint(ctx, 0, priv)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := tr.ConsistencyProof(ctx, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	body := AddCheckpoint{OldSize: 3, Proof: pr, Checkpoint: cp}.Format()
	got, err := ParseAddCheckpoint(body)
	if err != nil {
		t.Fatal(err)
	}
	if got.OldSize != 3 || len(got.Proof) != len(pr) || !bytes.Equal(got.Checkpoint, cp) || !bytes.Equal(got.Format(), body) {
		t.Fatalf("round trip: %+v", got)
	}
	lines := strings.SplitAfter(string(body), "\n")
	for name, bad := range map[string]string{
		"leading zero":       strings.Replace(string(body), "old 3\n", "old 03\n", 1),
		"no old line":        strings.Join(lines[1:], ""),
		"hash not canonical": lines[0] + strings.Replace(lines[1], "=\n", "\n", 1) + strings.Join(lines[2:], ""),
		"no empty line":      strings.Replace(string(body), "\n\n", "\n", 1),
		"old beyond the new": strings.Replace(string(body), "old 3\n", "old 11\n", 1),
		"proof from zero":    strings.Replace(string(body), "old 3\n", "old 0\n", 1),
		"no checkpoint":      strings.Join(lines[:len(pr)+2], ""),
		"64 hashes":          lines[0] + strings.Repeat(lines[1], 64) + strings.Join(lines[len(pr)+1:], ""),
	} {
		if _, err := ParseAddCheckpoint([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "not a consistency proof") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
