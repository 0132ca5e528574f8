package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"
)

// naiveRoot is RFC 6962's definition, written out recursively as the RFC
// states it, to check the streaming tree against.
func naiveRoot(leafHashes [][]byte) []byte {
	switch len(leafHashes) {
	case 0:
		s := sha256.Sum256(nil)
		return s[:]
	case 1:
		return leafHashes[0]
	}
	k := 1
	for k*2 < len(leafHashes) {
		k *= 2
	}
	s := sha256.Sum256(append(append([]byte{1}, naiveRoot(leafHashes[:k])...), naiveRoot(leafHashes[k:])...))
	return s[:]
}

func TestLineageProofsForEverySizeAndIndex(t *testing.T) {
	for size := 1; size <= 70; size++ {
		var file []byte
		var hashes [][]byte
		tree := NewLineageTree()
		for i := 0; i < size; i++ {
			l := LineageLeaf{Ordinal: int64(i + 1), Outcome: OutcomeVerified, Input: sha256.Sum256([]byte{byte(i)})}
			h := l.Hash()
			file = append(file, h[:]...)
			hashes = append(hashes, append([]byte{}, h[:]...))
			tree.Append(h)
		}
		want := naiveRoot(hashes)
		if !bytes.Equal(tree.Root(), want) {
			t.Fatalf("size %d: streaming root %x, RFC 6962 root %x", size, tree.Root(), want)
		}
		n, root, err := LineageRoot(bytes.NewReader(file))
		if err != nil || n != int64(size) || !bytes.Equal(root, want) {
			t.Fatalf("size %d: LineageRoot %d %x %v", size, n, root, err)
		}
		for i := 0; i < size; i++ {
			p, err := ProveLineage(bytes.NewReader(file), int64(size), nil, int64(i), want)
			if err != nil {
				t.Fatalf("size %d index %d: %v", size, i, err)
			}
			if p.Root != hex.EncodeToString(want) {
				t.Fatalf("size %d index %d: proof root %s", size, i, p.Root)
			}
			if err := p.Verify(); err != nil {
				t.Fatalf("size %d index %d: %v", size, i, err)
			}
		}
	}
	// With tiles: a batch of 5 tiles and a tail, every kind of node.
	const n = 5*512 + 77
	var file, tiles []byte
	tree := NewLineageTree()
	seg := NewLineageSegment(0)
	for i := 0; i < n; i++ {
		l := LineageLeaf{Ordinal: int64(i + 1), Outcome: OutcomeVerified, Input: sha256.Sum256([]byte{byte(i), byte(i >> 8)})}
		h := l.Hash()
		file = append(file, h[:]...)
		seg.Append(h)
		if seg.Size() == 512 {
			r, ok := seg.SubtreeRoot()
			if !ok {
				t.Fatal("a full aligned chunk has no subtree root")
			}
			tiles = append(tiles, r...)
			tree.AppendSegment(seg)
			seg = NewLineageSegment(int64(i + 1))
		}
	}
	tree.AppendSegment(seg)
	for _, i := range []int64{0, 1, 511, 512, 1000, 2047, 2048, 2559, 2560, n - 1} {
		p, err := ProveLineage(bytes.NewReader(file), n, tiles, i, tree.Root())
		if err != nil {
			t.Fatalf("index %d with tiles: %v", i, err)
		}
		if err := p.Verify(); err != nil {
			t.Fatal(err)
		}
	}
	bad := append([]byte{}, tiles...)
	bad[40] ^= 1
	if _, err := ProveLineage(bytes.NewReader(file), n, bad, 0, tree.Root()); err == nil {
		t.Fatal("a proof built from a damaged tile was returned")
	}
	if _, _, err := LineageRoot(bytes.NewReader(make([]byte, 65))); err == nil || !strings.Contains(err.Error(), "lineage file is 65 bytes long, 1 past a whole number of 32-byte leaf hashes") {
		t.Fatalf("a lineage file of 65 bytes: %v", err)
	}
}

