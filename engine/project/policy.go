package project

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing/fstest"

	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/engine/version"
	"github.com/pawl-dev/pawl/policies"
)

// policyState is the policy engine of a process: opened once, on first use.
type policyState struct {
	engine   *policies.Engine
	bundle   *policies.Bundle
	settings store.Digest // the trust settings it was loaded with
	stored   bool         // the bundle's files are in the store
}

// policyChecks keeps policies' check facts (policies.CheckFact) between
// processes, beside the compilation cache (<cache dir>/policy/key-<id>/):
// one file per fact, named by an HMAC of it, holding the HMAC-SHA256 by
// the cache key of the fact and of this executable's Go build ID. A file
// that is missing, or whose MAC does not match, is not a fact: the
// bundle is compiled for its check, and the fact written again.
type policyChecks struct {
	dir   string
	key   []byte
	build string
}

// policyCheckDomain starts every MAC of a fact, so it cannot be taken for
// another use of the cache key.
const policyCheckDomain = "pawl policy check passed v1\x00"

// policyChecks is the project's record of checked bundles, or nil (the
// check then made once per process) when the executable has no build ID,
// or the project has no cache key and may not make one (read-only).
func (p *Project) policyChecks() policies.CheckRecord {
	build := version.BuildID()
	if build == "" {
		return nil
	}
	if p.ReadOnly && p.cacheKey == nil {
		if _, err := os.Lstat(filepath.Join(p.KeysDir(), seal.CacheKeyFile)); err != nil {
			return nil
		}
	}
	key, dir, err := p.cache(false)
	if err != nil {
		return nil
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("pawl policy check namespace v1"))
	return &policyChecks{dir: filepath.Join(dir, "policy", "key-"+hex.EncodeToString(m.Sum(nil)[:8])), key: key, build: build}
}

func (c *policyChecks) sum(what, fact string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(policyCheckDomain))
	m.Write([]byte(what))
	m.Write([]byte{0})
	m.Write([]byte(fact))
	m.Write([]byte("\x00build "))
	m.Write([]byte(c.build))
	return hex.EncodeToString(m.Sum(nil))
}

func (c *policyChecks) file(fact string) string {
	return filepath.Join(c.dir, "checked-"+c.sum("name", fact)[:32])
}

func (c *policyChecks) Passed(fact string) bool {
	b, err := os.ReadFile(c.file(fact))
	return err == nil && hmac.Equal(b, []byte("hmac-sha256 "+c.sum("passed", fact)+"\n"))
}

func (c *policyChecks) Keep(fact string) {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return
	}
	f, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := f.WriteString("hmac-sha256 " + c.sum("passed", fact) + "\n")
	if cerr := f.Close(); werr != nil || cerr != nil || os.Rename(f.Name(), c.file(fact)) != nil {
		os.Remove(f.Name())
	}
}

// loadPolicyBundle loads the bundle in policies/ with the signature checks
// opts make of the configured trust settings.
func (p *Project) loadPolicyBundle(opts policies.LoadOptions) (*policies.Bundle, error) {
	dir := p.PolicyBundleDir()
	if _, err := os.Stat(filepath.Join(dir, ".manifest")); err != nil {
		return nil, fmt.Errorf("%s/ holds no policy bundle (%v): a project needs one; `pawl init` writes the default bundle, see docs/policy-guide.md", PolicyDir, err)
	}
	opts.Checked, opts.ProductionOnly = p.policyChecks(), true
	b, err := policies.LoadBundle(dir, opts)
	if err != nil {
		if opts.RequireSignature {
			return nil, fmt.Errorf("%w (policy.require_signature is true: sign the bundle with `pawl policy sign --key FILE`)", err)
		}
		return nil, err
	}
	return b, nil
}

// policy returns the project's policy engine, opened on first use (the
// bundle in policies/, checked as the trust settings say, compiled once)
// and shared by every decision of the process. It is opened again when
// the bundle on disk or the settings are not those it was loaded with.
func (p *Project) policy(ctx context.Context, opts policies.LoadOptions, settings store.Digest) (*policies.Engine, error) {
	disk, err := policies.BundleDigest(p.PolicyBundleDir())
	if err != nil {
		return nil, err
	}
	// The engine of this process may have been loaded before the bundle
	// changed: load it again (its signature is checked first, so a tampered
	// signed bundle is reported as such).
	if p.pol != nil && (p.pol.engine.Bundle().SHA256 != disk || p.pol.settings != settings) {
		p.pol = nil
	}
	if p.pol != nil {
		return p.pol.engine, nil
	}
	b, err := p.loadPolicyBundle(opts)
	if err != nil {
		return nil, err
	}
	e, err := policies.NewEngine(ctx, b)
	if err != nil {
		return nil, err
	}
	p.pol = &policyState{engine: e, bundle: b, settings: settings}
	return e, nil
}

