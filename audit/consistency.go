package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// MaxConsistencyProof is the most hashes a consistency proof may hold: the
// C2SP tlog-witness protocol caps a request at 63 proof lines, and no tree
// of fewer than 2^63 leaves needs more.
const MaxConsistencyProof = 63

// ConsistencyProof is the RFC 6962 (§2.1.2) proof that the tree over the
// trail's first newSize entries extends the tree over its first oldSize:
// the hashes a verifier holding both roots needs, and nothing else. Which
// nodes those are is transparency-dev/merkle's proof.Consistency; their
// hashes are the perfect subtrees the compact range reports while the
// entries are appended. 0 < oldSize <= newSize <= the trail's size.
func (t *Trail) ConsistencyProof(ctx context.Context, oldSize, newSize int64) ([][]byte, error) {
	if oldSize < 1 || oldSize > newSize {
		return nil, fmt.Errorf("audit: consistency proof from %d to %d entries: want 1 <= old size <= new size", oldSize, newSize)
	}
	nodes, err := proof.Consistency(uint64(oldSize), uint64(newSize))
	if err != nil {
		return nil, err
	}
	want := make(map[compact.NodeID]int, len(nodes.IDs))
	for i, id := range nodes.IDs {
		want[id] = i
	}
	hashes := make([][]byte, len(nodes.IDs))
	if _, err := t.tree(ctx, newSize, func(id compact.NodeID, h []byte) {
		if i, ok := want[id]; ok {
			hashes[i] = bytes.Clone(h)
		}
	}); err != nil {
		return nil, err
	}
	for i, h := range hashes {
		if h == nil {
			return nil, fmt.Errorf("audit: consistency proof from %d to %d entries: node %+v was not computed", oldSize, newSize, nodes.IDs[i])
		}
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// VerifyConsistency checks a consistency proof between two tree heads
// with transparency-dev/merkle's RFC 6962 verifier.
func VerifyConsistency(oldSize, newSize int64, hashes [][]byte, oldRoot, newRoot []byte) error {
	if oldSize < 1 || oldSize > newSize {
		return fmt.Errorf("a consistency proof from %d to %d entries: want 1 <= old size <= new size", oldSize, newSize)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(oldSize), uint64(newSize), hashes, oldRoot, newRoot); err != nil {
		var mismatch proof.RootMismatchError
		if errors.As(err, &mismatch) {
			return fmt.Errorf("the consistency proof from %d to %d entries does not verify: its hashes do not lead from the old root to the new one", oldSize, newSize)
		}
		return fmt.Errorf("the consistency proof from %d to %d entries does not verify: %v", oldSize, newSize, err)
	}
	return nil
}

// AddCheckpoint is the body of a C2SP tlog-witness add-checkpoint request:
// the size of the checkpoint the witness holds, the consistency proof from
// it, and the new signed checkpoint. It is also the form in which `pawl
// audit prove --consistency` writes a proof: whoever holds the old
// checkpoint checks it offline, and a witness takes the same bytes.
type AddCheckpoint struct {
	OldSize    int64
	Proof      [][]byte
	Checkpoint []byte // a signed note
}

// Format renders the request body: "old N", one base64 hash a line, an
// empty line, the signed checkpoint.
func (a AddCheckpoint) Format() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", a.OldSize)
	for _, h := range a.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(a.Checkpoint)
	return b.Bytes()
}

// ParseAddCheckpoint reads an add-checkpoint body in its one spelling (as
// Format writes it): the old size in decimal without sign or leading zeros,
// at most 63 hashes of 32 bytes in canonical base64, none when the old size
// is 0, and a checkpoint body whose size is at least the old size. The
// checkpoint's signatures are not checked here.
func ParseAddCheckpoint(b []byte) (AddCheckpoint, error) {
	var a AddCheckpoint
	head, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok || !bytes.HasPrefix(head, []byte("old ")) {
		return a, errors.New(`not a consistency proof: the first line must be "old SIZE"`)
	}
	num := string(head[len("old "):])
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != num {
		return a, fmt.Errorf("not a consistency proof: bad old size %q", num)
	}
	a.OldSize = n
	for line := 2; ; line++ {
		l, r, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return a, errors.New("not a consistency proof: no empty line before the checkpoint")
		}
		rest = r
		if len(l) == 0 {
			break
		}
		if len(a.Proof) == MaxConsistencyProof {
			return a, fmt.Errorf("not a consistency proof: more than %d hashes", MaxConsistencyProof)
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(l))
		if err != nil || len(h) != 32 || base64.StdEncoding.EncodeToString(h) != string(l) {
			return a, fmt.Errorf("not a consistency proof: line %d is not a 32-byte hash in canonical base64", line)
		}
		a.Proof = append(a.Proof, h)
	}
	if a.OldSize == 0 && len(a.Proof) > 0 {
		return a, errors.New("not a consistency proof: a proof from size 0 holds no hash")
	}
	size, err := CheckpointSize(rest)
	if err != nil {
		return a, fmt.Errorf("not a consistency proof: %v", err)
	}
	if size < a.OldSize {
		return a, fmt.Errorf("not a consistency proof: the checkpoint has %d entries, fewer than the old size %d", size, a.OldSize)
	}
	a.Checkpoint = rest
	return a, nil
}

