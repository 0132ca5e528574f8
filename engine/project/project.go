package project

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

//go:embed scaffold
var scaffold embed.FS

// Project is an open pawl project: its layout, its configuration, its
// store, its audit trail and the engine key. An open Project holds the
// project lock, so it is the project's one writer until Close.
type Project struct {
	Layout
	Cfg   config.Config
	Trail *audit.Trail
	Store *store.Store
	Key   *seal.Key

	lock *os.File
	rts  map[runtimeKey]*sandbox.Runtime // plugin runtimes, created on first use
	pol  *policyState                    // the policy engine, opened on first use (policy.go)
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

// Open opens the project rooted at root (the directory holding pawl.yaml)
// with a resolved configuration. It takes the project lock, waiting for
// another pawl process that holds it unless ctx is done. It does not
// finish interrupted batches: engine.Open does, and every command opens
// through it.
func Open(ctx context.Context, root string, cfg config.Config) (*Project, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	p := &Project{Layout: NewLayout(root, cfg.DataDir), Cfg: cfg}
	if _, err := os.Stat(p.ConfigPath()); err != nil {
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
	if p.Store, err = store.Open(p.StoreDir()); err != nil {
		return nil, err
	}
	// Holding the lock, no other writer can be mid-Put.
	if err := p.Store.CleanTemp(); err != nil {
		return nil, err
	}
	if p.Trail, err = audit.Open(p.TrailPath()); err != nil {
		return nil, err
	}
	if p.Key, err = seal.LoadKey(p.KeysDir()); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// takeLock serialises writers of one project: there is one committer, and
// the audit trail's order is the order of commits.
func (p *Project) takeLock(ctx context.Context) error {
	path := p.ProcessLockPath()
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
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close releases the plugin runtimes, the trail and the lock. Closing a
// closed project does nothing.
func (p *Project) Close() error {
	var errs []error
	for _, rt := range p.rts {
		errs = append(errs, rt.Close(context.Background()))
	}
	p.rts = nil
	if p.Trail != nil {
		errs = append(errs, p.Trail.Close())
		p.Trail = nil
	}
	if p.lock != nil {
		errs = append(errs, p.lock.Close())
		p.lock = nil
	}
	return errors.Join(errs...)
}

// ReadBlob reads a whole blob from the store, checked against its digest.
func (p *Project) ReadBlob(d store.Digest) ([]byte, error) {
	r, err := p.Store.Open(d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Scaffold writes a new project into dir: pawl.yaml, the example job and
// schema, the default policy bundle, the device registry, and the data
// directory with a fresh ed25519 engine key. It refuses a directory that
// already holds a project. It returns the project's absolute root and the
// engine's public key line. Nothing is on record yet: engine.Init opens the
// project and records its creation.
func Scaffold(dir string) (root, engineKey string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	for _, name := range []string{ConfigFile, LockFile, DefaultDataDir} {
		if _, err := os.Lstat(filepath.Join(abs, name)); err == nil {
			return "", "", fmt.Errorf("%s already holds a pawl project (%s exists): refusing to overwrite it", abs, name)
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
			return "", "", err
		}
		if err := writeProjectFile(dst, b); err != nil {
			return "", "", err
		}
	}
	if err := writeTree(filepath.Join(abs, PolicyDir), policies.DefaultFS()); err != nil {
		return "", "", fmt.Errorf("writing the default policy bundle into %s: %w", filepath.Join(abs, PolicyDir), err)
	}
	if err := writeProjectFile(filepath.Join(abs, "lookups", "device-registry.txt"), demo.DeviceRegistry()); err != nil {
		return "", "", err
	}
	l := NewLayout(abs, DefaultDataDir)
	for _, d := range dataDirs {
		if err := os.MkdirAll(filepath.Join(l.Data, d), 0o700); err != nil {
			return "", "", fmt.Errorf("cannot create %s: %w", filepath.Join(l.Data, d), err)
		}
	}
	pub, err := seal.GenerateKey(l.KeysDir())
	if err != nil {
		return "", "", err
	}
	return abs, pub, nil
}

// writeProjectFile writes one file of the project (readable by all, like
// source) durably, creating its directory.
func writeProjectFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", filepath.Dir(path), err)
	}
	return durable.WriteFile(path, b, 0o644)
}

// writeTree copies every file of fsys into dir, refusing to overwrite a
// file that is already there (a compliance team's edits are never lost).
func writeTree(dir string, fsys fs.FS) error {
	return fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return durable.WriteNew(dst, b, 0o644)
	})
}
