package ratchet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/normalize"
	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/schema"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// A Plan is everything that decides a batch's outcome, resolved once:
// the job, its pins, the compiled schema, the Unicode profile, the
// validators with their configs and lookups, the policy bundle, the
// limits, the input, the as-of time and the seed. Run, Replay and Resubmit
// all execute a Plan; a Plan for a replay or a resubmission is rebuilt
// from the store and the batch's record, never from today's configuration
// or today's files.
type Plan struct {
	Job       *project.Job
	Pins      lockfile.Pins // the job's own pins: spec, schema and the files its $refs reach, reference and lookup files, plugins, the policy bundle and its trust settings
	Schema    *schema.Schema
	SchemaRef actions.SchemaRef
	Profile   *normalize.Profile
	Limits    actions.Limits
	// Policy is the pinned bundle's engine: it decides the run's
	// classification and admits each plugin. A replay asks nothing, and has
	// none.
	Policy *policies.Engine

	Input      store.Digest
	InputBytes int64
	InputName  string
	BatchID    string
	AsOf       time.Time
	Seed       uint64
	Resubmits  *actions.Resubmission
	// QuarantineFormat is the batch record's: what a new run writes
	// (actions.QuarantineByReference), or the one on record.
	QuarantineFormat int

	// StateIn is the plugin state the batch starts from, for a job whose
	// plugins keep state (stateful): the job's state when planned, or the
	// recorded one. BaseID is the batch id without it.
	StateIn  store.Digest
	BaseID   string
	stateful bool
	state    *plugstate.Table // StateIn loaded, then changed by the batch
	// closeState releases state: its file and its spilled changes.
	closeState func()
	stateDir   string                   // where state spills, removed by closeState
	migrated   []actions.StateMigration // what migrateStates carried over

	validators []*validator
	// asked are the run's allowed decisions not yet on record (the
	// classification), put there with the plugins' admissions in one
	// transaction (loadValidators), or by anything else that goes on record
	// first (recordAsked).
	asked []*gate.Asked
	// dist, when set, runs the stateless stages on workers elsewhere
	// (RunOptions.Distribute).
	dist Distributor
	// blobs reads the artefacts a distributed batch's workers fetch (the
	// project's store); onWorker says the plan was rebuilt on a worker
	// (RebuildPlan), which runs its stateless stages only.
	blobs    blobReader
	onWorker bool
	distRef  *actions.Distribution // the batch record's, filled in as outcomes are taken
	// source, when set, is the input file, read by the pipeline and copied
	// into the store as it is (ingest in run.go); otherwise the pipeline
	// reads the input blob.
	source *store.Ingest
}

// newQuarantineFormat is the quarantine format of the batches this release
// runs; tests set it to 0 to write batches as a release before format 2 did.
var newQuarantineFormat = actions.QuarantineByReference

// recordAsked puts the decisions the run has asked and not yet recorded on
// record, in one transaction: nothing acts on a decision before, and
// nothing else goes on record before the decisions asked earlier.
func (pl *Plan) recordAsked(ctx context.Context, t *audit.Trail) error {
	_, err := gate.RecordAll(ctx, t, pl.asked)
	pl.asked = nil
	return err
}

// LimitsFor are the limits a run under cfg is bound by.
func LimitsFor(cfg config.Config) actions.Limits { return project.LimitsFor(cfg) }

// planContract resolves the contract part of a plan from the job's files
// under l.Root and their pins: the job spec, the schema (with every file
// its $refs reach) and the Unicode profile. Every file is checked to be a
// regular file inside the tree (and outside the data directory, when the
// layout has one), and against its pin; pins must hold every one of them.
func planContract(l project.Layout, jobRel string, pins lockfile.Pins) (*Plan, error) {
	if err := l.CheckReference(nil, project.Ref{Path: jobRel, What: "job spec"}); err != nil {
		return nil, err
	}
	job, err := project.LoadJob(l.Root, jobRel)
	if err != nil {
		return nil, err
	}
	for _, r := range job.Refs() {
		if err := l.CheckReference(job, r); err != nil {
			return nil, err
		}
	}
	jobPins, err := lockfile.Check(l.Root, pins, append(job.References(), job.PluginRefs()...))
	if err != nil {
		return nil, err
	}
	// The schema is checked as compiled: the digest of the bytes of every
	// file it read against that file's pin.
	sch, refs, files, err := l.CompileSchema(job)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		got := files[r.Path]
		want, ok := pins[r.Path]
		if !ok {
			return nil, &lockfile.MismatchError{File: r.Path, Actual: got, Unpinned: true}
		}
		if got != want {
			return nil, &lockfile.MismatchError{File: r.Path, Pinned: want, Actual: got}
		}
		jobPins[r.Path] = got
	}
	prof, err := normalizeProfile(l.Root, job)
	if err != nil {
		return nil, err
	}
	pl := &Plan{Job: job, Pins: jobPins, Schema: sch, Profile: prof}
	pl.SchemaRef = actions.SchemaRef{Name: sch.Title(), Version: schemaVersion(jobPins[job.Schema]), Path: job.Schema, Hash: jobPins[job.Schema]}
	if pl.SchemaRef.Name == "" {
		pl.SchemaRef.Name = strings.TrimSuffix(filepath.Base(job.Schema), filepath.Ext(job.Schema))
	}
	return pl, nil
}

