package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/build/tooltest"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/store"
)

// withManifest is the module wasm with its pawl.manifest section replaced
// by one edited by edit, and extra custom sections (other bytes, same
// manifest) before it.
func withManifest(t *testing.T, wasm []byte, edit func(string) string, extra ...string) []byte {
	t.Helper()
	out := append([]byte(nil), wasm[:8]...)
	var manifest string
	for i := 8; i < len(wasm); {
		id := wasm[i]
		size, n := binary.Uvarint(wasm[i+1:])
		end := i + 1 + n + int(size)
		body := wasm[i+1+n : end]
		if id == 0 {
			nl, k := binary.Uvarint(body)
			if string(body[k:k+int(nl)]) == sandbox.ManifestSection {
				manifest = string(body[k+int(nl):])
				i = end
				continue
			}
		}
		out = append(out, wasm[i:end]...)
		i = end
	}
	if manifest == "" {
		t.Fatal("no manifest in the module")
	}
	for _, x := range extra {
		out = sandbox.AppendCustomSection(out, "build", []byte(x))
	}
	return sandbox.AppendCustomSection(out, sandbox.ManifestSection, []byte(edit(manifest)))
}

func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	b := string(mustRead(t, path))
	if !strings.Contains(b, old) {
		t.Fatalf("%s has no %q", path, old)
	}
	os.WriteFile(path, []byte(strings.Replace(b, old, new, 1)), 0o644)
}

