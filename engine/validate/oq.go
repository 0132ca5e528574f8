package validate

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the trail's own driver: the attacker's tool in the challenges
	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/egress"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/finding"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/review"
)

// The OQ's plugins, copies of the sandbox's hostile suite
// (engine/sandbox/testdata/wat: ok.wat, loop.wat): a well-behaved module
// nobody approved, and one that never returns.
var (
	//go:embed modules/ok.wasm
	okWasm []byte
	//go:embed modules/loop.wasm
	loopWasm []byte
)

// Operator is the operator id the scratch project is made and worked by,
// and the operator the kit enrols to sign.
const Operator = "validator"

// Scratch is the OQ's project: made in a temporary directory with the
// demonstration defaults (engine.Init, engine/demo), one committed batch,
// an enrolled operator, and a checkpoint held outside it. The user's
// project is never touched.
type Scratch struct {
	Root       string
	P          *project.Project // open during the live challenges, nil after
	Batch      *ratchet.Result
	Passphrase []byte
	// Checkpoint is a signed checkpoint taken before the tampering
	// challenges, kept outside the project, and its size.
	Checkpoint     []byte
	CheckpointSize int64
	// InputBlob is the batch input's blob, relative to Root.
	InputBlob  string
	dir        string // the temporary directory holding Root and the copies
	crashInput string // the input of the batch the crash challenge cuts short
}

// Challenge is one OQ challenge. A live one acts on the open scratch
// project (Detect does the bad thing and checks the refusal). Otherwise
// Tamper does the bad thing to a copy of the closed project (root) and
// Detect must find it; a Tamper that does nothing leaves Detect reporting
// that it saw no failure, which is how the tests show each detection can
// fail.
type Challenge struct {
	ID, Title, Expected string
	Live                bool
	Tamper              func(ctx context.Context, s *Scratch, root string) (evidence []string, err error)
	// Detect returns what it saw, its evidence and whether that is the
	// expected refusal or detection.
	Detect func(ctx context.Context, s *Scratch, root string) (observed string, evidence []string, ok bool)
}

// Challenges are the OQ's challenges, in the order they run.
func Challenges() []Challenge {
	return []Challenge{
		{ID: "oq.baseline", Live: true, Title: "a batch of demonstration data, verified, and its rerun",
			Expected: "the batch commits with verified and quarantined records (each defect with its reason), the whole project verifies, and a rerun of the same input is answered from the record",
			Detect:   baseline},
		{ID: "oq.wrong-passphrase", Live: true, Title: "a wrong passphrase",
			Expected: "the signing is refused, nothing is signed, an esign.failed entry says \"wrong passphrase\" and does not hold the passphrase",
			Detect:   wrongPassphrase},
		{ID: "oq.esign", Live: true, Title: "an e-signature and a second enrolment of the same id",
			Expected: "the signature is on record with the printed name, UTC time and meaning, verifies against the batch; enrolling the same operator id again is refused",
			Detect:   signs},
		{ID: "oq.denied-export", Live: true, Title: "an export to a destination no policy allows",
			Expected: "denied by policy (the CLI's exit 3), the deny decision on record, nothing written at the destination",
			Detect:   deniedExport},
		{ID: "oq.unapproved-plugin", Live: true, Title: "a job using a plugin nobody approved",
			Expected: "the run is refused before any record is read, the plugins policy's denial on record, nothing committed",
			Detect:   unapprovedPlugin},
		{ID: "oq.hostile-plugin", Live: true, Title: "an approved plugin that never returns (an infinite loop)",
			Expected: "the plugin is stopped at its call deadline (plugin.call_timeout, 1 s in this challenge), the batch fails naming the plugin, batch.failed on record, nothing committed or left pending",
			Detect:   hostilePlugin},
		{ID: "oq.edited-entry", Title: "one audit entry edited in the SQLite file, the append-only triggers removed and put back",
			Expected: "audit verify fails naming the edited entry's seq",
			Tamper:   editEntry, Detect: detectEdit},
		{ID: "oq.truncated-trail", Title: "the trail's newest entries deleted after a checkpoint was held elsewhere",
			Expected: "the held checkpoint no longer verifies against the trail: the truncation is detected",
			Tamper:   truncateTrail, Detect: detectTruncation},
		{ID: "oq.crash-mid-commit", Title: "pawl killed (SIGKILL) at the commit point of a batch",
			Expected: "a child process dies after the batch's audit entry, before its folder, checkpoint and signature; the project reopens consistent (the batch rolled forward, everything verifies) and the rerun is answered from its one record",
			Tamper:   crash, Detect: detectCrash},
		{ID: "oq.swapped-blob", Title: "a batch's input blob replaced in the store",
			Expected: "audit verify fails naming the batch and its input blob",
			Tamper:   swapBlob, Detect: detectSwap},
	}
}