// ParseCheckpointBody reads the unsigned body of a signed checkpoint note
// (origin, size, root), checking nothing but its form.
func ParseCheckpointBody(cp []byte) (Checkpoint, error) {
	split := bytes.LastIndex(cp, []byte("\n\n"))
	if split < 0 {
		return Checkpoint{}, errors.New("not a signed checkpoint: no signature block")
	}
	return parseCheckpoint(string(cp[:split+1]))
}

// tree appends the hashes of entries 1..size to a compact range, reports
// every perfect subtree to visit, and returns the root.
func (t *Trail) tree(ctx context.Context, size int64, visit compact.VisitFn) ([]byte, error) {
	rows, err := t.r.QueryContext(ctx, "SELECT seq, hash FROM entries WHERE seq <= ? ORDER BY seq", size)
	if err != nil {
		return nil, fmt.Errorf("audit: tree of %s: %w", t.path, err)
	}
	defer rows.Close()
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	var n int64
	for rows.Next() {
		var seq int64
		var h string
		if err := rows.Scan(&seq, &h); err != nil {
			return nil, err
		}
		n++
		if seq != n {
			return nil, fmt.Errorf("audit: tree of %s: entry %d missing (seq jumps to %d): run pawl audit verify", t.path, n, seq)
		}
		raw, ok := hexHash(strings.TrimPrefix(h, "sha256:"))
		if !ok {
			return nil, fmt.Errorf("audit: tree of %s: entry %d has a malformed hash", t.path, seq)
		}
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(raw), visit); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if n != size {
		return nil, fmt.Errorf("audit: tree of %s: the trail has %d entries, fewer than %d", t.path, n, size)
	}
	if n == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

// OpenCheckpoint verifies a signed checkpoint with pub alone, as the key
// named by the checkpoint's own origin, without the trail: what an offline
// verifier holding only the public key does. Other signatures on the note
// (witnesses' cosignatures) are ignored; the trail key's must be there
// once, in its one spelling.
func OpenCheckpoint(cp []byte, pub ed25519.PublicKey) (Checkpoint, error) {
	body, err := ParseCheckpointBody(cp)
	if err != nil {
		return Checkpoint{}, &CheckpointError{err.Error()}
	}
	v, err := NoteVerifier(body.Origin, pub)
	if err != nil {
		return Checkpoint{}, err
	}
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		var uv *note.UnverifiedNoteError
		if errors.As(err, &uv) {
			return Checkpoint{}, &CheckpointError{fmt.Sprintf("the checkpoint of %s is not signed by the key given (signed by %s)", body.Origin, signerNames(uv.Note))}
		}
		return Checkpoint{}, &CheckpointError{fmt.Sprintf("the checkpoint does not verify: %v", err)}
	}
	if err := checkSignatureLines(cp, v.Name(), v.KeyHash()); err != nil {
		return Checkpoint{}, &CheckpointError{fmt.Sprintf("the checkpoint is not as pawl signs it: %v", err)}
	}
	return parseCheckpoint(n.Text)
}

// VerifierKey is the signed-note verifier key (name+hash+base64, C2SP
// signed-note) of the trail key pub for origin: what a witness is told to
// trust for the trail.
func VerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	return note.NewEd25519VerifierKey(origin, pub)
}
