package actions

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/normalize"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/store"
)

// The files of a batch folder, as the batch record names them.
const (
	VerifiedFile = "verified.jsonl"
	// VerifiedParquetFile is the verified records as Parquet, written
	// beside verified.jsonl when the job's outputs ask for it.
	VerifiedParquetFile = "verified.parquet"
	QuarantineFile      = "quarantine.jsonl"
	SignatureFile       = "signature.json"
	CheckpointFile      = "checkpoint"
	LineageFile         = "lineage"
	TilesFile           = "lineage.tiles"
	ActionsFile         = "actions.jsonl"
)

// BatchRecord is everything on record about a committed batch: the details
// of its batch.committed entry, from which its signature and its summary
// are derived, and from which a replay rebuilds its plan.
type BatchRecord struct {
	BatchID        string       `json:"batch_id"`
	Job            string       `json:"job"`
	Source         string       `json:"source"`
	Classification string       `json:"classification"`
	Format         string       `json:"format"`
	JobSpec        store.Digest `json:"job_spec"`
	Input          store.Digest `json:"input"`
	InputBytes     int64        `json:"input_bytes"`
	InputName      string       `json:"input_name"`
	// Inbox is the source whose inbox the input was picked up from by the
	// gate (pawl watch, pawl serve), and the file's name there; absent
	// for a batch run by hand.
	Inbox      *InboxOrigin  `json:"inbox,omitempty"`
	Pins       lockfile.Pins `json:"pins"`
	PinsDigest store.Digest  `json:"pins_digest"`
	Limits     *Limits       `json:"limits,omitempty"` // absent only in records written before limits were recorded
	Schema     SchemaRef     `json:"schema"`
	AsOf       string        `json:"as_of"`

	// AsOfOutsideWindow says the as-of time was given (--as-of) outside the
	// window around the time of the run that needs no reason, and
	// AsOfWindow is that window; the entry's reason says why. Both are
	// absent for an as-of inside the window, and for the default (the time
	// of the run).
	AsOfOutsideWindow bool        `json:"as_of_outside_window,omitempty"`
	AsOfWindow        *TimeWindow `json:"as_of_window,omitempty"`

	RecordsIn   int64                   `json:"records_in"`
	Verified    int64                   `json:"records_verified"`
	Quarantined int64                   `json:"records_quarantined"`
	BlankLines  int64                   `json:"blank_lines"`
	BOMStripped bool                    `json:"bom_stripped"`
	Stages      []StageStat             `json:"stages"`
	Rules       []RuleCount             `json:"rules"`
	Normalize   normalize.Stats         `json:"normalize"`
	Outputs     map[string]OutputRef    `json:"outputs"`
	Validators  map[string]ValidatorRef `json:"validators"`
	Lineage     LineageRef              `json:"lineage"`
	// Resubmits names the quarantined record a resubmitted batch corrects.
	Resubmits *Resubmission `json:"resubmits,omitempty"`
	// State is the plugin state the batch was judged against and the state
	// it produced, for a job whose plugins keep state; absent otherwise.
	State       *StateRef `json:"state,omitempty"`
	PawlVersion string    `json:"pawl_version"`
	// Binary is the pawl executable that ran the batch: its file's sha256
	// and the commit it was built from; absent in records written before
	// it was recorded. Not part of the batch id: a replay by another build
	// reproduces the same batch.
	Binary *BinaryRef `json:"binary,omitempty"`
	// Distributed says the batch's records went to workers (pawl worker)
	// through a NATS JetStream work queue, which the stateless stages ran
	// on: absent for a batch run on one machine. Not part of the batch id:
	// the outputs are those of a run on one machine.
	Distributed *Distribution `json:"distributed,omitempty"`
	// QuarantineFormat is how the batch's quarantine lines hold a
	// record's bytes: absent (0, format 1) in the line, as "raw" (or
	// "raw_base64" when they are not UTF-8); QuarantineByReference when
	// the line leaves them out for the input blob to give. A replay
	// writes the format on record. Not part of the batch id: the same
	// input, pins and limits make the same batch, whichever format a
	// release writes.
	QuarantineFormat int `json:"quarantine_format,omitempty"`
}

