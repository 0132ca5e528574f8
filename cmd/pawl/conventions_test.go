package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasExamples walks the command tree (as
// TestEveryCommandIsAuthorized does): every command that runs has an
// Example of lines indented two spaces, and every example line that starts
// with "pawl " names a command that exists, uses only flags of that command
// (its own or inherited), with values of the flag's type, and a number of
// arguments the command accepts. A line is checked up to an unquoted shell
// operator (|, <, >, &&): what follows is the shell's, not pawl's.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c != c.Root() && c.Name() != "help" && c.Name() != "completion" {
			name := commandName(c)
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("pawl %s has no Example", name)
			}
			n := 0
			for _, line := range strings.Split(c.Example, "\n") {
				if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
					t.Errorf("pawl %s: example line %q is not indented two spaces", name, line)
					continue
				}
				if strings.HasPrefix(line, "  pawl ") {
					n++
					checkExample(t, c, strings.TrimSpace(line))
				}
			}
			if n == 0 || n > 4 {
				t.Errorf("pawl %s: %d example lines start with `pawl `, want 1 to 4", name, n)
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd(&streams{}))
}

// checkExample parses one example line against a fresh command tree.
func checkExample(t *testing.T, want *cobra.Command, line string) {
	t.Helper()
	words, err := exampleWords(line)
	if err != nil {
		t.Errorf("example %q: %v", line, err)
		return
	}
	root := newRootCmd(&streams{})
	c, rest, err := root.Find(words[1:])
	if err != nil {
		t.Errorf("example %q: %v", line, err)
		return
	}
	if c.CommandPath() != want.CommandPath() {
		t.Errorf("example %q of %q runs %q", line, want.CommandPath(), c.CommandPath())
		return
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Errorf("example %q: %v", line, err)
		return
	}
	if err := c.ValidateArgs(c.Flags().Args()); err != nil {
		t.Errorf("example %q: %v", line, err)
	}
}

