package main

import (
	"errors"
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
