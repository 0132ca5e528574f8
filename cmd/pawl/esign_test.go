package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// passFD hands a passphrase over on a file descriptor, as a script would:
// a pipe holding the line, its read end duplicated for the command to own
// and close.
func passFD(t *testing.T, pass string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(pass + "\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	fd, err := syscall.Dup(int(r.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	return strconv.Itoa(fd)
}

func TestOperatorSignAndTraceViaPassphraseFD(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "admin", "--role", "approver=policy_admin")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"+`{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":"hot","unit":"celsius"}`+"\n"), 0o644)
	var res map[string]any
	grant(t, dir, "runner", "operator")
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z", "--reason", "nightly load", "--operator", "runner")), &res)
	id, _ := res["batch_id"].(string)
	if id == "" {
		t.Fatalf("run: %v", res)
	}
	const pass = "a long enough pass phrase"

	out := mustPawl(t, "-C", dir, "operator", "add", "alice", "--name", "Alice Example", "--passphrase-fd", passFD(t, pass), "--reason", "QA")
	if !strings.Contains(out, "enrolled alice (Alice Example)") {
		t.Fatalf("operator add: %s", out)
	}
	grant(t, dir, "alice", "approver")
	if code, _, errs := pawl(t, "", "-C", dir, "operator", "add", "bob", "--name", "Bob", "--passphrase-fd", passFD(t, "short"), "--reason", "QA"); code == 0 || !strings.Contains(errs, "at least 12") {
		t.Fatalf("short passphrase: exit %d %s", code, errs)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "operator", "add", "bob", "--name", "Bob"); code != 2 || !strings.Contains(errs, "--passphrase-fd") {
		t.Fatalf("no terminal and no fd: exit %d %s", code, errs)
	}
	if list := mustPawl(t, "-C", dir, "operator", "list"); !strings.Contains(list, "Alice Example") || strings.Contains(list, "bob") {
		t.Fatalf("operator list:\n%s", list)
	}

	// A wrong passphrase signs nothing and is on record.
	code, _, errs := pawl(t, "", "-C", dir, "sign", id, "--meaning", "approved", "--operator", "alice", "--passphrase-fd", passFD(t, "not the right one at all"))
	if code != 1 || !strings.Contains(errs, "wrong passphrase") || !strings.Contains(errs, "nothing signed") {
		t.Fatalf("wrong passphrase: exit %d %s", code, errs)
	}
	if log := mustPawl(t, "-C", dir, "audit", "log", "--action", "esign.failed"); !strings.Contains(log, "batch:"+id) || strings.Contains(log, "right one") {
		t.Fatalf("esign.failed log:\n%s", log)
	}
	if show := mustPawl(t, "-C", dir, "batches", "show", id); !strings.Contains(show, "e-signatures: none") {
		t.Fatalf("batches show after a failed attempt:\n%s", show)
	}

	out = mustPawl(t, "-C", dir, "sign", id[:8], "--meaning", "approved", "--operator", "alice", "--reason", "release", "--passphrase-fd", passFD(t, pass))
	if !strings.Contains(out, "approved by Alice Example (alice) at ") || !strings.Contains(out, "UTC") || !strings.Contains(out, "valid") {
		t.Fatalf("sign: %s", out)
	}
	show := mustPawl(t, "-C", dir, "batches", "show", id)
	if !strings.Contains(show, "e-signatures:") || !strings.Contains(show, "approved by Alice Example (alice) at ") || !strings.Contains(show, "— valid") {
		t.Fatalf("batches show:\n%s", show)
	}
	var sj struct {
		BatchID     string `json:"batch_id"`
		ESignatures []struct {
			Meaning    string `json:"meaning"`
			SignerName string `json:"signer_name"`
			Valid      bool   `json:"valid"`
		} `json:"esignatures"`
	}
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "batches", "show", id, "--output", "json")), &sj)
	if sj.BatchID != id || len(sj.ESignatures) != 1 || !sj.ESignatures[0].Valid || sj.ESignatures[0].SignerName != "Alice Example" {
		t.Fatalf("batches show --output json: %+v", sj)
	}
	if log := mustPawl(t, "-C", dir, "audit", "log", "--action", "esign.signed"); !strings.Contains(log, "[approved by Alice Example (alice) at ") {
		t.Fatalf("audit log:\n%s", log)
	}

	verified := mustPawl(t, "-C", dir, "audit", "trace", id, "1")
	for _, want := range []string{"record 1 of batch " + id + ": VERIFIED", "committed", "by runner", `"nightly load"`, "input hash (the record's bytes): sha256:",
		"validate:registry", "passed", "proved in root", ": OK", "approved by Alice Example (alice)"} {
		if !strings.Contains(verified, want) {
			t.Errorf("trace of a verified record lacks %q:\n%s", want, verified)
		}
	}
	if !strings.Contains(verified, "esign.failed") {
		t.Errorf("trace lacks the failed attempt:\n%s", verified)
	}
	quarantined := mustPawl(t, "-C", dir, "audit", "trace", id, "2")
	for _, want := range []string{"QUARANTINED", "schema                 rejected", "reason: type at /value", "not reached", "quarantine.jsonl line", ": OK", "approved by Alice Example"} {
		if !strings.Contains(quarantined, want) {
			t.Errorf("trace of a quarantined record lacks %q:\n%s", want, quarantined)
		}
	}
	var tj struct {
		Record struct {
			InputHash string `json:"input_hash"`
			Outcome   string `json:"outcome"`
		} `json:"record"`
		Lineage struct {
			Proved bool `json:"proved"`
		} `json:"lineage"`
		Signatures []struct {
			Valid bool `json:"valid"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal([]byte(mustPawl(t, "-C", dir, "audit", "trace", id, "2", "--output", "json")), &tj); err != nil {
		t.Fatal(err)
	}
	if tj.Record.Outcome != "quarantined" || !strings.HasPrefix(tj.Record.InputHash, "sha256:") || !tj.Lineage.Proved || len(tj.Signatures) != 1 || !tj.Signatures[0].Valid {
		t.Fatalf("trace --output json: %+v", tj)
	}
	if code, _, errs := pawl(t, "", "-C", dir, "audit", "trace", id, "3"); code != 1 || !strings.Contains(errs, "between 1 and 2") {
		t.Fatalf("trace past the end: exit %d %s", code, errs)
	}
	if out := mustPawl(t, "-C", dir, "audit", "verify"); !strings.Contains(out, "everything verifies") {
		t.Fatalf("audit verify:\n%s", out)
	}
}