// QuarantineByReference is the quarantine format of the batches this
// release runs: a quarantined record whose bytes are a span of the
// batch's input blob (JSON Lines and CSV; not a Parquet row, whose bytes
// are its canonical JSON, nor a record over max_record_bytes, whose line
// says so in "raw_omitted") is not copied into its line. The line's
// offset and length name the span; project.Quarantined reads it back, so
// what a reader of a quarantined record gets is what a format 1 line
// holds. The input blob is kept with the batch (a replay needs it). And a
// quarantined record's lineage leaf has 32 zero bytes for its reasons
// digest: its line, which the leaf's output hash covers, holds the reasons.
const QuarantineByReference = 2

// CheckQuarantineFormat refuses a record whose quarantine format this
// release does not know (a newer one's): its lines would be read, traced
// or replayed as another format's.
func (br *BatchRecord) CheckQuarantineFormat() error {
	switch br.QuarantineFormat {
	case 0, QuarantineByReference:
		return nil
	}
	return fmt.Errorf("batch %s was written in quarantine format %d, which this pawl does not know: read, trace or replay it with the release that wrote it (its pawl_version: %s)", br.BatchID, br.QuarantineFormat, br.PawlVersion)
}

// Distribution is where a distributed batch's records went: the work
// queue's server as configured (distribute.nats), the policy decision
// that allowed it, and the workers whose outcomes the committer took.
type Distribution struct {
	Queue    string   `json:"queue"`
	Decision string   `json:"decision"`
	Workers  []string `json:"workers"`
}

// BinaryRef identifies the pawl executable that wrote a record: what a site
// compares with the binary it qualified (`pawl version --output json`
// prints the same values).
type BinaryRef struct {
	// SHA256 is "sha256:" and the hex sha256 of the executable's file, or
	// empty when it could not be read (Error says why).
	SHA256 string `json:"sha256"`
	Error  string `json:"error,omitempty"`
	// VCSRevision, VCSTime and VCSModified are the build info's vcs.*
	// settings, absent when the build recorded none (go test,
	// -buildvcs=false).
	VCSRevision string `json:"vcs_revision,omitempty"`
	VCSTime     string `json:"vcs_time,omitempty"`
	VCSModified string `json:"vcs_modified,omitempty"`
}

// Limits are the bounds a batch ran under. They are inputs on record: a
// replay runs under the recorded limits whatever the configuration says
// today, and those that can change a verdict (a record over the size
// limit is quarantined; a plugin sees its memory limit) feed the batch id.
type Limits struct {
	MaxRecordBytes    int64  `json:"max_record_bytes"`
	PluginMemoryPages uint32 `json:"plugin_memory_pages"`
	// PluginCallTimeoutMS bounds one plugin call; running over it fails the
	// batch, so it never changes a committed batch's verdicts and is not
	// part of the id.
	PluginCallTimeoutMS int64 `json:"plugin_call_timeout_ms"`
	// BatchTimeoutMS bounds a whole batch (batch.timeout; 0: none, and
	// then absent, so that limits pinned before it existed keep their
	// digest). Running over it fails the batch, so, like the call timeout,
	// it never changes a committed batch's verdicts and is not part of
	// the id.
	BatchTimeoutMS int64 `json:"batch_timeout_ms,omitempty"`
	// MaxQuarantineGrowth bounds the quarantine file to this many times
	// the input's bytes plus 1 MiB (batch.max_quarantine_growth), present
	// only when it is not the default (DefaultQuarantineGrowth), so that
	// limits pinned before it existed keep their digest. A batch whose
	// quarantine grows past it fails; not part of the id.
	MaxQuarantineGrowth int64 `json:"max_quarantine_growth,omitempty"`
}

// DefaultQuarantineGrowth is batch.max_quarantine_growth's default.
const DefaultQuarantineGrowth = 32

// QuarantineBound is the most bytes a batch's quarantine file may hold
// under l for an input of inputBytes.
func (l Limits) QuarantineBound(inputBytes int64) int64 {
	g := l.MaxQuarantineGrowth
	if g == 0 {
		g = DefaultQuarantineGrowth
	}
	return g*inputBytes + 1<<20
}

// RecordedLimits are the limits the batch ran under. A record written
// before limits were recorded ran under the defaults of its time.
func (br *BatchRecord) RecordedLimits() Limits {
	if br.Limits != nil {
		return *br.Limits
	}
	return Limits{MaxRecordBytes: 64 << 20, PluginMemoryPages: sandbox.DefaultMemoryLimitPages, PluginCallTimeoutMS: sandbox.DefaultCallTimeout.Milliseconds()}
}