// RunOQ makes the scratch project below dir (default: the system's
// temporary directory) and runs the challenges; the project and its copies
// are removed afterwards. A scratch project that cannot be made is one
// failed check, oq.setup.
func RunOQ(ctx context.Context, dir string, chs []Challenge) ([]Check, error) {
	// The scratch project is the kit's own: it acts in it as this process
	// (under pawl serve, the service's account), whoever asked for the run.
	ctx = principal.With(ctx, principal.Process())
	tmp, err := os.MkdirTemp(dir, "pawl-validate-*")
	if err != nil {
		return nil, fmt.Errorf("making the OQ's scratch directory: %w", err)
	}
	defer removeAll(tmp)
	var out []Check
	start := time.Now()
	s, err := newScratch(ctx, tmp)
	if err != nil {
		return []Check{{ID: "oq.setup", Kind: "OQ", Title: "the scratch project", Expected: "a scratch project is made and runs a batch",
			Observed: err.Error(), Status: Fail, Evidence: []string{}, Millis: time.Since(start).Milliseconds()}}, nil
	}
	defer func() {
		if s.P != nil {
			s.P.Close()
		}
	}()
	run := func(c Challenge, root string) {
		start := time.Now()
		ch := Check{ID: c.ID, Kind: "OQ", Title: c.Title, Expected: c.Expected, Evidence: []string{}}
		if c.Tamper != nil {
			ev, err := c.Tamper(ctx, s, root)
			ch.Evidence = append(ch.Evidence, ev...)
			if err != nil {
				ch.Status, ch.Observed = Fail, "the challenge could not be set up: "+err.Error()
				ch.Millis = time.Since(start).Milliseconds()
				out = append(out, ch)
				return
			}
		}
		obs, ev, ok := c.Detect(ctx, s, root)
		ch.Observed = obs
		ch.Evidence = append(ch.Evidence, ev...)
		ch.Status = Pass
		if !ok {
			ch.Status = Fail
		}
		ch.Millis = time.Since(start).Milliseconds()
		out = append(out, ch)
	}
	for _, c := range chs {
		if c.Live {
			run(c, s.Root)
		}
	}
	// The checkpoint an auditor holds outside the project, then the
	// project is closed and each tampering works on a copy of its own.
	cp, c, err := review.Checkpoint(ctx, s.P, Operator, "pawl validate: a checkpoint held outside the scratch project")
	if err != nil {
		return nil, fmt.Errorf("the scratch project's checkpoint: %w", err)
	}
	s.Checkpoint, s.CheckpointSize = cp, c.Size
	if err := s.P.Close(); err != nil {
		return nil, err
	}
	s.P = nil
	for i, c := range chs {
		if c.Live {
			continue
		}
		cp := filepath.Join(tmp, fmt.Sprintf("copy-%d", i))
		if err := copyTree(s.Root, cp); err != nil {
			return nil, fmt.Errorf("copying the scratch project for %s: %w", c.ID, err)
		}
		run(c, cp)
	}
	return out, nil
}

