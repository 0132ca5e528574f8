package actions

// The inspectors' package (`pawl inspect DIR`).
const (
	AuditInspected      = "audit.inspected"       // InspectedDetails
	AuditInspectRefused = "audit.inspect_refused" // InspectRefusedDetails
)

// InspectedDetails: a verified review package was written for inspectors.
type InspectedDetails struct {
	Dir            string `json:"dir"`
	SHA256Sums     string `json:"sha256sums"` // "sha256:<hex>" of the package's SHA256SUMS, which SHA256SUMS.sig signs
	KeyID          string `json:"key_id"`     // the engine key that signed SHA256SUMS
	Entries        int    `json:"entries"`    // the entries in entries.jsonl: the trail up to the entry before this one
	Batches        int    `json:"batches"`
	CheckpointSize int64  `json:"checkpoint_size"`
	Head           string `json:"head"` // the hash of the last entry in the package
}

// InspectRefusedDetails: `pawl inspect` refused and wrote nothing.
type InspectRefusedDetails struct {
	Dir      string   `json:"dir"`
	Failure  string   `json:"failure"`  // "does not verify", "directory not empty" or "not a directory"
	Problems []string `json:"problems"` // what did not verify, one line each
}

func (InspectedDetails) Action() string      { return AuditInspected }
func (InspectRefusedDetails) Action() string { return AuditInspectRefused }