// PinnedPolicy returns the policy engine after checking that pawl.yaml's
// trust settings for the bundle (policy.require_signature,
// policy.public_key with the key file's content, policy.key_id) are the
// ones pinned in pins as PolicySettingsPinKey, and that the bundle, loaded
// with those checks, is the one pinned as PolicyPinKey. The settings
// document and the bundle's files are kept in the store, so that what
// decided can be found again from the store alone.
func (p *Project) PinnedPolicy(ctx context.Context, pins lockfile.Pins) (*policies.Engine, store.Digest, error) {
	set, opts, err := p.policySettings()
	if err != nil {
		return nil, "", err
	}
	_, sd := settingsDoc(set)
	if err := checkSettingsPin(pins, PolicySettingsPinKey, sd, DescribePolicy(set)); err != nil {
		return nil, "", err
	}
	e, err := p.policy(ctx, opts, sd)
	if err != nil {
		return nil, "", err
	}
	got := store.Digest(e.Bundle().SHA256)
	want, ok := pins[PolicyPinKey]
	if !ok {
		return nil, "", &lockfile.MismatchError{File: PolicyPinKey, Actual: got, Unpinned: true}
	}
	if got != want {
		return nil, "", &lockfile.MismatchError{File: PolicyPinKey, Pinned: want, Actual: got}
	}
	if !p.pol.stored {
		if _, err := p.storeSettings(set); err != nil {
			return nil, "", err
		}
		if _, err := p.storeBundle(p.pol.bundle); err != nil {
			return nil, "", err
		}
		p.pol.stored = true
	}
	return e, want, nil
}

// storeBundle puts every file of a loaded bundle and its file list into the
// store, checking each against what was loaded, and returns the list's
// digest, which is the bundle's sha256.
func (p *Project) storeBundle(b *policies.Bundle) (store.Digest, error) {
	dir := b.Source()
	var list bytes.Buffer
	for _, f := range b.Files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return "", fmt.Errorf("policy bundle: %w", err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			return "", fmt.Errorf("policy bundle: %s/%s changed while it was loaded: run `pawl pin` again", PolicyDir, f.Path)
		}
		if _, _, err := p.Store.Put(bytes.NewReader(data)); err != nil {
			return "", err
		}
		fmt.Fprintf(&list, "%s  %s\n", f.SHA256, f.Path)
	}
	d, _, err := p.Store.Put(bytes.NewReader(list.Bytes()))
	if err != nil {
		return "", err
	}
	if string(d) != b.Info.SHA256 {
		return "", fmt.Errorf("policy bundle: file list hashes to %s, the bundle to %s", d, b.Info.SHA256)
	}
	return d, nil
}

// pinBundle loads the bundle in policies/ (as a run would: signature
// checked as opts say) and stores it; ok is false when the project has no
// bundle.
func (p *Project) pinBundle(opts policies.LoadOptions) (store.Digest, bool, error) {
	if _, err := os.Stat(filepath.Join(p.PolicyBundleDir(), ".manifest")); errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	b, err := p.loadPolicyBundle(opts)
	if err != nil {
		return "", false, err
	}
	d, err := p.storeBundle(b)
	if err != nil {
		return "", false, err
	}
	return d, true, nil
}

// StoredPolicy compiles the policy bundle pinned as d from the store alone:
// its file list and every file, each checked against its hash. It is how a
// batch's plan is rebuilt from its record: the bundle that decided then,
// whatever policies/ holds today. The pin is the authority; the signature
// was checked when the bundle was pinned.
func (p *Project) StoredPolicy(ctx context.Context, d store.Digest) (*policies.Engine, error) {
	if e := keptPolicy(p.Store.Dir(), d); e != nil {
		return e, nil
	}
	e, err := p.storedPolicy(ctx, d)
	if err == nil {
		keepPolicy(p.Store.Dir(), d, e)
	}
	return e, err
}

// keptPolicies are the engines StoredPolicy built in this process, by
// store and pin, when KeepStoredPolicies is on.
var keptPolicies struct {
	sync.Mutex
	on bool
	m  map[[2]string]*policies.Engine
}