// TestApprovalRequiredExport: a destination that requires approval refuses
// a batch until it carries a valid "approved" e-signature; a "reviewed" one
// does not count.
func TestApprovalRequiredExport(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "admin", "--role", "approver=policy_admin")
	path := filepath.Join(dir, "policies", "data.json")
	var data map[string]any
	if err := json.Unmarshal(mustRead(t, path), &data); err != nil {
		t.Fatal(err)
	}
	outbox := t.TempDir()
	url := "file://" + outbox + "/"
	data["egress"].(map[string]any)["destinations"].(map[string]any)["lims"] = map[string]any{
		"url": url, "classifications": []string{"internal"}, "requires_approval": true}
	b, _ := json.MarshalIndent(data, "", "  ")
	os.WriteFile(path, b, 0o644)
	pinTwoPerson(t, dir, "the LIMS needs approved batches")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	var res map[string]any
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--output", "json")), &res)
	id := res["batch_id"].(string)
	const pass = "a long enough pass phrase"
	mustPawl(t, "-C", dir, "operator", "add", "qa", "--name", "Quinn Auditor", "--passphrase-fd", passFD(t, pass), "--reason", "QA")
	grant(t, dir, "qa", "reviewer", "approver")

	if code, _, errs := pawl(t, "", "-C", dir, "export", id, "--to", url); code != 3 || !strings.Contains(errs, "approval") {
		t.Fatalf("export before approval: exit %d %s", code, errs)
	}
	mustPawl(t, "-C", dir, "sign", id, "--meaning", "reviewed", "--operator", "qa", "--passphrase-fd", passFD(t, pass))
	if code, _, errs := pawl(t, "", "-C", dir, "export", id, "--to", url); code != 3 {
		t.Fatalf("export with only a review: exit %d %s", code, errs)
	}
	mustPawl(t, "-C", dir, "sign", id, "--meaning", "approved", "--operator", "qa", "--reason", "fit for release", "--passphrase-fd", passFD(t, pass))
	mustPawl(t, "-C", dir, "export", id, "--to", url)
	if _, err := os.Stat(filepath.Join(outbox, "verified.jsonl")); err != nil {
		t.Fatalf("nothing exported: %v", err)
	}
	tr := mustPawl(t, "-C", dir, "audit", "trace", id, "1")
	if !strings.Contains(tr, "exports:\n") || !strings.Contains(tr, "approved by Quinn Auditor (qa)") || !strings.Contains(tr, "reviewed by Quinn Auditor (qa)") {
		t.Fatalf("trace after the export:\n%s", tr)
	}
}
