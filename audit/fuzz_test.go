package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// proofFixture is a batch's lineage of up to maxLeaves records, with the
// root of every prefix and the tiles, built once per fuzzing process.
type proofFixture struct {
	leaves []byte   // 32-byte leaf hashes
	tiles  []byte   // roots of the complete runs of 512 leaves
	roots  [][]byte // roots[n]: the root of the first n leaves
}

const maxLeaves = 1100 // two complete tiles and a partial one

func newProofFixture() *proofFixture {
	fx := &proofFixture{roots: make([][]byte, maxLeaves+1)}
	t := NewLineageTree()
	var seg *LineageTree
	for i := 0; i < maxLeaves; i++ {
		if i%(1<<TileHeight) == 0 {
			seg = NewLineageSegment(int64(i))
		}
		l := LineageLeaf{Ordinal: int64(i + 1), Outcome: OutcomeVerified, Input: sha256.Sum256([]byte{byte(i), byte(i >> 8)})}
		h := l.Hash()
		fx.leaves = append(fx.leaves, h[:]...)
		t.Append(h)
		seg.Append(h)
		if r, ok := seg.SubtreeRoot(); ok {
			fx.tiles = append(fx.tiles, r...)
		}
		fx.roots[i+1] = t.Root()
	}
	return fx
}

const proofBatch = "0f3c1e9a7b2d4c6e8f0a1b2c3d4e5f60"

