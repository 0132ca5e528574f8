package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func (a *app) signCmd() *cobra.Command {
	var meaning, operator, reason string
	var fd int
	c := &cobra.Command{
		Use: "sign BATCH --meaning reviewed|approved|responsible [--operator ID] [--reason TEXT]",
		Example: `  pawl sign 3f2a1c --meaning approved --operator qa-lead --reason "fit for release"
  pawl sign 7b9e04 --meaning reviewed`,
		Short: "E-sign a committed batch with your operator key (asks for your passphrase)",
		Long: `Sign a committed batch electronically (21 CFR 11.50, 11.200). The signature is
made with the operator's own key, opened with their passphrase, over a
manifest bound to the batch: its id, its audit entry hash, its input hash,
its lineage root and its output hashes, with the meaning, the signer, the UTC
time and the reason. It is recorded in the audit trail and shown with the
printed name, time and meaning by 'pawl batches show' and 'pawl audit trace'.

The passphrase is read from the terminal, or for scripts from an open file
descriptor (--passphrase-fd N, one line); never from an argument or the
environment. Failed attempts (wrong passphrase, unknown operator or batch)
are recorded too, without the passphrase. After esign.lockout_after wrong
passphrases in a row the operator is locked until an admin unlocks them
(pawl operator unlock); a revoked operator, a locked one and a passphrase
older than esign.passphrase_max_age_days days (pawl operator passwd) are
refused without asking for the passphrase, and the attempt is recorded.
Whether the caller may sign the batch with that meaning is asked (the authz
policy, on record) before the passphrase is: a refusal exits 3 unasked.

Signing sessions (21 CFR 11.200(a)(1)): a signing with --operator and the
passphrase uses both components and opens a session for your account. Until
esign.session_timeout (default 15m) passes without a signing, you may sign
again without --operator: you sign as the session's operator, and the
passphrase is still asked and checked (a wrong one counts towards the
lock-out). Without --operator and no session open, the signing is refused
and the attempt recorded. 'pawl session show' shows your session, 'pawl
session end' ends it.

A trail that does not verify (its hash chain, as 'pawl audit verify' checks
it first) is refused before anything is asked or written, with the first bad
entry named: exit 1. Nothing vouches for a broken trail.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if _, err := esign.ParseMeaning(meaning); err != nil {
				return &usageError{fmt.Errorf("--meaning: %w", err)}
			}
			p, err := a.openTrusted(c)
			if err != nil {
				return err
			}
			defer p.Close()
			// Every check that needs no passphrase first — the batch, the
			// operator or the session, their state, and the authz question
			// (on record): a person who may not sign is told so before
			// being asked for a passphrase. Each refusal is on record.
			ps, err := esign.PrepareSign(c.Context(), p, esign.SignOptions{Batch: argv[0], Meaning: meaning, Operator: operator, Reason: reason})
			if err != nil {
				return err
			}
			b, err := p.Batch(c.Context(), argv[0])
			if err != nil {
				return err
			}
			op := ps.Operator()
			fmt.Fprintf(a.s.err, "signing batch %s (job %s, as of %s, %d records: %d verified, %d quarantined; lineage root %s)\n",
				b.BatchID, b.Job, b.AsOf, b.RecordsIn, b.Verified, b.Quarantined, b.Lineage.Root)
			fmt.Fprintf(a.s.err, "as %q: %s (%s)%s\n", meaning, op.Name, op.ID, sessionNote(ps.Session()))
			pass, err := a.readPassphrase(fd, fmt.Sprintf("passphrase for %s: ", op.ID), nil)
			if err != nil {
				return err
			}
			defer clear(pass)
			s, err := ps.Sign(pass)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(s)
			}
			fmt.Fprintf(a.s.out, "signed batch %s: %s (audit entry %d)\n", s.BatchID, s.String(), s.AuditSeq)
			return nil
		},
	}
	c.Flags().StringVar(&meaning, "meaning", "", "what the signature means: reviewed, approved or responsible")
	c.Flags().StringVar(&operator, "operator", "", "the signer's operator `ID` (left out: sign in your signing session, `pawl session show`)")
	c.Flags().StringVar(&reason, "reason", "", "why, recorded with the signature")
	c.Flags().IntVar(&fd, "passphrase-fd", -1, "read the passphrase (one line) from open file descriptor `N` instead of the terminal")
	a.addOutputFlag(c)
	return c
}

// sessionNote says, after "as ... (id)", that a signing is in a session.
func sessionNote(s *esign.Session) string {
	if s == nil {
		return ""
	}
	return fmt.Sprintf(", in signing session %s (opened at audit entry %d; the passphrase only)", s.ID, s.OpenedEntry)
}

// readPassphrase reads one passphrase from file descriptor fd when fd >= 0,
// otherwise from the terminal without echo. With check (a new passphrase),
// the terminal asks twice, checking the first answer before the second.
func (a *app) readPassphrase(fd int, prompt string, check func([]byte) error) ([]byte, error) {
	src, err := a.passphrases(fd)
	if err != nil {
		return nil, err
	}
	defer src.close()
	return src.read(prompt, check)
}

// passSource gives passphrases one after another: lines of an open file
// descriptor (--passphrase-fd N), or answers at the terminal.
type passSource struct {
	a  *app
	fd int
	f  *os.File // the descriptor, or nil for the terminal
	in *os.File // the terminal
}

// passphrases opens the source of passphrases: file descriptor fd when fd
// >= 0, otherwise the terminal (refused when there is none).
func (a *app) passphrases(fd int) (*passSource, error) {
	if fd >= 0 {
		f, err := a.userFD(fd)
		if err != nil {
			return nil, err
		}
		return &passSource{a: a, fd: fd, f: f}, nil
	}
	in, ok := a.s.in.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil, &usageError{fmt.Errorf("no terminal to ask for the passphrase: run at a terminal, or give it on a file descriptor with --passphrase-fd N (never as an argument or in the environment)")}
	}
	return &passSource{a: a, fd: -1, in: in}, nil
}

func (s *passSource) close() {
	if s.f != nil {
		s.f.Close()
	}
}

// read reads the next passphrase. From a file descriptor it is the next
// line, checked by the command that uses it; at the terminal, with check
// it is asked twice and checked in between.
func (s *passSource) read(prompt string, check func([]byte) error) ([]byte, error) {
	if s.f != nil {
		return readPassLine(s.f, s.fd)
	}
	ask := func(prompt string) ([]byte, error) {
		fmt.Fprint(s.a.s.err, prompt)
		b, err := term.ReadPassword(int(s.in.Fd()))
		fmt.Fprintln(s.a.s.err)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase from the terminal: %w", err)
		}
		return b, nil
	}
	pass, err := ask(prompt)
	if err != nil || check == nil {
		return pass, err
	}
	if err := check(pass); err != nil {
		clear(pass)
		return nil, err
	}
	again, err := ask("again: ")
	if err != nil {
		clear(pass)
		return nil, err
	}
	defer clear(again)
	if string(again) != string(pass) {
		clear(pass)
		return nil, fmt.Errorf("the two passphrases differ: nothing was changed; try again")
	}
	return pass, nil
}

// readPassLine reads one line from r a byte at a time, so that nothing
// after the line is consumed; the line terminator (LF or CRLF) is dropped.
func readPassLine(r io.Reader, fd int) ([]byte, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b = append(b, one[0])
			if len(b) > esign.MaxPassphraseLen+1 {
				clear(b)
				return nil, fmt.Errorf("--passphrase-fd %d: the passphrase is over %d bytes", fd, esign.MaxPassphraseLen)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			clear(b)
			return nil, fmt.Errorf("reading the passphrase from --passphrase-fd %d: %w", fd, err)
		}
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("--passphrase-fd %d gave an empty passphrase: write it, then a newline, to that descriptor", fd)
	}
	return b, nil
}

// esignNote describes an e-signature entry in one line of `audit log`: the
// printed name, UTC time and meaning it claims (`pawl batches show` says
// whether it verifies).
func esignNote(e audit.Entry) string {
	if e.Action != actions.ESignSigned {
		return ""
	}
	var d struct {
		Manifest actions.ESignManifest `json:"manifest"`
	}
	if err := json.Unmarshal(e.Details, &d); err != nil {
		return "  [unreadable e-signature]"
	}
	m := d.Manifest
	tm := m.Time
	if t, err := time.Parse(time.RFC3339Nano, m.Time); err == nil {
		tm = t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	}
	return fmt.Sprintf("  [%s by %s (%s) at %s]", m.Meaning, m.SignerName, m.SignerID, tm)
}

// writeSignatures prints a batch's e-signatures for a person.
func writeSignatures(w io.Writer, indent string, sigs []esign.ESignature) {
	if len(sigs) == 0 {
		fmt.Fprintf(w, "%se-signatures: none\n", indent)
		return
	}
	fmt.Fprintf(w, "%se-signatures:\n", indent)
	for i := range sigs {
		fmt.Fprintf(w, "%s  %s (audit entry %d)\n", indent, sigs[i].String(), sigs[i].AuditSeq)
	}
}

// batchShowJSON is `batches show --output json`: the run's keys and the
// batch's e-signatures.
type batchShowJSON struct {
	runJSON
	ESignatures []esign.ESignature `json:"esignatures"`
}

// printBatch shows one batch with its e-signatures.
func (a *app) printBatch(b *ratchet.Result, sigs []esign.ESignature) error {
	if a.output == "json" {
		return a.printJSON(batchShowJSON{runJSON: toRunJSON(b), ESignatures: sigs})
	}
	writeSummary(a.s.out, b)
	writeSignatures(a.s.out, "  ", sigs)
	return nil
}

// oneLineQuote quotes s for a one-line display.
func oneLineQuote(s string) string { return oneLine(fmt.Sprintf("%q", strings.TrimSpace(s)), 200) }
