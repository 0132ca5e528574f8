package review_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/pawl-dev/pawl/engine/seal"
)

var ctx = context.Background()

// reopen closes p and opens its project again, as the next command would.
func reopen(t *testing.T, p *project.Project) *project.Project {
	t.Helper()
	p.Close()
	q, err := engine.Open(ctx, p.Root, enginetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func mustVerify(t *testing.T, p *project.Project) *review.VerifyReport {
	t.Helper()
	rep, err := review.Verify(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("verify: %+v %v", rep.Audit, rep.Problems)
	}
	return rep
}

func signatureKey(t *testing.T, path string) string {
	t.Helper()
	chk, err := seal.VerifyFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return chk.KeyID
}

// TestRotationKeepsOldSignaturesValid: after `pawl key rotate` the batches
// signed before verify with the old key and those after with the new one;
// the old private key is gone; a signature or checkpoint of an old batch
// made again with the new key, or with a key outside the history, fails.
func TestRotationKeepsOldSignaturesValid(t *testing.T) {
	p := enginetest.NewProject(t)
	b1 := enginetest.Batch(t, p, enginetest.GoodReading)
	oldKey := p.Key
	cp1, _, err := review.Checkpoint(ctx, p, "tester", "before the rotation")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.RotateKey(ctx, "tester", ""); err == nil {
		t.Fatal("a rotation without a reason")
	}
	d, err := p.RotateKey(ctx, "tester", "yearly rotation")
	if err != nil {
		t.Fatal(err)
	}
	if d.OldKey != seal.FormatPublicKey(oldKey.Public) || d.NewKey != seal.FormatPublicKey(p.Key.Public) || d.AtRest != seal.AtRestPlain {
		t.Fatalf("rotation details %+v", d)
	}
	// The old private key is destroyed: nothing in the keys directory
	// holds its seed.
	ents, _ := os.ReadDir(p.KeysDir())
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(p.KeysDir(), e.Name()))
		if k, err := seal.LoadKey(p.KeysDir(), nil); err == nil && bytes.Equal(k.Public, oldKey.Public) || strings.Contains(string(b), "ed25519-private") && e.Name() != seal.PrivateFile {
			t.Fatalf("the old key survives in %s", e.Name())
		}
	}
	p = reopen(t, p)
	b2 := enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
	rep := mustVerify(t, p)
	if rep.Batches != 2 {
		t.Fatalf("%d batches", rep.Batches)
	}
	if signatureKey(t, b1.Signature) != oldKey.ID() || signatureKey(t, b2.Signature) != p.Key.ID() || oldKey.ID() == p.Key.ID() {
		t.Fatalf("signed by %s and %s; keys %s then %s", signatureKey(t, b1.Signature), signatureKey(t, b2.Signature), oldKey.ID(), p.Key.ID())
	}
	if _, err := review.VerifyCheckpoint(ctx, p, cp1, nil); err != nil {
		t.Fatalf("a checkpoint signed before the rotation: %v", err)
	}
	cp2, _, err := review.Checkpoint(ctx, p, "tester", "after")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := review.VerifyCheckpoint(ctx, p, cp2, nil); err != nil {
		t.Fatalf("a checkpoint signed after the rotation: %v", err)
	}
	if h, _ := seal.ReadHistory(ctx, p.Trail); len(h.Keys) != 2 {
		t.Fatalf("history %+v", h.Keys)
	}

	// The new key signing for an entry before the rotation: refused, by
	// the batch check and by the checkpoint check.
	e, _, _ := p.CommittedEntry(ctx, b1.BatchID)
	resign := func(k *seal.Key) {
		sig, err := seal.ForBatch(e, k)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := sig.Render()
		os.Chmod(b1.Signature, 0o644)
		os.WriteFile(b1.Signature, b, 0o444)
	}
	orig, _ := os.ReadFile(b1.Signature)
	resign(p.Key)
	rep, _ = review.Verify(ctx, p)
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "was the engine key for entries") {
		t.Fatalf("an old batch re-signed with the new key: %v", rep.Problems)
	}
	stranger := &seal.Key{}
	stranger.Public, stranger.Private, _ = ed25519GenerateKey()
	resign(stranger)
	rep, _ = review.Verify(ctx, p)
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "not in the trusted key history") {
		t.Fatalf("an old batch signed by a key outside the history: %v", rep.Problems)
	}
	os.Chmod(b1.Signature, 0o644)
	os.WriteFile(b1.Signature, orig, 0o444)
	mustVerify(t, p)
	cpNew, _, err := p.Trail.SignCheckpoint(ctx, e.Seq, p.Key.Private)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := review.VerifyCheckpoint(ctx, p, cpNew, nil); err == nil || !strings.Contains(err.Error(), "was the engine key for entries") {
		t.Fatalf("a checkpoint of entries before the rotation signed with the new key: %v", err)
	}
	// Recovery never signs an old batch with the new key: a lost
	// signature stays lost, and verify says so.
	os.Remove(b1.Signature)
	p = reopen(t, p)
	if _, err := os.Stat(b1.Signature); !os.IsNotExist(err) {
		t.Fatal("recovery signed a batch from before the rotation with the new key")
	}
	if rep, _ := review.Verify(ctx, p); rep.OK() {
		t.Fatal("a batch without its signature verifies")
	}
}

