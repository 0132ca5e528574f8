package seal_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
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

var ctx = context.Background()

func newKey(t *testing.T) *seal.Key {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &seal.Key{Private: priv, Public: pub}
}

// trailWithKeys makes a trail whose project.init names keys[0] and which
// rotates through the others, with note entries between; it returns the
// trail and the seq of each key's entry.
func trailWithKeys(t *testing.T, keys ...*seal.Key) (*audit.Trail, []int64) {
	t.Helper()
	tr, err := audit.Open(filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	e, err := actions.Append(ctx, tr, actions.Record{Operator: "tester", Object: "project", Reason: "new",
		Details: actions.ProjectInitDetails{EngineKey: seal.FormatPublicKey(keys[0].Public), PawlVersion: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	seqs := []int64{e.Seq}
	for i := 1; i < len(keys); i++ {
		if _, err := tr.Append(ctx, audit.Entry{Operator: "tester", Action: "note.added", Object: "x", Details: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		d, err := seal.SignRotation(tr.ID(), keys[i-1], keys[i], seal.AtRestPlain)
		if err != nil {
			t.Fatal(err)
		}
		e, err := actions.Append(ctx, tr, actions.Record{Operator: "tester", Object: actions.EngineKeyObject, Reason: "rotate", Details: d})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	return tr, seqs
}

// TestKeyHistoryIsAChain: the history is project.init's key then each
// rotation's, and the key in force at an entry is the last one that
// started at or before it; a key outside the history, or a key of the
// history at an entry it was not in force, is refused.
func TestKeyHistoryIsAChain(t *testing.T) {
	a, b, c := newKey(t), newKey(t), newKey(t)
	tr, seqs := trailWithKeys(t, a, b, c)
	h, err := seal.ReadHistory(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Keys) != 3 || h.Keys[0].From != seqs[0] || h.Keys[1].From != seqs[1] || h.Keys[2].From != seqs[2] ||
		h.Keys[0].Until != seqs[1] || h.Keys[1].Until != seqs[2] || h.Keys[2].Until != 0 {
		t.Fatalf("history %+v, rotations at %v", h.Keys, seqs)
	}
	for seq, want := range map[int64]*seal.Key{1: a, seqs[0]: a, seqs[1] - 1: a, seqs[1]: b, seqs[2] - 1: b, seqs[2]: c, seqs[2] + 100: c} {
		if got, _ := h.At(seq); got.KeyID != seal.KeyID(want.Public) {
			t.Errorf("key at entry %d is %s, want %s", seq, got.KeyID, seal.KeyID(want.Public))
		}
		if err := h.Check(want.Public, seq); err != nil {
			t.Errorf("the key in force at entry %d: %v", seq, err)
		}
	}
	if err := h.Check(c.Public, seqs[1]); err == nil || !strings.Contains(err.Error(), "was the engine key for entries") {
		t.Errorf("the newest key for an entry before it: %v", err)
	}
	if err := h.Check(a.Public, seqs[2]); err == nil {
		t.Error("a rotated-out key accepted for an entry after its rotation")
	}
	if err := h.Check(newKey(t).Public, seqs[0]); err == nil || !strings.Contains(err.Error(), "not in the trusted key history") {
		t.Errorf("a key outside the history: %v", err)
	}
	if cur, ok := h.Current(); !ok || cur.KeyID != seal.KeyID(c.Public) {
		t.Errorf("current %+v", cur)
	}

	// The history as JSON, read back by a verifier: the same epochs, and
	// it agrees with the trail.
	js, _ := json.Marshal(h)
	path := filepath.Join(t.TempDir(), "keys.json")
	os.WriteFile(path, js, 0o644)
	th, err := seal.ReadTrustedKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := th.Agrees(h); err != nil {
		t.Fatal(err)
	}
	if err := th.Check(c.Public, seqs[1]); err == nil {
		t.Error("a history read from a file does not hold the epochs")
	}
	// A history kept before the last rotation still agrees; one that
	// differs in a key or an entry does not.
	old := *h
	old.Keys = append([]seal.KeyEpoch(nil), h.Keys[:2]...)
	old.Keys[1].Until = 0
	js, _ = json.Marshal(&old)
	os.WriteFile(path, js, 0o644)
	if th, err := seal.ReadTrustedKeys(path); err != nil || th.Agrees(h) != nil {
		t.Fatalf("a history from before the last rotation: %v", err)
	}
	forged := *h
	forged.Keys = append([]seal.KeyEpoch(nil), h.Keys...)
	forged.Keys[0].From++
	js, _ = json.Marshal(&forged)
	os.WriteFile(path, js, 0o644)
	if th, err := seal.ReadTrustedKeys(path); err != nil || th.Agrees(h) == nil {
		t.Fatalf("a history that moved the first key: %v", err)
	}
	// A history file whose rotation signatures were edited is refused.
	var raw map[string]any
	js, _ = json.Marshal(h)
	json.Unmarshal(js, &raw)
	raw["keys"].([]any)[1].(map[string]any)["new_signature"] = h.Keys[2].NewSignature
	js, _ = json.Marshal(raw)
	os.WriteFile(path, js, 0o644)
	if _, err := seal.ReadTrustedKeys(path); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a history with a signature moved: %v", err)
	}
	// A plain list of keys: any of them at any entry, and the trail must
	// hold none other.
	os.WriteFile(path, []byte("# trusted\n"+seal.FormatPublicKey(a.Public)+"\n\n"+seal.FormatPublicKey(b.Public)+"\n"), 0o644)
	th, err = seal.ReadTrustedKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := th.Check(b.Public, 1); err != nil {
		t.Error(err)
	}
	if err := th.Agrees(h); err == nil || !strings.Contains(err.Error(), seal.KeyID(c.Public)) {
		t.Errorf("a list without the trail's newest key: %v", err)
	}
}

// TestRotationThatDoesNotVerify: a rotation entry whose cross-signatures
// do not verify, or that rotates from a key that was not in force, breaks
// the history there; the keys before it are kept for the verifier.
func TestRotationThatDoesNotVerify(t *testing.T) {
	a, b, c := newKey(t), newKey(t), newKey(t)
	for name, forge := range map[string]func(tr *audit.Trail) actions.KeyRotatedDetails{
		"new key did not sign": func(tr *audit.Trail) actions.KeyRotatedDetails {
			d, _ := seal.SignRotation(tr.ID(), a, b, seal.AtRestPlain)
			e, _ := seal.SignRotation(tr.ID(), a, c, seal.AtRestPlain)
			d.NewSignature = e.NewSignature
			return d
		},
		"old key did not sign": func(tr *audit.Trail) actions.KeyRotatedDetails {
			// Whoever holds only a new key cannot sign for the old one.
			d, _ := seal.SignRotation(tr.ID(), c, b, seal.AtRestPlain)
			d.OldKey = seal.FormatPublicKey(a.Public)
			return d
		},
		"from a key not in force": func(tr *audit.Trail) actions.KeyRotatedDetails {
			d, _ := seal.SignRotation(tr.ID(), c, b, seal.AtRestPlain)
			return d
		},
		"another trail's rotation": func(tr *audit.Trail) actions.KeyRotatedDetails {
			d, _ := seal.SignRotation("another-trail", a, b, seal.AtRestPlain)
			return d
		},
	} {
		t.Run(name, func(t *testing.T) {
			tr, _ := trailWithKeys(t, a)
			if _, err := actions.Append(ctx, tr, actions.Record{Operator: "mallory", Object: actions.EngineKeyObject, Reason: "x", Details: forge(tr)}); err != nil {
				t.Fatal(err)
			}
			h, err := seal.ReadHistory(ctx, tr)
			if err == nil || !strings.Contains(err.Error(), actions.EngineKeyRotated) {
				t.Fatalf("a forged rotation: %v", err)
			}
			if len(h.Keys) != 1 || h.Keys[0].KeyID != seal.KeyID(a.Public) {
				t.Fatalf("the history before the break: %+v", h.Keys)
			}
			// The stand-alone script checks the chain of keys (not the
			// signatures: Python's standard library has no ed25519).
			if name == "from a key not in force" {
				py := tooltest.Need(t, "python3")
				out, err := exec.Command(py, filepath.Join("..", "..", "build", "verify-trail.py"), tr.Path()).CombinedOutput()
				if err == nil || !strings.Contains(string(out), "which is not the engine key in force") {
					t.Fatalf("verify-trail.py on a rotation from a key not in force: %v\n%s", err, out)
				}
			}
		})
	}
}
