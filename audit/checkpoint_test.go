package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

func checkpointKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// issue writes a checkpoint of the trail at p as it is now.
func issue(t *testing.T, p string, priv ed25519.PrivateKey) []byte {
	t.Helper()
	tr, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	cp, c, err := tr.SignCheckpoint(ctx, 0, priv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(cp), c.Origin+"\n") || !strings.Contains(string(cp), "\n— "+c.Origin+" ") {
		t.Fatalf("not a signed C2SP checkpoint:\n%s", cp)
	}
	return cp
}

func checkAgainst(t *testing.T, p string, cp []byte, pub ed25519.PublicKey) error {
	t.Helper()
	tr, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	_, err = tr.VerifyCheckpoint(ctx, cp, pub)
	return err
}

func TestCheckpointOfAnUntouchedTrailVerifiesAsItGrows(t *testing.T) {
	pub, priv := checkpointKey(t)
	p, _ := tamperedTrail(t, 5)
	cp := issue(t, p, priv)
	if err := checkAgainst(t, p, cp, pub); err != nil {
		t.Fatal(err)
	}
	tr, _ := Open(p)
	fillTrail(t, tr, 7)
	again, _, _ := tr.SignCheckpoint(ctx, 6, priv)
	tr.Close()
	if string(again) != string(cp) {
		t.Fatalf("a checkpoint of the same prefix differs:\n%s\n%s", cp, again)
	}
	if err := checkAgainst(t, p, cp, pub); err != nil {
		t.Fatalf("a grown trail no longer extends its old checkpoint: %v", err)
	}
}

func TestCheckpointDetectsDeletionOfTheNewestEntries(t *testing.T) {
	pub, priv := checkpointKey(t)
	p, es := tamperedTrail(t, 6)
	cp := issue(t, p, priv)
	attack(t, p, true, fmt.Sprintf("DELETE FROM entries WHERE seq > %d", es[4].Seq))
	if rep := verifyFile(t, p); !rep.OK {
		t.Fatalf("precondition: the truncated chain verifies on its own, got %s", rep.Problem)
	}
	err := checkAgainst(t, p, cp, pub)
	var ce *CheckpointError
	if !errors.As(err, &ce) || err.Error() != "the trail has 5 entries but the checkpoint vouches for 7: entries 6..7 were deleted" {
		t.Fatalf("deletion not detected: %v", err)
	}
}

func TestCheckpointDetectsARewriteOfTheWholeChain(t *testing.T) {
	pub, priv := checkpointKey(t)
	p, es := tamperedTrail(t, 6)
	cp := issue(t, p, priv)
	// The attacker edits entry 3 and re-hashes it and every later entry, so
	// that the chain is consistent again.
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
	if rep := verifyFile(t, p); !rep.OK {
		t.Fatalf("precondition: the rewritten chain verifies on its own, got %s", rep.Problem)
	}
	err := checkAgainst(t, p, cp, pub)
	if err == nil || !strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("rewrite not detected: %v", err)
	}
}

func TestCheckpointRefusesAnotherKeyOrTrail(t *testing.T) {
	pub, priv := checkpointKey(t)
	other, _ := checkpointKey(t)
	p, _ := tamperedTrail(t, 2)
	cp := issue(t, p, priv)
	v, _ := NoteVerifier(origin(t, p), pub)
	if err := checkAgainst(t, p, cp, other); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("not signed by this trail's key for %s (signed by %s+%08x)", origin(t, p), origin(t, p), v.KeyHash())) {
		t.Fatalf("another key: %v", err)
	}
	q, _ := tamperedTrail(t, 2)
	pubQ, privQ := checkpointKey(t)
	_ = privQ
	if err := checkAgainst(t, q, cp, pubQ); err == nil {
		t.Fatal("a checkpoint of another trail verified")
	}
	edited := []byte(strings.Replace(string(cp), "\n3\n", "\n2\n", 1))
	if string(edited) == string(cp) {
		t.Fatal("the edit changed nothing")
	}
	if err := checkAgainst(t, p, edited, pub); err == nil {
		t.Fatal("an edited checkpoint verified")
	}
}

// TestCheckpointHasOneSpelling: the signature line of a checkpoint has one
// spelling. x/mod's note.Open reads base64 leniently, so changing the last
// character before the padding to one that differs only in the (ignored)
// padding bits gave the same signature, and a second line by the same key
// was skipped unchecked: both verified before. The body's size and root
// have one spelling too (C2SP: no leading zeros).
func TestCheckpointHasOneSpelling(t *testing.T) {
	pub, priv := checkpointKey(t)
	p, _ := tamperedTrail(t, 3)
	cp := issue(t, p, priv)
	if err := checkAgainst(t, p, cp, pub); err != nil {
		t.Fatal(err)
	}
	// 68 signature bytes are 92 base64 characters ending in one '=': the
	// character before it carries two padding bits.
	pad := bytes.LastIndexByte(cp, '=') - 1
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	v := strings.IndexByte(alphabet, cp[pad])
	edited := bytes.Clone(cp)
	edited[pad] = alphabet[v^1]
	if err := checkAgainst(t, p, edited, pub); err == nil || !strings.Contains(err.Error(), "canonical base64") {
		t.Fatalf("a signature with padding bits set: %v", err)
	}
	sigLine := cp[bytes.LastIndex(cp, []byte("\n\n"))+2:]
	twice := append(bytes.Clone(cp), sigLine...)
	if err := checkAgainst(t, p, twice, pub); err == nil || !strings.Contains(err.Error(), "2 signatures") {
		t.Fatalf("the signature line twice: %v", err)
	}
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, text := range []string{"o\n08\n" + root + "\n", "o\n+8\n" + root + "\n", "o\n-0\n" + root + "\n",
		"o\n8\n" + root[:42] + "B=\n", "o\n8\n" + root + "\r\n"} {
		if c, err := parseCheckpoint(text); err == nil {
			t.Errorf("%q parsed as %+v", text, c)
		}
	}
	if c, err := parseCheckpoint("o\n1\n" + root + "\nextension\n"); err != nil || c.Size != 1 {
		t.Errorf("size 1 with an extension line: %+v %v", c, err)
	}
}

func origin(t *testing.T, p string) string {
	t.Helper()
	tr, err := OpenReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	return tr.Origin()
}

// TestCheckpointSizes: a checkpoint of the genesis entry alone (size 1) is
// issued and verifies; one of the empty tree (size 0), even signed with
// the trail's key, is refused: it would vouch for nothing.
func TestCheckpointSizes(t *testing.T) {
	pub, priv := checkpointKey(t)
	p, _ := tamperedTrail(t, 2)
	tr, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	one, c, err := tr.SignCheckpoint(ctx, 1, priv)
	if err != nil || c.Size != 1 {
		t.Fatalf("checkpoint of size 1: %+v %v", c, err)
	}
	signer, _ := NoteSigner(tr.Origin(), priv)
	empty, err := note.Sign(&note.Note{Text: string(Checkpoint{Origin: tr.Origin(), Size: 0, Root: rfc6962.DefaultHasher.EmptyRoot()}.Format())}, signer)
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if err := checkAgainst(t, p, one, pub); err != nil {
		t.Fatalf("checkpoint of size 1: %v", err)
	}
	err = checkAgainst(t, p, empty, pub)
	var ce *CheckpointError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "empty tree") {
		t.Fatalf("checkpoint of size 0: %v", err)
	}
}
