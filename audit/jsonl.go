package audit

import (
	"bytes"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// VerifyLines checks a trail exported one entry a line (each line the JSON
// form MarshalJSON writes, in seq order: entries.jsonl of a review
// package) with the checks Verify makes of the entries table: every hash,
// the chain of prev_hash links, seq from 1 without gaps, canonical times
// and details, times that never go backwards, the trail's own entries.
// A line must also be byte for byte the form MarshalJSON writes of the
// entry it holds, so that there is one spelling of an exported trail (an
// indented or re-encoded copy is refused). It returns the report, naming
// the first problem as Verify does, and the entries read up to it.
func VerifyLines(data []byte) (*Report, []Entry) {
	v := &verifier{rep: &Report{OK: true}}
	var out []Entry
	if len(data) > 0 && data[len(data)-1] != '\n' {
		v.fail(int64(bytes.Count(data, []byte("\n"))+1), "line %d does not end in a newline (the file was cut short)", bytes.Count(data, []byte("\n"))+1)
		return v.rep, nil
	}
	lines := bytes.Split(data, []byte("\n"))
	lines = lines[:len(lines)-1]
	last, lastHash := int64(0), GenesisPrevHash
	for i, line := range lines {
		var e Entry
		if err := e.UnmarshalJSON(line); err != nil {
			v.fail(int64(i+1), "line %d: %v", i+1, err)
			return v.rep, out
		}
		again, err := e.MarshalJSON()
		if err != nil || !bytes.Equal(again, line) {
			v.fail(e.Seq, "line %d (entry %d) is not in the form pawl writes (canonical JSON, keys in order, times with nine digits): byte %d differs", i+1, e.Seq, firstDiff(again, line))
			return v.rep, out
		}
		str := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
		v.rep.Entries++
		v.rep.Head = e.Hash
		v.checkEntry(e.Seq, last, lastHash, str(formatTime(e.Time)), str(e.Operator), str(e.OSUser), str(e.Action), str(e.Object), str(e.Reason), str(string(e.Details)), str(e.PrevHash), str(e.Hash))
		last, lastHash = e.Seq, e.Hash
		out = append(out, e)
	}
	if v.rep.Entries == 0 {
		v.fail(1, "entry 1: missing (no entries, not even the genesis entry)")
	}
	return v.rep, out
}

func firstDiff(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// RootOf is the RFC 6962 tree head over the hashes of entries (each
// entry's hash one leaf), as TreeRoot computes it from the database.
func RootOf(entries []Entry) ([]byte, error) {
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, e := range entries {
		raw, err := hex.DecodeString(strings.TrimPrefix(e.Hash, "sha256:"))
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("entry %d has a malformed hash", e.Seq)
		}
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(raw), nil); err != nil {
			return nil, err
		}
	}
	if len(entries) == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

// VerifyCheckpointOf is VerifyCheckpoint against entries held in memory
// (those VerifyLines read) instead of a trail's database: the checkpoint
// is signed by pub for origin, vouches for no more entries than there are,
// and the tree over its first Size entries has its root.
func VerifyCheckpointOf(cp []byte, origin string, pub ed25519.PublicKey, entries []Entry) (Checkpoint, error) {
	v, err := NoteVerifier(origin, pub)
	if err != nil {
		return Checkpoint{}, err
	}
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		var uv *note.UnverifiedNoteError
		if errors.As(err, &uv) {
			return Checkpoint{}, &CheckpointError{fmt.Sprintf("the checkpoint is not signed by the key for %s (signed by %s)", origin, signerNames(uv.Note))}
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
	if c.Origin != origin {
		return c, &CheckpointError{fmt.Sprintf("the checkpoint is for %s, this trail is %s", c.Origin, origin)}
	}
	if int64(len(entries)) < c.Size {
		return c, &CheckpointError{fmt.Sprintf("there are %d entries but the checkpoint vouches for %d: entries %d..%d are missing", len(entries), c.Size, len(entries)+1, c.Size)}
	}
	root, err := RootOf(entries[:c.Size])
	if err != nil {
		return c, &CheckpointError{err.Error()}
	}
	if !bytes.Equal(root, c.Root) {
		return c, &CheckpointError{fmt.Sprintf("the first %d entries are not the ones the checkpoint vouches for (root %s, checkpoint %s): the trail was rewritten",
			c.Size, base64.StdEncoding.EncodeToString(root), base64.StdEncoding.EncodeToString(c.Root))}
	}
	return c, nil
}

// OriginOf is the origin line of the checkpoints of the trail trailID.
func OriginOf(trailID string) string { return "pawl.dev/audit/" + trailID }