func newScratch(ctx context.Context, tmp string) (*Scratch, error) {
	s := &Scratch{Root: filepath.Join(tmp, "project"), dir: tmp}
	p, err := engine.Init(ctx, s.Root, engine.InitOptions{Operator: Operator, Reason: "pawl validate: the OQ's scratch project", SinglePerson: true})
	if err != nil {
		return nil, fmt.Errorf("making the scratch project: %w", err)
	}
	s.P = p
	var in bytes.Buffer
	if err := demo.GenerateSensorReadings(&in, demo.GenOptions{Records: 200, Seed: 11, AsOf: time.Now().UTC(), FailureRate: 0.1, Unicode: true}); err != nil {
		p.Close()
		return nil, err
	}
	input := filepath.Join(tmp, "readings.jsonl")
	if err := os.WriteFile(input, in.Bytes(), 0o600); err != nil {
		p.Close()
		return nil, err
	}
	in.Reset()
	s.crashInput = filepath.Join(tmp, "crash.jsonl")
	if err := demo.GenerateSensorReadings(&in, demo.GenOptions{Records: 50, Seed: 12, AsOf: time.Now().UTC(), FailureRate: 0.1}); err != nil {
		p.Close()
		return nil, err
	}
	if err := os.WriteFile(s.crashInput, in.Bytes(), 0o600); err != nil {
		p.Close()
		return nil, err
	}
	if s.Batch, err = ratchet.Run(ctx, p, ratchet.RunOptions{Job: "sensor-feed", Input: input, Reason: "pawl validate: a batch of demonstration data"}); err != nil {
		p.Close()
		return nil, fmt.Errorf("running the scratch project's batch: %w", err)
	}
	s.InputBlob, _ = filepath.Rel(s.Root, p.Store.Path(s.Batch.Input))
	pass := make([]byte, 16)
	rand.Read(pass)
	s.Passphrase = []byte("kit-" + hex.EncodeToString(pass))
	if _, err := esign.EnrolOperator(ctx, p, esign.EnrolOptions{ID: Operator, Name: "Validation Kit", Passphrase: s.Passphrase, Reason: "pawl validate: the OQ's signer"}); err != nil {
		p.Close()
		return nil, fmt.Errorf("enrolling the scratch project's operator: %w", err)
	}
	return s, nil
}

func baseline(ctx context.Context, s *Scratch, _ string) (string, []string, bool) {
	b := s.Batch
	ev := []string{fmt.Sprintf("batch %s: entry %d, %d records in, %d verified, %d quarantined", b.BatchID, b.AuditSeq, b.RecordsIn, b.Verified, b.Quarantined)}
	if b.Status != ratchet.StatusCommitted || b.Verified == 0 || b.Quarantined == 0 || b.Verified+b.Quarantined != b.RecordsIn {
		return fmt.Sprintf("the batch is %s with %d in, %d verified, %d quarantined", b.Status, b.RecordsIn, b.Verified, b.Quarantined), ev, false
	}
	var reasons int
	if err := s.P.QuarantinedAsStored(ctx, b.BatchID, func(q *finding.QuarantineEntry, _ func(*finding.QuarantineEntry) error) bool {
		reasons += len(q.Reasons)
		return true
	}); err != nil {
		return "reading the quarantine: " + err.Error(), ev, false
	}
	ev = append(ev, fmt.Sprintf("%d reasons over %d quarantined records", reasons, b.Quarantined))
	if reasons < int(b.Quarantined) {
		return "a quarantined record has no reason", ev, false
	}
	rep, err := review.Verify(ctx, s.P)
	if err != nil {
		return "verifying: " + err.Error(), ev, false
	}
	ev = append(ev, fmt.Sprintf("audit verify: %d entries, head %s, %d batches, %d blobs", rep.Audit.Entries, rep.Audit.Head, rep.Batches, rep.Blobs))
	if !rep.OK() {
		return "the fresh project does not verify: " + rep.Audit.Problem + " " + strings.Join(rep.Problems, "; "), ev, false
	}
	input := filepath.Join(s.dir, "readings.jsonl")
	again, err := ratchet.Run(ctx, s.P, ratchet.RunOptions{Job: "sensor-feed", Input: input, Reason: "pawl validate: the rerun"})
	if err != nil {
		return "the rerun: " + err.Error(), ev, false
	}
	ev = append(ev, fmt.Sprintf("rerun: %s, batch %s", again.Status, again.BatchID))
	if again.Status != ratchet.StatusAlreadyCommitted || again.BatchID != b.BatchID {
		return fmt.Sprintf("the rerun was %s as batch %s, not answered from the record of %s", again.Status, again.BatchID, b.BatchID), ev, false
	}
	return fmt.Sprintf("batch %s committed (%d verified, %d quarantined with %d reasons); the project verifies; the rerun was answered from the record", b.BatchID, b.Verified, b.Quarantined, reasons), ev, true
}

