package policies

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/pawl-dev/pawl/build/tooltest"
	"golang.org/x/mod/modfile"
)

// tarball packs the bundle directory dir as docs/policy-guide.md's recipe
// does (`tar czf b.tgz .manifest .signatures.json data.json pawl`): paths
// relative to the bundle's root, without a "./" prefix.
func tarball(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	var names []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return err
	})
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// opaVerify reads a bundle tarball as `opa build -b B.tgz --verification-key
// PUB --verification-key-id ID --signing-alg EdDSA` does: OPA's bundle
// reader with a verification config for the one key.
func opaVerify(tgz, pub []byte, keyID string) error {
	vc := bundle.NewVerificationConfig(map[string]*bundle.KeyConfig{keyID: {Key: string(pub), Algorithm: SigningAlgorithm}}, keyID, "", nil)
	_, err := bundle.NewCustomReader(bundle.NewTarballLoader(bytes.NewReader(tgz))).WithBundleVerificationConfig(vc).Read()
	return err
}

// TestOPAVerifiesPawlSignatures: OPA verifies a bundle pawl signed (EdDSA)
// when given as a tarball, and refuses it when a file changed or the key is
// another: the recipe of docs/policy-guide.md, through the OPA module pawl
// pins. TestOPACLIVerifiesPawlSignatures runs the same through the `opa`
// binary when one is given.
func TestOPAVerifiesPawlSignatures(t *testing.T) {
	dir := copyDefault(t)
	priv, pub, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := sign(t, dir, priv, "qa-2026"); err != nil {
		t.Fatal(err)
	}
	good := tarball(t, dir)
	if err := opaVerify(good, pub, "qa-2026"); err != nil {
		t.Fatalf("OPA refused a bundle pawl signed: %v", err)
	}
	_, other, _ := GenerateSigningKey()
	if err := opaVerify(good, other, "qa-2026"); err == nil || !strings.Contains(err.Error(), "invalid EdDSA signature") {
		t.Errorf("another key: got %v, want invalid EdDSA signature", err)
	}
	f := filepath.Join(dir, "pawl", "egress.rego")
	b, _ := os.ReadFile(f)
	os.WriteFile(f, append(b, "# changed after signing\n"...), 0o644)
	if err := opaVerify(tarball(t, dir), pub, "qa-2026"); err == nil || !strings.Contains(err.Error(), "pawl/egress.rego: digest mismatch") {
		t.Errorf("a file changed after signing: got %v, want a digest mismatch of pawl/egress.rego", err)
	}
}

// TestOPACLIVerifiesPawlSignatures runs the recipe with a real `opa`
// binary at the version go.mod pins: the one build/setup-tools.sh installs
// (go install, minutes the first time, nothing after), or the one PAWL_OPA
// names.
func TestOPACLIVerifiesPawlSignatures(t *testing.T) {
	opa := os.Getenv("PAWL_OPA")
	if opa == "" {
		tooltest.Need(t, "opa")
		opa = "opa"
	}
	out, err := exec.Command(opa, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", opa, err, out)
	}
	pinned := ""
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mf.Require {
		if r.Mod.Path == "github.com/open-policy-agent/opa" {
			pinned = strings.TrimPrefix(r.Mod.Version, "v")
		}
	}
	if pinned == "" {
		t.Fatal("go.mod requires no github.com/open-policy-agent/opa")
	}
	if !strings.Contains(string(out), "Version: "+pinned+"\n") {
		t.Fatalf("%s is not the OPA go.mod pins (%s): it says\n%s\nrun build/setup-tools.sh with no other opa on the PATH, or name the right one in PAWL_OPA", opa, pinned, out)
	}
	dir := copyDefault(t)
	priv, pub, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := sign(t, dir, priv, "qa-2026"); err != nil {
		t.Fatal(err)
	}
	w := t.TempDir()
	os.WriteFile(filepath.Join(w, "b.tgz"), tarball(t, dir), 0o644)
	os.WriteFile(filepath.Join(w, "qa.pub"), pub, 0o644)
	_, other, _ := GenerateSigningKey()
	os.WriteFile(filepath.Join(w, "other.pub"), other, 0o644)
	build := func(key string) (string, error) {
		out, err := exec.Command(opa, "build", "-b", filepath.Join(w, "b.tgz"), "--verification-key", filepath.Join(w, key),
			"--verification-key-id", "qa-2026", "--signing-alg", "EdDSA", "-o", filepath.Join(w, "out.tgz")).CombinedOutput()
		return string(out), err
	}
	if out, err := build("qa.pub"); err != nil {
		t.Fatalf("opa build refused a bundle pawl signed: %v\n%s", err, out)
	}
	if out, err := build("other.pub"); err == nil || !strings.Contains(out, "invalid EdDSA signature") {
		t.Errorf("opa build with another key: %v\n%s", err, out)
	}
}
