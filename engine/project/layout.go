package project

import (
	"path/filepath"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/lockfile"
)

// Names at the project's root.
const (
	// ConfigFile marks a project's root.
	ConfigFile = "pawl.yaml"
	// LockFile holds the pins.
	LockFile = lockfile.Name
	// PolicyDir is the project's policy bundle directory.
	PolicyDir = "policies"
	// PolicyPinKey is how the policy bundle is pinned in pawl.lock: its
	// BundleInfo.SHA256 (the sha256 of the bundle's file list, see
	// docs/policy-guide.md).
	PolicyPinKey = "policies/"
	// DefaultDataDir is the data directory unless data_dir says otherwise.
	DefaultDataDir = ".pawl"
)

// Layout is where everything of a project is: the one place that knows the
// path of every file pawl reads or writes in the project and its data
// directory.
type Layout struct {
	Root string // the project root, absolute (holds pawl.yaml)
	Data string // the data directory, absolute
}

// NewLayout places the data directory dataDir (relative to root unless
// absolute; empty means DefaultDataDir).
func NewLayout(root, dataDir string) Layout {
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	if !filepath.IsAbs(dataDir) {
		dataDir = filepath.Join(root, dataDir)
	}
	return Layout{Root: root, Data: dataDir}
}

// The project's own files.
func (l Layout) ConfigPath() string            { return filepath.Join(l.Root, ConfigFile) }
func (l Layout) LockPath() string              { return filepath.Join(l.Root, LockFile) }
func (l Layout) PolicyBundleDir() string       { return filepath.Join(l.Root, PolicyDir) }
func (l Layout) JobsDir() string               { return filepath.Join(l.Root, "jobs") }
func (l Layout) File(rel string) string        { return filepath.Join(l.Root, filepath.FromSlash(rel)) }
func (l Layout) ProcessLockPath() string       { return filepath.Join(l.Data, "lock") }
func (l Layout) StoreDir() string              { return filepath.Join(l.Data, "store") }
func (l Layout) TrailPath() string             { return filepath.Join(l.Data, "audit.db") }
func (l Layout) KeysDir() string               { return filepath.Join(l.Data, "keys") }
func (l Layout) BatchesDir() string            { return filepath.Join(l.Data, "batches") }
func (l Layout) PendingDir() string            { return filepath.Join(l.Data, "pending") }
func (l Layout) OperatorsDir() string          { return filepath.Join(l.Data, "operators") }
func (l Layout) WasmStageDir() string          { return filepath.Join(l.Data, "wasm-stage") }
func (l Layout) BatchDir(id string) string     { return filepath.Join(l.BatchesDir(), id) }
func (l Layout) WitnessDir() string            { return filepath.Join(l.Data, "witness") }
func (l Layout) PendingBatch(id string) string { return filepath.Join(l.PendingDir(), id) }

// Resolve is where a path from the configuration points: relative paths
// are relative to the project root.
func (l Layout) Resolve(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(l.Root, path)
}

// OpenLineageFile is where the project's OpenLineage events are appended
// (openlineage.file: relative to the root unless absolute; empty, the
// data directory's openlineage.jsonl).
func (p *Project) OpenLineageFile() string {
	if p.Cfg.OpenLineageFile == "" {
		return filepath.Join(p.Data, "openlineage.jsonl")
	}
	return p.Resolve(p.Cfg.OpenLineageFile)
}

// OperatorKeyFile is where an operator's encrypted key lives.
func (l Layout) OperatorKeyFile(id string) string {
	return filepath.Join(l.OperatorsDir(), id+".key")
}

// BatchFile is one file of a committed batch's folder.
func (l Layout) BatchFile(id, name string) string { return filepath.Join(l.BatchDir(id), name) }

// SignaturePath is a committed batch's usability signature.
func (l Layout) SignaturePath(id string) string { return l.BatchFile(id, actions.SignatureFile) }

// dataDirs are created by Scaffold, private to the owner.
var dataDirs = []string{"", "store", "batches", "pending", "keys"}