// lineageOf builds a batch of n leaves: its lineage file, its tiles and
// its root.
func lineageOf(n int) (file, tiles, root []byte) {
	tree := NewLineageTree()
	seg := NewLineageSegment(0)
	for i := 0; i < n; i++ {
		l := LineageLeaf{Ordinal: int64(i + 1), Outcome: OutcomeVerified, Input: sha256.Sum256([]byte{byte(i), byte(i >> 8)})}
		h := l.Hash()
		file = append(file, h[:]...)
		seg.Append(h)
		if seg.Size() == 1<<TileHeight {
			r, _ := seg.SubtreeRoot()
			tiles = append(tiles, r...)
			tree.AppendSegment(seg)
			seg = NewLineageSegment(int64(i + 1))
		}
	}
	tree.AppendSegment(seg)
	return file, tiles, tree.Root()
}

// TestLineageProofsWithoutTiles: tiles only save reading; without them
// (nil, or fewer than a node needs) a proof is built from the leaves, up to
// nodes that end at the last leaf.
func TestLineageProofsWithoutTiles(t *testing.T) {
	for _, n := range []int{1024, 1500} {
		file, tiles, root := lineageOf(n)
		for _, ts := range [][]byte{nil, tiles[:32]} {
			for _, i := range []int64{0, 511, 512, 1023, int64(n - 1)} {
				p, err := ProveLineage(bytes.NewReader(file), int64(n), ts, i, root)
				if err != nil {
					t.Fatalf("%d leaves, %d tiles, index %d: %v", n, len(ts)/32, i, err)
				}
				if err := p.Verify(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// countingReader counts the bytes read from a lineage file.
type countingReader struct {
	r *bytes.Reader
	n int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestLineageProofReadsOneTileOfLeaves: with its tiles, a proof reads at
// most one tile's worth of leaf hashes (512) and the leaf itself, whatever
// the batch size, including nodes that end at the last tile.
func TestLineageProofReadsOneTileOfLeaves(t *testing.T) {
	const n = 4 << TileHeight // exactly four tiles
	file, tiles, root := lineageOf(n)
	for _, i := range []int64{0, 600, n - 1} {
		r := &countingReader{r: bytes.NewReader(file)}
		if _, err := ProveLineage(r, n, tiles, i, root); err != nil {
			t.Fatal(err)
		}
		if max := int64(32<<TileHeight + 32); r.n > max {
			t.Errorf("index %d: the proof read %d bytes of the lineage file, want at most %d", i, r.n, max)
		}
	}
}

func TestProveLineageOutOfRange(t *testing.T) {
	file, _, root := lineageOf(3)
	for _, i := range []int64{-1, 3} {
		_, err := ProveLineage(bytes.NewReader(file), 3, nil, i, root)
		if want := fmt.Sprintf("record %d is not in a batch of 3 records", i+1); err == nil || err.Error() != want {
			t.Errorf("index %d: %v, want %q", i, err, want)
		}
	}
}

// TestInclusionProofEdits: a proof is checked on its own, and editing any
// field of it makes it fail — the ordinal too, although the Merkle path
// does not involve it: a proof of record 2 must not pass for record 3.
func TestInclusionProofEdits(t *testing.T) {
	file, _, root := lineageOf(3)
	p, err := ProveLineage(bytes.NewReader(file), 3, nil, 1, root)
	if err != nil {
		t.Fatal(err)
	}
	if p.Ordinal != 2 || p.Index != 1 || p.Size != 3 {
		t.Fatalf("proof of record 2: %+v", p)
	}
	flip := func(h string) string { return strings.Repeat("0", 2) + h[2:] }
	for name, edit := range map[string]func(q *InclusionProof){
		"ordinal":   func(q *InclusionProof) { q.Ordinal = 3 },
		"index":     func(q *InclusionProof) { q.Index = 2 },
		"both":      func(q *InclusionProof) { q.Ordinal, q.Index = 3, 2 },
		"leaf hash": func(q *InclusionProof) { q.LeafHash = flip(q.LeafHash) },
		"a sibling": func(q *InclusionProof) { q.Hashes = append([]string{flip(q.Hashes[0])}, q.Hashes[1:]...) },
		"root":      func(q *InclusionProof) { q.Root = flip(q.Root) },
	} {
		q := *p
		edit(&q)
		if err := q.Verify(); err == nil {
			t.Errorf("edited %s: the proof verifies: %+v", name, q)
		}
	}
	q := *p
	q.Ordinal = 3
	if err := q.Verify(); err == nil || err.Error() != "proof: leaf index 1 does not belong to ordinal 3" {
		t.Errorf("ordinal 2 edited to 3: %v", err)
	}
}

// TestReasonsDigest: the digest is the SHA-256 of the canonical
// {"actions":…,"reasons":…}, nil standing for [], and it covers both.
func TestReasonsDigest(t *testing.T) {
	empty, err := ReasonsDigest(nil, nil)
	if err != nil || empty != sha256.Sum256([]byte(`{"actions":[],"reasons":[]}`)) {
		t.Fatalf("digest of nothing: %x %v", empty, err)
	}
	a, _ := ReasonsDigest([]byte(`[{"rule":"x"}]`), nil)
	r, _ := ReasonsDigest(nil, []byte(`[{"rule":"x"}]`))
	if a == empty || r == empty || a == r {
		t.Fatal("the digest does not tell actions from reasons from nothing")
	}
	if a != sha256.Sum256([]byte(`{"actions":[{"rule":"x"}],"reasons":[]}`)) {
		t.Fatalf("digest of one action: %x", a)
	}
}

func TestLineageLeafEncoding(t *testing.T) {
	l := LineageLeaf{Ordinal: 258, Outcome: OutcomeQuarantined}
	l.Input[0], l.Output[0], l.Reasons[0] = 1, 2, 3
	b := l.Bytes()
	if len(b) != 105 || b[6] != 1 || b[7] != 2 || b[8] != 'Q' || b[9] != 1 || b[41] != 2 || b[73] != 3 {
		t.Fatalf("leaf bytes %x", b)
	}
	h := l.Hash()
	want := sha256.Sum256(append([]byte{0}, b...))
	if h != want {
		t.Fatal("the leaf hash is not SHA-256(0x00 || leaf)")
	}
	a, _ := ReasonsDigest([]byte(`[{"b":1,"a":2}]`), nil)
	c, _ := ReasonsDigest([]byte(`[{"a":2, "b":1}]`), []byte("[]"))
	if a != c {
		t.Fatal("the reasons digest depends on key order or whitespace")
	}
}

// BenchmarkProveLineage proves one record of a million-record batch from
// its lineage file and tiles, as `pawl audit prove` does.
func BenchmarkProveLineage(b *testing.B) {
	const n = 1_000_000
	var file, tiles []byte
	seg := NewLineageSegment(0)
	tree := NewLineageTree()
	for i := 0; i < n; i++ {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		file = append(file, h[:]...)
		seg.Append(h)
		if seg.Size() == 512 {
			r, _ := seg.SubtreeRoot()
			tiles = append(tiles, r...)
			tree.AppendSegment(seg)
			seg = NewLineageSegment(int64(i + 1))
		}
	}
	tree.AppendSegment(seg)
	root := tree.Root()
	r := bytes.NewReader(file)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ProveLineage(r, n, tiles, int64(i*7919%n), root); err != nil {
			b.Fatal(err)
		}
	}
}

// TestProofFileHasOneSpelling: a proof file is read as `pawl audit prove`
// writes it. encoding/json alone (what verify-proof used) accepted a file
// with bytes after the proof, member names in another case and the last of
// duplicate members; hex.DecodeString accepts upper-case digits.
func TestProofFileHasOneSpelling(t *testing.T) {
	h := func(b byte) string { return hex.EncodeToString(bytes.Repeat([]byte{b}, 32)) }
	ok := `{"batch_id":"b","ordinal":1,"leaf_index":0,"tree_size":1,"leaf_hash":"` + h(0xab) + `","proof":null,"root":"` + h(0xab) + `"}`
	p, err := ParseInclusionProof([]byte(" \n" + ok + "\n"))
	if err != nil || p.Verify() != nil || p.Root != h(0xab) {
		t.Fatalf("%+v %v", p, err)
	}
	for name, b := range map[string]string{
		"trailing":  ok + "x",
		"two":       ok + ok,
		"case":      strings.Replace(ok, `"batch_id"`, `"Batch_id"`, 1),
		"duplicate": strings.Replace(ok, `"batch_id":"b"`, `"batch_id":"a","batch_id":"b"`, 1),
		"missing":   strings.Replace(ok, `"proof":null,`, ``, 1),
		"number":    strings.Replace(ok, `"ordinal":1`, `"ordinal":1.0`, 1),
		"unknown":   strings.Replace(ok, `"proof":null`, `"proof":null,"x":1`, 1),
		"array":     "[" + ok + "]",
	} {
		if p, err := ParseInclusionProof([]byte(b)); err == nil {
			t.Errorf("%s: parsed as %+v", name, p)
		}
	}
	upper, _ := ParseInclusionProof([]byte(strings.Replace(ok, h(0xab), strings.ToUpper(h(0xab)), 1)))
	if err := upper.Verify(); err == nil || !strings.Contains(err.Error(), "lower-case") {
		t.Errorf("an upper-case leaf hash: %v", err)
	}
	for _, sz := range []string{`"tree_size":0`, `"tree_size":-1`} {
		q, _ := ParseInclusionProof([]byte(strings.Replace(ok, `"tree_size":1`, sz, 1)))
		if err := q.Verify(); err == nil {
			t.Errorf("%s verified", sz)
		}
	}
}

// TestProofTreeSizeComesFromTheSignature: the audit path of leaf 755 of
// 986 also verifies as leaf 755 of 985 under the same root (found by
// FuzzInclusionProof): a proof does not fix its tree size, so
// verify-proof --signature checks the size against the signed record
// count as it checks the root.
func TestProofTreeSizeComesFromTheSignature(t *testing.T) {
	fx := newProofFixture()
	root := hex.EncodeToString(fx.roots[986])
	p, err := ProveLineage(bytes.NewReader(fx.leaves[:32*986]), 986, fx.tiles[:32], 755, fx.roots[986])
	if err != nil {
		t.Fatal(err)
	}
	p.BatchID = proofBatch
	if err := p.VerifyFor(proofBatch, root, 986); err != nil {
		t.Fatal(err)
	}
	q := *p
	q.Size = 985
	if err := q.Verify(); err != nil {
		t.Fatalf("precondition: the path no longer verifies for 985 leaves (%v); pick another size", err)
	}
	if err := q.VerifyFor(proofBatch, root, 986); err == nil || !strings.Contains(err.Error(), "985 leaves") {
		t.Fatalf("a proof claiming 985 leaves accepted for a signature of 986: %v", err)
	}
	if err := p.VerifyFor("another", root, 986); err == nil {
		t.Fatal("a proof accepted for another batch")
	}
}

// readCounter counts the reads made of it.
type readCounter struct {
	r     io.Reader
	reads int
}

func (c *readCounter) Read(p []byte) (int, error) { c.reads++; return c.r.Read(p) }

// TestLineageRootReadsInBlocks: LineageRoot reads a lineage file in
// blocks, not a leaf a read — a read(2) a record made `audit verify` of a
// million-record batch spend 0.7 s in the kernel — and the whole file's
// root is still right, a truncated file still refused.
func TestLineageRootReadsInBlocks(t *testing.T) {
	const leaves = 20000
	var file []byte
	var hashes [][]byte
	for i := 0; i < leaves; i++ {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		file = append(file, h[:]...)
		hashes = append(hashes, h[:])
	}
	cr := &readCounter{r: bytes.NewReader(file)}
	n, root, err := LineageRoot(cr)
	if err != nil || n != leaves || !bytes.Equal(root, naiveRoot(hashes)) {
		t.Fatalf("LineageRoot = %d, %x, %v", n, root, err)
	}
	if cr.reads > 10 {
		t.Fatalf("%d reads for %d bytes: a read a leaf", cr.reads, len(file))
	}
	if _, _, err := LineageRoot(&readCounter{r: bytes.NewReader(file[:len(file)-5])}); err == nil || !strings.Contains(err.Error(), "27 past a whole number") {
		t.Fatalf("a truncated file: %v", err)
	}
}
