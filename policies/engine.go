package policies

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/version"
)

// Decision is one policy decision as it goes on record. Everything needed to
// re-evaluate it is in it: the kind, the exact input the policy saw, and the
// bundle (revision and sha256) and OPA version it was evaluated with.
type Decision struct {
	// ID is the hex sha256 of "pawl-decision-v1", the kind, the bundle
	// sha256 and the canonical input, NUL-separated: the same question put
	// to the same bundle has the same id, so a replay can be matched to the
	// original and a retried request is recognisably the same one.
	ID   string `json:"decision_id"`
	Kind Kind   `json:"kind"`
	// Query is the Rego query evaluated, e.g. "data.pawl.egress.decision".
	Query string `json:"query"`
	// Time is the input's time (RFC 3339, UTC): the decision's as-of time.
	Time string `json:"time"`
	// Input is the canonical JSON input as evaluated (after PrepareInput).
	Input json.RawMessage `json:"input"`
	// Allow is true only when the policy returned allow=true and no reason
	// to deny; anything else (undefined, malformed, an error) is a deny.
	Allow bool `json:"allow"`
	// Deny holds the reasons, sorted; empty when allowed.
	Deny []string `json:"deny"`
	// Result is the full decision object the policy returned (canonical
	// JSON), or null when evaluation failed.
	Result     json.RawMessage `json:"result"`
	Bundle     BundleInfo      `json:"bundle"`
	OPAVersion string          `json:"opa_version"`
}

// Engine evaluates decisions against one loaded bundle. Its queries are
// prepared once (one rego.PreparedEvalQuery per kind) when it is created;
// Decide only evaluates. It is safe for concurrent use.
type Engine struct {
	bundle  *Bundle
	queries map[Kind]rego.PreparedEvalQuery
}

// NewEngine compiles the bundle's production modules (tests excluded) with
// the restricted capabilities and prepares one query per decision kind.
// A bundle whose packages do not define a kind's decision rule still
// prepares; deciding that kind is then a deny ("no decision").
//
// The prepared queries are a function of the bundle's files alone (its
// SHA256 covers every file but the signatures), so an engine for a bundle
// this process prepared before shares those queries: a `pawl run` asks the
// bundle in force (from the store) for authorisation and loads the one in
// policies/ for its decisions, the same bundle twice, and compiles it once.
func NewEngine(ctx context.Context, b *Bundle) (*Engine, error) {
	if q := compiled.queries(b.Info.SHA256); q != nil {
		return &Engine{bundle: b, queries: q}, nil
	}
	compiler, err := compileModules(b.productionModules())
	if err != nil {
		return nil, fmt.Errorf("policies: bundle %s: %v", b.source, err)
	}
	store := newStore(b.data)
	e := &Engine{bundle: b, queries: map[Kind]rego.PreparedEvalQuery{}}
	for _, k := range AllKinds() {
		pq, err := rego.New(
			rego.Query(k.Query()),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.StoreReadAST(true),
			rego.Capabilities(Capabilities()),
			rego.StrictBuiltinErrors(true),
			rego.SetRegoVersion(ast.RegoV1),
		).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policies: preparing %s: %w", k.Query(), err)
		}
		e.queries[k] = pq
	}
	compiled.keepQueries(b.Info.SHA256, e.queries)
	return e, nil
}

// keepCompiled is how many bundles' compilations a process keeps: the
// bundle in force and the one in policies/ are usually the same, and a
// long-running `pawl serve` sees a new one only when a change is applied.
const keepCompiled = 2

// compiled remembers, by BundleInfo.SHA256, the bundles this process
// compiled: those whose every module, tests included, passed LoadBundle's
// check, and the prepared queries NewEngine made. A bundle's SHA256 is the
// sha256 of its file list with each file's sha256, so the same digest is
// the same modules and data; the signature is not part of it and is
// checked on every load. Only the last keepCompiled of each are kept.
var compiled compilations

