package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Origin names the trail in its checkpoints (the first line of a C2SP
// tlog-checkpoint) and is the name of the key that signs them.
func (t *Trail) Origin() string { return OriginOf(t.id) }

// TreeRoot is the RFC 6962 Merkle tree head over the hashes of entries 1..size:
// each entry's hash (its 32 bytes) is one leaf. The tree lets a checkpoint
// vouch for a prefix of the trail in 32 bytes, and lets anyone holding an old
// checkpoint prove that the current trail extends it.
func (t *Trail) TreeRoot(ctx context.Context, size int64) ([]byte, error) {
	return t.tree(ctx, size, nil)
}

// Checkpoint is a parsed C2SP tlog-checkpoint of the trail.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   []byte
}

// Format renders the checkpoint body (before the signature).
func (c Checkpoint) Format() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}

func parseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return Checkpoint{}, errors.New("not a tlog checkpoint: want origin, size and root hash lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return Checkpoint{}, fmt.Errorf("not a tlog checkpoint: bad tree size %q", lines[1])
	}
	if size == 0 {
		// A trail always holds its genesis entry, and pawl never signs
		// the empty tree: such a checkpoint would vouch for nothing.
		return Checkpoint{}, errors.New("the checkpoint is of the empty tree: it vouches for no entry")
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("not a tlog checkpoint: bad root hash %q", lines[2])
	}
	c := Checkpoint{Origin: lines[0], Size: size, Root: root}
	// One spelling: the size in decimal without sign or leading zeros, the
	// root in padded base64 with zero padding bits (C2SP tlog-checkpoint),
	// as Format writes them.
	if head := len(lines[0]) + len(lines[1]) + len(lines[2]) + 3; string(c.Format()) != text[:head] {
		return Checkpoint{}, fmt.Errorf("not a tlog checkpoint: tree size %q or root hash %q is not in its one spelling", lines[1], lines[2])
	}
	return c, nil
}

// checkSignatureLines refuses a signed note (already opened) whose
// signature lines are not in their one spelling, or that carries other
// than exactly one signature by the key (name, hash). x/mod's note.Open
// decodes base64 leniently (non-zero padding bits read as zero, so a
// signature line has several spellings) and skips a repeated signature by
// a known key without checking it; pawl writes one line per checkpoint.
func checkSignatureLines(msg []byte, name string, hash uint32) error {
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return errors.New("no signature block")
	}
	ours := 0
	for i, line := range strings.Split(strings.TrimSuffix(string(msg[split+2:]), "\n"), "\n") {
		signer, b64, _ := strings.Cut(strings.TrimPrefix(line, "— "), " ")
		sig, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || base64.StdEncoding.EncodeToString(sig) != b64 || len(sig) < 4 {
			return fmt.Errorf("signature line %d is not in canonical base64", i+1)
		}
		if signer == name && binary.BigEndian.Uint32(sig) == hash {
			ours++
		}
	}
	if ours != 1 {
		return fmt.Errorf("%d signatures by the key for %s: a checkpoint carries one", ours, name)
	}
	return nil
}

// NoteSigner adapts an ed25519 key to a signed-note signer named name.
func NoteSigner(name string, key ed25519.PrivateKey) (note.Signer, error) {
	pub := key.Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	return &noteSigner{name: name, hash: v.KeyHash(), key: key}, nil
}

type noteSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

func (s *noteSigner) Name() string                    { return s.name }
func (s *noteSigner) KeyHash() uint32                 { return s.hash }
func (s *noteSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// NoteVerifier is the verifier matching NoteSigner.
func NoteVerifier(name string, pub ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return nil, err
	}
	return note.NewVerifier(vkey)
}