// TestRotationCutShort: killed after the new key is staged and before the
// entry, the old key stays in force; killed after the entry and before the
// key is put in place, the next open puts it in place.
func TestRotationCutShort(t *testing.T) {
	p := enginetest.NewProject(t)
	old := p.Key
	if _, err := seal.StageNextKey(p.KeysDir(), nil); err != nil {
		t.Fatal(err)
	}
	p = reopen(t, p)
	if !bytes.Equal(p.Key.Public, old.Public) {
		t.Fatal("a staged key that never reached the trail was put in place")
	}
	if _, err := os.Stat(filepath.Join(p.KeysDir(), seal.NextFile)); !os.IsNotExist(err) {
		t.Fatal("the staged key was kept")
	}
	// On record, not in place: what RotateKey leaves when killed at
	// rotate.after-record.
	next, _ := seal.StageNextKey(p.KeysDir(), nil)
	d, _ := seal.SignRotation(p.Trail.ID(), p.Key, next, seal.AtRestPlain)
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: "tester", Object: actions.EngineKeyObject, Reason: "x", Details: d}); err != nil {
		t.Fatal(err)
	}
	p = reopen(t, p)
	if !bytes.Equal(p.Key.Public, next.Public) {
		t.Fatal("the rotation on record was not finished")
	}
	if pub, _ := seal.ReadPublicKey(filepath.Join(p.KeysDir(), seal.PublicFile)); !bytes.Equal(pub, next.Public) {
		t.Fatal("engine.pub is not the key on record")
	}
	enginetest.Batch(t, p, enginetest.GoodReading)
	mustVerify(t, p)

	// A key file that is not the key on record is refused, with what to do.
	p.Close()
	other, _ := seal.StageNextKey(p.KeysDir(), nil)
	os.Rename(filepath.Join(p.KeysDir(), seal.NextFile), filepath.Join(p.KeysDir(), seal.PrivateFile))
	if _, err := engine.Open(ctx, p.Root, enginetest.Config()); err == nil || !strings.Contains(err.Error(), "restore that key from backup") || !strings.Contains(err.Error(), other.ID()) {
		t.Fatalf("an engine key the trail does not know: %v", err)
	}
}

