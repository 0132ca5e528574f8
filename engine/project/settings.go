package project

import (
	"bytes"
	"fmt"
	"os"

	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// The pseudo-files of pawl.lock that pin pawl.yaml's settings: the sha256
// of the canonical JSON of actions.PolicySettings and of actions.Limits.
// Each such document is kept in the store under its digest.
const (
	PolicySettingsPinKey = config.PolicyPin // "pawl.yaml#policy"
	LimitsPinKey         = config.LimitsPin // "pawl.yaml#limits"
)

// LimitsFor are the limits a run under cfg is bound by.
func LimitsFor(cfg config.Config) actions.Limits {
	timeout := cfg.PluginCallTimeout
	if timeout <= 0 {
		timeout = sandbox.DefaultCallTimeout
	}
	mrb := cfg.MaxRecordBytes
	if mrb <= 0 {
		mrb = config.Defaults().MaxRecordBytes
	}
	l := actions.Limits{MaxRecordBytes: mrb, PluginMemoryPages: sandbox.DefaultMemoryLimitPages, PluginCallTimeoutMS: timeout.Milliseconds(),
		BatchTimeoutMS: cfg.BatchTimeout.Milliseconds()}
	if g := int64(cfg.BatchMaxQuarantineGrowth); g != 0 && g != actions.DefaultQuarantineGrowth {
		l.MaxQuarantineGrowth = g
	}
	return l
}

// policySettings are the bundle's trust settings as configured, and the
// bundle load options made of them: the public key file is read once, so
// what is pinned is what verifies.
func (p *Project) policySettings() (actions.PolicySettings, policies.LoadOptions, error) {
	s := actions.PolicySettings{RequireSignature: p.Cfg.PolicyRequireSignature, PublicKey: p.Cfg.PolicyPublicKey, KeyID: p.Cfg.PolicyKeyID}
	opts := policies.LoadOptions{KeyID: p.Cfg.PolicyKeyID, RequireSignature: p.Cfg.PolicyRequireSignature}
	if p.Cfg.PolicyPublicKey == "" {
		if opts.RequireSignature {
			return s, opts, fmt.Errorf("policy.require_signature is true but policy.public_key is not set: set it in %s to the PEM public key the bundle is signed with", ConfigFile)
		}
		return s, opts, nil
	}
	b, err := os.ReadFile(p.Resolve(p.Cfg.PolicyPublicKey))
	if err != nil {
		return s, opts, fmt.Errorf("policy.public_key: %w (it names the PEM public key bundles are verified with; `pawl policy keygen` makes a pair)", err)
	}
	fp, err := policies.KeyFingerprint(b)
	if err != nil {
		return s, opts, fmt.Errorf("policy.public_key %s: %w", p.Cfg.PolicyPublicKey, err)
	}
	opts.PublicKeyPEM = b
	s.PublicKeySHA256 = store.HashBytes(b)
	s.PublicKeyFingerprint = fp
	return s, opts, nil
}

// PolicySettings are pawl.yaml's trust settings for the policy bundle as
// they would be pinned now, with their digest.
func (p *Project) PolicySettings() (actions.PolicySettings, store.Digest, error) {
	s, _, err := p.policySettings()
	if err != nil {
		return s, "", err
	}
	_, d := settingsDoc(s)
	return s, d, nil
}

// Limits are the limits the configuration sets, as they would be pinned
// now, with their digest.
func (p *Project) Limits() (actions.Limits, store.Digest) {
	l := LimitsFor(p.Cfg)
	_, d := settingsDoc(l)
	return l, d
}

// settingsDoc is the canonical JSON of pinned settings and its digest.
func settingsDoc(v any) ([]byte, store.Digest) {
	b, err := canonjson.Marshal(v)
	if err != nil {
		panic("project: settings do not encode: " + err.Error()) // plain structs of strings, numbers and booleans
	}
	return b, store.HashBytes(b)
}

// storeSettings keeps a settings document in the store, so that a pin of
// it (in pawl.lock, in a batch record) can be read back.
func (p *Project) storeSettings(v any) (store.Digest, error) {
	b, d := settingsDoc(v)
	got, _, err := p.Store.Put(bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	if got != d {
		return "", fmt.Errorf("settings stored as %s, computed %s", got, d)
	}
	return d, nil
}

// CheckLimits returns the configured limits after checking them against
// their pin (LimitsPinKey) in pins: a run under limits that are not on
// record is refused, as a run of an edited file is.
func (p *Project) CheckLimits(pins lockfile.Pins) (actions.Limits, error) {
	l, d := p.Limits()
	if err := checkSettingsPin(pins, LimitsPinKey, d, DescribeLimits(l)); err != nil {
		return l, err
	}
	return l, nil
}

func checkSettingsPin(pins lockfile.Pins, key string, d store.Digest, now string) error {
	want, ok := pins[key]
	switch {
	case !ok:
		return &lockfile.MismatchError{File: key, Actual: d, Unpinned: true, Now: now}
	case want != d:
		return &lockfile.MismatchError{File: key, Pinned: want, Actual: d, Now: now}
	}
	return nil
}

// DescribeLimits writes pinned limits for a person.
func DescribeLimits(l actions.Limits) string {
	out := fmt.Sprintf("max_record_bytes %d, plugin.call_timeout %dms, plugin memory %d pages", l.MaxRecordBytes, l.PluginCallTimeoutMS, l.PluginMemoryPages)
	if l.BatchTimeoutMS > 0 {
		out += fmt.Sprintf(", batch.timeout %dms", l.BatchTimeoutMS)
	}
	if l.MaxQuarantineGrowth > 0 {
		out += fmt.Sprintf(", batch.max_quarantine_growth %d", l.MaxQuarantineGrowth)
	}
	return out
}

// DescribePolicy writes pinned trust settings for a person.
func DescribePolicy(s actions.PolicySettings) string {
	key := "none"
	if s.PublicKey != "" {
		key = fmt.Sprintf("%q (file %s, key %s)", s.PublicKey, s.PublicKeySHA256, s.PublicKeyFingerprint)
	}
	return fmt.Sprintf("policy.require_signature %v, policy.public_key %s, policy.key_id %q", s.RequireSignature, key, s.KeyID)
}
