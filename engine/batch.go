package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/pawl-dev/pawl/engine/normalize"
	"github.com/pawl-dev/pawl/engine/store"
)

// Output file names inside a batch folder.
const (
	VerifiedFile   = "verified.jsonl"
	QuarantineFile = "quarantine.jsonl"
	SignatureFile  = "signature.json"
	CheckpointFile = "checkpoint"
	LineageFile    = "lineage"
	TilesFile      = "lineage.tiles"
	ActionsFile    = "actions.jsonl"
)

// BatchID derives a batch's id from what determines its outcome: the job
// spec, the input and the job's pins. The same three always give the same id,
// so a retry is recognised and answered from the record.
func BatchID(jobSpec, input, pins store.Digest) string {
	h := sha256.New()
	fmt.Fprintf(h, "pawl-batch-v1\njob_spec %s\ninput %s\npins %s\n", jobSpec, input, pins)
	return hex.EncodeToString(h.Sum(nil))[:32]
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

// BatchRecord is everything on record about a committed batch: the details
// of its batch.committed audit entry, from which its signature and its
// summary are derived.
type BatchRecord struct {
	BatchID        string                  `json:"batch_id"`
	Job            string                  `json:"job"`
	Source         string                  `json:"source"`
	Classification string                  `json:"classification"`
	Format         string                  `json:"format"`
	JobSpec        store.Digest            `json:"job_spec"`
	Input          store.Digest            `json:"input"`
	InputBytes     int64                   `json:"input_bytes"`
	InputName      string                  `json:"input_name"`
	Pins           Pins                    `json:"pins"`
	PinsDigest     store.Digest            `json:"pins_digest"`
	Schema         SchemaRef               `json:"schema"`
	AsOf           string                  `json:"as_of"`
	RecordsIn      int64                   `json:"records_in"`
	Verified       int64                   `json:"records_verified"`
	Quarantined    int64                   `json:"records_quarantined"`
	BlankLines     int64                   `json:"blank_lines"`
	BOMStripped    bool                    `json:"bom_stripped"`
	Stages         []StageStat             `json:"stages"`
	Rules          []RuleCount             `json:"rules"`
	Normalize      normalize.Stats         `json:"normalize"`
	Outputs        map[string]OutputRef    `json:"outputs"`
	Validators     map[string]ValidatorRef `json:"validators"`
	Lineage        LineageRef              `json:"lineage"`
	// Resubmits names the quarantined record a resubmitted batch corrects.
	Resubmits   *Resubmission `json:"resubmits,omitempty"`
	PawlVersion string        `json:"pawl_version"`
}

// LineageRef is a batch's per-record lineage: the Merkle tree over one leaf
// per record (see audit.LineageLeaf), the file of its leaf hashes, and the
// actions the boundary took on records it let through.
type LineageRef struct {
	Root    string       `json:"root"` // hex
	Size    int64        `json:"size"`
	Leaves  store.Digest `json:"leaves"`
	Tiles   store.Digest `json:"tiles"`
	Actions OutputRef    `json:"actions"`
}

// stageNames is the order records pass the stages in.
var stageNames = []string{"frame", "utf8", "decode", "normalize", "schema", "validate"}

// stats accumulates one worker's counts; workers' stats are summed, so the
// totals never depend on how records were spread over workers.
type stats struct {
	in, rejected map[string]int64
	rules        map[[2]string]int64
	norm         normalize.Stats
}

func newStats() *stats {
	return &stats{in: map[string]int64{}, rejected: map[string]int64{}, rules: map[[2]string]int64{}}
}

// reject counts a record rejected by stage for reasons rs (each rule once).
func (s *stats) reject(stage string, rs []Reason) {
	s.rejected[stage]++
	seen := map[string]bool{}
	for _, r := range rs {
		if !seen[r.Rule] {
			seen[r.Rule] = true
			s.rules[[2]string{stage, r.Rule}]++
		}
	}
}

func (s *stats) add(o *stats) {
	for k, v := range o.in {
		s.in[k] += v
	}
	for k, v := range o.rejected {
		s.rejected[k] += v
	}
	for k, v := range o.rules {
		s.rules[k] += v
	}
	s.norm.Add(o.norm)
}

func (s *stats) stageStats() []StageStat {
	out := make([]StageStat, 0, len(stageNames))
	for _, n := range stageNames {
		out = append(out, StageStat{Stage: n, In: s.in[n], Rejected: s.rejected[n]})
	}
	return out
}

func (s *stats) ruleCounts() []RuleCount {
	out := make([]RuleCount, 0, len(s.rules))
	for k, v := range s.rules {
		out = append(out, RuleCount{Stage: k[0], Rule: k[1], Records: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Records != out[j].Records {
			return out[i].Records > out[j].Records
		}
		if out[i].Stage != out[j].Stage {
			return out[i].Stage < out[j].Stage
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}
