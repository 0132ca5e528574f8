package policies

import (
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyDefault writes the default bundle to a fresh directory.
func copyDefault(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	fsys := DefaultFS()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// sign signs the bundle in dir and writes its signatures file.
func sign(t testing.TB, dir string, priv []byte, keyID string) error {
	t.Helper()
	b, err := SignBundle(dir, priv, keyID)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, SignaturesFile), b, 0o644)
}

func TestDefaultBundleRegoTestsPass(t *testing.T) {
	rep, err := Test(copyDefault(t), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	if !rep.OK() {
		t.Fatalf("Rego tests failed:\n%s", rep)
	}
	if rep.Passed < 20 {
		t.Fatalf("only %d Rego tests ran", rep.Passed)
	}
	if rep.Files == nil || rep.Coverage == 0 {
		t.Fatalf("coverage not measured: %+v", rep)
	}
}

func TestSignVerifyTamper(t *testing.T) {
	dir := copyDefault(t)
	priv, pub, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	// Unsigned + RequireSignature: refused.
	if _, err := VerifyBundle(dir, pub, ""); err == nil || !strings.Contains(err.Error(), "unsigned") {
		t.Fatalf("unsigned bundle: %v", err)
	}
	if err := sign(t, dir, priv, ""); err != nil {
		t.Fatal(err)
	}
	info, err := VerifyBundle(dir, pub, "")
	if err != nil {
		t.Fatal(err)
	}
	if !info.Signed || !info.SignatureVerified || info.Revision != "pawl-default-1" || info.KeyID != DefaultKeyID {
		t.Fatalf("info %+v", info)
	}
	t.Logf("signed bundle: %+v", info)
}

// TestGuideExample runs the rule and test of docs/policy-guide.md ("nothing
// leaves on weekends") through Test, so the guide stays true.
func TestGuideExample(t *testing.T) {
	dir := copyDefault(t)
	rule := `package pawl.egress

deny contains msg if {
	day := time.weekday(time.parse_rfc3339_ns(input.time))
	day in {"Saturday", "Sunday"}
	msg := sprintf("egress.weekend: exports are not allowed on %s (input.time %s)", [day, input.time])
}
`
	test := `package pawl.egress_weekend_test

import data.pawl.egress

destinations := {"partner": {"url": "https://partner.example/inbox/", "classifications": ["internal"]}}

index := {"https://partner.example/inbox/": ["partner"]}

saturday := {
	"time": "2025-03-08T10:00:00Z",
	"principal": {"id": "alice"},
	"purpose": "report",
	"resource": {"batch_id": "b1", "state": "committed", "classification": "internal", "signatures": []},
	"destination": {
		"url": "https://partner.example/inbox/b1.jsonl",
		"canonical": "https://partner.example/inbox/b1.jsonl",
		"candidates": ["https://partner.example/", "https://partner.example/inbox/", "https://partner.example/inbox/b1.jsonl"],
	},
}

test_no_weekend_exports if {
	d := egress.decision with input as saturday
		with data.egress.destinations as destinations
		with data.pawl_derived.egress.by_prefix as index
	d.allow == false
	"egress.weekend: exports are not allowed on Saturday (input.time 2025-03-08T10:00:00Z)" in d.deny
}

test_weekdays_still_allowed if {
	d := egress.decision with input as json.patch(saturday, [{"op": "replace", "path": "/time", "value": "2025-03-10T10:00:00Z"}])
		with data.egress.destinations as destinations
		with data.pawl_derived.egress.by_prefix as index
	d.allow == true
}
`
	for name, body := range map[string]string{"pawl/weekend.rego": rule, "pawl/weekend_test.rego": test} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Test(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("guide example fails:\n%s", rep)
	}
	// And a failing test is reported as such, not as an error.
	bad := strings.Replace(test, `d.allow == true`, `d.allow == false`, 1)
	os.WriteFile(filepath.Join(dir, "pawl/weekend_test.rego"), []byte(bad), 0o644)
	rep, err = Test(dir, false)
	if err != nil || rep.OK() || rep.Failed != 1 {
		t.Fatalf("failing test not reported: %v\n%s", err, rep)
	}
	t.Log("\n" + rep.String())
}

// TestSigningKeyID: the key id a bundle is signed under is recorded in its
// signature's JWS header ("kid"); DefaultKeyID when none is given.
func TestSigningKeyID(t *testing.T) {
	priv, pub, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	for signAs, want := range map[string]string{"compliance-2026": "compliance-2026", "": DefaultKeyID} {
		dir := copyDefault(t)
		b, err := SignBundle(dir, priv, signAs)
		if err != nil {
			t.Fatal(err)
		}
		var sigs struct{ Signatures []string }
		if err := json.Unmarshal(b, &sigs); err != nil || len(sigs.Signatures) != 1 {
			t.Fatalf("signatures file %s: %v", b, err)
		}
		hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(sigs.Signatures[0], ".")[0])
		var h struct{ Kid string }
		if err != nil || json.Unmarshal(hdr, &h) != nil || h.Kid != want {
			t.Fatalf("signed as %q: JWS header %s, want kid %q", signAs, hdr, want)
		}
		if err := os.WriteFile(filepath.Join(dir, SignaturesFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if info, err := VerifyBundle(dir, pub, want); err != nil || info.KeyID != want {
			t.Fatalf("signed as %q, verified as %q: %+v %v", signAs, want, info, err)
		}
	}
}
