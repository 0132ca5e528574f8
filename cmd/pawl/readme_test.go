package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/principal"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the side a test writes to, and the
// terminal a command reads its passphrases from.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here (%v): the README walk-through asks passphrases at a terminal", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("cannot unlock a pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("cannot name a pseudo-terminal: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("cannot open /dev/pts/%d: %v", n, err)
	}
	go io.Copy(io.Discard, m) // the terminal's echo, before a passphrase prompt turns it off
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// shellWords splits a README command line as sh would for the commands
// the README shows: words, "double-quoted" words, no expansions.
func shellWords(line string) []string {
	var words []string
	var w strings.Builder
	in, any := false, false
	for _, r := range line {
		switch {
		case r == '"':
			in, any = !in, true
		case (r == ' ' || r == '\t') && !in:
			if any {
				words = append(words, w.String())
			}
			w.Reset()
			any = false
		default:
			w.WriteRune(r)
			any = true
		}
	}
	if any {
		words = append(words, w.String())
	}
	return words
}

// readmeBlock is the first ```sh block after the heading.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no heading %q", heading)
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	end := strings.Index(s[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatalf("README.md: no sh block after %q", heading)
	}
	return strings.Split(s[start+6:start+6+end], "\n")
}

// atTerminal runs one command line in process at the pseudo-terminal tty,
// writing answers (one line each) to master first for the passphrase
// prompts; answers a refusal left unread are flushed, not left for the
// next command.
func atTerminal(t *testing.T, ctx context.Context, master, tty *os.File, args []string, answers ...string) (int, string, string) {
	t.Helper()
	for _, a := range answers {
		fmt.Fprintln(master, a)
	}
	var out, errb bytes.Buffer
	code := run(ctx, args, &streams{in: tty, out: &out, err: &errb})
	if err := unix.IoctlSetInt(int(tty.Fd()), unix.TCFLSH, unix.TCIFLUSH); err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

var (
	trailingComment = regexp.MustCompile(`\s+#.*$`)
	commentUID      = regexp.MustCompile(`^#.*\(uid (\d+)\)`)
	commentExit     = regexp.MustCompile(`#\s*exit (\d+)`)
)

// walkReadme runs the pawl commands of a README block in a new directory,
// in process, at a pseudo-terminal (master answers the passphrase
// prompts): lines joined at a trailing backslash, "cd DIR" followed, a
// comment naming "(uid N)" makes the commands after it come from that
// account as `pawl serve` would run them (principal.With, ViaUnix), and a
// trailing "# exit N" is the status the line must end with (0 otherwise).
// step is called for each command: it may rewrite the arguments, return the
// lines to answer the terminal with, and check the output afterwards (the
// returned func, nil for none); a non-pawl line goes to step with its words
// and must be handled there (step returns handled=true).
type readmeStep func(words []string) (args []string, answers []string, after func(out string), handled bool)

func walkReadme(t *testing.T, block []string, master, tty *os.File, step readmeStep) int {
	t.Helper()
	ctx := context.Background()
	var lines []string
	for i := 0; i < len(block); i++ {
		l := block[i]
		for strings.HasSuffix(l, "\\") && i+1 < len(block) {
			i++
			l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(block[i])
		}
		lines = append(lines, l)
	}
	ran := 0
	for _, raw := range lines {
		trimmed := strings.TrimSpace(raw)
		if m := commentUID.FindStringSubmatch(trimmed); m != nil {
			uid, _ := strconv.Atoi(m[1])
			ctx = principal.With(context.Background(), principal.Principal{UID: uid, Via: principal.ViaUnix})
			continue
		}
		want := 0
		if m := commentExit.FindStringSubmatch(raw); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		line := strings.TrimSpace(trailingComment.ReplaceAllString(raw, ""))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, cmd := range strings.Split(line, "&&") {
			words := shellWords(strings.TrimSpace(cmd))
			if words[0] == "cd" {
				t.Chdir(words[1])
				continue
			}
			args, answers, after, handled := step(words)
			if handled {
				continue
			}
			if words[0] != "pawl" {
				t.Fatalf("README line %q: not a pawl command", raw)
			}
			code, out, errs := atTerminal(t, ctx, master, tty, args, answers...)
			if code == 0 && args[0] == "init" {
				enginetest.UseTestCacheKey(t, filepath.Join(args[1], ".pawl"))
			}
			if code != want {
				t.Fatalf("README line %q: pawl %s: exit %d, want %d\n%s%s", raw, strings.Join(args, " "), code, want, out, errs)
			}
			ran++
			if after != nil {
				after(out + errs)
			}
		}
	}
	return ran
}

// flagValue is the value of flag name in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestReadmeTwoPersons runs the README's two-person set-up from scratch
// ("Two persons: changes of policy and settings") command by command, as
// written, at a terminal that answers the passphrase prompts: a doc that
// drifts from the CLI fails here. Only what a reader must put in
// themselves is filled in: the path of the plugin, the edit the $EDITOR
// line describes, and the change id the pin printed. Between the commands
// it checks what the README's prose promises: the proposed change is not in
// force (a run is refused), Alice cannot approve her own change, and after
// Bob's approval and the apply it is in force.
func TestReadmeTwoPersons(t *testing.T) {
	master, tty := openPTY(t)
	wasm, err := filepath.Abs(filepath.Join("..", "..", "plugins", "notblank", "notblank.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	block := readmeBlock(t, "## Two persons: changes of policy and settings")
	t.Chdir(t.TempDir())
	passes := map[string]string{"alice": "harbour lantern quince meadow", "bob": enginetest.BobPass}
	// exec runs one command of the test's own (not the README's).
	exec := func(args []string, answers ...string) (int, string) {
		t.Helper()
		code, out, errs := atTerminal(t, context.Background(), master, tty, args, answers...)
		return code, out + errs
	}
	var change string
	ran := walkReadme(t, block, master, tty, func(words []string) ([]string, []string, func(string), bool) {
		if words[0] == "$EDITOR" { // "# max_record_bytes: 134217728"
			y, err := os.ReadFile(words[1])
			if err != nil {
				t.Fatal(err)
			}
			limit := regexp.MustCompile(`(?m)^max_record_bytes: \d+$`)
			if !limit.Match(y) {
				t.Fatalf("pawl.yaml does not set max_record_bytes: the README's edit names a line that is not there\n%s", y)
			}
			if err := os.WriteFile(words[1], limit.ReplaceAll(y, []byte("max_record_bytes: 134217728")), 0o644); err != nil {
				t.Fatal(err)
			}
			return nil, nil, nil, true
		}
		args := words[1:]
		for i, a := range args {
			switch {
			case strings.HasSuffix(a, "plugins/notblank/notblank.wasm"):
				args[i] = wasm
			case strings.HasPrefix(a, "chg-"):
				if change == "" {
					t.Fatalf("the README names change %s before any was proposed", a)
				}
				args[i] = change
			}
		}
		switch strings.Join(args[:min(2, len(args))], " ") {
		case "operator add": // the new operator's passphrase, twice
			p := passes[args[2]]
			return args, []string{p, p}, nil, false
		case "change approve":
			// Alice, who proposed it, is refused first.
			code, out := exec([]string{"change", "approve", change, "--operator", "alice", "--reason", "my own"}, passes["alice"])
			if code != 3 || !strings.Contains(out, "another person") {
				t.Fatalf("alice approved her own change: exit %d\n%s", code, out)
			}
			return args, []string{passes[flagValue(args, "--operator")]}, nil, false
		}
		if args[0] == "pin" {
			return args, nil, func(out string) {
				m := regexp.MustCompile(`proposed as change (chg-[0-9a-f]+)`).FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("the README's pin proposed no change:\n%s", out)
				}
				change = m[1]
				// Not in force: a run is refused.
				if err := os.WriteFile("in.jsonl", []byte(good+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if code, out := exec([]string{"run", "sensor-feed", "--input", "in.jsonl"}); code == 0 {
					t.Fatalf("a run under a change nobody approved:\n%s", out)
				}
			}, false
		}
		return args, nil, nil, false
	})
	if ran < 10 || change == "" {
		t.Fatalf("ran %d README commands, change %q: the walk-through was not found whole", ran, change)
	}
	// In force: the raised limit and the approved plugin run.
	if code, out := exec([]string{"run", "sensor-feed", "--input", "in.jsonl"}); code != 0 {
		t.Fatalf("a run after the README's change was applied: exit %d\n%s", code, out)
	}
}

// TestReadmeRoles runs the README's two-person set-up of roles ("Roles")
// from scratch: the commands that come "from her own account (uid N)
// through pawl serve" run as the service runs a client's command, with
// that uid as the principal. Olga may not approve her own batch (exit 3,
// the reasons the README names); Quinn may, and the signature is valid.
func TestReadmeRoles(t *testing.T) {
	master, tty := openPTY(t)
	block := readmeBlock(t, "### Roles")
	t.Chdir(t.TempDir())
	passes := map[string]string{"olga": "harbour lantern quince meadow", "quinn": enginetest.BobPass, "pia": enginetest.PatPass}
	var batch string
	ran := walkReadme(t, block, master, tty, func(words []string) ([]string, []string, func(string), bool) {
		args := words[1:]
		for i, a := range args {
			if a == "3f2a1c" {
				args[i] = batch
			}
		}
		switch strings.Join(args[:min(2, len(args))], " ") {
		case "operator add":
			p := passes[args[2]]
			return args, []string{p, p}, nil, false
		case "run sensor-feed":
			if err := os.WriteFile(flagValue(args, "--input"), []byte(good+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return args, nil, func(out string) {
				m := regexp.MustCompile(`batch ([0-9a-f]{32})`).FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("the README's run printed no batch id:\n%s", out)
				}
				batch = m[1]
			}, false
		}
		if args[0] == "sign" {
			op := flagValue(args, "--operator")
			return args, []string{passes[op]}, func(out string) {
				if op == "olga" && (!strings.Contains(out, "authz.role") || !strings.Contains(out, "authz.own_batch")) {
					t.Fatalf("olga's refusal does not give the README's reasons:\n%s", out)
				}
			}, false
		}
		return args, nil, nil, false
	})
	if ran < 7 || batch == "" {
		t.Fatalf("ran %d README commands, batch %q: the walk-through was not found whole", ran, batch)
	}
	if code, out, errs := atTerminal(t, context.Background(), master, tty, []string{"batches", "show", batch}); code != 0 ||
		!strings.Contains(out, "approved by Quinn Auditor (quinn)") || !strings.Contains(out, "valid") {
		t.Fatalf("quinn's approval is not shown valid: exit %d\n%s%s", code, out, errs)
	}
}
