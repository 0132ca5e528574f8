package engine

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/plugins"
	"github.com/pawl-dev/pawl/policies"
)

//go:embed scaffold
var scaffold embed.FS

// ConfigFile is the name of the project file that marks a project's root.
const ConfigFile = "pawl.yaml"

// LockFile is the name of the pins file at the project's root.
const LockFile = "pawl.lock"

// Config is the resolved configuration of a project (the command line
// resolves flags, PAWL_* environment, pawl.yaml and defaults into it).
type Config struct {
	DataDir        string // relative to the project root unless absolute; default ".pawl"
	Operator       string // default operator id; default the OS user
	Workers        int    // 0: one per CPU
	MaxRecordBytes int64  // 0: 64 MiB
	// CacheDir holds the compiled plugin code (private, 0700, one entry per
	// module sha256); default the user's cache directory (pawl/ under
	// $XDG_CACHE_HOME or ~/.cache), else <data dir>/cache. Projects of one
	// user share it, so only the first run after a new plugin compiles it.
	CacheDir string
	// PluginCallTimeout bounds one plugin call (one chunk of records); a
	// plugin that runs longer fails the batch. 0: 30 s.
	PluginCallTimeout time.Duration

	// PolicyRequireSignature refuses a policy bundle that is not signed by
	// PolicyPublicKey (pawl.yaml policy.require_signature).
	PolicyRequireSignature bool
	// PolicyPublicKey is the PEM public key signed bundles are verified with
	// (policy.public_key), relative to the project root unless absolute.
	PolicyPublicKey string
	// PolicyKeyID is the key id bundle signatures carry (policy.key_id);
	// default "pawl-policy".
	PolicyKeyID string
	// ExportCAFile is the PEM bundle of CAs https export destinations are
	// verified against (export.ca_file); empty: the system's roots.
	ExportCAFile string
	// ExportTimeout bounds each request of an https export
	// (export.timeout); 0: 2 minutes.
	ExportTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = ".pawl"
	}
	if c.Operator == "" {
		c.Operator = osUser()
	}
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = 64 << 20
	}
	if c.CacheDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			c.CacheDir = filepath.Join(d, "pawl")
		}
	}
	return c
}

func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if s := os.Getenv("USER"); s != "" {
		return s
	}
	return "unknown"
}

// Project is an open pawl project: its files, its data directory and its
// audit trail. A Project that holds the project lock (OpenOptions.Write) may
// run and commit batches; others only read.
type Project struct {
	Root  string
	Cfg   Config
	Data  string // absolute data directory
	Trail *audit.Trail
	Store *store.Store

	lock *os.File
	key  *Key
	rt   *sandbox.Runtime
	pol  *policyState // the policy engine, opened on first use (policy.go)
}

// FindRoot walks up from dir to the first directory holding pawl.yaml.
func FindRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ConfigFile)); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no pawl project in %s or any parent directory: run `pawl init` or pass -C DIR", abs)
		}
	}
}

// Open opens the project rooted at root (the directory holding pawl.yaml).
// It takes the project lock, and with it recovers any batch interrupted
// between its audit entry and its signature. When another pawl process holds
// the lock, Open waits for it unless ctx is done.
func Open(ctx context.Context, root string, cfg Config) (*Project, error) {
	cfg = cfg.withDefaults()
	p := &Project{Root: root, Cfg: cfg}
	p.Data = cfg.DataDir
	if !filepath.IsAbs(p.Data) {
		p.Data = filepath.Join(root, p.Data)
	}
	if _, err := os.Stat(filepath.Join(root, ConfigFile)); err != nil {
		return nil, fmt.Errorf("%s is not a pawl project (no %s): run `pawl init %s`", root, ConfigFile, root)
	}
	if fi, err := os.Stat(p.Data); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("data directory %s is missing: restore it from backup, or set data_dir in %s", p.Data, ConfigFile)
	}
	if err := p.takeLock(ctx); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			p.Close()
		}
	}()
	var err error
	if p.Store, err = store.Open(filepath.Join(p.Data, "store")); err != nil {
		return nil, err
	}
	// Holding the lock, no other writer can be mid-Put.
	if err := p.Store.CleanTemp(); err != nil {
		return nil, err
	}
	if p.Trail, err = audit.Open(filepath.Join(p.Data, "audit.db")); err != nil {
		return nil, err
	}
	if p.key, err = LoadKey(filepath.Join(p.Data, "keys")); err != nil {
		return nil, err
	}
	if err := p.recover(ctx); err != nil {
		return nil, fmt.Errorf("recovering interrupted batches: %w", err)
	}
	ok = true
	return p, nil
}