func signs(ctx context.Context, s *Scratch, _ string) (string, []string, bool) {
	b := s.Batch.BatchID
	sig, err := esign.Sign(ctx, s.P, esign.SignOptions{Batch: b, Meaning: "responsible", Operator: Operator, Reason: "pawl validate: a signature", Passphrase: s.Passphrase})
	if err != nil {
		return "signing with the right passphrase was refused: " + err.Error(), nil, false
	}
	ev := []string{fmt.Sprintf("esign.signed entry %d: %s", sig.AuditSeq, sig.String())}
	sigs, err := esign.Signatures(ctx, s.P, b)
	if err != nil {
		return "reading the signatures: " + err.Error(), ev, false
	}
	var found *esign.ESignature
	for i := range sigs {
		if sigs[i].AuditSeq == sig.AuditSeq {
			found = &sigs[i]
		}
	}
	if found == nil || !found.Valid || found.SignerName != "Validation Kit" || found.Meaning != "responsible" || found.Manifest.BatchID != b {
		return fmt.Sprintf("the signature on record is not the valid one made: %+v", found), ev, false
	}
	_, err = esign.EnrolOperator(ctx, s.P, esign.EnrolOptions{ID: Operator, Name: "Someone Else", Passphrase: []byte("another-" + string(s.Passphrase)), Reason: "pawl validate: a second enrolment of one id"})
	if err == nil {
		return "a second enrolment of the id " + Operator + " was accepted", ev, false
	}
	ev = append(ev, "second enrolment refused: "+err.Error())
	return fmt.Sprintf("signed (entry %d, %s, %s, meaning %s) and verified against batch %s; a second enrolment of %s refused", sig.AuditSeq, found.SignerName, found.Time, found.Meaning, b, Operator), ev, true
}

func wrongPassphrase(ctx context.Context, s *Scratch, _ string) (string, []string, bool) {
	b := s.Batch.BatchID
	wrong := "wrong-" + string(s.Passphrase)
	before, _ := s.P.Trail.Find(ctx, actions.ESignSigned, "")
	_, err := esign.Sign(ctx, s.P, esign.SignOptions{Batch: b, Meaning: "responsible", Operator: Operator, Reason: "pawl validate: a wrong passphrase", Passphrase: []byte(wrong)})
	if err == nil {
		return "a wrong passphrase signed the batch", nil, false
	}
	ev := []string{"refused: " + err.Error()}
	after, _ := s.P.Trail.Find(ctx, actions.ESignSigned, "")
	if len(after) != len(before) {
		return "something was signed", ev, false
	}
	es, err := s.P.Trail.Find(ctx, actions.ESignFailed, "")
	if err != nil || len(es) == 0 {
		return fmt.Sprintf("no esign.failed entry on record (%v)", err), ev, false
	}
	e := es[len(es)-1]
	d, err := actions.Decode[actions.ESignFailedDetails](e)
	if err != nil {
		return err.Error(), ev, false
	}
	ev = append(ev, fmt.Sprintf("esign.failed entry %d about %s: operator %s, failure %q", e.Seq, e.Object, d.Operator, d.Failure))
	if d.Failure != "wrong passphrase" || d.Operator != Operator || !strings.Contains(e.Object, b) {
		return fmt.Sprintf("the entry on record says %q about %s", d.Failure, d.Operator), ev, false
	}
	if bytes.Contains(e.Details, []byte(wrong)) || strings.Contains(e.Reason, wrong) {
		return fmt.Sprintf("entry %d holds the passphrase tried", e.Seq), ev, false
	}
	return fmt.Sprintf("refused, nothing signed; esign.failed entry %d (wrong passphrase) without the passphrase", e.Seq), ev, true
}

