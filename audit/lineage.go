package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Per-record lineage. A batch's records are the leaves of an RFC 6962
// Merkle tree, in input order; the tree's root is in the batch's audit entry
// and in its signature, so any one record can be proved part of the batch
// with O(log n) hashes, offline.
//
// A leaf is 105 bytes:
//
//	ordinal (8 bytes, big-endian) ‖ outcome ('V' verified, 'Q' quarantined)
//	‖ SHA-256 of the record's input bytes ‖ SHA-256 of its output line
//	(verified.jsonl or quarantine.jsonl, LF included)
//	‖ SHA-256 of the canonical JSON {"actions":[…],"reasons":[…]}
//
// (a quarantined record of a batch in quarantine format 2 has 32 zero
// bytes last: its line holds its reasons), and its leaf hash is
// SHA-256(0x00 ‖ leaf). The leaf hashes of a batch are
// kept in order, 32 bytes each, in its lineage file.

// Outcomes of a record.
const (
	OutcomeVerified    = 'V'
	OutcomeQuarantined = 'Q'
)

// LineageLeaf is one record's place in its batch.
type LineageLeaf struct {
	Ordinal int64
	Outcome byte
	Input   [32]byte
	Output  [32]byte
	Reasons [32]byte
}

// Bytes is the leaf's 105-byte preimage.
func (l *LineageLeaf) Bytes() []byte {
	b := make([]byte, 0, 105)
	b = binary.BigEndian.AppendUint64(b, uint64(l.Ordinal))
	b = append(b, l.Outcome)
	b = append(b, l.Input[:]...)
	b = append(b, l.Output[:]...)
	return append(b, l.Reasons[:]...)
}

// Hash is the leaf's RFC 6962 leaf hash, SHA-256(0x00 ‖ leaf). It is
// computed here rather than through a hasher object: it runs once per record
// and this way allocates nothing.
func (l *LineageLeaf) Hash() [32]byte {
	var b [1 + 105]byte
	binary.BigEndian.PutUint64(b[1:], uint64(l.Ordinal))
	b[9] = l.Outcome
	copy(b[10:], l.Input[:])
	copy(b[42:], l.Output[:])
	copy(b[74:], l.Reasons[:])
	return sha256.Sum256(b[:])
}

// hashChildren is RFC 6962's interior node hash, SHA-256(0x01 ‖ left ‖
// right), with one allocation (the result) instead of a hasher per node.
func hashChildren(l, r []byte) []byte {
	var b [1 + 32 + 32]byte
	b[0] = 1
	copy(b[1:33], l)
	copy(b[33:], r)
	h := sha256.Sum256(b[:])
	return h[:]
}

// LineageTree accumulates leaf hashes in order and yields the root; it
// holds O(log n) hashes whatever the batch size.
type LineageTree struct {
	r *compact.Range
	n int64
}

// lineageRanges is shared: compact ranges only join ranges of the same factory.
var lineageRanges = &compact.RangeFactory{Hash: hashChildren}

// NewLineageTree starts an empty tree.
func NewLineageTree() *LineageTree {
	return &LineageTree{r: lineageRanges.NewEmptyRange(0)}
}

// Append adds the next leaf hash.
func (t *LineageTree) Append(h [32]byte) {
	// Append only fails for a hash of the wrong size, which [32]byte rules out.
	if err := t.r.Append(h[:], nil); err != nil {
		panic(err)
	}
	t.n++
}

// NewLineageSegment starts a tree over the leaves from index begin on, to
// be joined to the whole tree with AppendSegment: workers hash their share
// of a batch's tree in parallel and the writer only joins the pieces.
func NewLineageSegment(begin int64) *LineageTree {
	return &LineageTree{r: lineageRanges.NewEmptyRange(uint64(begin))}
}

// AppendSegment joins seg, which must begin where t ends.
func (t *LineageTree) AppendSegment(seg *LineageTree) error {
	if err := t.r.AppendRange(seg.r, nil); err != nil {
		return fmt.Errorf("lineage: joining leaves %d..%d to a tree of %d: %w", seg.r.Begin(), seg.r.End(), t.n, err)
	}
	t.n += seg.n
	return nil
}

// Size is the number of leaves appended.
func (t *LineageTree) Size() int64 { return t.n }

// Root is the tree's root hash (the SHA-256 of the empty string for no leaves).
func (t *LineageTree) Root() []byte {
	if t.n == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	root, err := t.r.GetRootHash(nil)
	if err != nil {
		panic(err) // a non-empty range always has a root
	}
	return root
}

