package review

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/project"
)

// The files of an inspectors' package (docs/audit-format.md, "The
// inspectors' package") beside those of an audit export.
const (
	SumsFile      = "SHA256SUMS"
	SumsSigFile   = "SHA256SUMS.sig"
	KeysFile      = "keys.json"
	VerifierFile  = "verify.py"
	ReadmeFile    = "README.txt"
	LineageFile   = "lineage-roots.txt"
	SignaturesDir = "signatures"  // <batch>.json: each batch's signature.json
	CheckpointDir = "checkpoints" // <batch>.checkpoint: each batch's own checkpoint
	// WitnessesFile lists the witnesses the policy bundle in force names,
	// "ID VKEY" a line, when it names any: the keys the cosignatures in
	// the entries are checked against.
	WitnessesFile = "witnesses.txt"
)

// SumsPurpose is the first line of the message SHA256SUMS.sig signs and
// the first word of its line: the engine key's signature over SHA256SUMS
// cannot be taken for a signature over anything else it signs (batch
// signatures and rotation statements are canonical JSON, checkpoints begin
// with their origin).
const SumsPurpose = "pawl-sha256sums-v1"

// SumsMessage is what SHA256SUMS.sig signs: SumsPurpose, a newline, then
// the bytes of SHA256SUMS.
func SumsMessage(sums []byte) []byte {
	return append([]byte(SumsPurpose+"\n"), sums...)
}

// verifyPy is the package's own verifier: Python 3 with its standard
// library only (docs/audit-format.md).
//
//go:embed verify.py
var verifyPy []byte

// VerifierSource is verify.py, as every package carries it.
func VerifierSource() []byte { return bytes.Clone(verifyPy) }

const readme = `This is a review package of a pawl audit trail, written by 'pawl inspect'
after the whole trail verified. Check it with either of:

  python3 verify.py .          (Python 3.11 or later, nothing else: no network, no pawl)
  pawl audit verify --package .

Both check: SHA256SUMS and its signature by the engine key (SHA256SUMS.sig);
every entry of entries.jsonl (its hash, its link to the entry before, its
canonical encoding); the engine key history (keys.json) against the trail's
own key entries; every batch signature, batch checkpoint, lineage root and
e-signature under the key valid at its entry; and the head checkpoint.
They print OK, or one line per problem and exit 1.

What you kept from before (outside the site that wrote this) makes the check
stronger, and both verifiers take it:

  python3 verify.py . --key KEYS --checkpoint CHECKPOINT
  pawl audit verify --package . --key KEYS --checkpoint CHECKPOINT

KEYS: an earlier package's keys.json, or a list of engine public keys; the
package's key history must agree with it. CHECKPOINT: a checkpoint from an
earlier package or one a witness cosigned; the package's entries must extend
it. Without them, someone who held the engine key could rewrite the trail
and sign a new package that verifies.

report.html is the trail for a person: batches, quarantine reasons,
e-signatures, policy decisions, every entry. The format of every file is in
pawl's docs/audit-format.md ("The inspectors' package").
`

// InspectRefusedError is why Inspect wrote nothing.
type InspectRefusedError struct {
	Problems []string
}

func (e *InspectRefusedError) Error() string {
	more := ""
	if len(e.Problems) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(e.Problems)-1)
	}
	return fmt.Sprintf("the project does not verify: %s%s; nothing was written: run `pawl audit verify` for every problem, and restore the project's data directory from its backup", e.Problems[0], more)
}

// Package is what Inspect wrote.
type Package struct {
	Dir        string `json:"dir"`
	Files      int    `json:"files"`
	Entries    int    `json:"entries"`
	Batches    int    `json:"batches"`
	SHA256Sums string `json:"sha256sums"`
	KeyID      string `json:"key_id"`
}

