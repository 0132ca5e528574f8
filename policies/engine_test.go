package policies

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/build/tooltest"
)

const testData = `{
  "egress": {
    "destinations": {
      "partner": {"url": "https://Partner.Example:443/inbox/", "classifications": ["public", "internal"], "requires_approval": false},
      "partner-restricted": {"url": "https://partner.example/inbox/restricted/", "classifications": ["internal", "confidential"], "requires_approval": true},
      "outbox": {"url": "file:///srv/outbox/", "classifications": ["public", "internal"]}
    }
  },
  "plugins": {
    "approved": {
      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": {"name": "range-check", "version": "1.2.0", "capabilities": ["log"]}
    }
  },
  "classification": {
    "levels": ["public", "internal", "confidential", "phi"],
    "fields": {"confidential": ["email"], "phi": ["mrn", "/patient/dob"]}
  }
}`

// testBundle is the default bundle with testData as its data.json.
func testBundle(t testing.TB) string {
	t.Helper()
	dir := copyDefault(t)
	if err := os.WriteFile(filepath.Join(dir, "data.json"), []byte(testData), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testEngine(t testing.TB, dir string) *Engine {
	t.Helper()
	e, err := Open(context.Background(), dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func egressInput(url string) EgressInput {
	return EgressInput{
		Time:      "2025-03-04T05:06:07+01:00",
		Principal: Principal{ID: "alice"},
		Purpose:   "study-report",
		Resource: Resource{
			BatchID:        "b1",
			State:          "committed",
			Classification: "internal",
			Hashes:         map[string]string{"verified": "sha256:aa"},
		},
		Destination: Destination{URL: url},
	}
}

func TestEgressBypassAttempts(t *testing.T) {
	e := testEngine(t, testBundle(t))
	ctx := context.Background()
	approved := []ESignature{{Signer: "qa-lead", Meaning: "approved", Time: "2025-03-04T04:00:00Z", BatchID: "b1"}}
	cases := []struct {
		name   string
		mutate func(*EgressInput)
		allow  bool
		reason string // a deny reason must contain this
	}{
		{"whitelisted prefix", func(in *EgressInput) {}, true, ""},
		{"host and scheme case-folded", func(in *EgressInput) { in.Destination.URL = "HTTPS://PARTNER.EXAMPLE/inbox/b1.jsonl" }, true, ""},
		{"default port", func(in *EgressInput) { in.Destination.URL = "https://partner.example:443/inbox/b1.jsonl" }, true, ""},
		{"percent-encoded unreserved path", func(in *EgressInput) { in.Destination.URL = "https://partner.example/%69nbox/b1.jsonl" }, true, ""},
		{"file outbox", func(in *EgressInput) { in.Destination.URL = "file:///srv/outbox/b1.jsonl" }, true, ""},
		{"dot-dot out of the outbox", func(in *EgressInput) { in.Destination.URL = "file:///srv/outbox/../secret/" }, false, "egress.url_refused: dot segment"},
		{"encoded dot-dot", func(in *EgressInput) { in.Destination.URL = "file:///srv/outbox/%2e%2e/secret/x" }, false, "egress.url_refused: dot segment"},
		{"userinfo", func(in *EgressInput) { in.Destination.URL = "https://partner.example@evil.example/inbox/b1.jsonl" }, false, "egress.url_refused: userinfo"},
		{"IDN homograph of the host", func(in *EgressInput) { in.Destination.URL = "https://pаrtner.example/inbox/b1.jsonl" }, false, "egress.url_refused: non-ASCII"},
		{"punycode homograph", func(in *EgressInput) { in.Destination.URL = "https://xn--prtner-2we.example/inbox/b1.jsonl" }, false, "egress.not_whitelisted"},
		{"encoded slash", func(in *EgressInput) { in.Destination.URL = "https://partner.example/inbox%2F..%2Fadmin" }, false, "egress.url_refused: encoded slash"},
		{"case-folded path", func(in *EgressInput) { in.Destination.URL = "https://partner.example/INBOX/b1.jsonl" }, false, "egress.not_whitelisted"},
		{"sibling with a common prefix", func(in *EgressInput) { in.Destination.URL = "https://partner.example/inbox-evil/b1.jsonl" }, false, "egress.not_whitelisted"},
		{"other port", func(in *EgressInput) { in.Destination.URL = "https://partner.example:8443/inbox/b1.jsonl" }, false, "egress.not_whitelisted"},
		{"plain http", func(in *EgressInput) { in.Destination.URL = "http://partner.example/inbox/b1.jsonl" }, false, "egress.url_refused: scheme"},
		{"batch not committed", func(in *EgressInput) { in.Resource.State = "pending" }, false, `egress.not_committed: batch "b1" is in state "pending"`},
		{"classification not allowed", func(in *EgressInput) { in.Resource.Classification = "phi" }, false, `egress.classification: destination "partner" (https://Partner.Example:443/inbox/) does not accept classification "phi"`},
		{"approval required, missing", func(in *EgressInput) { in.Destination.URL = "https://partner.example/inbox/restricted/b1.jsonl" }, false, `egress.approval_required: destination "partner-restricted"`},
		{"approval present", func(in *EgressInput) {
			in.Destination.URL = "https://partner.example/inbox/restricted/b1.jsonl"
			in.Resource.Signatures = approved
		}, true, ""},
		{"approval for another batch", func(in *EgressInput) {
			in.Destination.URL = "https://partner.example/inbox/restricted/b1.jsonl"
			in.Resource.Signatures = []ESignature{{Signer: "qa-lead", Meaning: "approved", BatchID: "b0"}}
		}, false, "egress.approval_required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := egressInput("https://partner.example/inbox/b1.jsonl")
			c.mutate(&in)
			d, err := e.Decide(ctx, KindEgress, in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != c.allow {
				t.Fatalf("allow = %v, want %v; deny %q", d.Allow, c.allow, d.Deny)
			}
			if c.allow && len(d.Deny) != 0 {
				t.Fatalf("allowed with reasons %q", d.Deny)
			}
			if !c.allow {
				found := false
				for _, r := range d.Deny {
					found = found || strings.Contains(r, c.reason)
				}
				if !found {
					t.Fatalf("deny %q has no reason containing %q", d.Deny, c.reason)
				}
			}
			t.Logf("%s → allow=%v deny=%q", in.Destination.URL, d.Allow, d.Deny)
		})
	}
}

func TestDecisionRecordAndReplay(t *testing.T) {
	dir := testBundle(t)
	e := testEngine(t, dir)
	ctx := context.Background()
	d, err := e.Decide(ctx, KindEgress, egressInput("https://partner.example/inbox/b1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || d.ID == "" || d.Bundle.SHA256 == "" || d.Bundle.Revision != "pawl-default-1" || d.OPAVersion == "" {
		t.Fatalf("decision %+v", d)
	}
	if d.Time != "2025-03-04T04:06:07Z" {
		t.Fatalf("time not normalized to UTC: %q", d.Time)
	}
	var res struct {
		Prefix       string   `json:"prefix"`
		Destinations []string `json:"destinations"`
	}
	if err := json.Unmarshal(d.Result, &res); err != nil || res.Prefix != "https://partner.example/inbox/" || len(res.Destinations) != 1 || res.Destinations[0] != "partner" {
		t.Fatalf("result %s (%v)", d.Result, err)
	}

	// Serialize as it goes on record, read it back, re-evaluate — with a
	// fresh engine, as a replay years later would.
	rec, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("on record: %s", rec)
	var back Decision
	if err := json.Unmarshal(rec, &back); err != nil {
		t.Fatal(err)
	}
	again, err := testEngine(t, dir).Reevaluate(ctx, back)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != d.ID || again.Allow != d.Allow || string(again.Input) != string(d.Input) {
		t.Fatalf("replay differs: %+v vs %+v", again, d)
	}

	// A denial replays as well.
	deny, err := e.Decide(ctx, KindEgress, egressInput("https://partner.example@evil.example/"))
	if err != nil || deny.Allow {
		t.Fatalf("%+v %v", deny, err)
	}
	rec, _ = json.Marshal(deny)
	back = Decision{}
	_ = json.Unmarshal(rec, &back)
	if _, err := e.Reevaluate(ctx, back); err != nil {
		t.Fatal(err)
	}

	// A doctored record is caught.
	forged := back
	forged.Allow = true
	if _, err := e.Reevaluate(ctx, forged); !errors.Is(err, ErrReplayMismatch) {
		t.Fatalf("forged record: %v", err)
	}
	// Another bundle: refused, not compared.
	if err := os.WriteFile(filepath.Join(dir, "NOTES.md"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := testEngine(t, dir).Reevaluate(ctx, back); err == nil || !strings.Contains(err.Error(), "was made with bundle") {
		t.Fatalf("other bundle: %v", err)
	}

	// Same question, same id; another question, another id.
	d2, _ := e.Decide(ctx, KindEgress, egressInput("https://partner.example/inbox/b1.jsonl"))
	d3, _ := e.Decide(ctx, KindEgress, egressInput("https://partner.example/inbox/b2.jsonl"))
	if d2.ID != d.ID || d3.ID == d.ID {
		t.Fatalf("ids: %s %s %s", d.ID, d2.ID, d3.ID)
	}
}

func TestPluginAndClassificationDecisions(t *testing.T) {
	e := testEngine(t, testBundle(t))
	ctx := context.Background()
	hash := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	in := PluginInput{
		Time:      "2025-03-04T05:06:07Z",
		Principal: Principal{ID: "pawl-engine"},
		Plugin:    PluginRef{Name: "range-check", Version: "1.2.0", Hash: hash, Capabilities: []string{"log"}},
	}
	d, err := e.Decide(ctx, KindPlugin, in)
	if err != nil || !d.Allow {
		t.Fatalf("%+v %v", d, err)
	}
	in.Plugin.Capabilities = []string{"log", "clock"}
	d, err = e.Decide(ctx, KindPlugin, in)
	if err != nil || d.Allow || len(d.Deny) != 1 || !strings.Contains(d.Deny[0], `requests capability "clock"`) {
		t.Fatalf("%+v %v", d, err)
	}
	in.Plugin.Hash = "sha256:" + strings.Repeat("f", 64)
	d, _ = e.Decide(ctx, KindPlugin, in)
	if d.Allow || !strings.Contains(strings.Join(d.Deny, "\n"), "plugins.not_approved") {
		t.Fatalf("%+v", d)
	}

	cin := ClassificationInput{
		Time:      "2025-03-04T05:06:07Z",
		Principal: Principal{ID: "alice"},
		Dataset:   Dataset{Job: "trial", Classification: "confidential", Fields: []string{"/patient/dob", "/contact/email"}},
	}
	d, err = e.Decide(ctx, KindClassification, cin)
	if err != nil || d.Allow {
		t.Fatalf("%+v %v", d, err)
	}
	if want := `classification.under_declared: field "/patient/dob" matches phi rule "/patient/dob", but the job declares "confidential"`; d.Deny[0] != want {
		t.Fatalf("deny %q", d.Deny)
	}
	cin.Dataset.Classification = "phi"
	if d, _ = e.Decide(ctx, KindClassification, cin); !d.Allow {
		t.Fatalf("%+v", d)
	}
}

func TestDecideRefusesMalformedInput(t *testing.T) {
	e := testEngine(t, testBundle(t))
	ctx := context.Background()
	in := egressInput("https://partner.example/inbox/b1.jsonl")
	in.Time = ""
	var ie *InputError
	if d, err := e.Decide(ctx, KindEgress, in); !errors.As(err, &ie) || d.Allow {
		t.Fatalf("missing time: %+v %v", d, err)
	}
	in.Time = "yesterday"
	if _, err := e.Decide(ctx, KindEgress, in); !errors.As(err, &ie) {
		t.Fatalf("bad time: %v", err)
	}
	raw := json.RawMessage(`{"time":"2025-01-01T00:00:00Z","principal":{"id":"a"},"resource":{"batch_id":"b","state":"committed","classification":"public","signatures":[]},"destination":{"url":"https://partner.example/inbox/x"},"allow":true}`)
	if _, err := e.Decide(ctx, KindEgress, raw); !errors.As(err, &ie) || !strings.Contains(err.Error(), "allow") {
		t.Fatalf("unknown field: %v", err)
	}
	if d, err := e.Decide(ctx, Kind("exfiltrate"), raw); err == nil || d.Allow {
		t.Fatalf("unknown kind: %v", err)
	}
}

// TestFailClosed: a policy that errors, returns nothing, or returns allow
// without a deny set never allows.
func TestFailClosed(t *testing.T) {
	ctx := context.Background()
	cases := map[string]string{
		"erroring deny rule": `package pawl.egress

decision := {"allow": true, "deny": deny}

deny contains x if {
	x := to_number("not a number")
}
`,
		"allow without deny": `package pawl.egress

decision := {"allow": true}
`,
		"allow is a string": `package pawl.egress

decision := {"allow": "true", "deny": set()}
`,
		"allow with reasons": `package pawl.egress

decision := {"allow": true, "deny": {"egress.x: no"}}
`,
		"no decision rule": `package pawl.egress

allow := true
`,
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			dir := writeBundle(t, map[string]string{"pawl/egress.rego": mod})
			e := testEngine(t, dir)
			d, err := e.Decide(ctx, KindEgress, egressInput("https://partner.example/inbox/b1.jsonl"))
			if d.Allow {
				t.Fatalf("allowed: %+v", d)
			}
			if len(d.Deny) == 0 {
				t.Fatal("denied without a reason")
			}
			t.Logf("err=%v deny=%q", err, d.Deny)
		})
	}
}

// TestMalformedDecisionsSayWhatIsWrong: a decision that is not
// {"allow": bool, "deny": set of strings} is a deny whose reason quotes
// what the policy returned.
func TestMalformedDecisionsSayWhatIsWrong(t *testing.T) {
	ctx := context.Background()
	q := "data.pawl.egress.decision: "
	for rule, want := range map[string][]string{
		`decision := 42`: {q + "decision is 42, not an object with allow and deny"},
		`decision := {"allow": "true", "deny": set()}`:   {q + `decision "allow" is "true", not true or false`},
		`decision := {"deny": set()}`:                    {q + `decision "allow" is undefined, not true or false`},
		`decision := {"allow": true}`:                    {q + `decision has no "deny" set`},
		`decision := {"allow": false, "deny": "no"}`:     {q + `decision "deny" is "no", not a set of strings`},
		`decision := {"allow": false, "deny": {1, "x"}}`: {"x", q + "deny reason 1 is not a string"},
		`decision := {"allow": true, "deny": {"x: no"}}`: {"x: no", q + "allow was true alongside 1 deny reason(s); denied"},
		`decision := {"allow": [true], "deny": set()}`:   {q + `decision "allow" is [true], not true or false`},
		`decision := {"allow": {"a": 1}, "deny": set()}`: {q + `decision "allow" is {"a":1}, not true or false`},
	} {
		t.Run(rule, func(t *testing.T) {
			dir := writeBundle(t, map[string]string{"pawl/egress.rego": "package pawl.egress\n\n" + rule + "\n"})
			d, err := testEngine(t, dir).Decide(ctx, KindEgress, egressInput("https://partner.example/inbox/b1.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow || !slices.Equal(d.Deny, want) {
				t.Fatalf("allow %v deny %q, want a deny with %q", d.Allow, d.Deny, want)
			}
		})
	}
}

// TestOnlyAllowTrueAllows: the absence of deny reasons is not permission. A
// policy that answers allow false with an empty deny set denies (with no
// reason to give); only allow true with no reasons allows.
func TestOnlyAllowTrueAllows(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		allow string
		want  bool
	}{{"false", false}, {"true", true}} {
		t.Run("allow "+c.allow, func(t *testing.T) {
			dir := writeBundle(t, map[string]string{"pawl/egress.rego": "package pawl.egress\n\ndecision := {\"allow\": " + c.allow + ", \"deny\": set()}\n"})
			d, err := testEngine(t, dir).Decide(ctx, KindEgress, egressInput("https://partner.example/inbox/b1.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != c.want || len(d.Deny) != 0 {
				t.Fatalf("allow %v deny %q, want allow %v and no reasons", d.Allow, d.Deny, c.want)
			}
		})
	}
}

func TestSignedBundleTampering(t *testing.T) {
	priv, pub, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	signed := func() string {
		dir := testBundle(t)
		if err := sign(t, dir, priv, "compliance-2025"); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	load := func(dir string) error {
		_, err := LoadBundle(dir, LoadOptions{PublicKeyPEM: pub, KeyID: "compliance-2025", RequireSignature: true})
		return err
	}
	if err := load(signed()); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		tamper func(dir string) error
		want   string
	}{
		"rego edited": {func(dir string) error {
			p := filepath.Join(dir, "pawl", "egress.rego")
			b, _ := os.ReadFile(p)
			return os.WriteFile(p, []byte(strings.Replace(string(b), `count(permitted) > 0`, `true`, 1)), 0o644)
		}, "pawl/egress.rego: digest mismatch"},
		"whitelist edited": {func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "data.json"), []byte(strings.Replace(testData, `"public", "internal"]`, `"public", "internal", "phi"]`, 1)), 0o644)
		}, "data.json: digest mismatch"},
		"file added": {func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "pawl", "backdoor.rego"), []byte("package pawl.backdoor\n\nx := 1\n"), 0o644)
		}, "pawl/backdoor.rego not included in bundle signature"},
		"file removed": {func(dir string) error {
			return os.Remove(filepath.Join(dir, "pawl", "plugins_test.rego"))
		}, "pawl/plugins_test.rego"},
		"signature removed": {func(dir string) error {
			return os.Remove(filepath.Join(dir, signaturesFile))
		}, "unsigned"},
		"signed by another key": {func(dir string) error {
			other, _, _ := GenerateSigningKey()
			return sign(t, dir, other, "compliance-2025")
		}, "failed to verify"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := signed()
			if err := c.tamper(dir); err != nil {
				t.Fatal(err)
			}
			err := load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			t.Log(err)
		})
	}
	// Require a signature without a key: refused.
	if _, err := LoadBundle(signed(), LoadOptions{RequireSignature: true}); err == nil {
		t.Fatal("RequireSignature without a key loaded")
	}
	// Key given, signature optional: a signed bundle is verified anyway.
	dir := signed()
	os.WriteFile(filepath.Join(dir, "extra.txt"), []byte("x"), 0o644)
	if _, err := LoadBundle(dir, LoadOptions{PublicKeyPEM: pub, KeyID: "compliance-2025"}); err == nil {
		t.Fatal("optional signature: a tampered signed bundle loaded")
	}
}