// SignCheckpoint writes the signed checkpoint of entries 1..size. With
// size 0 it covers the whole trail as it is now. The same size and key always
// give the same bytes (ed25519 is deterministic), so a checkpoint can be
// written again after a crash.
func (t *Trail) SignCheckpoint(ctx context.Context, size int64, key ed25519.PrivateKey) ([]byte, Checkpoint, error) {
	if size == 0 {
		head, err := t.Head(ctx)
		if err != nil {
			return nil, Checkpoint{}, err
		}
		size = head.Seq
	}
	root, err := t.TreeRoot(ctx, size)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	cp := Checkpoint{Origin: t.Origin(), Size: size, Root: root}
	signer, err := NoteSigner(cp.Origin, key)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	b, err := note.Sign(&note.Note{Text: string(cp.Format())}, signer)
	return b, cp, err
}

// CheckpointError says how the trail fails to extend a checkpoint.
type CheckpointError struct {
	Problem string
}

func (e *CheckpointError) Error() string { return e.Problem }

// VerifyCheckpoint proves that the trail, as it is now, extends the signed
// checkpoint cp: the signature verifies with pub, the checkpoint names this
// trail, the trail still holds at least as many entries, and the tree over
// its first Size entries has the same root. This is what detects deletion of
// the newest entries and a rewrite of the whole chain, which the hash chain
// alone cannot.
func (t *Trail) VerifyCheckpoint(ctx context.Context, cp []byte, pub ed25519.PublicKey) (Checkpoint, error) {
	v, err := NoteVerifier(t.Origin(), pub)
	if err != nil {
		return Checkpoint{}, err
	}
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		var uv *note.UnverifiedNoteError
		if errors.As(err, &uv) {
			return Checkpoint{}, &CheckpointError{fmt.Sprintf("the checkpoint is not signed by this trail's key for %s (signed by %s)", t.Origin(), signerNames(uv.Note))}
		}
		return Checkpoint{}, &CheckpointError{fmt.Sprintf("the checkpoint does not verify: %v", err)}
	}
	if err := checkSignatureLines(cp, v.Name(), v.KeyHash()); err != nil {
		return Checkpoint{}, &CheckpointError{fmt.Sprintf("the checkpoint is not as pawl signs it: %v", err)}
	}
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, &CheckpointError{err.Error()}
	}
	if c.Origin != t.Origin() {
		return c, &CheckpointError{fmt.Sprintf("the checkpoint is for %s, this trail is %s", c.Origin, t.Origin())}
	}
	head, err := t.Head(ctx)
	if err != nil {
		return c, err
	}
	if head.Seq < c.Size {
		return c, &CheckpointError{fmt.Sprintf("the trail has %d entries but the checkpoint vouches for %d: entries %d..%d were deleted", head.Seq, c.Size, head.Seq+1, c.Size)}
	}
	root, err := t.TreeRoot(ctx, c.Size)
	if err != nil {
		return c, &CheckpointError{err.Error()}
	}
	if !bytes.Equal(root, c.Root) {
		return c, &CheckpointError{fmt.Sprintf("the first %d entries of the trail are not the ones the checkpoint vouches for (root %s, checkpoint %s): the trail was rewritten",
			c.Size, base64.StdEncoding.EncodeToString(root), base64.StdEncoding.EncodeToString(c.Root))}
	}
	return c, nil
}

func signerNames(n *note.Note) string {
	if n == nil {
		return "nobody"
	}
	var names []string
	for _, s := range n.UnverifiedSigs {
		names = append(names, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, ", ")
}

// CheckpointSize reads the tree size a signed checkpoint claims, without
// checking its signature: a verifier that holds a history of keys picks
// with it the key that was in force when the checkpoint's last entry was
// written, then verifies with VerifyCheckpoint.
func CheckpointSize(cp []byte) (int64, error) {
	split := bytes.LastIndex(cp, []byte("\n\n"))
	if split < 0 {
		return 0, errors.New("not a signed checkpoint: no signature block")
	}
	c, err := parseCheckpoint(string(cp[:split+1]))
	if err != nil {
		return 0, err
	}
	return c.Size, nil
}