// acceptProof is `pawl audit verify-proof FILE --signature S` for a
// signature of proofBatch with root and size leaves: the proof parses,
// verifies, and is in the signed tree.
func acceptProof(b []byte, root string, size int64) (*InclusionProof, bool) {
	p, err := ParseInclusionProof(b)
	if err != nil || p.VerifyFor(proofBatch, root, size) != nil {
		return nil, false
	}
	return p, true
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// FuzzInclusionProof: a proof ProveLineage builds, for any record of a
// batch of up to 1,100 (so with tiles), and written as `pawl audit prove`
// writes it, parses back to the same proof and verifies. Any single-byte
// edit of that file is refused by `verify-proof --signature` (it does not
// parse, does not verify, or names another batch or root), unless it only
// swapped one JSON whitespace byte for another, when it reads as the very
// same proof. (The signed tree size matters: an audit path often verifies
// for more than one tree size under the same root.) Arbitrary bytes never panic, and whatever parses round-trips.
func FuzzInclusionProof(f *testing.F) {
	f.Add(uint16(0), uint16(0), uint16(10), byte('x'), []byte(`{"batch_id":"b","ordinal":1,"leaf_index":0,"tree_size":1,"leaf_hash":"`+strings.Repeat("ab", 32)+`","proof":null,"root":"`+strings.Repeat("ab", 32)+`"}`))
	f.Add(uint16(6), uint16(3), uint16(100), byte('A'), []byte(`{"Batch_id":"b","batch_id":"c"}`))
	f.Add(uint16(1023), uint16(700), uint16(0), byte(' '), []byte(`{"ordinal":1e0}`))
	f.Add(uint16(1099), uint16(1099), uint16(400), byte('0'), []byte("{}\n{}"))
	fx := newProofFixture()
	f.Fuzz(func(t *testing.T, size, index, pos uint16, b byte, raw []byte) {
		n := int64(size)%maxLeaves + 1
		idx := int64(index) % n
		tiles := fx.tiles[:32*(n>>TileHeight)]
		pr, err := ProveLineage(bytes.NewReader(fx.leaves[:32*n]), n, tiles, idx, fx.roots[n])
		if err != nil {
			t.Fatalf("no proof of leaf %d of %d: %v", idx, n, err)
		}
		pr.BatchID = proofBatch
		file, err := json.MarshalIndent(pr, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		file = append(file, '\n')
		root := hex.EncodeToString(fx.roots[n])
		got, ok := acceptProof(file, root, n)
		if !ok || !reflect.DeepEqual(got, pr) {
			t.Fatalf("the proof of leaf %d of %d is not accepted as written:\n%s", idx, n, file)
		}

		i := int(pos) % len(file)
		if file[i] != b {
			edited := bytes.Clone(file)
			edited[i] = b
			if q, ok := acceptProof(edited, root, n); ok {
				if !isJSONSpace(file[i]) || !isJSONSpace(b) || !reflect.DeepEqual(q, pr) {
					t.Fatalf("byte %d edited from %q to %q and the proof is still accepted:\n%s", i, file[i], b, edited)
				}
			}
		}

		p, err := ParseInclusionProof(raw)
		if err != nil {
			return
		}
		verr := p.Verify()
		again, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseInclusionProof(again)
		if err != nil || !reflect.DeepEqual(p, q) || (q.Verify() == nil) != (verr == nil) {
			t.Fatalf("%q parses to %+v, written again %q parses to %+v (%v)", raw, p, again, q, err)
		}
	})
}

// checkpointFixture is a trail of 8 entries and its signed checkpoints of
// every size, 1 to 8.
type checkpointFixture struct {
	tr  *Trail
	pub ed25519.PublicKey
	cps [9][]byte
}

func newCheckpointFixture(f *testing.F) *checkpointFixture {
	tr, err := Open(filepath.Join(f.TempDir(), "audit.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { tr.Close() })
	fillTrail(f, tr, 7)
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	fx := &checkpointFixture{tr: tr, pub: priv.Public().(ed25519.PublicKey)}
	for s := int64(1); s <= 8; s++ {
		if fx.cps[s], _, err = tr.SignCheckpoint(ctx, s, priv); err != nil {
			f.Fatal(err)
		}
	}
	return fx
}

// FuzzCheckpoint: a checkpoint SignCheckpoint writes verifies against its
// trail; any single-byte edit of it does not (the text is signed, and the
// signature line has one spelling); and any bytes at all that verify are
// exactly a checkpoint pawl signed. VerifyCheckpoint never panics.
func FuzzCheckpoint(f *testing.F) {
	fx := newCheckpointFixture(f)
	f.Add(uint8(0), uint16(0), byte('x'), fx.cps[3])
	f.Add(uint8(7), uint16(60), byte('A'), []byte("pawl.dev/audit/x\n8\nAAAA\n\n— pawl.dev/audit/x AAAA\n"))
	f.Add(uint8(5), uint16(200), byte('\n'), append(bytes.Clone(fx.cps[8]), fx.cps[8][bytes.LastIndex(fx.cps[8], []byte("\n\n"))+2:]...))
	f.Fuzz(func(t *testing.T, size uint8, pos uint16, b byte, raw []byte) {
		s := int64(size)%8 + 1
		cp := fx.cps[s]
		c, err := fx.tr.VerifyCheckpoint(ctx, cp, fx.pub)
		if err != nil || c.Size != s {
			t.Fatalf("checkpoint of %d entries: %+v, %v", s, c, err)
		}
		i := int(pos) % len(cp)
		if cp[i] != b {
			edited := bytes.Clone(cp)
			edited[i] = b
			if _, err := fx.tr.VerifyCheckpoint(ctx, edited, fx.pub); err == nil {
				t.Fatalf("byte %d edited from %q to %q and the checkpoint still verifies:\n%s", i, cp[i], b, edited)
			}
		}
		if c, err := fx.tr.VerifyCheckpoint(ctx, raw, fx.pub); err == nil {
			if c.Size < 1 || c.Size > 8 || !bytes.Equal(raw, fx.cps[c.Size]) {
				t.Fatalf("%q verifies as a checkpoint of %d entries, but pawl signed %q", raw, c.Size, fx.cps[max(min(c.Size, 8), 1)])
			}
		}
	})
}

// FuzzParseCheckpoint: a checkpoint body parses only in its one spelling:
// what parses starts with exactly what Format writes for it, and parses
// again to the same checkpoint.
func FuzzParseCheckpoint(f *testing.F) {
	root := strings.Repeat("A", 43) + "="
	f.Add("pawl.dev/audit/x\n8\n" + root + "\n")
	f.Add("pawl.dev/audit/x\n08\n" + root + "\n")
	f.Add("pawl.dev/audit/x\n+8\n" + root + "\next\n")
	f.Add("pawl.dev/audit/x\n8\n" + strings.Repeat("A", 42) + "B=\n")
	f.Add("o\n-0\n" + root + "\r\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := parseCheckpoint(text)
		if err != nil {
			return
		}
		body := string(c.Format())
		if !strings.HasPrefix(text, body) || c.Size < 0 || len(c.Root) != 32 || c.Origin == "" {
			t.Fatalf("%q parses to %+v, which Format writes as %q", text, c, body)
		}
		again, err := parseCheckpoint(body + text[len(body):])
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("%q: %+v, then %+v, %v", text, c, again, err)
		}
	})
}

// FuzzVerifyLines: entries.jsonl of a review package is untrusted bytes.
// VerifyLines never panics; what it accepts is exactly its entries, each
// written back as MarshalJSON writes it (one spelling), chained from the
// genesis, each hash its fields' hash.
func FuzzVerifyLines(f *testing.F) {
	g := Entry{Seq: 1, Time: mustTime("2026-11-24T10:00:00.000000000Z"), Operator: SystemOperator, OSUser: "u", Action: ActionTrailCreated,
		Object: "trail:t", Details: []byte(`{"created_at":"2026-11-24T10:00:00.000000000Z","schema_version":1,"trail_id":"t"}`), PrevHash: GenesisPrevHash}
	g.Hash = ComputeHash(g)
	e := Entry{Seq: 2, Time: g.Time, Operator: "alice", OSUser: "u", Action: "batch.committed", Object: "batch:1", Reason: "r \u2028\"",
		Details: []byte(`{"n":1.50,"s":"\u0001"}`), PrevHash: g.Hash}
	e.Hash = ComputeHash(e)
	var good []byte
	for _, x := range []Entry{g, e} {
		b, err := x.MarshalJSON()
		if err != nil {
			f.Fatal(err)
		}
		good = append(append(good, b...), '\n')
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, entries := VerifyLines(data)
		if !rep.OK {
			if rep.Problem == "" {
				t.Fatal("a failure without a problem")
			}
			return
		}
		var again []byte
		prev := GenesisPrevHash
		for i, x := range entries {
			if x.Seq != int64(i+1) || x.PrevHash != prev || ComputeHash(x) != x.Hash {
				t.Fatalf("entry %d accepted out of its chain: %+v", i+1, x)
			}
			prev = x.Hash
			b, err := x.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			again = append(append(again, b...), '\n')
		}
		if !bytes.Equal(again, data) || rep.Head != prev || rep.Entries != int64(len(entries)) {
			t.Fatalf("accepted %q, which is not the %d entries it holds written back", data, len(entries))
		}
	})
}

func mustTime(s string) time.Time {
	t, err := parseTime(s)
	if err != nil {
		panic(err)
	}
	return t
}

// FuzzParseAddCheckpoint: a consistency proof (a tlog-witness
// add-checkpoint body) parses only in its one spelling — Format writes back
// exactly the bytes read — and never holds more than 63 hashes; one that
// parses, names a checkpoint pawl signed and verifies against the trail's
// roots is exactly the proof the trail makes.
func FuzzParseAddCheckpoint(f *testing.F) {
	fx := newCheckpointFixture(f)
	for _, old := range []int64{0, 3, 8} {
		a := AddCheckpoint{OldSize: old, Checkpoint: fx.cps[8]}
		if old > 0 {
			pr, err := fx.tr.ConsistencyProof(ctx, old, 8)
			if err != nil {
				f.Fatal(err)
			}
			a.Proof = pr
		}
		f.Add(a.Format())
	}
	f.Add([]byte("old 03\n\npawl.dev/audit/x\n8\n" + strings.Repeat("A", 43) + "=\n\n— x AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAddCheckpoint(b)
		if err != nil {
			return
		}
		if !bytes.Equal(a.Format(), b) || len(a.Proof) > MaxConsistencyProof {
			t.Fatalf("%q parses to %+v, which Format writes as %q", b, a, a.Format())
		}
		c, err := fx.tr.VerifyCheckpoint(ctx, a.Checkpoint, fx.pub)
		if err != nil || a.OldSize < 1 {
			return
		}
		oldRoot, err := fx.tr.TreeRoot(ctx, a.OldSize)
		if err != nil {
			return
		}
		if VerifyConsistency(a.OldSize, c.Size, a.Proof, oldRoot, c.Root) == nil {
			want, err := fx.tr.ConsistencyProof(ctx, a.OldSize, c.Size)
			if err != nil || len(want) != len(a.Proof) {
				t.Fatalf("a proof from %d to %d verifies with %d hashes, the trail's has %d (%v)", a.OldSize, c.Size, len(a.Proof), len(want), err)
			}
			for i := range want {
				if !bytes.Equal(want[i], a.Proof[i]) {
					t.Fatalf("a proof from %d to %d verifies with hash %d differing from the trail's", a.OldSize, c.Size, i)
				}
			}
		}
	})
}