// LineageRoot reads a lineage file (32-byte leaf hashes) and returns the
// number of leaves and the root. It reads through a buffer of its own: a
// leaf at a time from the file was a read(2) a record.
func LineageRoot(r io.Reader) (int64, []byte, error) {
	t := NewLineageTree()
	var h [32]byte
	r = bufio.NewReaderSize(r, 256<<10)
	for {
		n, err := io.ReadFull(r, h[:])
		if errors.Is(err, io.EOF) {
			return t.Size(), t.Root(), nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("lineage file is %d bytes long, %d past a whole number of 32-byte leaf hashes: it was truncated or edited", t.Size()*32+int64(n), n)
		}
		if err != nil {
			return 0, nil, err
		}
		t.Append(h)
	}
}

// InclusionProof shows that one record is a leaf of its batch's tree.
type InclusionProof struct {
	BatchID  string   `json:"batch_id"`
	Ordinal  int64    `json:"ordinal"`
	Index    int64    `json:"leaf_index"`
	Size     int64    `json:"tree_size"`
	LeafHash string   `json:"leaf_hash"`
	Hashes   []string `json:"proof"`
	Root     string   `json:"root"`
}

// TileHeight is the height of the lineage tiles: a tile is the root of a
// complete subtree of 2^TileHeight = 512 leaves, so that a proof reads at
// most 512 leaf hashes and a few thousand tile hashes, never the whole
// lineage file.
const TileHeight = 9

// SubtreeRoot returns the root of a segment that is one complete, aligned
// subtree (a full chunk of 2^TileHeight leaves): a tile.
func (t *LineageTree) SubtreeRoot() ([]byte, bool) {
	hs := t.r.Hashes()
	if len(hs) != 1 || t.n != 1<<TileHeight {
		return nil, false
	}
	return hs[0], true
}

// ProveLineage builds the inclusion proof of leaf index in a batch of size
// records from its lineage file (leaves, read at the few offsets needed) and
// its tiles (the 32-byte roots of each complete run of 512 leaves, in
// order; nil to read leaves only). The proof is checked against root, the
// root on record, before it is returned: a lineage file or tile that does
// not match is an error, not a bad proof.
func ProveLineage(leaves io.ReaderAt, size int64, tiles []byte, index int64, root []byte) (*InclusionProof, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("record %d is not in a batch of %d records", index+1, size)
	}
	nodes, err := proof.Inclusion(uint64(index), uint64(size))
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(nodes.IDs))
	buf := make([]byte, 32<<TileHeight)
	for i, id := range nodes.IDs {
		begin, end := id.Coverage()
		// A proof node is a perfect subtree: its hash is the root of its
		// leaves (or of its tiles) taken as a tree of their own.
		r := lineageRanges.NewEmptyRange(0)
		if id.Level >= TileHeight && uint64(len(tiles)) >= (end>>TileHeight)*32 {
			for k := begin >> TileHeight; k < end>>TileHeight; k++ {
				if err := r.Append(tiles[k*32:(k+1)*32], nil); err != nil {
					return nil, err
				}
			}
		} else {
			for lo := begin; lo < end; lo += 1 << TileHeight {
				hi := min(end, lo+1<<TileHeight)
				chunk := buf[:(hi-lo)*32]
				if _, err := leaves.ReadAt(chunk, int64(lo*32)); err != nil {
					return nil, fmt.Errorf("lineage file: leaves %d..%d: %w", lo, hi, err)
				}
				for j := 0; j < len(chunk); j += 32 {
					if err := r.Append(append([]byte(nil), chunk[j:j+32]...), nil); err != nil {
						return nil, err
					}
				}
			}
		}
		if hashes[i], err = r.GetRootHash(nil); err != nil {
			return nil, err
		}
	}
	if hashes, err = nodes.Rehash(hashes, hashChildren); err != nil {
		return nil, err
	}
	leaf := make([]byte, 32)
	if _, err := leaves.ReadAt(leaf, index*32); err != nil {
		return nil, fmt.Errorf("lineage file: leaf %d: %w", index, err)
	}
	p := &InclusionProof{Ordinal: index + 1, Index: index, Size: size, LeafHash: hex.EncodeToString(leaf), Root: hex.EncodeToString(root)}
	for _, x := range hashes {
		p.Hashes = append(p.Hashes, hex.EncodeToString(x))
	}
	if err := p.Verify(); err != nil {
		return nil, fmt.Errorf("the lineage file or its tiles do not match the recorded root %x: %w", root, err)
	}
	return p, nil
}