// exampleWords splits a command line as a POSIX shell would for the simple
// cases examples use: words separated by blanks, '…' and "…" quoting, and
// the line ends at an unquoted |, <, > or &&.
func exampleWords(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case r == '|' || r == '<' || r == '>' || strings.HasPrefix(line[i:], "&&"):
			if inWord {
				words = append(words, w.String())
			}
			return words, nil
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errUnclosedQuote
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

var errUnclosedQuote = errors.New("unclosed quote")

func TestExampleWords(t *testing.T) {
	for line, want := range map[string]string{
		`pawl sign 3f --reason "fit for release"`: `pawl|sign|3f|--reason|fit for release`,
		`pawl explain -e 'a\u200b' | less`:        `pawl|explain|-e|a\u200b`,
		`pawl run j --input - < x.jsonl`:          `pawl|run|j|--input|-`,
		`pawl version && echo ok`:                 `pawl|version`,
	} {
		got, err := exampleWords(line)
		if err != nil || strings.Join(got, "|") != want {
			t.Errorf("exampleWords(%q) = %q, %v; want %q", line, got, err, want)
		}
	}
	if _, err := exampleWords(`pawl sign "x`); err == nil {
		t.Error(`exampleWords("pawl sign \"x") did not fail`)
	}
}

// TestCompletionAndTables asks cobra's hidden __complete command, in
// process, as the shell scripts of `pawl completion` do: job names,
// committed batch ids (by prefix), enrolled operators not revoked, proposed
// changes, the egress destinations of the policy bundle, and enum flags.
// Completion reads only: the trail has as many entries after as before.
// Then, in the same project, a long job name in `batches list`. One project
// serves every case.
func TestCompletionAndTables(t *testing.T) {
	dir := t.TempDir()
	mustPawl(t, "init", dir, "--operator", "alice")
	copyJob := func(name string) {
		spec := strings.Replace(string(mustRead(t, filepath.Join(dir, "jobs", "sensor-feed.yaml"))), "sensor-feed", name, 1)
		if err := os.WriteFile(filepath.Join(dir, "jobs", name+".yaml"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyJob("lab-results")
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(good+"\n"), 0o644)
	var res struct {
		BatchID string `json:"batch_id"`
	}
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "run", "sensor-feed", "--input", in, "--output", "json", "--as-of", "2026-11-25T00:00:00Z")), &res)
	if len(res.BatchID) < 8 {
		t.Fatalf("no batch id: %+v", res)
	}
	mustPawl(t, "-C", dir, "operator", "add", "qa-lead", "--name", "Quinn Auditor", "--reason", "QA", "--passphrase-fd", passFD(t, "correct horse battery staple"))
	mustPawl(t, "-C", dir, "operator", "add", "gone", "--name", "Gone Person", "--reason", "QA", "--passphrase-fd", passFD(t, "correct horse battery staple"))
	mustPawl(t, "-C", dir, "operator", "revoke", "gone", "--reason", "left")
	data := filepath.Join(dir, "policies", "data.json")
	orig := mustRead(t, data)
	b := strings.Replace(string(orig), `"destinations": {}`, `"destinations": {"lims": {"url": "https://lims.example.org/upload/", "classifications": ["internal"]}, "outbox": {"url": "file:///srv/outbox/", "classifications": ["internal"]}}`, 1)
	if !strings.Contains(b, "lims.example.org") {
		t.Fatalf("data.json has no empty egress.destinations to fill:\n%s", b)
	}
	os.WriteFile(data, []byte(b), 0o644)
	// A change of the bundle is proposed (the two-person rule).
	mustPawl(t, "-C", dir, "pin", "--reason", "two destinations")
	var changes []struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(mustPawl(t, "-C", dir, "change", "list", "--output", "json")), &changes)
	if len(changes) != 1 {
		t.Fatalf("change list: want one proposed change, got %+v", changes)
	}
	entries := func() string { return mustPawl(t, "-C", dir, "audit", "verify", "--output", "json") }
	before := entries()

	other := t.TempDir() // no project: nothing offered, no error
	for _, tc := range []struct {
		args []string
		want string // the candidates, one a line, then the directive
	}{
		{[]string{"-C", dir, "__complete", "run", ""}, "lab-results\nsensor-feed\n:4"},
		{[]string{"__complete", "-C", dir, "state", "show", "se"}, "sensor-feed\n:4"},
		{[]string{"-C", dir, "__complete", "run", "sensor-feed", ""}, ":4"},
		{[]string{"-C", dir, "__complete", "batches", "show", res.BatchID[:2]}, res.BatchID + "\n:4"},
		{[]string{"-C", dir, "__complete", "batches", "show", "zz"}, ":4"},
		{[]string{"-C", dir, "__complete", "audit", "trace", res.BatchID[:4]}, res.BatchID + "\n:4"},
		{[]string{"-C", dir, "__complete", "audit", "trace", res.BatchID, ""}, ":4"},
		{[]string{"-C", dir, "__complete", "audit", "log", "--batch", ""}, res.BatchID + "\n:4"},
		{[]string{"-C", dir, "__complete", "operator", "show", ""}, "qa-lead\n:4"},
		{[]string{"-C", dir, "__complete", "change", "approve", "chg-"}, changes[0].ID + "\n:4"},
		{[]string{"-C", dir, "__complete", "change", "show", "x"}, ":4"},
		{[]string{"-C", dir, "__complete", "sign", res.BatchID, "--operator", "q"}, "qa-lead\n:4"},
		{[]string{"-C", dir, "__complete", "sign", "X", "--meaning", ""}, "reviewed\napproved\nresponsible\n:4"},
		{[]string{"-C", dir, "__complete", "sign", "X", "--meaning", "re"}, "reviewed\nresponsible\n:4"},
		{[]string{"-C", dir, "__complete", "batches", "list", "--output", ""}, "text\njson\n:4"},
		{[]string{"-C", dir, "__complete", "audit", "export", "--format", ""}, "jsonl\nhtml\n:4"},
		{[]string{"-C", dir, "__complete", "policy", "eval", "--kind", "e"}, "egress\n:4"},
		{[]string{"-C", dir, "__complete", "policy", "eval", "--kind", "w"}, "witness\n:4"},
		{[]string{"-C", dir, "__complete", "audit", "log", "--action", "batch.export"}, "batch.export_started\nbatch.exported\nbatch.export_failed\n:4"},
		{[]string{"-C", dir, "__complete", "export", res.BatchID, "--to", ""}, "file:///srv/outbox/\nhttps://lims.example.org/upload/\n:6"},
		{[]string{"-C", other, "__complete", "run", ""}, ":4"},
		{[]string{"-C", other, "__complete", "batches", "show", ""}, ":4"},
		{[]string{"-C", other, "__complete", "export", "x", "--to", ""}, ":6"},
	} {
		code, out, errs := pawl(t, "", tc.args...)
		if code != 0 || out != tc.want+"\n" || strings.Contains(errs, "rror") {
			t.Errorf("pawl %s: exit %d\n%s\nwant\n%s\nstderr: %s", strings.Join(tc.args, " "), code, out, tc.want, errs)
		}
	}
	if after := entries(); after != before {
		t.Errorf("completion changed the trail:\nbefore %s\nafter %s", before, after)
	}

	// The same project, for text/tabwriter: a job name longer than any
	// column width the old %-16s padding allowed leaves the columns
	// aligned — AS OF starts at the same offset on every line.
	long := "a-job-name-longer-than-sixteen-characters"
	copyJob(long)
	os.WriteFile(data, orig, 0o644) // the bundle in force again: the job's pin alone is no change to approve
	mustPawl(t, "-C", dir, "pin", "--reason", "a job with a long name")
	mustPawl(t, "-C", dir, "run", long, "--input", in, "--as-of", "2026-11-25T00:00:00Z")
	list := strings.Split(strings.TrimSuffix(mustPawl(t, "-C", dir, "batches", "list"), "\n"), "\n")
	if len(list) != 3 {
		t.Fatalf("batches list: want a header and 2 rows:\n%s", strings.Join(list, "\n"))
	}
	col := strings.Index(list[0], "AS OF")
	for _, line := range list[1:] {
		if col < len(long) || len(line) < col+4 || line[col:col+4] != "2026" || line[col-2:col] != "  " {
			t.Errorf("batches list: AS OF is not at column %d:\n%s", col, strings.Join(list, "\n"))
		}
	}
	// operator list too: "Quinn Auditor" is wider than its header, and
	// KEY starts at the same offset on the header and every operator's row
	// (the lines under a row are no cells).
	ops := strings.Split(strings.TrimSuffix(mustPawl(t, "-C", dir, "operator", "list"), "\n"), "\n")
	key := strings.Index(ops[0], "KEY ")
	rows := 0
	for _, line := range ops[1:] {
		if strings.HasPrefix(line, " ") {
			continue
		}
		rows++
		if key < len("Quinn Auditor") || len(line) <= key || line[key-2:key] != "  " || line[key] == ' ' {
			t.Errorf("operator list: KEY is not at column %d:\n%s", key, strings.Join(ops, "\n"))
		}
	}
	if rows != 2 {
		t.Errorf("operator list: %d rows, want 2 (qa-lead, gone):\n%s", rows, strings.Join(ops, "\n"))
	}
}

// TestCompletionRunsLocally: a completion request registers the completion
// functions (isCompletion) and is never sent to a service (localOnly), so
// it reads only what the user's own account can read.
func TestCompletionRunsLocally(t *testing.T) {
	for line, want := range map[string]bool{
		"-C dir __complete run x":          true,
		"__completeNoDesc batches show 3f": true,
		"--server s __complete sign X":     true,
		"run __complete --input x":         false,
		"completion bash":                  false,
	} {
		argv, _, _ := findServer(strings.Fields(line)) // as dispatch does
		if got := isCompletion(argv); got != want {
			t.Errorf("isCompletion(%q) = %v, want %v", line, got, want)
		}
		if want && !localOnly[commandOf(argv)] {
			t.Errorf("%q would be sent to a service: commandOf = %q", line, commandOf(argv))
		}
	}
}
