package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pawl-dev/pawl/engine/normalize"
)

// explain runs the explain command on its own (the root command lists it
// once the lead wires it in).
func explain(t *testing.T, argv ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{s: &streams{in: strings.NewReader(""), out: &out, err: &errb}}
	c := a.explainCmd()
	c.SetArgs(argv)
	c.SetOut(&out)
	c.SetErr(&errb)
	err := c.Execute()
	return out.String(), err
}

func TestExplainText(t *testing.T) {
	out, err := explain(t, "📊 AB\u202e1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"U+1F4CA", "BAR CHART", "F0 9F 93 8A", "So", "flag (unicode.emoji)", "reject (unicode.emoji)",
		"U+202E", "RIGHT-TO-LEFT OVERRIDE", "E2 80 AE", "reject (unicode.bidi)",
		"in a text field: REJECTED", "in an identifier field: REJECTED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The bar chart is at byte 0, the override at byte 7.
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "U+") {
			rows[f[0]] = f[1]
		}
	}
	if rows["0"] != "U+1F4CA" || rows["7"] != "U+202E" || len(rows) != 6 {
		t.Errorf("rows by byte offset: %v", rows)
	}
}

func TestExplainEscapesFileAndJSON(t *testing.T) {
	out, err := explain(t, "--escapes", `AB-1\u200b23\x00`, "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var e normalize.Explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if e.Input != "AB-1\u200b23\x00" || len(e.Chars) != 8 {
		t.Fatalf("input %q, %d chars", e.Input, len(e.Chars))
	}
	if c := e.Chars[4]; c.CodePoint != "U+200B" || c.Name != "ZERO WIDTH SPACE" || c.Offset != 4 || c.Text != "reject (unicode.zero_width)" {
		t.Errorf("ZWSP: %+v", c)
	}
	if c := e.Chars[7]; c.Name != "NULL" || c.Bytes != "00" {
		t.Errorf("NUL: %+v", c)
	}
	if !e.Text.Rejected || !e.Identifier.Rejected {
		t.Errorf("verdicts %+v %+v", e.Text, e.Identifier)
	}

	f := filepath.Join(t.TempDir(), "s.txt")
	os.WriteFile(f, []byte("ab\xc0\xafc\n"), 0o644)
	out, err = explain(t, "--file", f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "NOT valid UTF-8") || !strings.Contains(out, "C0 AF") || !strings.Contains(out, "overlong encoding of U+002F") {
		t.Errorf("invalid UTF-8 not shown byte by byte:\n%s", out)
	}
	if strings.Contains(out, "LINE FEED") {
		t.Errorf("the file's final line break was explained:\n%s", out)
	}
}

func TestExplainUsage(t *testing.T) {
	if _, err := explain(t); err == nil {
		t.Error("no argument accepted")
	}
	if _, err := explain(t, "x", "--file", "y"); err == nil {
		t.Error("STRING and --file accepted together")
	}
	if _, err := explain(t, "--escapes", `\q`); err == nil || !strings.Contains(err.Error(), "not a valid Go string literal") {
		t.Errorf("bad escape: %v", err)
	}
}
