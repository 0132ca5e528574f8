// Package gate is where pawl asks its policies and keeps the answer: every
// decision — plugin admission, a run's classification, an export's egress
// — is evaluated by the project's pinned bundle and put on record as a
// policy.decision entry, allow or deny, before anything acts on it.
//
// It guarantees that a decision that does not allow is returned as a
// *DeniedError (matching ErrDenied) carrying the decision and every
// reason, and that nothing is allowed without a decision on record: a
// decision that cannot be recorded is an error. It does not decide what
// happens after an allow; the callers act, and record that too.
//
// It also asks the fourth question, authz (Authorize): may the caller,
// acting as an operator, do this action on this object — asked of the
// bundle in force for every request and on record, allow or deny. And it
// holds the rule for times an operator gives on the command line (a run's
// --as-of, an export's --time): outside the configured window around now
// they are refused without a reason (Window.Check), and with one they need
// the role the bundle says (Window.Admit).
package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/schema"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// EnginePrincipal is the principal of decisions pawl asks on its own
// behalf (plugin admission during a run).
const EnginePrincipal = "pawl-engine"

// ErrDenied is matched (errors.Is) by every refusal of a policy decision
// and by the exporter's own refusals (a destination that leads out of the
// outbox the policy allowed). The CLI exits with status 3 on it.
var ErrDenied = errors.New("denied by policy")

// DeniedError is a refusal: the decision that denied (nil when pawl refused
// a destination the policy had allowed) and every reason.
type DeniedError struct {
	What     string // what was refused, e.g. `plugin range@1.1.0`, `export of batch 3f2a… to file:///…`
	Decision *policies.Decision
	Reasons  []string
	Hint     string // what to do
}

