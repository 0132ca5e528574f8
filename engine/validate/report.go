package validate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/seal"
)

// The files Write writes.
const (
	JSONFile = "validation.json"
	HTMLFile = "validation.html"
	SigFile  = "validation.sig"
	// KeyFile is the private key of a self-signed run (no project), beside
	// the report; its public key is in validation.json.
	KeyFile = "validation.key"
)

// Message is what validation.sig signs: Format, a newline, the hex
// sha256 of validation.json and a newline. The engine key's signature over
// it cannot be taken for one over anything else the key signs (batch
// signatures and rotation statements are canonical JSON, checkpoints begin
// with their origin, SHA256SUMS.sig with pawl-sha256sums-v1).
func Message(reportSHA256 string) []byte {
	return []byte(Format + "\n" + reportSHA256 + "\n")
}

// Written is what Write wrote.
type Written struct {
	Dir       string
	SHA256    string // hex sha256 of validation.json
	KeyID     string
	SelfSig   bool
	AuditSeq  int64 // the validation.run entry (0 without a project)
	Signature []byte
}

// Write signs the report and writes validation.json, validation.html and
// validation.sig into dir (made if missing). With a project (p not nil)
// the engine key signs and a validation.run entry records the run and the
// report's hash; without one a key made for this run signs, its private
// half written to validation.key and its public key in the report, which
// says plainly that it is self-signed.
func Write(ctx context.Context, dir string, rep *Report, p *project.Project, operator, reason string) (*Written, error) {
	var priv ed25519.PrivateKey
	if p != nil {
		priv = p.Key.Private
		rep.Signer = Signer{PublicKey: p.Key.Public, Note: "signed with the project's engine key (its history is in the project's audit trail); the run is on record as a validation.run entry"}
	} else {
		pub, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
		rep.Signer = Signer{PublicKey: pub, SelfSigned: true, Note: "self-signed: no project, so a key was made for this run alone (validation.key, beside this report); the signature shows the report is unchanged since it was signed, not who signed it"}
	}
	rep.Signer.KeyID = seal.KeyID(rep.Signer.PublicKey)
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	js = append(js, '\n')
	sum := sha256.Sum256(js)
	w := &Written{Dir: dir, SHA256: hex.EncodeToString(sum[:]), KeyID: rep.Signer.KeyID, SelfSig: p == nil}
	w.Signature = ed25519.Sign(priv, Message(w.SHA256))
	page, err := HTML(rep, w.SHA256)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sig := fmt.Sprintf("%s %s %s\n", Format, w.KeyID, base64.StdEncoding.EncodeToString(w.Signature))
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{{JSONFile, js, 0o644}, {HTMLFile, page, 0o644}, {SigFile, []byte(sig), 0o644}}
	if p == nil {
		files = append(files, struct {
			name string
			data []byte
			perm os.FileMode
		}{KeyFile, []byte(base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"), 0o600})
	}
	for _, f := range files {
		if err := durable.WriteFile(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return nil, err
		}
	}
	if p != nil {
		e, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "validation:" + rep.RunID, Reason: reason,
			Details: actions.ValidationRunDetails{RunID: rep.RunID, IQOnly: rep.IQOnly, Checks: len(rep.Checks), Passed: rep.Passed, Failed: rep.Failed,
				Warnings: rep.Warnings, Report: "sha256:" + w.SHA256, KeyID: w.KeyID, BinarySHA256: "sha256:" + rep.Binary.SHA256, Failures: failedIDs(rep)}})
		if err != nil {
			return w, fmt.Errorf("the report is written in %s but the run could not be put on record: %w", dir, err)
		}
		w.AuditSeq = e.Seq
	}
	return w, nil
}

func failedIDs(rep *Report) []string {
	out := []string{}
	for _, c := range rep.Checks {
		if c.Failed() {
			out = append(out, c.ID)
		}
	}
	return out
}

// VerifyDir checks validation.sig over validation.json in dir with the
// public key the report names (or, when pub is given, with that key: the
// engine key from the project's history, kept elsewhere), and returns the
// report.
func VerifyDir(dir string, pub ed25519.PublicKey) (*Report, error) {
	js, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil {
		return nil, err
	}
	line, err := os.ReadFile(filepath.Join(dir, SigFile))
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(line))
	if len(f) != 3 || f[0] != Format {
		return nil, fmt.Errorf("%s: want one line %q KEYID SIGNATURE", filepath.Join(dir, SigFile), Format)
	}
	sig, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil {
		return nil, fmt.Errorf("%s: the signature is not base64: %w", filepath.Join(dir, SigFile), err)
	}
	var rep Report
	if err := json.Unmarshal(js, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, JSONFile), err)
	}
	if pub == nil {
		pub = rep.Signer.PublicKey
	}
	if len(pub) != ed25519.PublicKeySize || seal.KeyID(pub) != f[1] {
		return nil, fmt.Errorf("%s names key %s, not the key given (%s)", SigFile, f[1], seal.KeyID(pub))
	}
	sum := sha256.Sum256(js)
	if !ed25519.Verify(pub, Message(hex.EncodeToString(sum[:])), sig) {
		return nil, fmt.Errorf("the signature in %s does not verify over %s (sha256 %x): the report was changed after it was signed", SigFile, JSONFile, sum)
	}
	return &rep, nil
}

//go:embed report.html.tmpl
var reportTmpl string

var page = template.Must(template.New("validation").Funcs(template.FuncMap{
	"join": strings.Join,
	"at":   func(s []string, i int) string { return s[i] },
	"cls":  func(s string) string { return strings.ReplaceAll(s, " ", "-") },
}).Parse(reportTmpl))

// HTML renders the report as one self-contained, printable page.
func HTML(rep *Report, sum string) ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, struct {
		*Report
		SHA256 string
	}{rep, sum}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
