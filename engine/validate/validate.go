package validate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/pawl-dev/pawl/engine/project"
)

// Format is the first word of the signed message and the "format" of
// validation.json.
const Format = "pawl-validation-v1"

// Statuses of a check.
const (
	Pass = "pass"
	Fail = "fail"
	// Warn: a finding that is the site's to judge (a clock the kernel
	// says is not synchronised, when --require-clock-sync is not given);
	// it does not fail the run.
	Warn = "warn"
	// Unknown: the OS does not say (the clock's state outside Linux); it
	// never fails the run.
	Unknown = "unknown"
)

// Check is one IQ check or OQ challenge as it ran: what it expects, what
// it saw, and the evidence (entry seqs, file hashes, error text).
type Check struct {
	ID       string   `json:"id"`
	Kind     string   `json:"kind"` // IQ or OQ
	Title    string   `json:"title"`
	Expected string   `json:"expected"`
	Observed string   `json:"observed"`
	Status   string   `json:"status"`
	Evidence []string `json:"evidence"`
	Millis   int64    `json:"millis"`
}

// Failed says whether the check failed (warn and unknown do not).
func (c *Check) Failed() bool { return c.Status == Fail }

// Options say what to validate.
type Options struct {
	// Project is the project IQ checks (its files and account); nil: the
	// binary and the machine only.
	Project *project.Project
	// IQOnly skips the OQ's challenges.
	IQOnly bool
	// Scratch is the directory the OQ's scratch project is made in (a new
	// temporary directory below it, removed afterwards); default: the
	// system's temporary directory.
	Scratch string
	// RequireClockSync makes a clock the kernel reports unsynchronised a
	// failure rather than a warning.
	RequireClockSync bool
	// Challenges replaces the OQ's challenges (nil: Challenges()).
	Challenges []Challenge
}

// Report is the evidence of one run: validation.json.
type Report struct {
	Format   string    `json:"format"`
	RunID    string    `json:"run_id"`
	Time     time.Time `json:"time"`
	Finished time.Time `json:"finished"`
	Binary   Binary    `json:"binary"`
	Host     Host      `json:"host"`
	Project  string    `json:"project,omitempty"` // its root; "" without one
	IQOnly   bool      `json:"iq_only"`
	Checks   []Check   `json:"checks"`
	Passed   int       `json:"passed"`
	Failed   int       `json:"failed"`
	Warnings int       `json:"warnings"` // warn and unknown
	Matrix   []Row     `json:"matrix"`
	Signer   Signer    `json:"signer"`
}

// Host is the machine the kit ran on.
type Host struct {
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
}

// Signer is the key that signs validation.json (validation.sig).
type Signer struct {
	KeyID      string `json:"key_id"`
	PublicKey  []byte `json:"public_key"` // ed25519, base64 in JSON
	SelfSigned bool   `json:"self_signed"`
	Note       string `json:"note"`
}

// OK says whether no check failed.
func (r *Report) OK() bool { return r.Failed == 0 }

// Failures are the failed checks, one line each.
func (r *Report) Failures() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Failed() {
			out = append(out, fmt.Sprintf("%s %s: expected %s; observed %s", c.ID, c.Title, c.Expected, c.Observed))
		}
	}
	return out
}

// Run runs the IQ checks and, unless opt.IQOnly, the OQ's challenges in a
// scratch project of their own, and returns the report with its
// traceability matrix (not yet signed: Write signs it).
func Run(ctx context.Context, opt Options) (*Report, error) {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	rep := &Report{Format: Format, RunID: hex.EncodeToString(id), Time: time.Now().UTC(), IQOnly: opt.IQOnly,
		Host: Host{Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}}
	if opt.Project != nil {
		rep.Project = opt.Project.Root
	}
	var err error
	if rep.Binary, err = binaryIdentity(); err != nil {
		return nil, err
	}
	rep.Checks = append(rep.Checks, iq(ctx, opt, rep.Binary)...)
	if !opt.IQOnly {
		chs := opt.Challenges
		if chs == nil {
			chs = Challenges()
		}
		checks, err := RunOQ(ctx, opt.Scratch, chs)
		if err != nil {
			return nil, err
		}
		rep.Checks = append(rep.Checks, checks...)
	}
	for _, c := range rep.Checks {
		switch c.Status {
		case Pass:
			rep.Passed++
		case Fail:
			rep.Failed++
		default:
			rep.Warnings++
		}
	}
	rep.Matrix = Matrix(rep.Checks)
	rep.Finished = time.Now().UTC()
	return rep, nil
}

// Row is one requirement of the traceability matrix with the checks that
// show it and their results in this run.
type Row struct {
	ID       string   `json:"id"`
	Section  string   `json:"section"`
	Short    string   `json:"requirement"`
	Answer   string   `json:"pawl"`
	Checks   []string `json:"checks"`
	Statuses []string `json:"statuses"` // per check: pass, fail, warn, unknown, not run, not yet
	Result   string   `json:"result"`   // pass, fail, warn (a check warned or is unknown), partly run, not run, procedural
	Tests    string   `json:"developer_tests"`
}

// NotYet are the checks the table names that the kit does not run yet,
// with why.
var NotYet = map[string]string{}

// Matrix is the traceability matrix: each requirement of the table with
// the results of the checks that show it.
func Matrix(checks []Check) []Row {
	byID := map[string]*Check{}
	for i := range checks {
		byID[checks[i].ID] = &checks[i]
	}
	var rows []Row
	for _, r := range Requirements {
		row := Row{ID: r.ID, Section: r.Section, Short: r.Short, Answer: r.Answer, Checks: slices.Clone(r.Checks), Tests: r.Tests}
		if row.Checks == nil {
			row.Checks = []string{}
		}
		ran, failed, warned := 0, 0, 0
		for _, id := range r.Checks {
			st := "not run"
			if c, ok := byID[id]; ok {
				st = c.Status
				ran++
				if c.Failed() {
					failed++
				} else if c.Status != Pass {
					warned++
				}
			} else if _, ok := NotYet[id]; ok {
				st = "not yet"
			}
			row.Statuses = append(row.Statuses, st)
		}
		if row.Statuses == nil {
			row.Statuses = []string{}
		}
		switch {
		case len(r.Checks) == 0:
			row.Result = "procedural"
		case failed > 0:
			row.Result = Fail
		case ran == 0:
			row.Result = "not run"
		case ran < len(r.Checks):
			row.Result = "partly run"
		case warned > 0:
			row.Result = Warn
		default:
			row.Result = Pass
		}
		rows = append(rows, row)
	}
	return rows
}

// RequiredIDs are the requirements the matrix must trace, at least: 21
// CFR 11.10(a)–(k), 11.50, 11.70, 11.100, 11.200, 11.300, and EU GMP Annex
// 11 §§ 4, 7, 8, 9, 12, 14.
var RequiredIDs = []string{"11.10(a)", "11.10(b)", "11.10(c)", "11.10(d)", "11.10(e)", "11.10(f)", "11.10(g)", "11.10(h)", "11.10(i)", "11.10(j)", "11.10(k)",
	"11.50(a)", "11.50(b)", "11.70", "11.100(a)", "11.100(b)", "11.100(c)", "11.200(a)(1)", "11.200(a)(2)", "11.200(a)(3)", "11.200(b)",
	"11.300(a)", "11.300(b)", "11.300(c)", "11.300(d)", "11.300(e)",
	"Annex 11 §4", "Annex 11 §7", "Annex 11 §8", "Annex 11 §9", "Annex 11 §12.4", "Annex 11 §14"}