type compilations struct {
	mu      sync.Mutex
	checked []string // digests, oldest first
	engines []compiledQueries
	parsed  []parsedBundle // loaded without a signature check, oldest first
}

type parsedBundle struct {
	read   string // readKey
	full   bool   // its test modules were read too
	bundle *Bundle
}

// parsedBundle is the bundle of exactly those bytes (readKey) this
// process loaded and checked without verifying a signature, or nil.
func (c *compilations) parsedBundle(read string, full bool) *Bundle {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.parsed {
		if p.read == read && (p.full || !full) {
			return p.bundle
		}
	}
	return nil
}

// keepParsed keeps b, loaded without a signature check: its modules and
// data are never changed after the load (the compiler works on copies).
func (c *compilations) keepParsed(read string, full bool, b *Bundle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.parsed {
		if p.read == read {
			if full && !p.full {
				c.parsed[i] = parsedBundle{read: read, full: full, bundle: b}
			}
			return
		}
	}
	if len(c.parsed) == keepCompiled {
		c.parsed = slices.Delete(c.parsed, 0, 1)
	}
	c.parsed = append(c.parsed, parsedBundle{read: read, full: full, bundle: b})
}

type compiledQueries struct {
	digest  string
	queries map[Kind]rego.PreparedEvalQuery
}

func (c *compilations) wasChecked(digest string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.checked, digest)
}

func (c *compilations) keepChecked(digest string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.Contains(c.checked, digest) {
		return
	}
	if len(c.checked) == keepCompiled {
		c.checked = slices.Delete(c.checked, 0, 1)
	}
	c.checked = append(c.checked, digest)
}

func (c *compilations) queries(digest string) map[Kind]rego.PreparedEvalQuery {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.engines {
		if e.digest == digest {
			return e.queries
		}
	}
	return nil
}

func (c *compilations) keepQueries(digest string, q map[Kind]rego.PreparedEvalQuery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.engines {
		if e.digest == digest {
			return
		}
	}
	if len(c.engines) == keepCompiled {
		c.engines = slices.Delete(c.engines, 0, 1)
	}
	c.engines = append(c.engines, compiledQueries{digest: digest, queries: q})
}

// Open loads the bundle in dir (LoadBundle) and returns its engine.
func Open(ctx context.Context, dir string, opts LoadOptions) (*Engine, error) {
	b, err := LoadBundle(dir, opts)
	if err != nil {
		return nil, err
	}
	return NewEngine(ctx, b)
}

func newStore(data map[string]any) storage.Store {
	return inmem.NewFromObjectWithOpts(data,
		inmem.OptRoundTripOnWrite(false),
		inmem.OptReturnASTValuesOnRead(true))
}

// Answers reports whether the bundle defines kind's decision rule (the
// rule data.pawl.<kind>.decision, in a module that is not a test). A bundle
// written before pawl asked a kind cannot answer it: deciding it is a deny
// ("no decision"); for authz, the gate asks the transition bundle instead.
func (e *Engine) Answers(kind Kind) bool {
	want := "data.pawl." + string(kind)
	for _, m := range e.bundle.productionModules() {
		if m.Package.Path.String() != want {
			continue
		}
		for _, r := range m.Rules {
			if r.Head.Ref().String() == "decision" {
				return true
			}
		}
	}
	return false
}

var transition struct {
	once sync.Once
	e    *Engine
	err  error
}

// Transition is the engine of the transition bundle (TransitionFS, revision
// pawl-transition-1), built once: the authz decisions of a project whose
// bundle in force does not answer authz (Answers) are asked of it. It
// allows reading (facts.read_only) and the steps that adopt a bundle with
// roles — pin, change.approve by another person, change.apply, enrolling
// with a reason, an operator's own passphrase, unlock and revoke with a
// reason, trail checkpoints and exports — and refuses everything else,
// naming facts.bundle_in_force and what to do.
func Transition(ctx context.Context) (*Engine, error) {
	transition.once.Do(func() {
		b, err := LoadBundleFS(TransitionFS(), "built-in transition bundle", LoadOptions{})
		if err != nil {
			transition.err = err
			return
		}
		transition.e, transition.err = NewEngine(ctx, b)
	})
	return transition.e, transition.err
}

