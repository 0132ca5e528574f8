package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/schema"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// PolicyDir is the project's policy bundle directory, relative to the root.
const PolicyDir = "policies"

// PolicyPinKey is how the policy bundle is pinned in pawl.lock: its
// BundleInfo.SHA256 (the sha256 of the bundle's file list, see
// docs/policy-guide.md). The file list and every file of the bundle are kept
// in the store under their sha256, so the digest is also a blob.
const PolicyPinKey = "policies/"

// EnginePrincipal is the principal of decisions pawl asks on its own
// behalf (plugin admission during a run).
const EnginePrincipal = "pawl-engine"

// Audit actions of the policy engine and of exports.
const (
	// ActionPolicyDecision records every decision, allow and deny: its
	// details are the whole policies.Decision (id, kind, input, result,
	// reasons, bundle revision and sha256, OPA version) plus the batch it
	// was about and, when evaluation failed, the error.
	ActionPolicyDecision = "policy.decision"
	// ActionPluginApproved records a plugin hash added to the bundle's
	// approved list (policies/data.json).
	ActionPluginApproved = "policy.plugin_approved"
)

// ErrDenied is matched (errors.Is) by every refusal of a policy decision
// and by the exporter's own refusals (a destination that leads out of the
// outbox the policy allowed). The CLI exits with status 3 on it.
var ErrDenied = errors.New("denied by policy")

// DeniedError is a refusal: the decision that denied (nil when pawl refused
// a destination the policy had allowed) and every reason.
type DeniedError struct {
	What     string // what was refused, e.g. `plugin range@1.0.0`, `export of batch 3f2a… to file:///…`
	Decision *policies.Decision
	Reasons  []string
	Hint     string // what to do
}

func (e *DeniedError) Error() string {
	var b strings.Builder
	b.WriteString(e.What)
	if e.Decision != nil {
		fmt.Fprintf(&b, " denied by policy (bundle %s %s, decision %s)", e.Decision.Bundle.Revision, e.Decision.Bundle.SHA256, shortID(e.Decision.ID))
	} else {
		b.WriteString(" refused")
	}
	if len(e.Reasons) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(e.Reasons, "; "))
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Is makes every DeniedError match ErrDenied.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

func shortID(id string) string {
	if id == "" {
		return "(none: the input never reached the policy)"
	}
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

// policyState is the policy engine of a process: opened once, on first use.
type policyState struct {
	engine *policies.Engine
	bundle *policies.Bundle
	stored bool // the bundle's files are in the store
}

// loadOptions are the bundle checks the configuration asks for.
func (p *Project) loadOptions() (policies.LoadOptions, error) {
	opts := policies.LoadOptions{KeyID: p.Cfg.PolicyKeyID, RequireSignature: p.Cfg.PolicyRequireSignature}
	if p.Cfg.PolicyPublicKey != "" {
		path := p.Cfg.PolicyPublicKey
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.Root, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return opts, fmt.Errorf("policy.public_key: %w (it names the PEM public key bundles are verified with; `pawl policy keygen` makes a pair)", err)
		}
		opts.PublicKeyPEM = b
	} else if opts.RequireSignature {
		return opts, fmt.Errorf("policy.require_signature is true but policy.public_key is not set: set it in %s to the PEM public key the bundle is signed with", ConfigFile)
	}
	return opts, nil
}

// PolicyBundleDir is the absolute path of the project's policy bundle.
func (p *Project) PolicyBundleDir() string { return filepath.Join(p.Root, PolicyDir) }

// loadPolicyBundle loads the bundle in policies/ with the configured
// signature checks.
func (p *Project) loadPolicyBundle() (*policies.Bundle, error) {
	opts, err := p.loadOptions()
	if err != nil {
		return nil, err
	}
	dir := p.PolicyBundleDir()
	if _, err := os.Stat(filepath.Join(dir, ".manifest")); err != nil {
		return nil, fmt.Errorf("%s/ holds no policy bundle (%v): a project needs one; `pawl init` writes the default bundle, see docs/policy-guide.md", PolicyDir, err)
	}
	b, err := policies.LoadBundle(dir, opts)
	if err != nil {
		if opts.RequireSignature {
			return nil, fmt.Errorf("%w (policy.require_signature is true: sign the bundle with `pawl policy sign --key FILE`)", err)
		}
		return nil, err
	}
	return b, nil
}

