package main

import (
	"bytes"
	"encoding/json"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/build/tooltest"
)

// TestAuditExportForInspectors: the package verifies on its own with
// sha256sum, and the HTML report, rendered in a real browser (headless
// Chromium), shows the batches, the e-signatures and the quarantine
// reasons to a person reading it.
func TestAuditExportForInspectors(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--role", "approver=policy_admin")
	var ids []string
	for i, records := range []string{
		good + "\n" + `{"device_id":"AB-123456","value":"hot"}` + "\n",
		good + "\n",
	} {
		in := filepath.Join(t.TempDir(), "in.jsonl")
		os.WriteFile(in, []byte(records), 0o644)
		out := mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--as-of", "2026-11-25T00:00:00Z", "--output", "json")
		var res struct {
			BatchID string `json:"batch_id"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.BatchID) != 32 {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
		ids = append(ids, res.BatchID)
	}
	// A third batch, its as-of outside the window (a century back in the
	// tests' projects) with a reason: the report flags it.
	in := filepath.Join(t.TempDir(), "archive.jsonl")
	os.WriteFile(in, []byte(`{"device_id":"AB-100003","timestamp":"1899-12-31T18:00:00Z","value":20,"unit":"celsius"}`+"\n"), 0o644)
	out := mustPawl(t, "-C", dir, "run", "sensor-feed", "-i", in, "--as-of", "1900-01-01T00:00:00Z", "--reason", "loading the 1900 archive", "--output", "json")
	var archived struct {
		BatchID string `json:"batch_id"`
	}
	if err := json.Unmarshal([]byte(out), &archived); err != nil || len(archived.BatchID) != 32 {
		t.Fatalf("archive run: %v\n%s", err, out)
	}
	const pass = "a long enough pass phrase"
	mustPawl(t, "-C", dir, "operator", "add", "qa", "--name", "Quinn Auditor", "--passphrase-fd", passFD(t, pass), "--reason", "QA")
	grant(t, dir, "qa", "approver")
	mustPawl(t, "-C", dir, "sign", ids[1], "--meaning", "approved", "--operator", "qa", "--reason", "fit for release", "--passphrase-fd", passFD(t, pass))

	exp := filepath.Join(t.TempDir(), "review")
	mustPawl(t, "-C", dir, "audit", "export", "--format", "html", exp, "--reason", "inspection 2026")
	page := string(mustRead(t, filepath.Join(exp, "report.html")))
	for _, want := range []string{ids[0], ids[1], "sensor-feed", "value &#34;hot&#34; is not a number", "batch.committed", "valid", "Quinn Auditor"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	// The flag: in the batch table's row and above the batch's details,
	// for the archive batch only.
	if n := strings.Count(page, `class="flag as-of-outside-window"`); n != 1 {
		t.Errorf("%d flagged batch paragraphs, want 1", n)
	}
	if n := strings.Count(page, `<div class="as-of-outside-window">as-of given outside the window that needs no reason (876000h back, 1h ahead); reason: loading the 1900 archive</div>`); n != 1 {
		t.Errorf("%d flagged batch rows, want 1", n)
	}
	if i, j := strings.Index(page, `id="b-`+archived.BatchID+`"`), strings.Index(page, `class="flag as-of-outside-window"`); i < 0 || j < i {
		t.Errorf("the flag is not in the archive batch's section")
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

	t.Run("rendered", func(t *testing.T) {
		checkRendered(t, filepath.Join(exp, "report.html"), append(ids, "Quinn Auditor", `value "hot" is not a number`,
			"the as-of time 1900-01-01T00:00:00Z was given outside the window that needs no reason"))
	})
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

// visibleTextScript runs in a copy of the report, after the page: it writes
// into the DOM, as JSON, for each part of the page asked for (an element's
// id, "" for the body), the text a person sees there (its innerText,
// which leaves out what is not rendered: display:none, visibility:hidden)
// and, for each wanted string that no occurrence shows, why each one is
// not seen: it has no area on the page, it (or an ancestor) is fully
// transparent, or its colour is its background's.
const visibleTextScript = `<script>
(function () {
  var sections = WANTED, texts = {}, problems = {};
  Object.keys(sections).forEach(function (section) {
  var root = section ? document.getElementById(section) : document.body;
  if (!root) { root = document.createElement("div"); }
  var text = root.innerText;
  texts[section] = text;
  problems[section] = {};
  sections[section].forEach(function (w) {
    var walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    var node, seen = false, why = [];
    while ((node = walk.nextNode())) {
      var at = node.data.indexOf(w);
      if (at < 0 || node.parentElement.closest("script, style")) continue;
      var r = document.createRange();
      r.setStart(node, at);
      r.setEnd(node, at + w.length);
      var box = r.getBoundingClientRect();
      if (box.width < 1 || box.height < 1) { why.push("it has no area on the page"); continue; }
      var el = node.parentElement, bad = "", bg = "";
      var color = getComputedStyle(el).color;
      for (; el && !bad; el = el.parentElement) {
        var s = getComputedStyle(el);
        if (parseFloat(s.opacity) === 0) bad = "<" + el.tagName.toLowerCase() + "> around it is transparent";
        if (!bg && s.backgroundColor !== "rgba(0, 0, 0, 0)" && s.backgroundColor !== "transparent") bg = s.backgroundColor;
      }
      if (!bad && color === (bg || "rgb(255, 255, 255)")) bad = "its colour is its background's";
      if (bad) { why.push(bad); continue; }
      seen = true;
      break;
    }
    if (!seen) problems[section][w] = why.length ? why.join("; ") : "no text node holds it";
  });
  });
  var out = document.createElement("pre");
  out.id = "pawl-test-visible";
  out.textContent = JSON.stringify({text: texts, problems: problems});
  document.documentElement.appendChild(out);
})();
</script>`

// checkRendered opens a copy of the report with visibleTextScript appended
// in headless Chromium and fails unless each wanted string is in the text
// the page shows and is visible where it is.
func checkRendered(t *testing.T, report string, wanted []string) {
	checkRenderedIn(t, report, map[string][]string{"": wanted}, false)
}

// checkRenderedIn is checkRendered with one start of Chromium for several
// parts of the page: wanted maps the id of an element of the page ("" for
// the whole page) to the strings it must show. With shot, the same start
// of Chromium keeps a screenshot of the page as a test artefact: in the
// directory PAWL_TEST_ARTEFACTS names when set, else in the test's
// temporary directory; the test logs its path.
func checkRenderedIn(t *testing.T, report string, wanted map[string][]string, shot bool) {
	chromium := tooltest.Need(t, "chromium")
	page, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := json.Marshal(wanted)
	probe := filepath.Join(t.TempDir(), "report.html")
	os.WriteFile(probe, append(page, strings.Replace(visibleTextScript, "WANTED", string(w), 1)...), 0o644)
	flags := chromiumFlags(t)
	png := ""
	if shot {
		png = artefact(t, strings.ReplaceAll(t.Name(), "/", "_")+".png")
		flags = append(flags, "--screenshot="+png)
	}
	dom, err := exec.Command(chromium, append(flags, "--dump-dom", "file://"+probe)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	if shot {
		if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("chromium --screenshot wrote no PNG to %s: %v", png, err)
		} else {
			t.Logf("the report as rendered: %s", png)
		}
	}
	_, rest, ok := strings.Cut(string(dom), `<pre id="pawl-test-visible">`)
	body, _, ok2 := strings.Cut(rest, "</pre>")
	if !ok || !ok2 {
		t.Fatalf("the probe script did not run; the DOM:\n%.2000s", dom)
	}
	var seen struct {
		Text     map[string]string            `json:"text"`
		Problems map[string]map[string]string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(body)), &seen); err != nil {
		t.Fatalf("the probe's output: %v\n%.2000s", err, body)
	}
	for section, strs := range wanted {
		where := "the rendered report"
		if section != "" {
			where += "'s #" + section
		}
		for _, want := range strs {
			if !strings.Contains(seen.Text[section], want) {
				t.Errorf("%s does not show %q", where, want)
			} else if why, bad := seen.Problems[section][want]; bad {
				t.Errorf("%s holds %q but it is not visible: %s", where, want, why)
			}
		}
		if t.Failed() {
			t.Logf("the text %s shows:\n%.3000s", where, seen.Text[section])
		}
	}
}

// chromiumFlags are the flags of every headless Chromium a test starts.
func chromiumFlags(t *testing.T) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,2000"}
}

// artefact is the path of a file a test keeps for people to look at: in
// the directory PAWL_TEST_ARTEFACTS names when set, else in the test's
// temporary directory.
func artefact(t *testing.T, name string) string {
	dir := os.Getenv("PAWL_TEST_ARTEFACTS")
	if dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("PAWL_TEST_ARTEFACTS: %v", err)
	}
	return filepath.Join(dir, name)
}