func deniedExport(ctx context.Context, s *Scratch, _ string) (string, []string, bool) {
	dest := filepath.Join(s.dir, "not-whitelisted")
	res, err := egress.Export(ctx, s.P, egress.Options{Batch: s.Batch.BatchID, To: "file://" + dest + "/", Purpose: "pawl validate", Reason: "pawl validate: an export nobody allowed"})
	if err == nil {
		return "the export to " + dest + " was allowed", nil, false
	}
	ev := []string{"refused: " + err.Error()}
	if !errors.Is(err, gate.ErrDenied) || res == nil || res.DecisionSeq == 0 {
		return "the export failed, but not as a policy's denial on record: " + err.Error(), ev, false
	}
	e, gerr := s.P.Trail.Get(ctx, res.DecisionSeq)
	if gerr != nil || e.Action != actions.PolicyDecision {
		return fmt.Sprintf("entry %d is not the policy decision (%v)", res.DecisionSeq, gerr), ev, false
	}
	ev = append(ev, fmt.Sprintf("policy.decision entry %d: %s, allow %v", e.Seq, e.Object, res.Decision.Allow))
	if res.Decision.Allow {
		return "the decision on record allows it", ev, false
	}
	if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
		return dest + " was made", ev, false
	}
	return fmt.Sprintf("denied by policy (exit 3), decision entry %d, nothing written", e.Seq), ev, true
}

// demoLine is a reading that passes every stage of the demo's job.
const demoLine = `{"device_id":"AB-123456","timestamp":"2026-11-24T10:00:00Z","value":21.5,"unit":"celsius"}`

// useJob writes a job of the demo's schema whose only validator is the
// plugin id, and pins it.
func useJob(ctx context.Context, p *project.Project, name, plugin string) error {
	job := "name: " + name + "\nsource: pawl validate\nclassification: internal\nformat: jsonl\nschema: schemas/sensor-reading.json\nvalidators:\n  - plugin: " + plugin + "\n"
	if err := os.WriteFile(filepath.Join(p.JobsDir(), name+".yaml"), []byte(job), 0o644); err != nil {
		return err
	}
	_, err := p.Pin(ctx, Operator, "pawl validate: the job "+name)
	return err
}

func addPlugin(ctx context.Context, p *project.Project, wasm []byte) (string, error) {
	m, _, _, err := p.AddPlugin(ctx, wasm, Operator, "pawl validate: a challenge's plugin")
	if err != nil {
		return "", err
	}
	return m.ID(), nil
}

func committed(ctx context.Context, p *project.Project) (int, error) {
	bs, err := p.Batches(ctx)
	return len(bs), err
}

func unapprovedPlugin(ctx context.Context, s *Scratch, _ string) (string, []string, bool) {
	id, err := addPlugin(ctx, s.P, okWasm)
	if err == nil {
		err = useJob(ctx, s.P, "validate-unapproved", id)
	}
	if err != nil {
		return "setting up the job: " + err.Error(), nil, false
	}
	n, _ := committed(ctx, s.P)
	_, err = ratchet.Run(ctx, s.P, ratchet.RunOptions{Job: "validate-unapproved", Input: filepath.Join(s.dir, "readings.jsonl"), Reason: "pawl validate: an unapproved plugin"})
	if err == nil {
		return "the run with the unapproved plugin " + id + " was committed", nil, false
	}
	ev := []string{"refused: " + err.Error()}
	if !errors.Is(err, gate.ErrDenied) {
		return "the run failed, but not as a policy's denial: " + err.Error(), ev, false
	}
	ds, _ := s.P.Trail.Find(ctx, actions.PolicyDecision, "plugin:"+id)
	denied := 0
	for _, e := range ds {
		d, err := actions.Decode[actions.PolicyDecisionDetails](e)
		if err == nil && !d.Decision.Allow {
			denied++
			ev = append(ev, fmt.Sprintf("policy.decision entry %d: %s denied", e.Seq, e.Object))
		}
	}
	if denied == 0 {
		return "no denial of plugin:" + id + " on record", ev, false
	}
	if m, _ := committed(ctx, s.P); m != n {
		return "a batch was committed", ev, false
	}
	return fmt.Sprintf("refused before any record was read; %d denial(s) of %s on record; nothing committed", denied, id), ev, true
}