// ParseInclusionProof reads a proof as `pawl audit prove` writes it: one
// JSON object with exactly the members of InclusionProof, each once and
// spelled as written, and nothing after it. encoding/json alone matches
// member names case-insensitively, keeps the last of duplicate members and
// ignores what follows the first value, so different files would be read
// as the same proof. It does not check the proof: Verify does.
func ParseInclusionProof(b []byte) (*InclusionProof, error) {
	canon, err := canonjson.CanonicalizeObject(b)
	if err != nil {
		return nil, fmt.Errorf("not an inclusion proof: %w", err)
	}
	var p InclusionProof
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("not an inclusion proof: %w", err)
	}
	again, err := canonjson.Marshal(&p)
	if err != nil {
		return nil, fmt.Errorf("not an inclusion proof: %w", err)
	}
	if !bytes.Equal(again, canon) {
		return nil, fmt.Errorf("not an inclusion proof as pawl writes it: a member is missing, misspelled or not of its type")
	}
	return &p, nil
}

// hexHash decodes a SHA-256 hash in the one spelling pawl writes:
// 64 lower-case hex digits.
func hexHash(s string) ([]byte, bool) {
	b, err := hex.DecodeString(s)
	return b, err == nil && len(b) == 32 && hex.EncodeToString(b) == s
}

// Verify checks the proof on its own: the leaf hash and the proof hashes
// give the root. It needs nothing but the proof. Hashes must be spelled as
// pawl writes them (lower-case hex), so that a proof that verifies has one
// spelling and its root compares equal, as text, to the signature's.
func (p *InclusionProof) Verify() error {
	leaf, ok := hexHash(p.LeafHash)
	if !ok {
		return fmt.Errorf("proof: bad leaf hash (want 64 lower-case hex digits)")
	}
	root, ok := hexHash(p.Root)
	if !ok {
		return fmt.Errorf("proof: bad root (want 64 lower-case hex digits)")
	}
	hs := make([][]byte, len(p.Hashes))
	for i, s := range p.Hashes {
		if hs[i], ok = hexHash(s); !ok {
			return fmt.Errorf("proof: bad hash %d (want 64 lower-case hex digits)", i)
		}
	}
	if p.Index != p.Ordinal-1 {
		return fmt.Errorf("proof: leaf index %d does not belong to ordinal %d", p.Index, p.Ordinal)
	}
	if p.Index < 0 || p.Index >= p.Size {
		return fmt.Errorf("proof: leaf index %d is not in a tree of %d leaves", p.Index, p.Size)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.Index), uint64(p.Size), leaf, hs, root); err != nil {
		return fmt.Errorf("proof: record %d is not proved part of the tree with root %s: %v", p.Ordinal, p.Root, err)
	}
	return nil
}

// VerifyFor checks the proof (Verify) and that it is a proof in the tree
// a signature vouches for: the batch, the root and the tree size the
// signature carries. The root alone does not fix the tree size: an RFC
// 6962 audit path for leaf i of n leaves often also verifies as one for
// leaf i of some other n under the same root (the hashes are the same,
// only the claim differs), so the size must come from the signed record
// too.
func (p *InclusionProof) VerifyFor(batchID, root string, size int64) error {
	if err := p.Verify(); err != nil {
		return err
	}
	if p.BatchID != batchID || p.Root != root || p.Size != size {
		return fmt.Errorf("proof: for batch %s, root %s, %d leaves; the signature is of batch %s, root %s, %d leaves",
			p.BatchID, p.Root, p.Size, batchID, root, size)
	}
	return nil
}

// ReasonsDigest is the SHA-256 of the canonical JSON object
// {"actions":actions,"reasons":reasons}; each argument is a JSON array (nil
// for an empty one).
func ReasonsDigest(actions, reasons []byte) ([32]byte, error) {
	if actions == nil {
		actions = []byte("[]")
	}
	if reasons == nil {
		reasons = []byte("[]")
	}
	var b bytes.Buffer
	b.WriteString(`{"actions":`)
	b.Write(actions)
	b.WriteString(`,"reasons":`)
	b.Write(reasons)
	b.WriteString(`}`)
	c, err := canonicalDetails(b.Bytes())
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(c), nil
}