// PlanRun resolves the plan of a run of job (a name or a spec path) from
// the project as it is now: its files, checked against pawl.lock and kept
// in the store so that the batch can be replayed from the store alone; the
// policy bundle, loaded as configured and checked against its pin; and the
// limits the configuration sets. The input is bound later (Bind).
func PlanRun(ctx context.Context, p *project.Project, job string) (*Plan, error) {
	jobRel, err := project.JobPath(p.Root, job)
	if err != nil {
		return nil, err
	}
	// pawl.lock as on record (never one edited by hand), and the limits
	// the configuration sets, as pinned.
	pins, err := p.Pins(ctx)
	if err != nil {
		return nil, err
	}
	limits, err := p.CheckLimits(pins)
	if err != nil {
		return nil, err
	}
	pl, err := planContract(p.Layout, jobRel, pins)
	if err != nil {
		return nil, err
	}
	for f, d := range pl.Pins {
		if !lockfile.IsFile(f) {
			continue // modules are in the store already, checked when loaded
		}
		got, _, err := p.Store.PutFile(p.File(f))
		if err != nil {
			return nil, &InfraError{Err: err}
		}
		if got != d {
			return nil, &lockfile.MismatchError{File: f, Pinned: d, Actual: got}
		}
	}
	// The policy bundle: its trust settings checked against their pin,
	// then loaded (signature checked when required), checked against its
	// pin, and both pinned into the batch, so that they feed the batch id
	// and are on record.
	e, d, err := p.PinnedPolicy(ctx, pins)
	if err != nil {
		return nil, err
	}
	pl.Pins[project.PolicyPinKey] = d
	pl.Pins[project.PolicySettingsPinKey] = pins[project.PolicySettingsPinKey]
	pl.Policy = e
	pl.Limits = limits
	pl.QuarantineFormat = newQuarantineFormat
	// A job whose plugins keep state starts from the job's state now; it
	// is checked again at the commit point (execute).
	if pl.stateful, err = keepsState(p, pl.Job, pl.Pins); err != nil {
		return nil, err
	}
	if pl.stateful {
		if pl.StateIn, _, err = JobState(ctx, p, pl.Job.Name); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

// planFromRecord rebuilds a committed batch's plan from the store and its
// record alone: the pinned files laid out under scratch exactly as
// recorded (each checked against its hash), the recorded limits, as-of
// time and input. It does not load the policy bundle (see policyFor).
func planFromRecord(p blobReader, rec *actions.BatchRecord, scratch string) (*Plan, error) {
	tree := filepath.Join(scratch, "project")
	jobRel, err := layOut(p, rec, tree)
	if err != nil {
		return nil, err
	}
	pl, err := planContract(project.Layout{Root: tree}, jobRel, rec.Pins)
	if err != nil {
		return nil, fmt.Errorf("the pins of batch %s: %w", rec.BatchID, err)
	}
	pl.Pins[project.PolicyPinKey] = rec.Pins[project.PolicyPinKey]
	// Records written before the bundle's trust settings were pinned have
	// none: not pinned then.
	if d, ok := rec.Pins[project.PolicySettingsPinKey]; ok {
		pl.Pins[project.PolicySettingsPinKey] = d
	}
	pl.Limits = rec.RecordedLimits()
	if err := rec.CheckQuarantineFormat(); err != nil {
		return nil, err
	}
	pl.QuarantineFormat = rec.QuarantineFormat
	asOf, err := time.Parse(time.RFC3339Nano, rec.AsOf)
	if err != nil {
		return nil, fmt.Errorf("recorded as-of %q: %w", rec.AsOf, err)
	}
	pl.AsOf = asOf
	pl.Input, pl.InputBytes, pl.InputName = rec.Input, rec.InputBytes, rec.InputName
	pl.BatchID, pl.Seed = rec.BatchID, actions.Seed(rec.BatchID)
	if rec.State != nil {
		pl.stateful, pl.StateIn, pl.BaseID = true, rec.State.In, rec.State.Base
	}
	return pl, nil
}

// policyFor gives a plan rebuilt from a record the bundle it pins: the one
// in policies/ when that is still it and today's trust settings are the
// ones the batch pins (loaded with them), otherwise the one kept in the
// store.
func (pl *Plan) policyFor(ctx context.Context, p *project.Project) error {
	want := pl.Pins[project.PolicyPinKey]
	if want == "" {
		return fmt.Errorf("the batch pins no policy bundle")
	}
	pins := lockfile.Pins{project.PolicyPinKey: want}
	if d, ok := pl.Pins[project.PolicySettingsPinKey]; ok {
		pins[project.PolicySettingsPinKey] = d
	} else if _, d, err := p.PolicySettings(); err == nil {
		pins[project.PolicySettingsPinKey] = d // not pinned then: today's apply
	}
	if e, _, err := p.PinnedPolicy(ctx, pins); err == nil {
		pl.Policy = e
		return nil
	}
	e, err := p.StoredPolicy(ctx, want)
	if err != nil {
		return err
	}
	pl.Policy = e
	return nil
}

// Bind gives the plan its input and as-of time, which makes its batch id
// and seed.
func (pl *Plan) Bind(name string, input store.Digest, size int64, asOf time.Time) {
	pl.InputName, pl.Input, pl.InputBytes = name, input, size
	pl.AsOf = asOf
	pl.BaseID = actions.BatchID(pl.Pins[pl.Job.Path], input, pl.Pins.Digest(), pl.Limits)
	pl.BatchID = pl.BaseID
	if pl.stateful {
		pl.BatchID = actions.StateBatchID(pl.BaseID, pl.StateIn)
	}
	pl.Seed = actions.Seed(pl.BatchID)
}

// record is the batch record the plan's outcome will be written into.
func (pl *Plan) record() actions.BatchRecord {
	limits := pl.Limits
	return actions.BatchRecord{
		BatchID: pl.BatchID, Job: pl.Job.Name, Source: pl.Job.Source, Classification: pl.Job.Classification, Format: pl.Job.Format,
		JobSpec: pl.Pins[pl.Job.Path], Input: pl.Input, InputBytes: pl.InputBytes, InputName: pl.InputName,
		Pins: pl.Pins, PinsDigest: pl.Pins.Digest(), Limits: &limits, Schema: pl.SchemaRef,
		AsOf: pl.AsOf.UTC().Format(time.RFC3339Nano), Resubmits: pl.Resubmits, QuarantineFormat: pl.QuarantineFormat,
	}
}

// normalizeProfile builds the job's Unicode profile, with the reference
// values of its identifier fields read from their (pinned) files.
func normalizeProfile(root string, job *project.Job) (*normalize.Profile, error) {
	refs := map[string][]string{}
	for ptr, file := range job.Normalize.References {
		f, err := os.Open(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			return nil, fmt.Errorf("job %s: normalize reference file for %s: %w", job.Name, ptr, err)
		}
		vals, err := normalize.ParseReferences(f, file)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", job.Name, err)
		}
		refs[ptr] = vals
	}
	prof, err := normalize.NewProfile(job.Normalize, refs)
	if err != nil {
		return nil, fmt.Errorf("job %s: normalize: %w", job.Name, err)
	}
	return prof, nil
}

func schemaVersion(d store.Digest) string {
	h := d.Hex()
	if len(h) > 12 {
		h = h[:12]
	}
	return "sha256:" + h
}

// layOut writes the batch's pinned files, exactly as recorded, in their
// project layout under tree: the job spec, the schema and the files its
// $refs reach (in records that pin them), lookup and reference files, and a pawl.lock of the batch's pins. Each comes out of
// the store checked against its hash. It returns the job spec's path.
func layOut(p blobReader, rec *actions.BatchRecord, tree string) (string, error) {
	if err := layOutPins(p, rec.Pins, tree); err != nil {
		return "", err
	}
	for f, d := range rec.Pins {
		if d == rec.JobSpec && strings.HasPrefix(f, "jobs/") {
			return f, nil
		}
	}
	return "", fmt.Errorf("the batch's job spec %s is not among its pins", rec.JobSpec)
}

// blobReader reads a blob by its digest: a project's store, or, on a
// worker, the batch's artefacts (distribute.go).
type blobReader interface {
	ReadBlob(d store.Digest) ([]byte, error)
}

// layOutPins writes every pinned file, from the store, under tree, with
// the pins as its pawl.lock.
func layOutPins(p blobReader, pins lockfile.Pins, tree string) error {
	for f, d := range pins {
		if !lockfile.IsFile(f) {
			continue // plugins are loaded from the store by their pin; the bundle and its settings by policyFor
		}
		b, err := p.ReadBlob(d)
		if err != nil {
			return fmt.Errorf("pinned %s: %w", f, err)
		}
		dst := filepath.Join(tree, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(tree, lockfile.Name), pins.Format(), 0o600)
}