// TimeWindow is the window around the time a command ran within which a
// time given on its command line (a run's --as-of, an export's --time)
// needs no reason: the configuration's time_window.past and
// time_window.future then, as durations ("168h", "1h").
type TimeWindow struct {
	Past   string `json:"past"`
	Future string `json:"future"`
}

// SchemaRef identifies the schema a batch was checked against.
type SchemaRef struct {
	Name    string       `json:"name"`
	Version string       `json:"version"`
	Path    string       `json:"path"`
	Hash    store.Digest `json:"hash"`
}

// OutputRef is one output file of a batch.
type OutputRef struct {
	Hash    store.Digest `json:"hash"`
	Bytes   int64        `json:"bytes"`
	Records int64        `json:"records"`
}

// ValidatorRef pins one validator plugin that ran on the batch.
type ValidatorRef struct {
	Version string       `json:"version"`
	Hash    store.Digest `json:"hash"`
}

// StageStat counts what one stage saw and rejected.
type StageStat struct {
	Stage    string `json:"stage"`
	In       int64  `json:"in"`
	Rejected int64  `json:"rejected"`
}

// RuleCount is the number of records that failed one rule.
type RuleCount struct {
	Stage   string `json:"stage"`
	Rule    string `json:"rule"`
	Records int64  `json:"records"`
}

// LineageRef is a batch's per-record lineage: the Merkle tree over one leaf
// per record (see audit.LineageLeaf), the file of its leaf hashes, its
// tiles, and the actions the boundary took on records it let through.
type LineageRef struct {
	Root    string       `json:"root"` // hex
	Size    int64        `json:"size"`
	Leaves  store.Digest `json:"leaves"`
	Tiles   store.Digest `json:"tiles"`
	Actions OutputRef    `json:"actions"`
}

// Resubmission links a batch made of one corrected record to the
// quarantined record it replaces.
type Resubmission struct {
	OriginalBatch   string `json:"original_batch"`
	OriginalOrdinal int64  `json:"original_ordinal"`
}

// BatchID derives a batch's id from what determines its outcome: the job
// spec, the input, the job's pins and the limits that can change a
// verdict. The same inputs always give the same id, so a retry is
// recognised and answered from the record.
func BatchID(jobSpec, input, pins store.Digest, l Limits) string {
	h := sha256.New()
	fmt.Fprintf(h, "pawl-batch-v2\njob_spec %s\ninput %s\npins %s\nmax_record_bytes %d\nplugin_memory_pages %d\n",
		jobSpec, input, pins, l.MaxRecordBytes, l.PluginMemoryPages)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// StateRef is a batch's plugin state (docs/plugin-abi.md §8): the
// content hashes of the state files in the store it started from and
// produced. Committing the batch makes Out the job's state, unless the
// batch is a resubmission (which is judged against its original's state and
// advances nothing).
type StateRef struct {
	In  store.Digest `json:"state_in"`
	Out store.Digest `json:"state_out"`
	// Base is the batch id without the state: the same input of the same
	// job under the same pins, whatever state it met. A job that keeps
	// state takes an input once: a rerun is answered from the record.
	Base string `json:"base_id"`
	// Keys is how many keys state_out holds.
	Keys int64 `json:"keys"`
	// Migrated lists the plugins whose keys the batch carried from an
	// older state format to the one their pinned version declares, before
	// its first record (docs/plugin-abi.md §8): part of state_out.
	Migrated []StateMigration `json:"migrated,omitempty"`
}

// StateMigration is one plugin's state carried from one format to another
// by its pawl_migrate_state, key by key in key order.
type StateMigration struct {
	Plugin string `json:"plugin"` // name@version
	From   string `json:"from_format"`
	To     string `json:"to_format"`
	Keys   int64  `json:"keys"` // the keys of the old format given to the plugin
}

// StateBatchID is the id of a batch of a job that keeps state: the base id
// (BatchID) and the state it starts from, so that the same input against
// another history is another batch.
func StateBatchID(base string, stateIn store.Digest) string {
	h := sha256.New()
	fmt.Fprintf(h, "pawl-batch-state-v1\nbase %s\nstate_in %s\n", base, stateIn)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Seed derives the plugins' random seed from the batch id, so that a replay
// draws the same numbers.
func Seed(batchID string) uint64 {
	b, err := hex.DecodeString(batchID)
	if err != nil || len(b) < 8 {
		return 0
	}
	var s uint64
	for _, x := range b[:8] {
		s = s<<8 | uint64(x)
	}
	return s
}