func (e *DeniedError) Error() string {
	var b strings.Builder
	b.WriteString(e.What)
	if e.Decision != nil {
		fmt.Fprintf(&b, " denied by policy (bundle %s %s, decision %s)", e.Decision.Bundle.Revision, e.Decision.Bundle.SHA256, ShortID(e.Decision.ID))
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

// ShortID is a decision id for a person.
func ShortID(id string) string {
	if id == "" {
		return "(none: the input never reached the policy)"
	}
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

// Question is one decision to ask and put on record.
type Question struct {
	Kind     policies.Kind
	Input    any
	Operator string // who asks, for the trail
	Object   string // what the decision is about, for the trail
	Reason   string
	BatchID  string
	Job      string
	What     string // what is refused on a deny, for the error
}

// Decide asks e and puts the decision on record, allow or deny. A decision
// that does not allow is returned as a *DeniedError (an error from the
// engine, which always means deny, is among its reasons).
func Decide(ctx context.Context, t *audit.Trail, e *policies.Engine, q Question) (policies.Decision, audit.Entry, error) {
	a := Ask(ctx, e, q)
	ents, err := RecordAll(ctx, t, []*Asked{a})
	var ent audit.Entry
	if len(ents) == 1 {
		ent = ents[0]
	}
	if err != nil {
		return a.Decision, ent, err
	}
	return a.Decision, ent, a.Err()
}

// Asked is a decision asked and not yet on record: nothing may act on it
// until RecordAll has put it there.
type Asked struct {
	Decision policies.Decision
	q        Question
	derr     error  // the engine's error: always a deny
	hint     string // what to do, on a deny
}

// Ask asks e the question q; the answer is not on record yet (RecordAll).
func Ask(ctx context.Context, e *policies.Engine, q Question) *Asked {
	d, derr := e.Decide(ctx, q.Kind, q.Input)
	return &Asked{Decision: d, q: q, derr: derr}
}

// Allowed says whether the decision allows.
func (a *Asked) Allowed() bool { return a.Decision.Allow && a.derr == nil }

// Err is nil when the decision allows, else the *DeniedError with every
// reason. It says nothing of whether the decision is on record.
func (a *Asked) Err() error {
	if a.Allowed() {
		return nil
	}
	reasons := append([]string(nil), a.Decision.Deny...)
	if a.derr != nil && !slices.Contains(reasons, a.derr.Error()) {
		reasons = append(reasons, a.derr.Error())
	}
	return &DeniedError{What: a.q.What, Decision: &a.Decision, Reasons: reasons, Hint: a.hint}
}

// RecordAll puts decisions on record, allow or deny, in order, as
// policy.decision entries in one transaction of the trail (one fsync for
// them all; a crash leaves all of them on record or none). A decision that
// cannot be recorded is an error, and then none of them is on record and
// none may be acted on.
func RecordAll(ctx context.Context, t *audit.Trail, as []*Asked) ([]audit.Entry, error) {
	if len(as) == 0 {
		return nil, nil
	}
	rs := make([]actions.Record, len(as))
	for i, a := range as {
		det := actions.PolicyDecisionDetails{Decision: a.Decision, BatchID: a.q.BatchID, Job: a.q.Job}
		if a.derr != nil {
			det.Error = a.derr.Error()
		}
		rs[i] = actions.Record{Operator: a.q.Operator, Object: a.q.Object, Reason: a.q.Reason, Details: det}
	}
	ents, err := actions.AppendAll(context.WithoutCancel(ctx), t, rs)
	if err != nil {
		ids := make([]string, len(as))
		for i, a := range as {
			ids[i] = ShortID(a.Decision.ID)
		}
		what := "policy decision " + ids[0]
		if len(ids) > 1 {
			what = "policy decisions " + strings.Join(ids, ", ")
		}
		return nil, fmt.Errorf("%s could not be put on record: %w", what, err)
	}
	return ents, nil
}

// AdmitPlugin asks the plugins policy whether a loaded plugin may run in a
// batch of job. The decision is on record either way.
func AdmitPlugin(ctx context.Context, t *audit.Trail, e *policies.Engine, job *project.Job, m *sandbox.Manifest, pin store.Digest, operator string, asOf time.Time, batchID string) error {
	a := AskPlugin(ctx, e, job, m, pin, operator, asOf, batchID)
	if _, err := RecordAll(ctx, t, []*Asked{a}); err != nil {
		return err
	}
	return a.Err()
}

// AskPlugin asks the plugins policy whether a loaded plugin may run in a
// batch of job, and does not put the answer on record: a run asks for each
// of its plugins and records the decisions together (RecordAll) before any
// of them runs.
func AskPlugin(ctx context.Context, e *policies.Engine, job *project.Job, m *sandbox.Manifest, pin store.Digest, operator string, asOf time.Time, batchID string) *Asked {
	in := policies.PluginInput{
		Plugin:    policies.PluginRef{Name: m.Name, Version: m.Version, Hash: string(pin), Capabilities: project.PluginCapabilities(m)},
		Principal: policies.Principal{ID: EnginePrincipal},
		Resource:  &policies.Resource{BatchID: batchID, State: "pending", Classification: job.Classification, Signatures: []policies.ESignature{}},
		Time:      asOf.UTC().Format(time.RFC3339Nano),
	}
	a := Ask(ctx, e, Question{Kind: policies.KindPlugin, Input: in, Operator: operator, Object: "plugin:" + m.ID(),
		BatchID: batchID, Job: job.Name, What: "plugin " + m.ID()})
	a.hint = fmt.Sprintf("if %s (%s) may run, approve it: `pawl policy approve-plugin %s`, then `pawl pin`", m.ID(), pin, m.ID())
	return a
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

// Classification asks the classification policy whether the job declares
// a classification at least as high as its schema's fields imply, and puts
// the decision on record. A denial refuses the run before any record is
// read.
func Classification(ctx context.Context, t *audit.Trail, e *policies.Engine, job *project.Job, sch *schema.Schema, schemaID, batchID, asOf, operator, reason string) error {
	a := AskClassification(ctx, e, job, sch, schemaID, batchID, asOf, operator, reason)
	if _, err := RecordAll(ctx, t, []*Asked{a}); err != nil {
		return err
	}
	return a.Err()
}

// AskClassification is Classification's question, its answer not yet on
// record (RecordAll): a run records an allow with its plugins' admissions,
// a deny at once.
func AskClassification(ctx context.Context, e *policies.Engine, job *project.Job, sch *schema.Schema, schemaID, batchID, asOf, operator, reason string) *Asked {
	in := policies.ClassificationInput{
		Dataset: policies.Dataset{
			Job: job.Name, Schema: schemaID,
			Classification: job.Classification, Fields: SchemaFields(sch),
		},
		Principal: policies.Principal{ID: operator},
		Resource:  &policies.Resource{BatchID: batchID, State: "pending", Classification: job.Classification, Signatures: []policies.ESignature{}},
		Time:      asOf,
	}
	a := Ask(ctx, e, Question{Kind: policies.KindClassification, Input: in, Operator: operator, Object: "batch:" + batchID,
		Reason: reason, BatchID: batchID, Job: job.Name,
		What: fmt.Sprintf("run of job %s (classification %q, schema %s)", job.Name, job.Classification, job.Schema)})
	a.hint = fmt.Sprintf("raise classification: in %s, or change the classification rules in %s/data.json (then `pawl pin`)", job.Path, project.PolicyDir)
	return a
}

// PluginApproval is one plugin to approve in the bundle's data.json.
type PluginApproval struct {
	Name         string       `json:"name"`
	Version      string       `json:"version"`
	Hash         store.Digest `json:"hash"`
	Capabilities []string     `json:"capabilities"`
}

// ApprovePinned approves plugins pinned in pawl.lock (by "name@version").
func ApprovePinned(ctx context.Context, p *project.Project, ids []string, operator, reason string) ([]PluginApproval, error) {
	pins, err := p.Pins(ctx)
	if err != nil {
		return nil, err
	}
	var out []PluginApproval
	for _, id := range ids {
		d, ok := pins[lockfile.PluginKey(id)]
		if !ok {
			return nil, fmt.Errorf("plugin %s is not pinned: add it with `pawl plugin add FILE.wasm` first (`pawl plugin list` shows the pinned ones)", id)
		}
		wasm, err := p.ReadBlob(d)
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
		out = append(out, PluginApproval{Name: m.Name, Version: m.Version, Hash: d, Capabilities: project.PluginCapabilities(m)})
	}
	return out, ApprovePlugins(ctx, p, out, operator, reason)
}

// ApprovePlugins adds plugins to the approved list of the project's policy
// bundle (policies/data.json, plugins.approved, keyed by hash) and records
// each approval. data.json is rewritten with two-space indentation and
// sorted keys. A signed bundle is refused: its signature would no longer
// match; approve in data.json and re-sign instead. The bundle's pin changes:
// run `pawl pin` afterwards.
func ApprovePlugins(ctx context.Context, p *project.Project, ps []PluginApproval, operator, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("approving a plugin needs a reason: pass --reason \"why it may run\"")
	}
	ps = slices.Clone(ps)
	for i := range ps {
		if ps[i].Capabilities == nil {
			ps[i].Capabilities = []string{}
		}
	}
	path, data, err := readPolicyData(p, "approving", "add the hash to plugins.approved in "+project.PolicyDir+"/data.json", "approve")
	if err != nil {
		return err
	}
	plug, _ := data["plugins"].(map[string]any)
	if plug == nil {
		if _, present := data["plugins"]; present {
			return fmt.Errorf("%s/data.json: \"plugins\" is not an object", project.PolicyDir)
		}
		plug = map[string]any{}
		data["plugins"] = plug
	}
	approved, _ := plug["approved"].(map[string]any)
	if approved == nil {
		if _, present := plug["approved"]; present {
			return fmt.Errorf("%s/data.json: \"plugins.approved\" is not an object", project.PolicyDir)
		}
		approved = map[string]any{}
		plug["approved"] = approved
	}
	for _, a := range ps {
		approved[string(a.Hash)] = map[string]any{"name": a.Name, "version": a.Version, "capabilities": a.Capabilities}
	}
	out, err := encodePolicyData(data)
	if err != nil {
		return err
	}
	// On record first, as pins are: a crash before data.json is written
	// leaves an approval on record that running the approval again
	// completes, never an approval in force that the trail does not know.
	for _, a := range ps {
		if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: operator, Object: "plugin:" + a.Name + "@" + a.Version, Reason: reason,
			Details: actions.PluginApprovedDetails{Plugin: a.Name + "@" + a.Version, Hash: a.Hash, Capabilities: a.Capabilities, File: project.PolicyDir + "/data.json"}}); err != nil {
			return err
		}
	}
	failpoint.Hit("approve.after-record")
	if err := durable.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("the approval is on record but %s/data.json could not be written: %w: approve again", project.PolicyDir, err)
	}
	return nil
}

// readPolicyData reads the project's policy data (policies/data.json) for
// an edit: a signed bundle is refused (the edit would break its signature;
// fix says what to change by hand before re-signing), and so is a file that
// is not a JSON object. doing and again name the edit in the errors
// ("approving", "approve"). Numbers stay json.Number, as written.
func readPolicyData(p *project.Project, doing, fix, again string) (string, map[string]any, error) {
	dir := p.PolicyBundleDir()
	if _, err := os.Stat(filepath.Join(dir, policies.SignaturesFile)); err == nil {
		return "", nil, fmt.Errorf("%s/ is signed (.signatures.json): %s would break the signature; %s yourself and re-sign with `pawl policy sign`", project.PolicyDir, doing, fix)
	}
	path := filepath.Join(dir, "data.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("cannot read the policy data: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil || data == nil {
		return "", nil, fmt.Errorf("%s/data.json is not a JSON object (%v): fix it, then %s again", project.PolicyDir, err, again)
	}
	return path, data, nil
}

// encodePolicyData writes policy data as data.json is kept: two-space
// indentation, sorted keys, no HTML escaping.
func encodePolicyData(data map[string]any) ([]byte, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(data); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