// Policy returns the project's policy engine, opened on first use (the
// bundle in policies/, checked as policy.require_signature and
// policy.public_key say, compiled once) and shared by every decision of the
// process, like Sandbox.
func (p *Project) Policy(ctx context.Context) (*policies.Engine, error) {
	if p.pol != nil {
		return p.pol.engine, nil
	}
	b, err := p.loadPolicyBundle()
	if err != nil {
		return nil, err
	}
	e, err := policies.NewEngine(ctx, b)
	if err != nil {
		return nil, err
	}
	p.pol = &policyState{engine: e, bundle: b}
	return e, nil
}

// pinnedPolicy returns the policy engine after checking that its bundle is
// the one pinned in pawl.lock, and keeps the bundle's files in the store so
// that what decided can be found again from the store alone.
func (p *Project) pinnedPolicy(ctx context.Context, pins Pins) (*policies.Engine, store.Digest, error) {
	disk, err := policies.BundleDigest(p.PolicyBundleDir())
	if err != nil {
		return nil, "", err
	}
	// The engine of this process may have been loaded before the bundle
	// changed: load it again (its signature is checked first, so a tampered
	// signed bundle is reported as such).
	if p.pol != nil && p.pol.engine.Bundle().SHA256 != disk {
		p.pol = nil
	}
	e, err := p.Policy(ctx)
	if err != nil {
		return nil, "", err
	}
	got := store.Digest(e.Bundle().SHA256)
	want, ok := pins[PolicyPinKey]
	if !ok {
		return nil, "", &PinMismatchError{File: PolicyPinKey, Actual: got, Unpinned: true}
	}
	if got != want {
		return nil, "", &PinMismatchError{File: PolicyPinKey, Pinned: want, Actual: got}
	}
	if !p.pol.stored {
		if _, err := p.storeBundle(p.pol.bundle); err != nil {
			return nil, "", &InfraError{Err: err}
		}
		p.pol.stored = true
	}
	return e, want, nil
}

