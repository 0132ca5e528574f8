package project

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/demo"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/lockfile"
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
	// Keys is the engine key history as the trail holds it (keys.go):
	// every signature and checkpoint is checked against the key in force
	// at its entry.
	Keys *seal.KeyHistory
	// KeysProblem is why the trail's key history stops early, for a
	// project opened read-only (one opened for writing refuses it).
	KeysProblem error
	// ReadOnly is a project opened by OpenReadOnly: no lock, no private
	// key, nothing written.
	ReadOnly bool
	// ContractCheck is the arbiter (ratchet.CheckContracts, which
	// engine.Open and engine.Init set): Pin asks it to compare every
	// job's contract under the pins in force with the pins about to be
	// written, and holds back a weakening for a second person. Nil (a
	// project opened by project.Open alone): no comparison.
	ContractCheck func(ctx context.Context, p *Project, inForce, next lockfile.Pins) (*ContractCheck, error)

	lock     *os.File
	rts      map[runtimeKey]*sandbox.Runtime // plugin runtimes, created on first use
	cacheKey []byte                          // the compilation cache's MAC key, read on first use
	pol      *policyState                    // the policy engine, opened on first use (policy.go)
	inForce  *inForcePolicy                  // the bundle the pins on record name (PolicyInForce)
	// stateIndexRead is how many trail entries the state index last read
	// (stateindex.go).
	stateIndexRead atomic.Int64
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
	return open(ctx, root, cfg, openOptions{})
}

// OpenNew opens a project that Scaffold has just written, whose init has
// not finished yet: only engine.Init calls it.
func OpenNew(ctx context.Context, root string, cfg config.Config) (*Project, error) {
	return open(ctx, root, cfg, openOptions{init: true})
}

type openOptions struct{ init bool }

func open(ctx context.Context, root string, cfg config.Config, opt openOptions) (*Project, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	p := &Project{Layout: NewLayout(root, cfg.DataDir), Cfg: cfg}
	if _, err := os.Stat(p.ConfigPath()); err != nil {
		return nil, fmt.Errorf("%s is not a pawl project (no %s): run `pawl init %s`", root, ConfigFile, root)
	}
	if present, ours, _, err := unfinishedInit(root); err != nil {
		return nil, err
	} else if present && !opt.init {
		if ours {
			return nil, fmt.Errorf("%w: %s is a half-made project (%s is there): run `pawl init %s` again to start it over", ErrUnfinishedInit, root, InitMarker, root)
		}
		return nil, fmt.Errorf("%s holds %s, which this project's init did not write: check the directory and remove it by hand", root, InitMarker)
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
	// What a load cut short left for wazero; no load runs without the lock.
	if err := os.RemoveAll(p.WasmStageDir()); err != nil {
		return nil, err
	}
	if p.Trail, err = audit.Open(p.TrailPath()); err != nil {
		return nil, err
	}
	if err := p.loadKeys(ctx); err != nil {
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
	// Read to the end (where the blob is verified) into a buffer of its
	// size: io.ReadAll's doubling from 512 bytes was a dozen copies of
	// each plugin module a run reads.
	buf := bytes.NewBuffer(make([]byte, 0, r.Size()+bytes.MinRead))
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// InitMarker is the file at a project's root that says its init has not
// finished. It names a nonce and lists what that init created; the same
// nonce is in the data directory (initNonceFile), which only pawl writes,
// so that `pawl init` run again removes what the unfinished init created,
// and nothing else, only when the marker is that init's own. Every other
// command refuses a project with a marker.
const InitMarker = ".pawl-init-unfinished"

// initNonceFile, in the data directory, holds the nonce of an init that
// has not finished.
const initNonceFile = "init-unfinished"

// ErrUnfinishedInit is matched by the error of opening a project whose init
// did not finish.
var ErrUnfinishedInit = errors.New("the project's init did not finish")

// scaffoldFile is one file Scaffold writes.
type scaffoldFile struct {
	dst  string // slash-separated, relative to the root
	data []byte
}

// scaffoldFiles are the files Scaffold writes, in order.
func scaffoldFiles() ([]scaffoldFile, error) {
	var files []scaffoldFile
	for _, f := range []struct{ src, dst string }{
		{"scaffold/pawl.yaml", ConfigFile},
		{"scaffold/sensor-feed.yaml", "jobs/sensor-feed.yaml"},
		{"scaffold/sensor-reading.json", "schemas/sensor-reading.json"},
		{"scaffold/gitignore", ".gitignore"},
	} {
		b, err := fs.ReadFile(scaffold, f.src)
		if err != nil {
			return nil, err
		}
		files = append(files, scaffoldFile{f.dst, b})
	}
	err := fs.WalkDir(policies.DefaultFS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.DefaultFS(), path)
		files = append(files, scaffoldFile{PolicyDir + "/" + path, b})
		return err
	})
	if err != nil {
		return nil, err
	}
	return append(files, scaffoldFile{"lookups/device-registry.txt", demo.DeviceRegistry()}), nil
}

// Scaffold writes a new project into dir: pawl.yaml, the example job and
// schema, the default policy bundle, the device registry, and the data
// directory with a fresh ed25519 engine key and compilation cache key. It
// first creates the data
// directory with an init nonce and writes InitMarker with the same nonce,
// naming everything it is about to create; engine.Init removes both
// (FinishInit) once the project's creation, plugins, approvals and pins are
// on record. A directory that holds a project is refused; one that holds an
// unfinished init of its own is cleaned of what that init created, and
// started again. It returns the project's absolute root and the engine's
// public key line.
func Scaffold(dir string) (root, engineKey string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	files, err := scaffoldFiles()
	if err != nil {
		return "", "", err
	}
	if err := undoUnfinishedInit(abs, files); err != nil {
		return "", "", err
	}
	for _, name := range []string{ConfigFile, LockFile, DefaultDataDir, InitMarker} {
		if _, err := os.Lstat(filepath.Join(abs, name)); err == nil {
			return "", "", fmt.Errorf("%s already holds a pawl project (%s exists): refusing to overwrite it", abs, name)
		}
	}
	// What this init creates: every file that is not there yet (a
	// compliance team's policy file or the user's own .gitignore stays
	// theirs), the lock and the data directory.
	var created []string
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(abs, filepath.FromSlash(f.dst))); err == nil {
			if f.dst == ".gitignore" {
				continue
			}
			return "", "", fmt.Errorf("%s exists: init does not overwrite a file; move it away, or create the project in another directory", filepath.Join(abs, filepath.FromSlash(f.dst)))
		}
		created = append(created, f.dst)
	}
	created = append(created, LockFile, DefaultDataDir)

	l := NewLayout(abs, DefaultDataDir)
	if err := os.MkdirAll(l.Data, 0o700); err != nil {
		return "", "", fmt.Errorf("cannot create %s: %w", l.Data, err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", err
	}
	nonce := hex.EncodeToString(raw[:])
	if err := durable.WriteNew(filepath.Join(l.Data, initNonceFile), []byte(nonce+"\n"), 0o600); err != nil {
		return "", "", err
	}
	marker := "nonce " + nonce + "\n" + strings.Join(created, "\n") + "\n"
	if err := durable.WriteNew(filepath.Join(abs, InitMarker), []byte(marker), 0o644); err != nil {
		return "", "", err
	}
	failpoint.Hit("init.after-marker")
	for _, f := range files {
		if !slices.Contains(created, f.dst) {
			continue
		}
		dst := filepath.Join(abs, filepath.FromSlash(f.dst))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", "", fmt.Errorf("cannot create %s: %w", filepath.Dir(dst), err)
		}
		if err := durable.WriteNew(dst, f.data, 0o644); err != nil {
			return "", "", err
		}
	}
	failpoint.Hit("init.after-files")
	for _, d := range dataDirs {
		if err := os.MkdirAll(filepath.Join(l.Data, d), 0o700); err != nil {
			return "", "", fmt.Errorf("cannot create %s: %w", filepath.Join(l.Data, d), err)
		}
	}
	pub, err := seal.GenerateKey(l.KeysDir())
	if err != nil {
		return "", "", err
	}
	if err := seal.GenerateCacheKey(l.KeysDir()); err != nil {
		return "", "", err
	}
	failpoint.Hit("init.after-key")
	return abs, pub, nil
}

