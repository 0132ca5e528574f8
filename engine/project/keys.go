package project

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/store"
)

// loadKeys reads the engine key history from the trail, settles a
// rotation a crash interrupted, and loads the engine key, which must be
// the key the trail has in force. A project whose history does not verify
// is not opened for writing: nothing more should be signed on a broken
// chain of keys.
func (p *Project) loadKeys(ctx context.Context) error {
	h, err := seal.ReadHistory(ctx, p.Trail)
	if err != nil {
		return fmt.Errorf("%w: run `pawl audit verify`", err)
	}
	p.Keys = h
	secret, err := p.engineKeySecret()
	if err != nil {
		return err
	}
	cur, onRecord := h.Current()
	if _, err := seal.FinishRotation(p.KeysDir(), cur.Public(), secret); err != nil {
		return err
	}
	if p.Key, err = seal.LoadKey(p.KeysDir(), secret); err != nil {
		return err
	}
	if !onRecord {
		return nil // an init that has not recorded its key yet
	}
	if !bytes.Equal(p.Key.Public, cur.Public()) {
		return fmt.Errorf("the engine key in %s is %s, but the key on record since entry %d is %s: restore that key from backup (a key the trail does not know signs nothing that verifies)",
			filepath.Join(p.KeysDir(), seal.PrivateFile), p.Key.ID(), cur.From, cur.KeyID)
	}
	// engine.pub follows the key on record (a rotation cut short after
	// its key was put in place may have left the old one).
	pubPath := filepath.Join(p.KeysDir(), seal.PublicFile)
	if b, _ := os.ReadFile(pubPath); strings.TrimSpace(string(b)) != cur.Key {
		return seal.WritePublicKey(p.KeysDir(), p.Key.Public)
	}
	return nil
}

// ReloadKeys reads the key history from the trail again: engine.Init
// calls it once project.init has put the first key on record.
func (p *Project) ReloadKeys(ctx context.Context) error {
	h, err := seal.ReadHistory(ctx, p.Trail)
	if err != nil {
		return err
	}
	p.Keys = h
	return nil
}

// engineKeySecret is the secret the engine key is sealed under at rest,
// or nil (config key engine_key.secret_file, or the systemd credential).
func (p *Project) engineKeySecret() ([]byte, error) {
	file := p.Cfg.EngineKeySecretFile
	if file != "" {
		file = p.Resolve(file)
	}
	return seal.ReadSecret(file)
}

// RotateKey replaces the engine key. The protocol: the new key is written
// to keys/engine.key.next (fsynced), then the engine.key_rotated entry,
// signed by the old and the new key, is appended — the commit point — and
// only then is the old private key scrubbed and replaced by the new one.
// Killed before the entry, the staged key is removed at the next open and
// the old key stays in force; killed after it, the next open puts the new
// key in place. From the entry on, signatures and checkpoints are made with
// the new key; the old ones verify with the old key, which the trail keeps.
// With a key-encryption secret configured, the new key is sealed at rest.
func (p *Project) RotateKey(ctx context.Context, operator, reason string) (actions.KeyRotatedDetails, error) {
	if p.ReadOnly {
		return actions.KeyRotatedDetails{}, errors.New("the project is open read-only")
	}
	if strings.TrimSpace(reason) == "" {
		return actions.KeyRotatedDetails{}, errors.New("a key rotation needs a reason: pass --reason TEXT (it goes on record)")
	}
	secret, err := p.engineKeySecret()
	if err != nil {
		return actions.KeyRotatedDetails{}, err
	}
	next, err := seal.StageNextKey(p.KeysDir(), secret)
	if err != nil {
		return actions.KeyRotatedDetails{}, err
	}
	failpoint.Hit("rotate.after-stage")
	atRest := seal.AtRestPlain
	if secret != nil {
		atRest = seal.AtRestSealed
	}
	d, err := seal.SignRotation(p.Trail.ID(), p.Key, next, atRest)
	if err != nil {
		return d, err
	}
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: actions.EngineKeyObject, Reason: reason, Details: d}); err != nil {
		os.Remove(filepath.Join(p.KeysDir(), seal.NextFile))
		return d, err
	}
	failpoint.Hit("rotate.after-record")
	if err := seal.InstallNextKey(p.KeysDir(), next); err != nil {
		return d, err
	}
	failpoint.Hit("rotate.after-install")
	p.Key = next
	if p.Keys, err = seal.ReadHistory(ctx, p.Trail); err != nil {
		return d, err
	}
	return d, nil
}

// OpenReadOnly opens the project rooted at root for verification only: a
// copy handed to an inspector, an unpacked archive, a directory nobody may
// write. It takes no lock, creates and changes nothing (no recovery, no
// schema upgrade, no lock file), reads no private key and holds the engine
// key history from the trail: what verification needs is public. Anything
// that would write refuses. A broken key history does not stop it: the
// history up to the break is in Keys and the break in KeysProblem, for
// verification to report.
func OpenReadOnly(ctx context.Context, root string, cfg config.Config) (*Project, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	p := &Project{Layout: NewLayout(root, cfg.DataDir), Cfg: cfg, ReadOnly: true}
	if _, err := os.Stat(p.ConfigPath()); err != nil {
		return nil, fmt.Errorf("%s is not a pawl project (no %s)", root, ConfigFile)
	}
	if fi, err := os.Stat(p.Data); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("data directory %s is missing: verify a complete copy of the project, or set data_dir in %s", p.Data, ConfigFile)
	}
	if p.Store, err = store.OpenReadOnly(p.StoreDir()); err != nil {
		return nil, err
	}
	if p.Trail, err = audit.OpenReadOnly(p.TrailPath()); err != nil {
		return nil, err
	}
	h, herr := seal.ReadHistory(ctx, p.Trail)
	if h == nil {
		p.Close()
		return nil, herr
	}
	p.Keys, p.KeysProblem = h, herr
	return p, nil
}