// pinPolicy is the run's policy gate before anything is read: the bundle
// loads (signature checked when required), matches its pin, and its pin
// joins the job's pins, so that it feeds the batch id and is on record in
// the batch.
func (p *Project) pinPolicy(ctx context.Context, pins, jobPins Pins) error {
	_, d, err := p.pinnedPolicy(ctx, pins)
	if err != nil {
		return err
	}
	jobPins[PolicyPinKey] = d
	return nil
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

// pinBundle loads the bundle in policies/ (as a run would: signature checked
// when required) and stores it; ok is false when the project has no bundle.
func (p *Project) pinBundle() (store.Digest, bool, error) {
	if _, err := os.Stat(filepath.Join(p.PolicyBundleDir(), ".manifest")); errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	b, err := p.loadPolicyBundle()
	if err != nil {
		return "", false, err
	}
	d, err := p.storeBundle(b)
	if err != nil {
		return "", false, err
	}
	return d, true, nil
}

// decisionRecord is the details of a policy.decision audit entry.
type decisionRecord struct {
	policies.Decision
	BatchID string `json:"batch_id,omitempty"`
	Job     string `json:"job,omitempty"`
	Error   string `json:"error,omitempty"`
}

// decide asks the policy and puts the decision on record, allow or deny.
// A decision that does not allow is returned as a *DeniedError (err from
// Decide, which always means deny, is among its reasons).
func (p *Project) decide(ctx context.Context, e *policies.Engine, kind policies.Kind, input any, operator, object, reason, batchID, job, what string) (policies.Decision, audit.Entry, error) {
	d, derr := e.Decide(ctx, kind, input)
	rec := decisionRecord{Decision: d, BatchID: batchID, Job: job}
	if derr != nil {
		rec.Error = derr.Error()
	}
	ent, aerr := p.Trail.Append(context.WithoutCancel(ctx), audit.Entry{
		Operator: operator, Action: ActionPolicyDecision, Object: object, Reason: reason,
		Details: mustJSON(rec),
	})
	if aerr != nil {
		return d, ent, fmt.Errorf("policy decision %s could not be put on record: %w", shortID(d.ID), aerr)
	}
	if d.Allow && derr == nil {
		return d, ent, nil
	}
	reasons := append([]string(nil), d.Deny...)
	if derr != nil && !contains(reasons, derr.Error()) {
		reasons = append(reasons, derr.Error())
	}
	return d, ent, &DeniedError{What: what, Decision: &d, Reasons: reasons}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// PluginCapabilities are what a plugin's manifest asks for beyond reading
// its fields: "transform" when it may rewrite values, "lookup:NAME" for each
// pinned file it reads. They are the plugin admission input's capabilities
// and what an approval lists.
func PluginCapabilities(m *sandbox.Manifest) []string {
	caps := []string{}
	if m.Transforms {
		caps = append(caps, "transform")
	}
	for _, l := range m.Lookups {
		caps = append(caps, "lookup:"+l)
	}
	sort.Strings(caps)
	return caps
}

// admitPlugin asks the plugins policy whether a loaded plugin may run in
// this batch. The decision is on record either way.
func (p *Project) admitPlugin(ctx context.Context, job *Job, m *sandbox.Manifest, pin store.Digest, operator string, asOf time.Time, batchID string) error {
	e, err := p.Policy(ctx)
	if err != nil {
		return err
	}
	in := policies.PluginInput{
		Plugin:    policies.PluginRef{Name: m.Name, Version: m.Version, Hash: string(pin), Capabilities: PluginCapabilities(m)},
		Principal: policies.Principal{ID: EnginePrincipal},
		Resource:  &policies.Resource{BatchID: batchID, State: "pending", Classification: job.Classification, Signatures: []policies.ESignature{}},
		Time:      asOf.UTC().Format(time.RFC3339Nano),
	}
	_, _, err = p.decide(ctx, e, policies.KindPlugin, in, operator, "plugin:"+m.ID(), "", batchID, job.Name, "plugin "+m.ID())
	var de *DeniedError
	if errors.As(err, &de) {
		de.Hint = fmt.Sprintf("if %s (%s) may run, approve it: `pawl policy approve-plugin %s`, then `pawl pin`", m.ID(), pin, m.ID())
	}
	return err
}

// SchemaFields lists a schema's top-level properties as JSON pointers,
// sorted: what a classification decision looks at.
func SchemaFields(sch *schema.Schema) []string {
	out := []string{}
	for name := range sch.PropertyTypes() {
		out = append(out, "/"+strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1"))
	}
	sort.Strings(out)
	return out
}

// decideClassification asks the classification policy whether the job
// declares a classification at least as high as its schema's fields imply.
// A denial refuses the run before any record is read.
func (p *Project) decideClassification(ctx context.Context, job *Job, sch *schema.Schema, br *BatchRecord, operator, reason string) error {
	e, err := p.Policy(ctx)
	if err != nil {
		return err
	}
	in := policies.ClassificationInput{
		Dataset: policies.Dataset{
			Job: job.Name, Schema: br.Schema.Name + "@" + br.Schema.Version,
			Classification: job.Classification, Fields: SchemaFields(sch),
		},
		Principal: policies.Principal{ID: operator},
		Resource:  &policies.Resource{BatchID: br.BatchID, State: "pending", Classification: job.Classification, Signatures: []policies.ESignature{}},
		Time:      br.AsOf,
	}
	_, _, err = p.decide(ctx, e, policies.KindClassification, in, operator, "batch:"+br.BatchID, reason, br.BatchID, job.Name,
		fmt.Sprintf("run of job %s (classification %q, schema %s)", job.Name, job.Classification, job.Schema))
	var de *DeniedError
	if errors.As(err, &de) {
		de.Hint = fmt.Sprintf("raise classification: in %s, or change the classification rules in %s/data.json (then `pawl pin`)", job.Path, PolicyDir)
	}
	return err
}

// PluginApproval is one plugin to approve in the bundle's data.json.
type PluginApproval struct {
	Name         string       `json:"name"`
	Version      string       `json:"version"`
	Hash         store.Digest `json:"hash"`
	Capabilities []string     `json:"capabilities"`
}

// ApprovePinned approves plugins pinned in pawl.lock (by "name@version").
func (p *Project) ApprovePinned(ctx context.Context, ids []string, operator, reason string) ([]PluginApproval, error) {
	pins, err := ReadPins(p.Root)
	if err != nil {
		return nil, err
	}
	var out []PluginApproval
	for _, id := range ids {
		d, ok := pins[pluginKey(id)]
		if !ok {
			return nil, fmt.Errorf("plugin %s is not pinned: add it with `pawl plugin add FILE.wasm` first (`pawl plugin list` shows the pinned ones)", id)
		}
		wasm, err := p.readBlob(d)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", id, err)
		}
		m, err := sandbox.ReadManifest(wasm)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", id, err)
		}
		if m.ID() != id {
			return nil, fmt.Errorf("the module pinned as %s says it is %s", id, m.ID())
		}
		out = append(out, PluginApproval{Name: m.Name, Version: m.Version, Hash: d, Capabilities: PluginCapabilities(m)})
	}
	return out, p.ApprovePlugins(ctx, out, operator, reason)
}

// ApprovePlugins adds plugins to the approved list of the project's policy
// bundle (policies/data.json, plugins.approved, keyed by hash) and records
// each approval. data.json is rewritten with two-space indentation and
// sorted keys. A signed bundle is refused: its signature would no longer
// match; approve in data.json and re-sign instead. The bundle's pin changes:
// run `pawl pin` afterwards.
func (p *Project) ApprovePlugins(ctx context.Context, ps []PluginApproval, operator, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("approving a plugin needs a reason: pass --reason \"why it may run\"")
	}
	dir := p.PolicyBundleDir()
	if _, err := os.Stat(filepath.Join(dir, ".signatures.json")); err == nil {
		return fmt.Errorf("%s/ is signed (.signatures.json): approving would break the signature; add the hash to plugins.approved in %s/data.json yourself and re-sign with `pawl policy sign`", PolicyDir, PolicyDir)
	}
	path := filepath.Join(dir, "data.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read the policy data: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil || data == nil {
		return fmt.Errorf("%s/data.json is not a JSON object (%v): fix it, then approve again", PolicyDir, err)
	}
	plug, _ := data["plugins"].(map[string]any)
	if plug == nil {
		if _, present := data["plugins"]; present {
			return fmt.Errorf("%s/data.json: \"plugins\" is not an object", PolicyDir)
		}
		plug = map[string]any{}
		data["plugins"] = plug
	}
	approved, _ := plug["approved"].(map[string]any)
	if approved == nil {
		if _, present := plug["approved"]; present {
			return fmt.Errorf("%s/data.json: \"plugins.approved\" is not an object", PolicyDir)
		}
		approved = map[string]any{}
		plug["approved"] = approved
	}
	for _, a := range ps {
		caps := a.Capabilities
		if caps == nil {
			caps = []string{}
		}
		approved[string(a.Hash)] = map[string]any{"name": a.Name, "version": a.Version, "capabilities": caps}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(data); err != nil {
		return err
	}
	if err := writeFileSync(path, out.Bytes(), 0o644); err != nil {
		return err
	}
	for _, a := range ps {
		if _, err := p.Trail.Append(ctx, audit.Entry{
			Operator: operator, Action: ActionPluginApproved, Object: "plugin:" + a.Name + "@" + a.Version, Reason: reason,
			Details: mustJSON(map[string]any{"plugin": a.Name + "@" + a.Version, "hash": a.Hash, "capabilities": a.Capabilities, "file": PolicyDir + "/data.json"}),
		}); err != nil {
			return err
		}
	}
	return nil
}