// unfinishedInit reads the init marker at root and tells whether it is the
// marker of an unfinished init of this project (its nonce is the data
// directory's). present is false when there is no marker.
func unfinishedInit(root string) (present, ours bool, lines []string, err error) {
	b, err := os.ReadFile(filepath.Join(root, InitMarker))
	if errors.Is(err, os.ErrNotExist) {
		return false, false, nil, nil
	}
	if err != nil {
		return true, false, nil, err
	}
	lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	nonce, ok := strings.CutPrefix(lines[0], "nonce ")
	if !ok {
		return true, false, nil, nil
	}
	have, err := os.ReadFile(filepath.Join(root, DefaultDataDir, initNonceFile))
	if err != nil || strings.TrimSpace(string(have)) != nonce {
		return true, false, nil, nil
	}
	return true, true, lines[1:], nil
}

// undoUnfinishedInit removes what an unfinished init of this project
// created in dir, as its marker lists, provided the marker is that init's
// own and names only files an init creates. A data directory with an init
// nonce and no marker is an init cut short before it wrote the marker.
func undoUnfinishedInit(dir string, files []scaffoldFile) error {
	marker := filepath.Join(dir, InitMarker)
	present, ours, lines, err := unfinishedInit(dir)
	if err != nil {
		return err
	}
	if !present {
		if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
			return nil // a project, or a directory init refuses for that reason
		}
		if _, err := os.Stat(filepath.Join(dir, DefaultDataDir, initNonceFile)); err == nil {
			// Cut short between the data directory's nonce and the marker:
			// nothing else was created.
			if err := os.RemoveAll(filepath.Join(dir, DefaultDataDir)); err != nil {
				return fmt.Errorf("removing what an unfinished init created: %w", err)
			}
			return durable.SyncDir(dir)
		}
		return nil
	}
	if !ours {
		return fmt.Errorf("%s is not the marker of an init of this project (its nonce is not the data directory's): nothing was removed; check the directory and remove the marker by hand", marker)
	}
	allowed := map[string]bool{LockFile: true, DefaultDataDir: true}
	for _, f := range files {
		allowed[f.dst] = true
	}
	for _, rel := range lines {
		if !allowed[rel] {
			return fmt.Errorf("%s names %q, which no init creates: nothing was removed; check the directory and remove the marker by hand", marker, rel)
		}
	}
	for _, rel := range lines {
		if err := os.RemoveAll(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			return fmt.Errorf("removing what an unfinished init created: %w", err)
		}
	}
	if err := os.Remove(marker); err != nil {
		return err
	}
	return durable.SyncDir(dir)
}

// FinishInit removes the init marker and the data directory's nonce: from
// now on the project opens like any other. engine.Init calls it once the
// project's creation, plugins, approvals and pins are on record.
func FinishInit(root string) error {
	if err := os.Remove(filepath.Join(root, InitMarker)); err != nil {
		return err
	}
	if err := durable.SyncDir(root); err != nil {
		return err
	}
	data := filepath.Join(root, DefaultDataDir)
	if err := os.Remove(filepath.Join(data, initNonceFile)); err != nil {
		return err
	}
	return durable.SyncDir(data)
}