// TestDecisionsNameTheVerifyingKey: a bundle verified with a key carries
// that key's fingerprint (and id) in its BundleInfo, so every decision on
// record says which key vouched for the bundle; a bundle signed by another
// key and verified with that other key is visible as such. Unverified
// bundles carry none.
func TestDecisionsNameTheVerifyingKey(t *testing.T) {
	ctx := context.Background()
	priv, pub, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	otherPriv, otherPub, _ := GenerateSigningKey()
	fp, err := KeyFingerprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pub)
	sum := sha256.Sum256(blk.Bytes)
	if fp != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Fatalf("fingerprint %s is not the sha256 of the key's DER", fp)
	}
	// The same key in another PEM spelling has the same fingerprint.
	if fp2, _ := KeyFingerprint(append([]byte("a comment before the block\n"), pub...)); fp2 != fp {
		t.Fatalf("fingerprint depends on the PEM's text: %s, %s", fp2, fp)
	}
	if _, err := KeyFingerprint(priv); err == nil || !strings.Contains(err.Error(), "PUBLIC KEY") {
		t.Fatalf("a private key as the public key: %v", err)
	}
	if otherFP, _ := KeyFingerprint(otherPub); otherFP == fp {
		t.Fatal("two keys, one fingerprint")
	}

	dir := testBundle(t)
	if err := sign(t, dir, priv, ""); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundle(dir, LoadOptions{PublicKeyPEM: pub, RequireSignature: true})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Info.SignatureVerified || b.Info.KeyFingerprint != fp || b.Info.KeyID != DefaultKeyID {
		t.Fatalf("verified bundle: %+v", b.Info)
	}
	e, err := NewEngine(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := e.Decide(ctx, KindEgress, egressInput("https://partner.example/inbox/"))
	if d.Bundle.KeyFingerprint != fp {
		t.Fatalf("decision's bundle: %+v", d.Bundle)
	}

	// Signed by another key and verified with it: it loads, and says so.
	if err := sign(t, dir, otherPriv, ""); err != nil {
		t.Fatal(err)
	}
	b, err = LoadBundle(dir, LoadOptions{PublicKeyPEM: otherPub, RequireSignature: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.Info.KeyFingerprint == fp || b.Info.KeyFingerprint == "" {
		t.Fatalf("a bundle verified by another key does not show it: %+v", b.Info)
	}
	// Not verified: no fingerprint.
	if b, err = LoadBundle(dir, LoadOptions{}); err != nil || b.Info.SignatureVerified || b.Info.KeyFingerprint != "" || b.Info.KeyID != "" {
		t.Fatalf("unverified bundle: %+v %v", b.Info, err)
	}
}

func TestBundleDigestMatchesCoreutils(t *testing.T) {
	dir := testBundle(t)
	d, err := BundleDigest(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := testEngine(t, dir)
	if e.Bundle().SHA256 != d {
		t.Fatalf("engine %s, BundleDigest %s", e.Bundle().SHA256, d)
	}
	tooltest.Need(t, "sha256sum")
	cmd := exec.Command("sh", "-c", `find . -type f ! -name .signatures.json | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum`)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("find | sort | xargs sha256sum | sha256sum: %v", err)
	}
	if got := "sha256:" + strings.Fields(string(out))[0]; got != d {
		t.Fatalf("coreutils %s, BundleDigest %s", got, d)
	}
}

func TestBundleRefusesBadWhitelist(t *testing.T) {
	cases := map[string]string{
		`{"egress": {"destinations": {"x": {"url": "http://a.example/", "classifications": ["public"]}}}}`:                             `egress.destinations["x"].url`,
		`{"egress": {"destinations": {"x": {"url": "https://a.example/", "classifications": "public"}}}}`:                              "classifications must be a list",
		`{"egress": {"destinations": {"x": {"url": "https://a.example/", "classifications": ["public"], "requires_approval": "no"}}}}`: "requires_approval must be true or false",
		`{"egress": {"destinations": {"x": {"url": "https://a.example/", "classifications": ["public"], "notice_records": "yes"}}}}`:   "notice_records must be true or false",
		`{"egress": {"destinations": ["https://a.example/"]}}`:                                                                         "keyed by destination id",
		`{"pawl_derived": {}}`: "reserved",
	}
	for data, want := range cases {
		dir := writeBundle(t, map[string]string{"data.json": data})
		if _, err := LoadBundle(dir, LoadOptions{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", data, err, want)
		}
	}
	dir := writeBundle(t, map[string]string{".manifest": `{}`})
	if _, err := LoadBundle(dir, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "revision") {
		t.Errorf("no revision: %v", err)
	}
	dir = writeBundle(t, map[string]string{"p.rego": "package p\n\nx := 1\n"})
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBundle(dir, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "link.json: not a regular file") {
		t.Errorf("symlink: %v", err)
	}
}

func TestEvalExplain(t *testing.T) {
	dir := testBundle(t)
	in, err := PrepareInput(KindEgress, func() EgressInput {
		x := egressInput("https://partner.example/inbox/b1.jsonl")
		x.Resource.State = "pending"
		return x
	}())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Eval(dir, "data.pawl.egress.decision", json.RawMessage(in), true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Defined || !strings.Contains(string(res.Result), `"allow":false`) {
		t.Fatalf("result %s", res.Result)
	}
	if !strings.Contains(res.Explain, `resource.state = "committed"`) && !strings.Contains(res.Explain, "committed") {
		t.Fatalf("explain does not show the failed check:\n%s", res.Explain)
	}
	t.Logf("explain (%d bytes):\n%s", len(res.Explain), res.Explain)
	if len(res.Trace) <= len(res.Explain) {
		t.Fatal("full trace missing")
	}
}

// TestDecisionIDCoversTheRecordedInput: the decision id is hashed over the
// input exactly as the trail stores it — canonical JSON, in which U+2028,
// U+2029 and HTML characters are raw — so that anyone can recompute it from
// the record.
func TestDecisionIDCoversTheRecordedInput(t *testing.T) {
	e := testEngine(t, testBundle(t))
	in := egressInput("https://partner.example/inbox/<b1>&.jsonl")
	in.Purpose = "line\u2028sep\u2029 <&>"
	d, err := e.Decide(context.Background(), KindEgress, in)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := canonjson.CanonicalizeObject(d.Input)
	if err != nil || !bytes.Equal(canon, d.Input) {
		t.Fatalf("the recorded input is not canonical (%v):\n%s\n%s", err, d.Input, canon)
	}
	if !bytes.Contains(d.Input, []byte("line\u2028sep\u2029 <&>")) {
		t.Fatalf("the purpose is not stored as written: %s", d.Input)
	}
	if d.ID != decisionID(KindEgress, e.Bundle().SHA256, canon) {
		t.Fatal("the decision id is not the hash of the recorded input")
	}
}

// TestInputValueMatchesJSON: the AST built directly from a typed input is
// the value the recorded JSON parses to, so a replay from the record
// evaluates exactly what was evaluated.
func TestInputValueMatchesJSON(t *testing.T) {
	full := egressInput("https://partner.example/inbox/b1.jsonl")
	full.Principal.Roles = []string{"exporter"}
	full.Resource.Signatures = []ESignature{{Signer: "s", Meaning: "approved", BatchID: "b1", Time: "t"}}
	inputs := map[Kind]any{
		KindEgress: full,
		KindPlugin: PluginInput{Time: "2025-01-01T00:00:00Z", Principal: Principal{ID: "e"}, Plugin: PluginRef{Name: "n", Hash: "h"},
			Resource: &Resource{BatchID: "b", Hashes: map[string]string{"a": "b", "c": "d"}}},
		KindClassification: &ClassificationInput{Time: "2025-01-01T00:00:00Z", Principal: Principal{ID: "a"}, Dataset: Dataset{Fields: []string{"/a"}}},
		KindAuthz: AuthzInput{Time: "2025-01-01T00:00:00Z", Action: "sign", Object: "batch:b",
			Principal: Caller{UID: 1001, User: "alice", Via: "unix"}, Operator: Acting{ID: "alice", Enrolled: true, UID: -1},
			Facts: AuthzFacts{Meaning: "approved", SignedMeanings: []string{"reviewed"}}},
	}
	for kind, in := range inputs {
		canon, _, typed, err := prepareInput(kind, in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ast.ValueFromReader(bytes.NewReader(canon))
		if err != nil {
			t.Fatal(err)
		}
		if got := inputValue(typed); got.Compare(want) != 0 {
			t.Errorf("%s:\n got %v\nwant %v", kind, got, want)
		}
	}
}

// TestCompiledOncePerBundle: a process compiles a bundle's files once. The
// same files loaded again, from another directory and with their signature
// checked, share the first engine's prepared queries and decide the same;
// a bundle that differs in data.json alone is compiled afresh and decides
// by its own data; a bundle with a forbidden builtin in a test module is
// refused on every load, not only the first; and only the last
// keepCompiled bundles are kept.
func TestCompiledOncePerBundle(t *testing.T) {
	ctx := context.Background()
	same := func(a, b *Engine) bool {
		return reflect.ValueOf(a.queries).UnsafePointer() == reflect.ValueOf(b.queries).UnsafePointer()
	}
	partner := egressInput("https://partner.example/inbox/b1.jsonl")
	decide := func(e *Engine) Decision {
		t.Helper()
		d, err := e.Decide(ctx, KindEgress, partner)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	withData := func(data string) string {
		dir := copyDefault(t)
		if err := os.WriteFile(filepath.Join(dir, "data.json"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	first := testEngine(t, testBundle(t))
	priv, pub, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	signedDir := testBundle(t)
	if err := sign(t, signedDir, priv, "k1"); err != nil {
		t.Fatal(err)
	}
	signed, err := Open(ctx, signedDir, LoadOptions{PublicKeyPEM: pub, KeyID: "k1", RequireSignature: true})
	if err != nil {
		t.Fatal(err)
	}
	if !same(first, signed) || first.Bundle().SHA256 != signed.Bundle().SHA256 {
		t.Fatal("the same bundle files were compiled twice")
	}
	if first.Bundle().SignatureVerified || !signed.Bundle().SignatureVerified || signed.Bundle().KeyID != "k1" {
		t.Fatalf("each engine keeps its own load's identity: %+v, %+v", first.Bundle(), signed.Bundle())
	}
	if a, b := decide(first), decide(signed); !a.Allow || !b.Allow {
		t.Fatalf("the whitelisted partner: %v %q, %v %q", a.Allow, a.Deny, b.Allow, b.Deny)
	}

	// One destination's URL changed: another bundle, its own decisions.
	moved := testEngine(t, withData(strings.Replace(testData, "https://Partner.Example:443/inbox/", "https://partner.example/elsewhere/", 1)))
	if same(first, moved) || moved.Bundle().SHA256 == first.Bundle().SHA256 {
		t.Fatal("a bundle with other data shares the first one's compilation")
	}
	if d := decide(moved); d.Allow || !slices.ContainsFunc(d.Deny, func(r string) bool { return strings.Contains(r, "egress.not_whitelisted") }) {
		t.Fatalf("the moved partner's old URL: allow=%v deny %q", d.Allow, d.Deny)
	}

	// A forbidden builtin in a test module: refused each time it is loaded.
	bad := testBundle(t)
	if err := os.WriteFile(filepath.Join(bad, "pawl", "clock_test.rego"), []byte("package pawl.clock_test\n\ntest_now if time.now_ns() > 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := LoadBundle(bad, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "time.now_ns") {
			t.Fatalf("load %d of a bundle whose test reads the clock: %v", i+1, err)
		}
	}

	// keepCompiled other bundles later, the first is compiled afresh.
	for i := range keepCompiled {
		testEngine(t, withData(strings.Replace(testData, "https://Partner.Example:443/inbox/", fmt.Sprintf("https://p%d.example/inbox/", i), 1)))
	}
	if again := testEngine(t, testBundle(t)); same(first, again) {
		t.Fatalf("%d bundles later the first one's compilation is still kept", keepCompiled)
	}
}
