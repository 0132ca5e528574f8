package policies

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	opaversion "github.com/open-policy-agent/opa/v1/version"
)

// memRecord is a CheckRecord in memory: a later process is this one with
// its compilations forgotten.
type memRecord struct{ facts map[string]bool }

func (r *memRecord) Passed(fact string) bool { return r.facts[fact] }
func (r *memRecord) Keep(fact string)        { r.facts[fact] = true }

// forgetCompilations makes this process a later one.
func forgetCompilations() {
	compiled.mu.Lock()
	compiled.checked, compiled.engines, compiled.parsed = nil, nil, nil
	compiled.mu.Unlock()
}

// TestCheckRecord: a bundle that passes its check is kept as a fact
// naming its digest, the OPA version and the capabilities; a refused one
// is not; a later process takes the record's word and does not compile
// the check again — proved by a bundle whose test module reads the clock,
// loaded once the record (wrongly) says it passed, which is why the
// project keeps the record under a MAC.
func TestCheckRecord(t *testing.T) {
	defer forgetCompilations()
	rec := &memRecord{facts: map[string]bool{}}

	bad := testBundle(t)
	if err := os.WriteFile(filepath.Join(bad, "pawl", "clock_test.rego"), []byte("package pawl.clock_test\n\ntest_now if time.now_ns() > 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	forgetCompilations()
	if _, err := LoadBundle(bad, LoadOptions{Checked: rec}); err == nil || !strings.Contains(err.Error(), "time.now_ns") {
		t.Fatalf("a bundle whose test reads the clock: %v", err)
	}
	if len(rec.facts) != 0 {
		t.Fatalf("a refused bundle was kept as checked: %v", rec.facts)
	}

	good := testBundle(t)
	forgetCompilations()
	b, err := LoadBundle(good, LoadOptions{Checked: rec})
	if err != nil {
		t.Fatal(err)
	}
	fact := CheckFact(b.Info.SHA256)
	if !rec.facts[fact] || len(rec.facts) != 1 {
		t.Fatalf("kept %v, want only %q", rec.facts, fact)
	}
	for _, want := range []string{b.Info.SHA256, "opa " + opaversion.Version, "time.now_ns", checkRules} {
		if !strings.Contains(fact, want) {
			t.Errorf("the fact %q does not name %q", fact, want)
		}
	}

	badDigest, err := BundleDigest(bad)
	if err != nil {
		t.Fatal(err)
	}
	rec.facts[CheckFact(badDigest)] = true
	forgetCompilations()
	if _, err := LoadBundle(bad, LoadOptions{Checked: rec}); err != nil {
		t.Fatalf("a bundle the record says passed was checked again: %v", err)
	}
	forgetCompilations()
	if _, err := LoadBundle(bad, LoadOptions{}); err == nil {
		t.Fatal("without the record, the bundle whose test reads the clock loads")
	}
}

// TestParsedOncePerBundle: the same bytes loaded twice without a key are
// parsed once (the second load shares the first one's modules); bytes
// that differ in their signatures file alone, or a load that verifies a
// signature, are parsed afresh.
func TestParsedOncePerBundle(t *testing.T) {
	defer forgetCompilations()
	forgetCompilations()
	shared := func(a, b *Bundle) bool {
		return reflect.ValueOf(a.modules).UnsafePointer() == reflect.ValueOf(b.modules).UnsafePointer()
	}
	load := func(dir string, opts LoadOptions) *Bundle {
		t.Helper()
		b, err := LoadBundle(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := load(testBundle(t), LoadOptions{})
	otherDir := testBundle(t)
	second := load(otherDir, LoadOptions{})
	if !shared(first, second) || second.Source() != otherDir || !reflect.DeepEqual(first.Info, second.Info) {
		t.Fatalf("the same bytes again: shared %v, source %s, info %+v / %+v", shared(first, second), second.Source(), first.Info, second.Info)
	}

	priv, pub, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	signedDir := testBundle(t)
	if err := sign(t, signedDir, priv, "k1"); err != nil {
		t.Fatal(err)
	}
	unverified := load(signedDir, LoadOptions{})
	if shared(first, unverified) || !unverified.Info.Signed {
		t.Fatalf("a bundle with a signatures file shares the unsigned one's reading (signed %v)", unverified.Info.Signed)
	}
	verified := load(signedDir, LoadOptions{PublicKeyPEM: pub, KeyID: "k1", RequireSignature: true})
	if shared(unverified, verified) || !verified.Info.SignatureVerified {
		t.Fatal("a load that verifies the signature shares an unverified reading")
	}
	// A signature that does not verify is refused, whatever was read before.
	if err := os.WriteFile(filepath.Join(signedDir, "data.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBundle(signedDir, LoadOptions{PublicKeyPEM: pub, KeyID: "k1", RequireSignature: true}); err == nil {
		t.Fatal("a tampered signed bundle loaded")
	}
}

// TestProductionOnlySkipsTests: a load for the decisions alone of a
// bundle known to have passed its check reads no test module, and decides
// as the full bundle does; one not known to have passed is read whole and
// checked; a later load that needs the tests (Test) reads them again.
func TestProductionOnlySkipsTests(t *testing.T) {
	defer forgetCompilations()
	forgetCompilations()
	dir := testBundle(t)
	rec := &memRecord{facts: map[string]bool{}}
	opts := LoadOptions{Checked: rec, ProductionOnly: true}
	first, err := LoadBundle(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.tests) == 0 || len(rec.facts) != 1 {
		t.Fatalf("not known to have passed: %d test modules read, %d facts kept; want them read and checked", len(first.tests), len(rec.facts))
	}
	forgetCompilations()
	prod, err := LoadBundle(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(prod.tests) != 0 || len(prod.modules) != len(first.modules)-len(first.tests) {
		t.Fatalf("known to have passed: %d test modules of %d read", len(prod.tests), len(prod.modules))
	}
	if !reflect.DeepEqual(prod.Info, first.Info) || !reflect.DeepEqual(prod.Files, first.Files) {
		t.Fatalf("the same bundle, another identity: %+v / %+v", prod.Info, first.Info)
	}
	e, err := NewEngine(t.Context(), prod)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := e.Decide(t.Context(), KindEgress, egressInput("https://partner.example/inbox/b1.jsonl")); err != nil || !d.Allow {
		t.Fatalf("the whitelisted partner: %v %q %v", d.Allow, d.Deny, err)
	}
	full, err := LoadBundle(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.tests) != len(first.tests) {
		t.Fatalf("a load for the tests after one without them: %d test modules, want %d", len(full.tests), len(first.tests))
	}
}
