package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/engine/seal"
)

// TestInspectPackageVerifiesWithNothingElse is issue 12's done-when: a
// project with an e-signature, a correction, a denied export and a failed
// passphrase, its engine key rotated; `pawl inspect` writes the package, which verifies with
// `pawl audit verify --package` and with the bundled verify.py (no project,
// no network). One byte of entries.jsonl edited, keys.json swapped, the
// last line dropped, SHA256SUMS altered: both fail, naming the problem.
// Then inspect refuses a used directory and a project that does not
// verify, each on record.
func TestInspectPackageVerifiesWithNothingElse(t *testing.T) {
	py := tooltest.Need(t, "python3")
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "admin", "--role", "approver=policy_admin")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"+`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":"hot","unit":"celsius"}`+"\n"), 0o644)
	var res map[string]any
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")), &res)
	id, _ := res["batch_id"].(string)
	if id == "" {
		t.Fatalf("run: %v", res)
	}
	mustPawl(t, "-C", dir, "operator", "add", "alice", "--name", "Alice Example", "--passphrase-fd", passFD(t, brokenPass), "--reason", "QA")
	grant(t, dir, "alice", "approver")
	if code, _, errs := pawl(t, "", "-C", dir, "sign", id, "--meaning", "approved", "--operator", "alice", "--reason", "release", "--passphrase-fd", passFD(t, "not the pass phrase")); code != 1 || !strings.Contains(errs, "wrong passphrase") {
		t.Fatalf("a wrong passphrase: exit %d %s", code, errs)
	}
	mustPawl(t, "-C", dir, "sign", id, "--meaning", "approved", "--operator", "alice", "--reason", "release", "--passphrase-fd", passFD(t, brokenPass))
	// The engine key rotated between the batch and its correction: each
	// batch's signature and checkpoint verify under the key of its time.
	mustPawl(t, "-C", dir, "key", "rotate", "--reason", "annual rotation")
	fixed := filepath.Join(t.TempDir(), "fixed.json")
	os.WriteFile(fixed, []byte(`{"device_id":"AB-123456","timestamp":"2026-11-24T10:05:00Z","value":22,"unit":"celsius"}`), 0o644)
	mustPawl(t, "-C", dir, "quarantine", "resubmit", id, "2", "--file", fixed, "--reason", "the value was typed as text")
	if code, _, errs := pawl(t, "", "-C", dir, "export", id, "--to", "file://"+t.TempDir()+"/", "--purpose", "test"); code != 3 {
		t.Fatalf("an export to a destination not whitelisted: exit %d %s", code, errs)
	}

	// What the inspector holds from before: a checkpoint, the key history.
	held := t.TempDir()
	mustPawl(t, "-C", dir, "audit", "checkpoint", "--out", filepath.Join(held, "checkpoint"))
	os.WriteFile(filepath.Join(held, "keys.json"), []byte(mustPawl(t, "-C", dir, "key", "history", "--output", "json")), 0o644)

	pkg := filepath.Join(t.TempDir(), "for-the-inspector")
	out := mustPawl(t, "-C", dir, "inspect", pkg, "--reason", "inspection 2026")
	if !strings.Contains(out, "verify.py") || !strings.Contains(out, "audit verify --package") {
		t.Fatalf("inspect says not how to check the package:\n%s", out)
	}
	entries := string(mustRead(t, filepath.Join(pkg, "entries.jsonl")))
	for _, a := range []string{`"action":"esign.signed"`, `"action":"esign.failed"`, `"action":"record.resubmitted"`, `"allow":false`} {
		if !strings.Contains(entries, a) {
			t.Errorf("entries.jsonl lacks %s", a)
		}
	}
	// The report names each signer by their printed name, with the verdict.
	page := string(mustRead(t, filepath.Join(pkg, "report.html")))
	if !strings.Contains(page, `<tr class="esignature"><td>Alice Example</td><td>alice</td>`) || !strings.Contains(page, `<td>approved</td><td>release</td><td><span class="ok">valid</span></td>`) {
		t.Errorf("report.html does not show the e-signature with its printed name, meaning, reason and verdict")
	}
	// As a browser renders it: the Exceptions section, first, names the
	// wrong passphrase, the denied export and the key rotation; the page
	// shows the signer's printed name and the verdicts. A screenshot is
	// kept.
	if !strings.Contains(page, `<section id="exceptions">`) || strings.Index(page, `<section id="exceptions">`) > strings.Index(page, `id="batches"`) {
		t.Errorf("report.html does not open with its Exceptions section")
	}
	checkRenderedIn(t, filepath.Join(pkg, "report.html"), map[string][]string{
		"exceptions": {"Exceptions", "Failed e-signature", `e-signature of ` + id + ` as "alice" (meaning "approved") failed: wrong passphrase`,
			"Policy denial", "egress decision about batch:" + id + " denied", "Engine key rotation", "annual rotation",
			"Configuration or pin change", "No one approved or reviewed a batch they ran"},
		"": {"Alice Example", "approved", "release", "valid", "The plan it ran under"},
	}, true)
	if log := mustPawl(t, "-C", dir, "audit", "log", "--action", "audit.inspected"); !strings.Contains(log, "inspection 2026") {
		t.Fatalf("the package is not on record:\n%s", log)
	}

	// verify checks a package with both verifiers, from another working
	// directory and no project, and returns whether it verified and what
	// each said.
	other := t.TempDir()
	verify := func(t *testing.T, p string) (bool, string, bool, string) {
		t.Helper()
		code, out, errs := pawl(t, "", "-C", other, "audit", "verify", "--package", p)
		c := exec.Command(py, filepath.Join(p, "verify.py"), p)
		c.Dir = other
		pyOut, err := c.CombinedOutput()
		if code != 0 && code != exitNotVerified || err != nil && c.ProcessState.ExitCode() != 1 {
			t.Fatalf("exit %d / %v:\n%s%s\n%s", code, err, out, errs, pyOut)
		}
		return code == 0, out + errs, err == nil, string(pyOut)
	}
	if okGo, outGo, okPy, outPy := verify(t, pkg); !okGo || !okPy || !strings.Contains(outGo, "OK, ") || !strings.Contains(outPy, "OK, ") {
		t.Fatalf("the package as written does not verify:\npawl: %s\nverify.py: %s", outGo, outPy)
	} else if want := "2 batches, 2 e-signatures, 2 engine keys"; !strings.Contains(outGo, want) || !strings.Contains(outPy, want) {
		// The batch's, and the approval of the roles change (grant).
		t.Errorf("the verifiers did not count what the package holds:\n%s\n%s", outGo, outPy)
	}

	// Against what the inspector held: it agrees and extends; a stranger's
	// key, or a checkpoint of more than the package holds, fails.
	// verify.py takes the same two flags and must agree.
	python := func(args ...string) (int, string) {
		c := exec.Command(py, append([]string{filepath.Join(pkg, "verify.py"), pkg}, args...)...)
		out, _ := c.CombinedOutput()
		return c.ProcessState.ExitCode(), string(out)
	}
	heldArgs := []string{"--key", filepath.Join(held, "keys.json"), "--checkpoint", filepath.Join(held, "checkpoint")}
	if out := mustPawl(t, append([]string{"audit", "verify", "--package", pkg}, heldArgs...)...); !strings.Contains(out, "agrees with") || !strings.Contains(out, "extend the checkpoint") {
		t.Fatalf("against the held history and checkpoint:\n%s", out)
	}
	if code, out := python(heldArgs...); code != 0 || !strings.Contains(out, "agrees with") || !strings.Contains(out, "extend the checkpoint") {
		t.Fatalf("verify.py against the held history and checkpoint: exit %d\n%s", code, out)
	}
	stranger, _, _ := ed25519Key(t)
	os.WriteFile(filepath.Join(held, "stranger.pub"), []byte(seal.FormatPublicKey(stranger)+"\n"), 0o644)
	mustPawl(t, "-C", dir, "audit", "checkpoint", "--out", filepath.Join(held, "later"))
	// A list of keys that holds every key of the trail agrees; one key
	// short, it does not.
	all := readKeyHistory(t, filepath.Join(held, "keys.json"))
	os.WriteFile(filepath.Join(held, "all.pub"), []byte("# the engine keys\n"+strings.Join(all, "\n")+"\n"), 0o644)
	os.WriteFile(filepath.Join(held, "short.pub"), []byte(strings.Join(all[1:], "\n")+"\n"), 0o644)
	if code, out := python("--key", filepath.Join(held, "all.pub"), "--checkpoint", filepath.Join(held, "checkpoint")); code != 0 {
		t.Errorf("verify.py with a list of every key: exit %d\n%s", code, out)
	}
	for flag, file := range map[string]string{"--key": "stranger.pub", "--checkpoint": "later", "--key ": "short.pub"} {
		flag = strings.TrimSpace(flag)
		if code, out, _ := pawl(t, "", "audit", "verify", "--package", pkg, flag, filepath.Join(held, file)); code != exitNotVerified || !strings.Contains(out, "FAILED: trusted ") {
			t.Errorf("%s %s: exit %d\n%s", flag, file, code, out)
		}
		if code, out := python(flag, filepath.Join(held, file)); code != 1 || !strings.Contains(out, "FAILED: trusted ") {
			t.Errorf("verify.py %s %s: exit %d\n%s", flag, file, code, out)
		}
	}

	// Each tamper on a copy of the package: both verifiers fail, each
	// naming every wanted problem.
	tamper := func(name string, edit func(t *testing.T, p string), want ...string) {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "pkg")
			if err := os.CopyFS(p, os.DirFS(pkg)); err != nil {
				t.Fatal(err)
			}
			edit(t, p)
			okGo, outGo, okPy, outPy := verify(t, p)
			if okGo || okPy {
				t.Fatalf("a tampered package verifies:\npawl: %s\nverify.py: %s", outGo, outPy)
			}
			for _, w := range want {
				if !strings.Contains(outGo, w) || !strings.Contains(outPy, w) {
					t.Errorf("want %q from both:\npawl: %s\nverify.py: %s", w, outGo, outPy)
				}
			}
		})
	}
	rewrite := func(t *testing.T, path string, f func([]byte) []byte) {
		t.Helper()
		b := mustRead(t, path)
		if err := os.WriteFile(path, f(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tamper("one byte of entries.jsonl", func(t *testing.T, p string) {
		rewrite(t, filepath.Join(p, "entries.jsonl"), func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"reason":"release"`), []byte(`"reason":"Release"`), 1)
		})
	}, "entries.jsonl: its sha256 is", "hash mismatch")
	tamper("keys.json swapped, SHA256SUMS updated", func(t *testing.T, p string) {
		var h map[string]any
		json.Unmarshal(mustRead(t, filepath.Join(p, "keys.json")), &h)
		pub, _, _ := ed25519Key(t)
		k := h["keys"].([]any)[0].(map[string]any)
		k["key"], k["key_id"] = seal.FormatPublicKey(pub), seal.KeyID(pub)
		b, _ := json.MarshalIndent(h, "", "  ")
		old := sha256Hex(mustRead(t, filepath.Join(p, "keys.json")))
		os.WriteFile(filepath.Join(p, "keys.json"), append(b, '\n'), 0o644)
		rewrite(t, filepath.Join(p, "SHA256SUMS"), func(s []byte) []byte {
			return bytes.Replace(s, []byte(old), []byte(sha256Hex(append(b, '\n'))), 1)
		})
	}, "keys.json: ", "SHA256SUMS.sig: the signature over SHA256SUMS does not verify")
	tamper("the last line of entries.jsonl dropped", func(t *testing.T, p string) {
		rewrite(t, filepath.Join(p, "entries.jsonl"), func(b []byte) []byte {
			return b[:bytes.LastIndexByte(b[:len(b)-1], '\n')+1]
		})
	}, "entries.jsonl: its sha256 is", "checkpoint: ")
	tamper("SHA256SUMS altered", func(t *testing.T, p string) {
		rewrite(t, filepath.Join(p, "SHA256SUMS"), func(b []byte) []byte { return bytes.Replace(b, []byte("  report.html\n"), []byte("  verify.py\n"), 1) })
	}, "SHA256SUMS.sig: the signature over SHA256SUMS does not verify", "report.html: not listed in SHA256SUMS")

	// The used directory, then a project that does not verify (the batch's
	// input in the store altered): refused, nothing written, each on record.
	if code, _, errs := pawl(t, "", "-C", dir, "inspect", pkg); code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("inspect into a used directory: exit %d %s", code, errs)
	}
	blob := filepath.Join(dir, ".pawl", "store", "sha256", sha256Hex(mustRead(t, in))[:2], sha256Hex(mustRead(t, in)))
	os.Chmod(blob, 0o644)
	if err := os.WriteFile(blob, []byte("altered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(t.TempDir(), "pkg")
	code, _, errs := pawl(t, "", "-C", dir, "inspect", fresh)
	if code != exitNotVerified || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "does not verify: batch "+id) || !strings.Contains(errs, "nothing was written") {
		t.Fatalf("inspect of a project that does not verify: exit %d %s", code, errs)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Fatalf("a refused inspect left %s: %v", fresh, err)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(fresh), ".*")); len(matches) != 0 {
		t.Fatalf("a refused inspect left %v", matches)
	}
	if log := mustPawl(t, "-C", dir, "audit", "log", "--action", "audit.inspect_refused"); strings.Count(log, "audit.inspect_refused") != 2 {
		t.Fatalf("the refusals are not on record:\n%s", log)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func ed25519Key(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey, error) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv, err
}

// readKeyHistory returns the public keys of a keys.json, oldest first.
func readKeyHistory(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Keys []struct {
			Key string `json:"key"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &h); err != nil || len(h.Keys) < 2 {
		t.Fatalf("%s: %v (%d keys; the test rotates the key once)", path, err, len(h.Keys))
	}
	var out []string
	for _, k := range h.Keys {
		out = append(out, k.Key)
	}
	return out
}
