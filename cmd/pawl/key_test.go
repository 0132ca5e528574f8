package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/seal"
)

// treeHash is every path under dir with its mode and content hash: what
// a read-only command must leave as it found it.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %v %d\n", rel, fi.Mode(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			s := sha256.Sum256(b)
			h.Write(s[:])
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}

// TestKeyRotateAndVerifyReadOnly: `pawl key rotate` on record, `key
// history` lists both keys; then a copy of the project made read-only,
// without its lock file, verifies — `audit verify`, `verify-signature` of a
// batch from before and after the rotation, `audit verify-proof`, `key
// history` — and not one byte, mode or time in it changes.
func TestKeyRotateAndVerifyReadOnly(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--role", "keeper=admin")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	out := mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json")
	b1 := out[strings.Index(out, `"batch_id": "`)+13:][:32]
	kept := filepath.Join(t.TempDir(), "keys-before.json")
	os.WriteFile(kept, []byte(mustPawl(t, "-C", dir, "key", "history", "--output", "json")), 0o644)

	if code, _, stderr := pawl(t, "", "-C", dir, "key", "rotate"); code != 2 || !strings.Contains(stderr, "--reason is required") {
		t.Fatalf("rotate without a reason: exit %d %s", code, stderr)
	}
	rot := mustPawl(t, "-C", dir, "key", "rotate", "--reason", "annual rotation", "--operator", "keeper")
	if !strings.Contains(rot, "engine key rotated at audit entry") || !strings.Contains(rot, "(plain at rest)") {
		t.Fatalf("rotate: %s", rot)
	}
	log := mustPawl(t, "-C", dir, "audit", "log", "--action", actions.EngineKeyRotated)
	if !strings.Contains(log, "keeper") || !strings.Contains(log, "annual rotation") {
		t.Fatalf("the rotation on record: %s", log)
	}
	hist := mustPawl(t, "-C", dir, "key", "history")
	if strings.Count(hist, "ed25519:") != 4 || !strings.Contains(hist, "to now") {
		t.Fatalf("key history:\n%s", hist)
	}
	os.WriteFile(in, []byte(good+"\n"+good+"\n"), 0o644)
	out = mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json")
	b2 := out[strings.Index(out, `"batch_id": "`)+13:][:32]
	proof := filepath.Join(t.TempDir(), "proof.json")
	mustPawl(t, "-C", dir, "audit", "prove", b1, "1", "--out", proof)

	// The copy: no lock file, nothing writable.
	cp := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", dir, cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.Remove(filepath.Join(cp, ".pawl", "lock"))
	if out, err := exec.Command("chmod", "-R", "a-w", cp).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", cp).Run() })
	before := treeHash(t, cp)
	v := mustPawl(t, "-C", cp, "audit", "verify", "--key", kept)
	if !strings.Contains(v, "batches: 2 checked") || !strings.Contains(v, "everything verifies") {
		t.Fatalf("audit verify of a read-only copy:\n%s", v)
	}
	for _, b := range []string{b1, b2} {
		mustPawl(t, "-C", cp, "verify-signature", filepath.Join(cp, ".pawl", "batches", b, actions.SignatureFile))
	}
	mustPawl(t, "-C", cp, "audit", "verify-proof", proof, "--signature", filepath.Join(cp, ".pawl", "batches", b1, actions.SignatureFile))
	mustPawl(t, "-C", cp, "key", "history", "--output", "json")
	if after := treeHash(t, cp); after != before {
		t.Fatal("a read-only command changed the copy")
	}
	if _, err := os.Stat(filepath.Join(cp, ".pawl", "lock")); err == nil {
		t.Fatal("verify took the project lock")
	}

	// The stand-alone script follows the key history too.
	py := tooltest.Need(t, "python3")
	script, _ := exec.Command(py, filepath.Join("..", "..", "build", "verify-trail.py"), filepath.Join(dir, ".pawl", "audit.db")).CombinedOutput()
	if strings.Count(string(script), "engine key ed25519:") != 2 || !strings.Contains(string(script), "to now") {
		t.Errorf("verify-trail.py does not list the key history:\n%s", script)
	}

	// A verifier holding only the keys from before the rotation: the new
	// key is not among them, and verify-signature of the new batch fails.
	oldPub := filepath.Join(t.TempDir(), "engine.pub")
	os.WriteFile(oldPub, []byte(firstKey(t, kept)+"\n"), 0o644)
	if code, stdout, stderr := pawl(t, "", "verify-signature", "--key", oldPub, filepath.Join(cp, ".pawl", "batches", b2, actions.SignatureFile)); code != exitNotVerified || strings.Contains(stdout, "OK") || !strings.Contains(stderr, "not in the trusted key history") {
		t.Fatalf("a batch signed by a key outside the trusted keys: exit %d\n%s%s", code, stdout, stderr)
	}
	mustPawl(t, "verify-signature", "--key", oldPub, filepath.Join(cp, ".pawl", "batches", b1, actions.SignatureFile))
	if code, stdout, _ := pawl(t, "", "-C", cp, "audit", "verify", "--key", oldPub); code != exitNotVerified || !strings.Contains(stdout, "is not a trusted key") {
		t.Fatalf("audit verify against keys without the current one: exit %d\n%s", code, stdout)
	}
}

