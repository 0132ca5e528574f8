package seal

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/store"
)

// fuzzSignatures are signed signatures of a few shapes (validators or none,
// both outputs, counts of several widths) and their rendered files.
func fuzzSignatures(t testing.TB) (*Key, []*Signature, [][]byte) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32))
	k := &Key{Private: priv, Public: priv.Public().(ed25519.PublicKey)}
	h := func(c string) store.Digest { return store.Digest("sha256:" + string(bytes.Repeat([]byte(c), 64))) }
	base := func() *Signature {
		return &Signature{
			BatchID: "7c0e1f5a9b3d2e4f6a8b0c1d2e3f4a5b", VerifiedAt: "2025-03-14T15:09:26.535897932Z", AsOf: "2025-03-14T00:00:00Z",
			Job: "sensor-feed", Classification: "internal", InputHash: h("a"),
			Schema:     actions.SchemaRef{Name: "sensor", Version: "1.2.0", Path: "schemas/sensor.json", Hash: h("b")},
			Validators: map[string]actions.ValidatorRef{},
			Result:     SignedResult{Status: "committed", RecordsIn: 3, Verified: 2, Quarantined: 1},
			Outputs: map[string]actions.OutputRef{
				actions.VerifiedFile:   {Hash: h("c"), Bytes: 120, Records: 2},
				actions.QuarantineFile: {Hash: h("d"), Bytes: 300, Records: 1},
			},
			LineageRoot: string(bytes.Repeat([]byte("e"), 64)), PawlVersion: "0.9.0 (go1.26)", AuditSeq: 12, AuditEntry: "sha256:" + string(bytes.Repeat([]byte("f"), 64)),
		}
	}
	a := base()
	b := base()
	b.Validators = map[string]actions.ValidatorRef{"range": {Version: "1.0.0", Hash: h("1")}, "zscore": {Version: "0.3.1", Hash: h("2")}}
	b.Result = SignedResult{Status: "committed", RecordsIn: 1234567, Verified: 1234560, Quarantined: 7}
	b.Classification, b.Job = "restricted <phi> & co", "ünïcode-job"
	var sigs []*Signature
	var files [][]byte
	for _, s := range []*Signature{a, b} {
		if err := s.sign(k); err != nil {
			t.Fatal(err)
		}
		r, err := s.Render()
		if err != nil {
			t.Fatal(err)
		}
		sigs, files = append(sigs, s), append(files, r)
	}
	return k, sigs, files
}

// FuzzVerifyFile: a signature.json that Render writes for a signed
// Signature verifies (against its key) and reads back as that Signature;
// any single-byte edit of it is refused; and any bytes at all that verify
// against the engine key are exactly one of the files pawl wrote.
func FuzzVerifyFile(f *testing.F) {
	k, sigs, files := fuzzSignatures(f)
	f.Add(uint8(0), uint16(0), byte(' '), files[0])
	f.Add(uint8(1), uint16(700), byte('B'), []byte(`{"batch_id":"x","signature":{"alg":"ed25519"}}`))
	f.Add(uint8(0), uint16(1200), byte('='), bytes.Replace(files[1], []byte("\n"), []byte("\r\n"), -1))
	// VerifyFile reads the file and calls verify; the outputs named in it
	// are looked for beside it, in a folder that holds none.
	path := filepath.Join(f.TempDir(), actions.SignatureFile)
	trusted := []ed25519.PublicKey{k.Public}
	check := func(b []byte) (*SignatureCheck, error) { return verify(path, b, trusted) }
	f.Fuzz(func(t *testing.T, which uint8, pos uint16, b byte, raw []byte) {
		w := int(which) % len(files)
		file := files[w]
		chk, err := check(file)
		if err != nil || !chk.Trusted || !reflect.DeepEqual(chk.Signature, sigs[w]) {
			t.Fatalf("the rendered signature %d does not verify as itself: %v", w, err)
		}
		i := int(pos) % len(file)
		if file[i] != b {
			edited := bytes.Clone(file)
			edited[i] = b
			if _, err := check(edited); err == nil {
				t.Fatalf("byte %d edited from %q to %q and the signature still verifies:\n%s", i, file[i], b, edited)
			}
		}
		if _, err := check(raw); err == nil {
			for _, f := range files {
				if bytes.Equal(raw, f) {
					return
				}
			}
			t.Fatalf("%q verifies, but pawl wrote no such signature", raw)
		}
	})
}