func hostilePlugin(ctx context.Context, s *Scratch, _ string) (string, []string, bool) {
	// The loop never ends, so any deadline stops it: a short one, pinned
	// with the job (the limits are pinned), keeps the challenge short (the
	// default is 30 s). It is the scratch project's last run.
	if err := appendFile(s.P.ConfigPath(), "\nplugin:\n  call_timeout: 1s\n"); err != nil {
		return err.Error(), nil, false
	}
	s.P.Cfg.PluginCallTimeout = time.Second
	id, err := addPlugin(ctx, s.P, loopWasm)
	if err == nil {
		_, err = gate.ApprovePinned(ctx, s.P, []string{id}, Operator, "pawl validate: a hostile plugin, approved so that its containment is what is shown")
	}
	if err == nil {
		err = useJob(ctx, s.P, "validate-hostile", id)
	}
	if err != nil {
		return "setting up the job: " + err.Error(), nil, false
	}
	n, _ := committed(ctx, s.P)
	few := filepath.Join(s.dir, "two.jsonl")
	if err := os.WriteFile(few, []byte(demoLine+"\n"+demoLine+"\n"), 0o600); err != nil {
		return err.Error(), nil, false
	}
	_, err = ratchet.Run(ctx, s.P, ratchet.RunOptions{Job: "validate-hostile", Input: few, Reason: "pawl validate: a hostile plugin"})
	if err == nil {
		return "the run with the endless loop " + id + " was committed", nil, false
	}
	ev := []string{"stopped: " + err.Error()}
	var ie *ratchet.InfraError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "timed out") {
		return "the run failed, but not naming the plugin and its deadline: " + err.Error(), ev, false
	}
	es, _ := s.P.Trail.Find(ctx, actions.BatchFailed, "batch:"+ie.BatchID)
	if len(es) != 1 {
		return fmt.Sprintf("%d batch.failed entries for batch %s", len(es), ie.BatchID), ev, false
	}
	ev = append(ev, fmt.Sprintf("batch.failed entry %d", es[0].Seq))
	if m, _ := committed(ctx, s.P); m != n {
		return "a batch was committed", ev, false
	}
	if pend, _ := os.ReadDir(s.P.PendingDir()); len(pend) != 0 {
		return fmt.Sprintf("half-done work left in %s", s.P.PendingDir()), ev, false
	}
	return fmt.Sprintf("contained: batch %s failed naming %s and its deadline, batch.failed entry %d, nothing committed or pending", ie.BatchID, id, es[0].Seq), ev, true
}

