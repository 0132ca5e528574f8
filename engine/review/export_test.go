package review_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/review"
)

// TestExportStreamsTheQuarantine: the package's quarantine/<batch>.jsonl is
// the stored output byte for byte, under its own sha256 in the package's
// sums, and the report counts every entry past the ones it lists; a
// quarantine blob that no longer hashes to the digest on record fails the
// export, naming the batch, and leaves no file of it in the package.
func TestExportStreamsTheQuarantine(t *testing.T) {
	ctx := context.Background()
	p := enginetest.NewProject(t)
	lines := []string{enginetest.GoodReading}
	for i := 0; i < 230; i++ { // more than the report lists (200)
		lines = append(lines, strings.Replace(enginetest.HotReading, `"hot"`, `"hot`+strings.Repeat("!", i%7)+`"`, 1))
	}
	res := enginetest.Batch(t, p, lines...)
	if res.Quarantined != 230 {
		t.Fatalf("setup: %d quarantined, want 230", res.Quarantined)
	}
	b, err := p.Batch(ctx, res.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	blob := p.Store.Path(b.Outputs[actions.QuarantineFile].Hash)
	stored, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "export")
	exp, err := review.ExportAudit(ctx, p, dir, "html", "inspector", "")
	if err != nil {
		t.Fatal(err)
	}
	name := "quarantine/" + res.BatchID + ".jsonl"
	got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil || !bytes.Equal(got, stored) {
		t.Fatalf("the package's %s is not the stored quarantine (%d bytes against %d): %v", name, len(got), len(stored), err)
	}
	if sum := sha256.Sum256(stored); exp.Files[name] != hex.EncodeToString(sum[:]) {
		t.Fatalf("SHA256SUMS has %s for %s, want %x", exp.Files[name], name, sum)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("30 more")) {
		t.Errorf("the report does not say that 30 quarantined records are not listed")
	}

	// One letter of a reason changed in the stored quarantine: every line
	// still parses, only the hash on record tells (a blob is read-only).
	if err := os.Chmod(blob, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(stored)
	at := bytes.LastIndex(bad, []byte("not a number"))
	if at < 0 {
		t.Fatalf("setup: no reason %q in the quarantine", "not a number")
	}
	bad[at] = 'N'
	if err := os.WriteFile(blob, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	dir2 := filepath.Join(t.TempDir(), "export")
	if _, err := review.ExportAudit(ctx, p, dir2, "jsonl", "inspector", ""); err == nil ||
		!strings.Contains(err.Error(), res.BatchID) || !strings.Contains(err.Error(), "is corrupt") || !strings.Contains(err.Error(), "audit verify") {
		t.Fatalf("an export of a changed quarantine: %v, want an error naming batch %s and `pawl audit verify`", err, res.BatchID)
	}
	left, _ := os.ReadDir(filepath.Join(dir2, "quarantine"))
	for _, e := range left {
		t.Errorf("the failed export left quarantine/%s", e.Name())
	}
}

// TestPackageSumsNameWhatIsWrong: SHA256SUMS checked file by file, each
// hashed as a stream: a listed file that is missing is named with why, and
// one whose bytes changed with both hashes.
func TestPackageSumsNameWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	body := []byte("what the package holds\n")
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("what it held\n"))
	sums := hex.EncodeToString(sum[:]) + "  a.txt\n" + strings.Repeat("0", 64) + "  missing.txt\n"
	if err := os.WriteFile(filepath.Join(dir, review.SumsFile), []byte(sums), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := review.VerifyPackage(dir, review.PackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rep.Problems, "\n")
	now := sha256.Sum256(body)
	for _, want := range []string{
		"missing.txt: listed in " + review.SumsFile + " but no such file or directory",
		"a.txt: its sha256 is " + hex.EncodeToString(now[:]) + ", " + review.SumsFile + " lists " + hex.EncodeToString(sum[:]) + " (the file was changed)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the problems do not say %q:\n%s", want, got)
		}
	}
}