// KeepStoredPolicies makes StoredPolicy keep, for the life of the process,
// the engine it builds of each bundle pinned in a store: a later call for
// the same pin in the same store, by any Project of the process, returns it
// without reading, checking and parsing the bundle's files again. The pin
// is the sha256 of the file list, which names every file by its sha256, and
// every file was checked against it when first read: the same pin is the
// same bundle. For a long-lived process that opens the project per request
// (pawl serve: authorisation asks the bundle in force, built this way, for
// every command). Off by default: a command that runs once reads the store
// (and so meets a damaged blob) every time. Turning it off forgets what
// was kept.
func KeepStoredPolicies(on bool) {
	keptPolicies.Lock()
	defer keptPolicies.Unlock()
	keptPolicies.on = on
	keptPolicies.m = map[[2]string]*policies.Engine{}
}

func keptPolicy(storeDir string, d store.Digest) *policies.Engine {
	keptPolicies.Lock()
	defer keptPolicies.Unlock()
	if !keptPolicies.on {
		return nil
	}
	return keptPolicies.m[[2]string{storeDir, string(d)}]
}

func keepPolicy(storeDir string, d store.Digest, e *policies.Engine) {
	keptPolicies.Lock()
	defer keptPolicies.Unlock()
	if keptPolicies.on {
		keptPolicies.m[[2]string{storeDir, string(d)}] = e
	}
}

func (p *Project) storedPolicy(ctx context.Context, d store.Digest) (*policies.Engine, error) {
	list, err := p.ReadBlob(d)
	if err != nil {
		return nil, fmt.Errorf("the policy bundle pinned as %s: %w", d, err)
	}
	fsys := fstest.MapFS{}
	for _, line := range strings.Split(strings.TrimSuffix(string(list), "\n"), "\n") {
		sum, path, ok := strings.Cut(line, "  ")
		if !ok || !fs.ValidPath(path) {
			return nil, fmt.Errorf("the policy bundle pinned as %s: its file list has a malformed line %q", d, line)
		}
		data, err := p.ReadBlob(store.Digest("sha256:" + sum))
		if err != nil {
			return nil, fmt.Errorf("the policy bundle pinned as %s: %s: %w", d, path, err)
		}
		fsys[path] = &fstest.MapFile{Data: data, Mode: 0o444}
	}
	b, err := policies.LoadBundleFS(fsys, "store:"+string(d), policies.LoadOptions{Checked: p.policyChecks(), ProductionOnly: true})
	if err != nil {
		return nil, fmt.Errorf("the policy bundle pinned as %s: %w", d, err)
	}
	if b.Info.SHA256 != string(d) {
		return nil, fmt.Errorf("the policy bundle rebuilt from the store hashes to %s, pinned %s", b.Info.SHA256, d)
	}
	return policies.NewEngine(ctx, b)
}

// inForcePolicy is the engine PolicyInForce compiled, and its pin.
type inForcePolicy struct {
	pin    store.Digest
	engine *policies.Engine
}

// PolicyInForce is the policy engine of the bundle the pins on record
// name — the pins of the newest entry that wrote pawl.lock — compiled from
// the store, and the bundle's pin: the bundle in force, whatever
// policies/ or pawl.lock hold now. Authorisation asks it, so that editing
// data.json (granting oneself a role) or pawl.lock grants nothing until a
// pin on record, made by someone the bundle in force allowed to pin, says
// so.
func (p *Project) PolicyInForce(ctx context.Context) (*policies.Engine, store.Digest, error) {
	hist, err := p.pinHistory(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("reading the pin history of the audit trail: %w", err)
	}
	if len(hist) == 0 {
		return nil, "", fmt.Errorf("no pins are on record yet, so no policy bundle is in force: the project's init did not finish; run `pawl init` again")
	}
	last := hist[len(hist)-1]
	pins, ok := p.recordedPins(last.digest)
	if !ok {
		return nil, "", fmt.Errorf("the pins on record (audit entry %d, %s) are not in the store: no policy bundle can be found in force; restore the data directory from backup", last.seq, last.digest)
	}
	d, ok := pins[PolicyPinKey]
	if !ok {
		return nil, "", fmt.Errorf("the pins on record (audit entry %d) pin no policy bundle (%s): no policy is in force", last.seq, PolicyPinKey)
	}
	if p.inForce != nil && p.inForce.pin == d {
		return p.inForce.engine, d, nil
	}
	e, err := p.StoredPolicy(ctx, d)
	if err != nil {
		return nil, "", err
	}
	p.inForce = &inForcePolicy{pin: d, engine: e}
	return e, d, nil
}

// SignBundle signs the policy bundle in dir with an ed25519 private key
// (PKCS#8 PEM) and writes its .signatures.json durably (see
// policies.SignBundle).
func SignBundle(dir string, privatePEM []byte, keyID string) error {
	b, err := policies.SignBundle(dir, privatePEM, keyID)
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, policies.SignaturesFile), b, 0o644)
}