// takeLock serialises writers of one project: there is one committer, and
// the audit trail's order is the order of commits.
func (p *Project) takeLock(ctx context.Context) error {
	path := filepath.Join(p.Data, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open the project lock %s: %w (is the data directory writable?)", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			p.lock = f
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("locking %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return fmt.Errorf("waiting for another pawl process to release %s: %w", path, ctx.Err())
		case <-timeAfter(50):
		}
	}
}

// Close releases the trail and the lock.
func (p *Project) Close() error {
	var errs []error
	if p.rt != nil {
		errs = append(errs, p.rt.Close(context.Background()))
	}
	if p.Trail != nil {
		errs = append(errs, p.Trail.Close())
	}
	if p.lock != nil {
		errs = append(errs, p.lock.Close())
	}
	return errors.Join(errs...)
}

// Key returns the engine's signing key.
func (p *Project) Key() *Key { return p.key }

func (p *Project) pendingDir(id string) string { return filepath.Join(p.Data, "pending", id) }
func (p *Project) batchDir(id string) string   { return filepath.Join(p.Data, "batches", id) }

// BatchDir is where a committed batch's files live.
func (p *Project) BatchDir(id string) string { return p.batchDir(id) }

// InitOptions are the choices made when a project is created.
type InitOptions struct {
	Operator string
	Reason   string
}

// Init scaffolds a new project in dir: pawl.yaml, jobs/, schemas/,
// policies/, pawl.lock and the data directory with the audit trail, the
// store and a fresh ed25519 engine key. It refuses to touch a directory
// that already holds a project.
func Init(ctx context.Context, dir string, opt InitOptions) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{ConfigFile, LockFile, ".pawl"} {
		if _, err := os.Lstat(filepath.Join(abs, name)); err == nil {
			return nil, fmt.Errorf("%s already holds a pawl project (%s exists): refusing to overwrite it", abs, name)
		}
	}
	files := []struct{ src, dst string }{
		{"scaffold/pawl.yaml", ConfigFile},
		{"scaffold/sensor-feed.yaml", "jobs/sensor-feed.yaml"},
		{"scaffold/sensor-reading.json", "schemas/sensor-reading.json"},
		{"scaffold/gitignore", ".gitignore"},
	}
	for _, f := range files {
		dst := filepath.Join(abs, f.dst)
		if f.dst == ".gitignore" {
			if _, err := os.Lstat(dst); err == nil {
				continue // the user's own .gitignore stays theirs
			}
		}
		b, err := fs.ReadFile(scaffold, f.src)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", filepath.Dir(dst), err)
		}
		if err := writeFileSync(dst, b, 0o644); err != nil {
			return nil, err
		}
	}
	if err := policies.WriteDefault(filepath.Join(abs, PolicyDir)); err != nil {
		return nil, fmt.Errorf("writing the default policy bundle into %s: %w", filepath.Join(abs, PolicyDir), err)
	}
	data := filepath.Join(abs, ".pawl")
	for _, d := range []string{"", "store", "batches", "pending", "keys"} {
		if err := os.MkdirAll(filepath.Join(data, d), 0o700); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", filepath.Join(data, d), err)
		}
	}
	if err := os.MkdirAll(filepath.Join(abs, "lookups"), 0o755); err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(abs, "lookups", "device-registry.txt"), DeviceRegistry(), 0o644); err != nil {
		return nil, err
	}
	pub, err := GenerateKey(filepath.Join(data, "keys"))
	if err != nil {
		return nil, err
	}
	p, err := Open(ctx, abs, Config{Operator: opt.Operator})
	if err != nil {
		return nil, err
	}
	reason := opt.Reason
	if reason == "" {
		reason = "new project"
	}
	if _, err := p.Trail.Append(ctx, audit.Entry{
		Operator: p.Cfg.Operator, Action: audit.ActionInit, Object: "project", Reason: reason,
		Details: mustJSON(map[string]any{"engine_key": pub, "pawl_version": Version}),
	}); err != nil {
		p.Close()
		return nil, err
	}
	var firstParty []PluginApproval
	for _, m := range plugins.FirstParty() {
		man, d, _, err := p.AddPlugin(ctx, m.Wasm, p.Cfg.Operator, "first-party validator shipped with pawl "+Version)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("pinning the first-party plugin %s: %w", m.File, err)
		}
		firstParty = append(firstParty, PluginApproval{Name: man.Name, Version: man.Version, Hash: d, Capabilities: PluginCapabilities(man)})
	}
	// The default bundle approves no plugin; the first-party ones the
	// scaffolded job uses are approved here, in the project's own bundle.
	if err := p.ApprovePlugins(ctx, firstParty, p.Cfg.Operator, "first-party validators shipped with pawl "+Version); err != nil {
		p.Close()
		return nil, err
	}
	if _, err := p.Pin(ctx, p.Cfg.Operator, "pins of the scaffolded project"); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}