// Inspect writes the inspectors' package into dir (new, or an empty
// directory): everything an audit export holds (report.html included),
// the engine key history (keys.json), each batch's signature, checkpoint
// and lineage root, verify.py and README.txt, SHA256SUMS over every file
// and SHA256SUMS.sig, the engine key's signature over it. It verifies the
// whole project first (Verify: the trail, every batch and blob, the
// e-signatures) and refuses, writing nothing, when anything fails. The
// package is written in a directory beside dir and renamed into place,
// so dir holds the whole package or nothing. Refusals and the package are
// on record (audit.inspect_refused, audit.inspected).
func Inspect(ctx context.Context, p *project.Project, dir, operator, reason string) (*Package, error) {
	if operator == "" {
		operator = p.Cfg.Operator
	}
	refuse := func(failure string, problems []string, err error) (*Package, error) {
		if _, e := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "export:" + dir, Reason: reason,
			Details: actions.InspectRefusedDetails{Dir: dir, Failure: failure, Problems: problems}}); e != nil {
			return nil, errors.Join(err, fmt.Errorf("and the refusal could not be recorded: %w", e))
		}
		return nil, err
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return refuse("not a directory", nil, fmt.Errorf("%s is a file: name a new or empty directory for the package", dir))
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return refuse("directory not empty", nil, fmt.Errorf("%s is not empty: name a new or empty directory, so that the package is exactly what SHA256SUMS lists", dir))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	rep, err := Verify(ctx, p)
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		var problems []string
		if !rep.Audit.OK {
			problems = append(problems, "audit trail: "+rep.Audit.Problem)
		}
		problems = append(problems, rep.Problems...)
		rerr := &InspectRefusedError{Problems: problems}
		if !rep.Audit.OK || p.KeysProblem != nil {
			// The chain itself is broken: nothing is appended to it.
			return nil, rerr
		}
		return refuse("does not verify", problems, rerr)
	}
	cur, ok := p.Keys.Current()
	if !ok || !bytes.Equal(cur.Public(), p.Key.Public) {
		return nil, fmt.Errorf("the engine key %s is not the key in force in the trail's key history: run `pawl key history`", p.Key.ID())
	}

	parent := filepath.Dir(filepath.Clean(dir))
	// A crash while writing leaves this hidden directory beside dir, never
	// a part of a package in dir.
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".inspect-")
	if err != nil {
		return nil, fmt.Errorf("the package is written beside %s first, and that failed: %w", dir, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	for _, d := range []string{"quarantine", SignaturesDir, CheckpointDir} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return nil, err
		}
	}
	w := &packageWriter{dir: tmp, files: map[string]string{}}
	rv, err := writeReview(ctx, p, w, "html")
	if err != nil {
		return nil, err
	}
	keys, err := json.MarshalIndent(p.Keys, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := w.write(KeysFile, append(keys, '\n')); err != nil {
		return nil, err
	}
	if e, _, err := p.PolicyInForce(ctx); err != nil {
		return nil, err
	} else if ws := e.Witnesses(); len(ws) > 0 {
		var lines strings.Builder
		for _, wt := range ws {
			fmt.Fprintf(&lines, "%s %s\n", wt.ID, wt.VKey)
		}
		if err := w.write(WitnessesFile, []byte(lines.String())); err != nil {
			return nil, err
		}
	}
	var roots strings.Builder
	for _, b := range rv.batches {
		sig, err := os.ReadFile(b.Signature)
		if err != nil {
			return nil, fmt.Errorf("batch %s: %w: run `pawl audit verify`", b.BatchID, err)
		}
		if err := w.write(SignaturesDir+"/"+b.BatchID+".json", sig); err != nil {
			return nil, err
		}
		cp, err := os.ReadFile(filepath.Join(b.Dir, actions.CheckpointFile))
		if err != nil {
			return nil, fmt.Errorf("batch %s: %w: run `pawl audit verify`", b.BatchID, err)
		}
		if err := w.write(CheckpointDir+"/"+b.BatchID+".checkpoint", cp); err != nil {
			return nil, err
		}
		fmt.Fprintf(&roots, "%s %d %s\n", b.BatchID, b.RecordsIn, b.Lineage.Root)
	}
	for name, b := range map[string][]byte{LineageFile: []byte(roots.String()), VerifierFile: verifyPy, ReadmeFile: []byte(readme)} {
		if err := w.write(name, b); err != nil {
			return nil, err
		}
	}
	sums, err := w.sums()
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(p.Key.Private, SumsMessage(sums))
	if err := durable.WriteFile(filepath.Join(tmp, SumsSigFile), fmt.Appendf(nil, "%s %s %s\n", SumsPurpose, p.Key.ID(), base64.StdEncoding.EncodeToString(sig)), 0o644); err != nil {
		return nil, err
	}
	for _, d := range []string{"quarantine", SignaturesDir, CheckpointDir, "."} {
		if err := durable.SyncDir(filepath.Join(tmp, d)); err != nil {
			return nil, err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := durable.Rename(tmp, dir); err != nil {
		return nil, err
	}
	done = true
	sum := sha256.Sum256(sums)
	out := &Package{Dir: dir, Files: len(w.files) + 2, Entries: len(rv.entries), Batches: len(rv.batches),
		SHA256Sums: "sha256:" + hex.EncodeToString(sum[:]), KeyID: p.Key.ID()}
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "export:" + hex.EncodeToString(sum[:8]), Reason: reason,
		Details: actions.InspectedDetails{Dir: dir, SHA256Sums: out.SHA256Sums, KeyID: out.KeyID, Entries: out.Entries, Batches: out.Batches,
			CheckpointSize: rv.checkpoint.Size, Head: rv.entries[len(rv.entries)-1].Hash}}); err != nil {
		// Nothing leaves off the record.
		os.RemoveAll(dir)
		return nil, fmt.Errorf("the package could not be recorded, and was removed: %w", err)
	}
	return out, nil
}