// firstKey is the first key of a `key history --output json` file.
func firstKey(t *testing.T, path string) string {
	t.Helper()
	h, err := seal.ReadTrustedKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	return h.Keys[0].Key
}

// TestStrangerKeyFailsEveryVerifier: a batch's signature made again with a
// key that is not in the trail's key history — its content otherwise exactly
// what pawl signs — fails verify-signature, audit verify-proof --signature
// and audit verify, inside the project and with a history kept elsewhere.
func TestStrangerKeyFailsEveryVerifier(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	out := mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json")
	id := out[strings.Index(out, `"batch_id": "`)+13:][:32]
	hist := filepath.Join(t.TempDir(), "keys.json")
	os.WriteFile(hist, []byte(mustPawl(t, "-C", dir, "key", "history", "--output", "json")), 0o644)
	proof := filepath.Join(t.TempDir(), "proof.json")
	mustPawl(t, "-C", dir, "audit", "prove", id, "1", "--out", proof)

	sigPath := filepath.Join(dir, ".pawl", "batches", id, actions.SignatureFile)
	tr, err := audit.OpenReadOnly(filepath.Join(dir, ".pawl", "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	es, _ := tr.Find(context.Background(), actions.BatchCommitted, "batch:"+id)
	tr.Close()
	pub, priv, _ := ed25519.GenerateKey(nil)
	sig, err := seal.ForBatch(es[0], &seal.Key{Private: priv, Public: pub})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sig.Render()
	os.Chmod(sigPath, 0o644)
	os.WriteFile(sigPath, b, 0o444)
	if _, err := seal.VerifyFile(sigPath, nil); err != nil {
		t.Fatalf("the stranger's signature is well-formed: %v", err)
	}
	for _, c := range [][]string{
		{"-C", dir, "verify-signature", sigPath},
		{"verify-signature", "--key", hist, sigPath},
		{"-C", dir, "audit", "verify-proof", proof, "--signature", sigPath},
		{"audit", "verify-proof", proof, "--signature", sigPath, "--key", hist},
	} {
		if code, stdout, stderr := pawl(t, "", c...); code != exitNotVerified || strings.Contains(stdout, "OK") || !strings.Contains(stderr, "not in the trusted key history") {
			t.Errorf("pawl %s: exit %d\n%s%s", strings.Join(c, " "), code, stdout, stderr)
		}
	}
	if code, stdout, _ := pawl(t, "", "-C", dir, "audit", "verify"); code != exitNotVerified || !strings.Contains(stdout, "not in the trusted key history") {
		t.Errorf("audit verify: exit %d\n%s", code, stdout)
	}
}