// rewrite is the attack of the issue: with the database file and a key, a
// script changes entry seq's operator and reason, re-chains every later
// entry, and signs every batch signature and checkpoint again with key.
// With dropRotation it also removes the rotation entries and writes key
// into project.init, forging a history in which key was always the key.
func rewrite(t *testing.T, root string, seq int64, key *seal.Key, dropRotation bool) {
	t.Helper()
	l := project.NewLayout(root, ".pawl")
	ro, err := audit.OpenReadOnly(l.TrailPath())
	if err != nil {
		t.Fatal(err)
	}
	es, err := ro.List(ctx, audit.Filter{})
	ro.Close()
	if err != nil {
		t.Fatal(err)
	}
	var kept []audit.Entry
	for _, e := range es {
		if dropRotation && e.Action == actions.EngineKeyRotated {
			continue
		}
		if dropRotation && e.Action == actions.ProjectInit {
			var d actions.ProjectInitDetails
			json.Unmarshal(e.Details, &d)
			e.Details = bytes.Replace(e.Details, []byte(d.EngineKey), []byte(seal.FormatPublicKey(key.Public)), 1)
		}
		kept = append(kept, e)
	}
	for i := range kept {
		kept[i].Seq = int64(i + 1)
		if kept[i].Seq == seq {
			kept[i].Operator, kept[i].Reason = "mallory", "rewritten"
		}
		if i > 0 {
			kept[i].PrevHash = kept[i-1].Hash
		}
		kept[i].Hash = audit.ComputeHash(kept[i])
	}
	db, err := sql.Open("sqlite3", l.TrailPath())
	if err != nil {
		t.Fatal(err)
	}
	var triggers []string
	rows, _ := db.Query("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'")
	var names []string
	for rows.Next() {
		var n, s string
		rows.Scan(&n, &s)
		names, triggers = append(names, n), append(triggers, s)
	}
	rows.Close()
	stmts := []string{}
	for _, n := range names {
		stmts = append(stmts, "DROP TRIGGER "+n)
	}
	stmts = append(stmts, "DELETE FROM entries")
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range kept {
		if _, err := db.Exec("INSERT INTO entries (seq, time, operator, os_user, action, object, reason, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
			e.Seq, audit.FormatTime(e.Time), e.Operator, e.OSUser, e.Action, e.Object, e.Reason, string(e.Details), e.PrevHash, e.Hash); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range triggers {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	tr, err := audit.Open(l.TrailPath())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, e := range kept {
		if e.Action != actions.BatchCommitted {
			continue
		}
		br, _ := actions.Decode[actions.BatchRecord](e)
		dir := l.BatchDir(br.BatchID)
		sig, err := seal.ForBatch(e, key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := sig.Render()
		cp, _, err := tr.SignCheckpoint(ctx, e.Seq, key.Private)
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{actions.SignatureFile: b, actions.CheckpointFile: cp} {
			os.Chmod(filepath.Join(dir, name), 0o644)
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o444); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestKeyOnDiskAttack is the attack: someone who can read the
// engine key and write audit.db rewrites an entry's operator and reason,
// re-chains the trail and re-signs every batch signature and checkpoint.
// What catches it, honestly:
//   - with the key that signed the entry, the trail alone cannot: it
//     verifies. A checkpoint kept elsewhere (`audit verify --checkpoint`)
//     catches it. (Under `pawl serve`, users cannot read the key at all.)
//   - after a rotation the old key is destroyed: an entry from before it
//     cannot be re-signed, so the trail alone catches it;
//   - a forger who also rewrites the key history to make the new key the
//     only one is caught by the key history kept elsewhere (`--key`).
func TestKeyOnDiskAttack(t *testing.T) {
	setup := func(t *testing.T) (*project.Project, []byte, *seal.KeyHistory, int64) {
		p := enginetest.NewProject(t)
		b1 := enginetest.Batch(t, p, enginetest.GoodReading)
		enginetest.Batch(t, p, enginetest.GoodReading, enginetest.HotReading)
		e, _, _ := p.CommittedEntry(ctx, b1.BatchID)
		cp, _, err := review.Checkpoint(ctx, p, "tester", "kept by QA")
		if err != nil {
			t.Fatal(err)
		}
		return p, cp, p.Keys, e.Seq - 1 // the policy decision before the batch
	}
	readOnly := func(t *testing.T, root string) *project.Project {
		q, err := project.OpenReadOnly(ctx, root, enginetest.Config())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
	keptHistory := func(t *testing.T, h *seal.KeyHistory) *seal.KeyHistory {
		js, _ := json.Marshal(h)
		path := filepath.Join(t.TempDir(), "keys.json")
		os.WriteFile(path, js, 0o644)
		th, err := seal.ReadTrustedKeys(path)
		if err != nil {
			t.Fatal(err)
		}
		return th
	}

	t.Run("with the key in force", func(t *testing.T) {
		p, cp, _, seq := setup(t)
		key := p.Key
		p.Close()
		rewrite(t, p.Root, seq, key, false)
		q := readOnly(t, p.Root)
		if e, _ := q.Trail.Get(ctx, seq); e.Operator != "mallory" {
			t.Fatal("the rewrite did not happen")
		}
		if rep, _ := review.Verify(ctx, q); !rep.OK() {
			t.Fatalf("the attack as the issue found it should pass the trail alone (else this test tests nothing): %v", rep.Problems)
		}
		if _, err := review.VerifyCheckpoint(ctx, q, cp, nil); err == nil || !strings.Contains(err.Error(), "the trail was rewritten") {
			t.Fatalf("the checkpoint kept elsewhere: %v", err)
		}
	})

	t.Run("after a rotation", func(t *testing.T) {
		p, _, _, seq := setup(t)
		if _, err := p.RotateKey(ctx, "tester", "scheduled"); err != nil {
			t.Fatal(err)
		}
		newKey := p.Key
		p.Close()
		rewrite(t, p.Root, seq, newKey, false)
		rep, _ := review.Verify(ctx, readOnly(t, p.Root))
		if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "was the engine key for entries") {
			t.Fatalf("old batches re-signed with the key left on disk: %v", rep.Problems)
		}
	})

	t.Run("after a rotation, with the history forged", func(t *testing.T) {
		p, cp, _, seq := setup(t)
		if _, err := p.RotateKey(ctx, "tester", "scheduled"); err != nil {
			t.Fatal(err)
		}
		kept := keptHistory(t, p.Keys)
		newKey := p.Key
		p.Close()
		rewrite(t, p.Root, seq, newKey, true)
		q := readOnly(t, p.Root)
		if rep, _ := review.Verify(ctx, q); !rep.OK() {
			t.Fatalf("a wholly forged history passes the trail alone (else this test tests nothing): %v", rep.Problems)
		}
		if err := kept.Agrees(q.Keys); err == nil {
			t.Fatal("the key history kept elsewhere agrees with a forged one")
		}
		if _, err := review.VerifyCheckpoint(ctx, q, cp, kept); err == nil {
			t.Fatal("the checkpoint kept elsewhere verifies against a forged trail")
		}
	})
}

func ed25519GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(nil)
}

// TestRotationSealsTheKeyAtRest: with engine_key.secret_file set, a
// rotation writes the new key sealed and says so on record; the project
// opens with the secret, and without it is refused with what to set.
func TestRotationSealsTheKeyAtRest(t *testing.T) {
	p := enginetest.NewProject(t)
	secret := filepath.Join(t.TempDir(), "engine-key.secret")
	os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef-secret\n"), 0o400)
	p.Cfg.EngineKeySecretFile = secret
	d, err := p.RotateKey(ctx, "tester", "seal the key at rest")
	if err != nil {
		t.Fatal(err)
	}
	if d.AtRest != seal.AtRestSealed {
		t.Fatalf("at rest: %q", d.AtRest)
	}
	b, _ := os.ReadFile(filepath.Join(p.KeysDir(), seal.PrivateFile))
	if !strings.HasPrefix(string(b), "ed25519-private-sealed ") {
		t.Fatalf("the key file after a sealed rotation: %.30q", b)
	}
	p.Close()
	cfg := enginetest.Config()
	if _, err := engine.Open(ctx, p.Root, cfg); err == nil || !strings.Contains(err.Error(), "engine_key.secret_file") {
		t.Fatalf("a sealed key without its secret: %v", err)
	}
	cfg.EngineKeySecretFile = secret
	q, err := engine.Open(ctx, p.Root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	enginetest.Batch(t, q, enginetest.GoodReading)
	mustVerify(t, q)
}

// TestPackageOfATrailWithNoBatch: a project inspected before its first
// batch makes a package both verifiers accept (an empty lineage-roots.txt
// is no malformed line).
func TestPackageOfATrailWithNoBatch(t *testing.T) {
	p := enginetest.NewProject(t)
	pkg := filepath.Join(t.TempDir(), "pkg")
	if _, err := review.Inspect(ctx, p, pkg, "tester", "inspection before any batch"); err != nil {
		t.Fatal(err)
	}
	rep, err := review.VerifyPackage(pkg, review.PackageOptions{})
	if err != nil || !rep.OK() || rep.Batches != 0 {
		t.Fatalf("the package of a trail with no batch: %+v %v", rep, err)
	}
	py := tooltest.Need(t, "python3")
	if out, err := exec.Command(py, filepath.Join(pkg, "verify.py"), pkg).CombinedOutput(); err != nil || !strings.Contains(string(out), "OK, ") {
		t.Fatalf("verify.py: %v\n%s", err, out)
	}
}