// Bundle returns the identity of the bundle the engine decides with; pin
// Bundle().SHA256 like every other input.
func (e *Engine) Bundle() BundleInfo { return e.bundle.Info }

// Roles are the roles the bundle's data gives an operator id
// (data.authz.roles[id]), sorted; none when it gives none. What a request
// may do is the authz decision's to say; this is for showing who holds
// what.
func (e *Engine) Roles(id string) []string {
	az, _ := e.bundle.data["authz"].(map[string]any)
	held, _ := az["roles"].(map[string]any)
	out := rolesOf(held[id])
	sort.Strings(out)
	return out
}

// Held reports whether the bundle's data gives role to any operator id.
func (e *Engine) Held(role string) bool {
	az, _ := e.bundle.data["authz"].(map[string]any)
	held, _ := az["roles"].(map[string]any)
	for _, rs := range held {
		if slices.Contains(rolesOf(rs), role) {
			return true
		}
	}
	return false
}

// rolesOf is a data.authz.roles value as strings (what is not one is
// left out).
func rolesOf(v any) []string {
	out := []string{}
	rs, _ := v.([]any)
	for _, r := range rs {
		if s, ok := r.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// zeroReader is the random source given to evaluation. No builtin that draws
// randomness is in the capabilities; this makes sure that if one ever slips
// in, it draws the same bytes every time.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Decide prepares input for kind (PrepareInput), evaluates the kind's
// prepared query and returns the decision to put on record.
//
// The returned Decision is always filled in as far as possible and always
// denies when err is not nil: callers audit it either way and treat an
// error as a deny. An *InputError means the input was malformed and never
// reached the policy (the Decision then has no ID).
func (e *Engine) Decide(ctx context.Context, kind Kind, input any) (Decision, error) {
	d := Decision{
		Kind:       kind,
		Query:      kind.Query(),
		Bundle:     e.bundle.Info,
		OPAVersion: version.Version,
		Deny:       []string{},
		Result:     json.RawMessage("null"),
	}
	pq, ok := e.queries[kind]
	if !ok {
		err := fmt.Errorf("policies: unknown decision kind %q (want one of %v)", kind, AllKinds())
		d.Deny = []string{err.Error()}
		return d, err
	}
	canon, asOfText, typed, err := prepareInput(kind, input)
	if err != nil {
		d.Deny = []string{err.Error()}
		return d, err
	}
	d.Input = canon
	d.ID = decisionID(kind, e.bundle.Info.SHA256, canon)

	val := inputValue(typed)
	d.Time = asOfText
	asOf, _ := time.Parse(time.RFC3339Nano, asOfText) // checked by prepareInput

	rs, err := pq.Eval(ctx,
		rego.EvalParsedInput(val),
		rego.EvalTime(asOf),
		rego.EvalSeed(zeroReader{}))
	if err != nil {
		d.Deny = []string{fmt.Sprintf("%s: evaluation failed: %v", kind.Query(), err)}
		return d, fmt.Errorf("policies: %s: %w", kind.Query(), err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		msg := fmt.Sprintf("%s: the policy returned no decision (is package pawl.%s with a \"decision\" rule in the bundle?)", kind.Query(), kind)
		d.Deny = []string{msg}
		return d, nil
	}
	result := rs[0].Expressions[0].Value
	if rb, err := encodeCanonical(result); err == nil {
		d.Result = rb
	}
	d.Allow, d.Deny = interpret(kind, result)
	return d, nil
}

// interpret reads {"allow": bool, "deny": [string]} strictly: anything but
// allow == true with no deny reasons is a deny, and a malformed result says
// what was wrong with it.
func interpret(kind Kind, result any) (bool, []string) {
	q := kind.Query()
	obj, ok := result.(map[string]any)
	if !ok {
		return false, []string{fmt.Sprintf("%s: decision is %s, not an object with allow and deny", q, jsonText(result))}
	}
	reasons := []string{}
	var malformed []string
	switch dv := obj["deny"].(type) {
	case []any:
		for _, r := range dv {
			if s, ok := r.(string); ok {
				reasons = append(reasons, s)
			} else {
				malformed = append(malformed, fmt.Sprintf("%s: deny reason %s is not a string", q, jsonText(r)))
			}
		}
	case nil:
		malformed = append(malformed, fmt.Sprintf("%s: decision has no \"deny\" set", q))
	default:
		malformed = append(malformed, fmt.Sprintf("%s: decision \"deny\" is %s, not a set of strings", q, jsonText(dv)))
	}
	allow, isBool := obj["allow"].(bool)
	if !isBool {
		malformed = append(malformed, fmt.Sprintf("%s: decision \"allow\" is %s, not true or false", q, jsonText(obj["allow"])))
	}
	if allow && len(reasons) > 0 {
		// A policy that says both is inconsistent; deny, and say so.
		malformed = append(malformed, fmt.Sprintf("%s: allow was true alongside %d deny reason(s); denied", q, len(reasons)))
	}
	reasons = append(reasons, malformed...)
	return allow && len(reasons) == 0, reasons
}

func jsonText(v any) string {
	if v == nil {
		return "undefined"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

func decisionID(kind Kind, bundleSHA string, canon []byte) string {
	h := sha256.New()
	h.Write([]byte("pawl-decision-v1\x00"))
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(bundleSHA))
	h.Write([]byte{0})
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil))
}

// ErrReplayMismatch is wrapped by Reevaluate when a recorded decision and
// its re-evaluation differ.
var ErrReplayMismatch = errors.New("policies: re-evaluation differs from the recorded decision")

// Reevaluate evaluates a recorded decision's input again and checks that it
// gives the same decision id, allow, deny reasons and result. The engine
// must hold the bundle the decision was made with (same sha256); replaying
// against another bundle is refused, not silently compared.
func (e *Engine) Reevaluate(ctx context.Context, rec Decision) (Decision, error) {
	if rec.Bundle.SHA256 != e.bundle.Info.SHA256 {
		return Decision{}, fmt.Errorf("policies: decision %s was made with bundle %s (revision %q); this engine holds %s (revision %q)",
			rec.ID, rec.Bundle.SHA256, rec.Bundle.Revision, e.bundle.Info.SHA256, e.bundle.Info.Revision)
	}
	got, err := e.Decide(ctx, rec.Kind, rec.Input)
	if err != nil {
		return got, err
	}
	var diffs []string
	if got.ID != rec.ID {
		diffs = append(diffs, fmt.Sprintf("decision id %s, recorded %s", got.ID, rec.ID))
	}
	if got.Allow != rec.Allow {
		diffs = append(diffs, fmt.Sprintf("allow %v, recorded %v", got.Allow, rec.Allow))
	}
	if fmt.Sprint(got.Deny) != fmt.Sprint(rec.Deny) {
		diffs = append(diffs, fmt.Sprintf("deny %q, recorded %q", got.Deny, rec.Deny))
	}
	if !jsonEqual(got.Result, rec.Result) {
		diffs = append(diffs, fmt.Sprintf("result %s, recorded %s", got.Result, rec.Result))
	}
	if len(diffs) > 0 {
		return got, fmt.Errorf("%w: decision %s: %v", ErrReplayMismatch, rec.ID, diffs)
	}
	return got, nil
}

func jsonEqual(a, b json.RawMessage) bool {
	ca, err1 := encodeCanonical(json.RawMessage(a))
	cb, err2 := encodeCanonical(json.RawMessage(b))
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}