// TestPluginLifecycle: one project through a plugin's life — a -dev build
// re-added with new bytes, refused by the production policy, run once the
// bundle marks the project for development; `job check` reporting every
// refusal of the job's plugins before any data runs; `plugin remove`
// refused while a job uses the plugin and then done, with the batch that
// ran it still replaying; `policy revoke-plugin` and its refusals. Every
// refusal is on record.
func TestPluginLifecycle(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "admin", "--single-person")
	job := filepath.Join(dir, "jobs", "sensor-feed.yaml")
	base := mustRead(t, filepath.Join("..", "..", "plugins", "notblank", "notblank.wasm"))
	dev := func(s string) string { return strings.Replace(s, `"1.0.0"`, `"1.0.0-dev"`, 1) }
	w := t.TempDir()
	files := map[string][]byte{
		"dev1.wasm": withManifest(t, base, dev),
		"dev2.wasm": withManifest(t, base, dev, "second build"),
		"rel.wasm":  withManifest(t, base, func(s string) string { return s }),
		"rel2.wasm": withManifest(t, base, func(s string) string { return s }, "other bytes"),
	}
	for n, b := range files {
		os.WriteFile(filepath.Join(w, n), b, 0o644)
	}
	h1, h2 := store.HashBytes(files["dev1.wasm"]), store.HashBytes(files["dev2.wasm"])

	// A -dev version is re-added with new bytes: the pin is replaced, on
	// record with what it replaced; a released version is not.
	if out := mustPawl(t, "-C", dir, "plugin", "add", filepath.Join(w, "dev1.wasm"), "--reason", "try"); !strings.Contains(out, "development build") {
		t.Errorf("plugin add of a -dev build:\n%s", out)
	}
	if out := mustPawl(t, "-C", dir, "plugin", "add", filepath.Join(w, "dev2.wasm"), "--reason", "try again"); !strings.Contains(out, "replaced notblank@1.0.0-dev "+string(h1)) {
		t.Errorf("plugin add of a second -dev build does not say what it replaced:\n%s", out)
	}
	added := enginetest.TrailEntries(t, dir, actions.PluginAdded, "plugin:notblank@1.0.0-dev")
	if d, err := actions.Decode[actions.PluginAddedDetails](added[len(added)-1]); err != nil || d.Hash != h2 || d.Replaces != h1 {
		t.Errorf("the second -dev build on record: %+v %v; want hash %s replacing %s", d, err, h2, h1)
	}
	if lock := string(mustRead(t, filepath.Join(dir, "pawl.lock"))); !strings.Contains(lock, string(h2)) || strings.Contains(lock, string(h1)) {
		t.Errorf("pawl.lock does not pin the second build alone:\n%s", lock)
	}
	mustPawl(t, "-C", dir, "plugin", "add", filepath.Join(w, "rel.wasm"), "--reason", "release")
	if code, _, errs := pawl(t, "", "-C", dir, "plugin", "add", filepath.Join(w, "rel2.wasm"), "--reason", "rebuilt"); code != 1 || !strings.Contains(errs, "a new build must carry a new version") || !strings.Contains(errs, `"-dev"`) {
		t.Errorf("re-adding a released version with other bytes: exit %d %s", code, errs)
	}
	if out := mustPawl(t, "-C", dir, "plugin", "add", filepath.Join(w, "rel.wasm"), "--reason", "again"); !strings.Contains(out, "already pinned") {
		t.Errorf("re-adding the same bytes is not idempotent:\n%s", out)
	}

	// The job uses the -dev build: job check passes (no policy is asked),
	// the production policy refuses to run it, a development project runs it.
	editFile(t, job, "validators:\n", "validators:\n  - plugin: notblank@1.0.0-dev\n")
	mustPawl(t, "-C", dir, "pin", "--reason", "try the dev build")
	if out := mustPawl(t, "-C", dir, "job", "check", "sensor-feed"); !strings.Contains(out, "OK  job sensor-feed") || !strings.Contains(out, "5 plugin(s)") {
		t.Errorf("job check of a good job:\n%s", out)
	}
	in := filepath.Join(w, "in.jsonl")
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	os.WriteFile(in, []byte(`{"device_id":"AB-123456","timestamp":"`+ts+`","value":21.5,"unit":"celsius"}`+"\n"), 0o644)
	if code, _, errs := pawl(t, "", "-C", dir, "run", "sensor-feed", "-i", in); code != 3 || !strings.Contains(errs, "plugins.dev_version") {
		t.Fatalf("a -dev build in production: exit %d %s", code, errs)
	}
	data := filepath.Join(dir, "policies", "data.json")
	editFile(t, data, `"plugins": {`, `"plugins": {"development": true,`)
	mustPawl(t, "-C", dir, "pin", "--reason", "a development project")
	var res struct {
		BatchID string `json:"batch_id"`
	}
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json")), &res)
	if res.BatchID == "" {
		t.Fatal("the -dev build did not run in a development project")
	}

	// --plugin-log: a build of the -dev plugin that logs (pawl.log) at init
	// and in every validate call; its output is shown on success.
	t.Run("plugin-log", func(t *testing.T) {
		wat2wasm := tooltest.Need(t, "wat2wasm")
		src := string(mustRead(t, filepath.Join("..", "..", "plugins", "notblank", "notblank.wat")))
		for old, new := range map[string]string{
			"(module\n": "(module\n  (import \"pawl\" \"log\" (func $log (param i32 i32)))\n  (data (i32.const 200) \"notblank-log: init ran\")\n  (data (i32.const 232) \"notblank-log: validate ran\")\n",
			`(func (export "pawl_init") (param i32 i32) (result i64) (i64.const 0))`: `(func (export "pawl_init") (param i32 i32) (result i64) (call $log (i32.const 200) (i32.const 22)) (i64.const 0))`,
			"(local.set $n (i32.load offset=8 (local.get $b)))":                      "(call $log (i32.const 232) (i32.const 26))\n    (local.set $n (i32.load offset=8 (local.get $b)))",
		} {
			if !strings.Contains(src, old) {
				t.Fatalf("notblank.wat has no %q", old)
			}
			src = strings.Replace(src, old, new, 1)
		}
		os.WriteFile(filepath.Join(w, "log.wat"), []byte(src), 0o644)
		if out, err := exec.Command(wat2wasm, filepath.Join(w, "log.wat"), "-o", filepath.Join(w, "log.wasm")).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm: %v\n%s", err, out)
		}
		manifest := strings.Replace(string(mustRead(t, filepath.Join("..", "..", "plugins", "notblank", "manifest.json"))), `"1.0.0"`, `"1.0.0-dev"`, 1)
		os.WriteFile(filepath.Join(w, "log.wasm"), sandbox.AppendCustomSection(mustRead(t, filepath.Join(w, "log.wasm")), sandbox.ManifestSection, []byte(manifest)), 0o644)
		mustPawl(t, "-C", dir, "plugin", "add", filepath.Join(w, "log.wasm"), "--reason", "a build that logs")
		out := mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--plugin-log")
		if !strings.Contains(out, "COMMITTED") || !strings.Contains(out, "  plugin output:\n    notblank@1.0.0-dev:\n      notblank-log: init ran\n      notblank-log: validate ran\n") {
			t.Errorf("run --plugin-log:\n%s", out)
		}
		// Without the flag nothing is shown; with --output json it is plugin_log.
		in2 := filepath.Join(w, "in2.jsonl")
		os.WriteFile(in2, append(mustRead(t, in), mustRead(t, in)...), 0o644)
		var js struct {
			PluginLog map[string]string `json:"plugin_log"`
		}
		json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in2, "--plugin-log", "--output", "json")), &js)
		if got := js.PluginLog["notblank@1.0.0-dev"]; !strings.HasPrefix(got, "notblank-log: init ran\n") || !strings.Contains(got, "validate ran") {
			t.Errorf("run --plugin-log --output json: plugin_log %q", js.PluginLog)
		}
		if out := mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in2); strings.Contains(out, "plugin output") {
			t.Errorf("run without --plugin-log shows plugin output:\n%s", out)
		}
	})

	// job check: every refusal, by plugin, step and config pointer.
	editFile(t, job, "config: {max_age: 24h, max_skew: 5m}", "config: {max_age: soon, max_skew: 5m, extra: 1}")
	editFile(t, job, "config: {k: 3, warmup: 30}", "config: {k: 3, warmup: 30, window: 0}")
	code, out, errs := pawl(t, "", "-C", dir, "job", "check", "sensor-feed", "--output", "json")
	var chk struct {
		Refusals []struct{ Plugin, Step, Path, Message string }
	}
	if err := json.Unmarshal([]byte(out), &chk); err != nil || code != 1 || !strings.Contains(errs, "3 refusal(s)") {
		t.Fatalf("job check of a bad config: exit %d %v\n%s%s", code, err, out, errs)
	}
	got := map[string]string{}
	for _, r := range chk.Refusals {
		got[r.Plugin+" "+r.Step+" "+r.Path] = r.Message
	}
	for _, want := range []string{"freshness@1.1.0 schema /extra", "freshness@1.1.0 schema /max_age", "zscore@2.1.0 schema /window"} {
		if _, ok := got[want]; !ok {
			t.Errorf("job check did not report %q; got %v", want, got)
		}
	}
	// A config the schema admits and the plugin's init refuses.
	editFile(t, job, "max_age: soon, max_skew: 5m, extra: 1", "max_age: 99999999999999h, max_skew: 5m")
	editFile(t, job, ", window: 0}", "}")
	code, out, _ = pawl(t, "", "-C", dir, "job", "check", "sensor-feed")
	if code != 1 || !strings.Contains(out, "freshness@1.1.0  init") || !strings.Contains(out, `max_age "99999999999999h": want a positive duration`) {
		t.Errorf("job check of a config refused at init: exit %d\n%s", code, out)
	}
	editFile(t, job, "max_age: 99999999999999h", "max_age: 24h")

	// plugin remove: refused while a job uses it, then done; the batch that
	// ran it still replays from the module kept in the store.
	if code, _, errs := pawl(t, "", "-C", dir, "plugin", "remove", "notblank@1.0.0-dev", "--reason", "done"); code != 1 || !strings.Contains(errs, "used by job sensor-feed") {
		t.Errorf("removing a plugin a job uses: exit %d %s", code, errs)
	}
	editFile(t, job, "  - plugin: notblank@1.0.0-dev\n", "")
	mustPawl(t, "-C", dir, "pin", "--weaken", "--reason", "the dev build is out")
	if code, _, errs := pawl(t, "", "-C", dir, "plugin", "remove", "notblank@1.0.0-dev"); code != 2 || !strings.Contains(errs, "needs --reason") {
		t.Errorf("plugin remove without a reason: exit %d %s", code, errs)
	}
	var pinned string // the last build added (h2, or the logging build)
	for _, l := range strings.Split(string(mustRead(t, filepath.Join(dir, "pawl.lock"))), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "plugin:notblank@1.0.0-dev" {
			pinned = f[1]
		}
	}
	if pinned == "" {
		t.Fatal("pawl.lock does not pin notblank@1.0.0-dev")
	}
	if out := mustPawl(t, "-C", dir, "plugin", "remove", "notblank@1.0.0-dev", "--reason", "done"); !strings.Contains(out, "unpinned notblank@1.0.0-dev (was "+pinned+")") {
		t.Errorf("plugin remove:\n%s", out)
	}
	if lock := string(mustRead(t, filepath.Join(dir, "pawl.lock"))); strings.Contains(lock, "notblank@1.0.0-dev") {
		t.Errorf("pawl.lock still pins the removed plugin:\n%s", lock)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "plugin", "remove", "notblank@1.0.0-dev", "--reason", "again"); code != 1 || !strings.Contains(errs, "is not pinned (pinned: freshness@1.1.0, notblank@1.0.0,") {
		t.Errorf("removing a plugin not pinned: exit %d %s", code, errs)
	}
	if out := mustPawl(t, "-C", dir, "audit", "replay", res.BatchID); !strings.Contains(out, "match") || strings.Contains(out, "MISMATCH") {
		t.Errorf("replay of a batch whose plugin was removed:\n%s", out)
	}
	if n := len(enginetest.TrailEntries(t, dir, actions.PluginRemoveRefused, "plugin:notblank@1.0.0-dev")); n != 2 {
		t.Errorf("%d plugin.remove_refused entries, want 2 (a usage error is refused before the project is opened)", n)
	}
	if rm := enginetest.TrailEntries(t, dir, actions.PluginRemoved, "plugin:notblank@1.0.0-dev"); len(rm) != 1 {
		t.Errorf("%d plugin.removed entries, want 1", len(rm))
	}

	// policy revoke-plugin: the inverse of approve-plugin.
	mustPawl(t, "-C", dir, "policy", "approve-plugin", "notblank@1.0.0", "--reason", "reviewed")
	if out := mustPawl(t, "-C", dir, "policy", "revoke-plugin", "notblank@1.0.0", "--reason", "withdrawn"); !strings.Contains(out, "revoked notblank@1.0.0 "+string(store.HashBytes(files["rel.wasm"]))) {
		t.Errorf("revoke-plugin:\n%s", out)
	}
	if b := string(mustRead(t, data)); strings.Contains(b, `"notblank"`) || !strings.Contains(b, `"range"`) {
		t.Errorf("data.json after the revocation:\n%s", b)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "policy", "revoke-plugin", "notblank@1.0.0", "--reason", "again"); code != 1 || !strings.Contains(errs, "is not approved") || !strings.Contains(errs, "range@1.1.0") {
		t.Errorf("revoking what is not approved: exit %d %s", code, errs)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "policy", "revoke-plugin", "range@1.1.0"); code != 2 || !strings.Contains(errs, "needs --reason") {
		t.Errorf("revoke-plugin without a reason: exit %d %s", code, errs)
	}
	if n := len(enginetest.TrailEntries(t, dir, actions.PluginRevoked, "plugin:notblank@1.0.0")); n != 1 {
		t.Errorf("%d policy.plugin_revoked entries, want 1", n)
	}
	if n := len(enginetest.TrailEntries(t, dir, actions.PluginRevokeRefused, "")); n != 1 {
		t.Errorf("%d policy.plugin_revoke_refused entries, want 1", n)
	}
}
