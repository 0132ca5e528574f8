package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/build/tooltest"
)

// TestAuditExportForInspectors: the package verifies on its own with
// sha256sum, and the HTML report renders in a real browser (headless
// Chromium) and shows the batches.
func TestAuditExportForInspectors(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"+`{"device_id":"AB-123456","value":"hot"}`+"\n"), 0o644)
	out := mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
	id := out[strings.Index(out, `"batch_id": "`)+13:][:32]
	exp := filepath.Join(t.TempDir(), "review")
	mustPawl(t, "-C", dir, "audit", "export", "--format", "html", exp, "--reason", "inspection 2026")
	page := string(mustRead(t, filepath.Join(exp, "report.html")))
	for _, want := range []string{id, "sensor-feed", "value &#34;hot&#34; is not a number", "batch.committed", "valid"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "<script") {
		t.Error("report.html refers to something outside itself")
	}
	if code, _, errs := pawl(t, "", "-C", dir, "audit", "export", exp); code == 0 || !strings.Contains(errs, "not empty") {
		t.Fatalf("export into a used directory: %d %s", code, errs)
	}
	if log := mustPawl(t, "-C", dir, "audit", "log", "--action", "audit.exported"); !strings.Contains(log, "inspection 2026") {
		t.Fatalf("export not on record:\n%s", log)
	}

	t.Run("rendered", func(t *testing.T) { checkRendered(t, exp, id) })
	t.Run("sha256sum", func(t *testing.T) {
		sum := tooltest.Need(t, "sha256sum")
		c := exec.Command(sum, "-c", "SHA256SUMS")
		c.Dir = exp
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
		os.WriteFile(filepath.Join(exp, "batches.jsonl"), []byte("{}\n"), 0o644)
		c = exec.Command(sum, "-c", "SHA256SUMS")
		c.Dir = exp
		if _, err := c.CombinedOutput(); err == nil {
			t.Fatal("an edited export still passes sha256sum -c")
		}
	})
}

// checkRendered opens the report in headless Chromium.
func checkRendered(t *testing.T, exp, id string) {
	chromium := tooltest.Need(t, "chromium")
	profile := t.TempDir()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile}
	dom, err := exec.Command(chromium, append(flags, "--dump-dom", "file://"+filepath.Join(exp, "report.html"))...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	if !strings.Contains(string(dom), id) || strings.Count(string(dom), `class="batch-row`) != 1 {
		t.Fatalf("the rendered report does not show the batch:\n%.2000s", dom)
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	if out, err := exec.Command(chromium, append(flags, "--window-size=1280,2000", "--screenshot="+shot, "file://"+filepath.Join(exp, "report.html"))...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Fatalf("the screenshot is missing or blank: %v %v", err, fi)
	}
}