// attack runs statements against a trail file as anyone with write access
// to it could: the append-only triggers dropped, the data changed, the
// triggers put back.
func attack(path string, stmts ...string) error {
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Query("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'")
	if err != nil {
		return err
	}
	var names, saved []string
	for rows.Next() {
		var n, s string
		if err := rows.Scan(&n, &s); err != nil {
			rows.Close()
			return err
		}
		names, saved = append(names, n), append(saved, s)
	}
	rows.Close()
	for _, n := range names {
		stmts = append([]string{`DROP TRIGGER "` + n + `"`}, stmts...)
	}
	stmts = append(stmts, saved...)
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

func trailOf(root string) string {
	return project.NewLayout(root, config.Defaults().DataDir).TrailPath()
}

func verifyCopy(ctx context.Context, root string) (*review.VerifyReport, *project.Project, error) {
	p, err := project.OpenReadOnly(ctx, root, config.Defaults())
	if err != nil {
		return nil, nil, err
	}
	rep, err := review.Verify(ctx, p)
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return rep, p, nil
}

func editEntry(_ context.Context, s *Scratch, root string) ([]string, error) {
	seq := s.Batch.AuditSeq
	return []string{fmt.Sprintf("entry %d (batch.committed): one character appended to its reason in %s", seq, trailOf(root))},
		attack(trailOf(root), fmt.Sprintf("UPDATE entries SET reason = reason || '.' WHERE seq = %d", seq))
}

func detectEdit(ctx context.Context, s *Scratch, root string) (string, []string, bool) {
	rep, p, err := verifyCopy(ctx, root)
	if err != nil {
		return "verify: " + err.Error(), nil, false
	}
	p.Close()
	ev := []string{fmt.Sprintf("audit verify: ok %v, first bad entry %d: %s", rep.Audit.OK, rep.Audit.FirstBad, rep.Audit.Problem)}
	if rep.Audit.OK {
		return "expected the verification to fail naming entry " + fmt.Sprint(s.Batch.AuditSeq) + "; it verified: saw no failure", ev, false
	}
	if rep.Audit.FirstBad != s.Batch.AuditSeq {
		return fmt.Sprintf("the verification failed at entry %d, not at the edited entry %d", rep.Audit.FirstBad, s.Batch.AuditSeq), ev, false
	}
	return fmt.Sprintf("audit verify fails at entry %d: %s", rep.Audit.FirstBad, rep.Audit.Problem), ev, true
}

func truncateTrail(_ context.Context, s *Scratch, root string) ([]string, error) {
	keep := s.CheckpointSize - 2
	return []string{fmt.Sprintf("entries after %d deleted (the held checkpoint covers %d)", keep, s.CheckpointSize)},
		attack(trailOf(root), fmt.Sprintf("DELETE FROM entries WHERE seq > %d", keep))
}

func detectTruncation(ctx context.Context, s *Scratch, root string) (string, []string, bool) {
	p, err := project.OpenReadOnly(ctx, root, config.Defaults())
	if err != nil {
		return "opening the copy: " + err.Error(), nil, false
	}
	defer p.Close()
	ar, err := p.Trail.Verify(ctx)
	if err != nil {
		return "verify: " + err.Error(), nil, false
	}
	ev := []string{fmt.Sprintf("the chain alone: ok %v, %d entries", ar.OK, ar.Entries)}
	_, err = review.VerifyCheckpoint(ctx, p, s.Checkpoint, nil)
	if err == nil {
		return fmt.Sprintf("expected the held checkpoint (%d entries) to expose a truncation; the trail (%d entries) extends it: saw no failure", s.CheckpointSize, ar.Entries), ev, false
	}
	ev = append(ev, "audit verify --checkpoint: "+err.Error())
	return fmt.Sprintf("the held checkpoint of %d entries does not verify against the trail of %d: %v", s.CheckpointSize, ar.Entries, err), ev, true
}

func swapBlob(_ context.Context, s *Scratch, root string) ([]string, error) {
	path := filepath.Join(root, s.InputBlob)
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.Replace(b, []byte(`"celsius"`), []byte(`"kelvin"`), 1)
	return []string{"one value of " + path + " changed"}, os.WriteFile(path, b, 0o600)
}

func detectSwap(ctx context.Context, s *Scratch, root string) (string, []string, bool) {
	rep, p, err := verifyCopy(ctx, root)
	if err != nil {
		return "verify: " + err.Error(), nil, false
	}
	p.Close()
	ev := append([]string{}, rep.Problems...)
	want := fmt.Sprintf("batch %s: input blob", s.Batch.BatchID)
	for _, pr := range rep.Problems {
		if strings.Contains(pr, want) {
			return "audit verify fails: " + pr, ev, true
		}
	}
	return "expected audit verify to name the input blob of batch " + s.Batch.BatchID + "; saw no such failure", ev, false
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyTree copies a closed project, modes kept.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, fi.Mode().Perm()|0o700)
		case !fi.Mode().IsRegular():
			return nil // the lock file's socket, and the like
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm()|0o200)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		return os.Chmod(target, fi.Mode().Perm())
	})
}

// removeAll removes the scratch directory, store blobs made read-only
// included.
func removeAll(dir string) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o700)
		}
		return nil
	})
	os.RemoveAll(dir)
}
