package review

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/seal"
)

// FuzzPackageFiles: a package's SHA256SUMS, SHA256SUMS.sig and keys.json
// are untrusted bytes, and SHA256SUMS names the files the verifier reads.
// Whatever they hold, the checks never panic and never read outside the
// package; SHA256SUMS passes only when it lists exactly the package's
// files with their sha256; the signature only when it is the engine key's
// own line over those bytes; keys.json only when it is the history.
func FuzzPackageFiles(f *testing.F) {
	dir := f.TempDir()
	files := map[string][]byte{"a.txt": []byte("a\n"), "sub/b.txt": []byte("b\n")}
	var sums bytes.Buffer
	names := []string{"a.txt", "sub/b.txt"}
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			f.Fatal(err)
		}
		s := sha256.Sum256(files[n])
		fmt.Fprintf(&sums, "%x  %s\n", s, n)
	}
	// Outside the package: a name that reached it would read it.
	os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.txt"), []byte("o\n"), 0o644)
	pub, priv, _ := ed25519.GenerateKey(nil)
	d, _ := json.Marshal(actions.ProjectInitDetails{EngineKey: seal.FormatPublicKey(pub), PawlVersion: "test"})
	h, err := seal.HistoryOf("t", []audit.Entry{{Seq: 2, Time: time.Unix(0, 0), Operator: "admin", Action: actions.ProjectInit, Object: "project", Details: d}})
	if err != nil {
		f.Fatal(err)
	}
	keys, _ := json.MarshalIndent(h, "", "  ")
	want, _ := json.Marshal(h)
	sigLine := func(s []byte) []byte {
		return fmt.Appendf(nil, "%s %s %s\n", SumsPurpose, seal.KeyID(pub), base64.StdEncoding.EncodeToString(ed25519.Sign(priv, SumsMessage(s))))
	}
	// The seeds reach the properties: the package's own files pass.
	seed := &PackageReport{}
	checkSums(dir, sums.Bytes(), seed)
	checkSumsSig(sigLine(sums.Bytes()), sums.Bytes(), h, seed)
	if !seed.OK() || keysAgree(keys, h) != nil {
		f.Fatalf("the seed files do not pass: %v %v", seed.Problems, keysAgree(keys, h))
	}
	f.Add(sums.Bytes(), sigLine(sums.Bytes()), keys)
	f.Add([]byte("0000000000000000000000000000000000000000000000000000000000000000  ../outside.txt\n"), []byte(SumsPurpose+" x y\n"), []byte(`{"trail":"t","keys":[]}`))
	f.Fuzz(func(t *testing.T, sums, sig, keys []byte) {
		r := &PackageReport{}
		checkSums(dir, sums, r)
		if r.OK() {
			var listed []string
			for _, line := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
				sum, name, _ := strings.Cut(line, "  ")
				s := sha256.Sum256(files[name])
				if files[name] == nil || hex.EncodeToString(s[:]) != sum {
					t.Fatalf("SHA256SUMS %q passed with line %q", sums, line)
				}
				listed = append(listed, name)
			}
			sort.Strings(listed)
			if strings.Join(listed, ",") != strings.Join(names, ",") {
				t.Fatalf("SHA256SUMS %q passed listing %v", sums, listed)
			}
		}
		r = &PackageReport{}
		checkSumsSig(sig, sums, h, r)
		if r.OK() && !bytes.Equal(sig, sigLine(sums)) {
			t.Fatalf("SHA256SUMS.sig %q passed for %q", sig, sums)
		}
		if err := keysAgree(keys, h); err == nil {
			var got seal.KeyHistory
			json.Unmarshal(keys, &got)
			if b, _ := json.Marshal(&got); !bytes.Equal(b, want) {
				t.Fatalf("keys.json %q passed as %s", keys, b)
			}
		}
	})
}
