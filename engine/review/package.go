package review

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/seal"
	"github.com/pawl-dev/pawl/engine/store"
)

// PackageReport is what VerifyPackage found.
type PackageReport struct {
	Dir         string   `json:"dir"`
	Entries     int      `json:"entries"`
	Batches     int      `json:"batches"`
	ESignatures int      `json:"esignatures"`
	Keys        int      `json:"keys"`
	Head        string   `json:"head"`
	Problems    []string `json:"problems"`
	// Witnessing is what the witnesses' cosignatures in the entries show
	// (each checked against witnesses.txt, or the keys the verifier held),
	// when there are any or when witnesses were required.
	Witnessing *Witnessing `json:"witnessing,omitempty"`
}

// PackageOptions are what the verifier holds from outside the package.
type PackageOptions struct {
	// Trusted is a key history or list of keys kept outside the enclave
	// (seal.ReadTrustedKeys): the package's history must agree with it.
	Trusted *seal.KeyHistory
	// Checkpoint is a signed checkpoint kept elsewhere: the package's
	// entries must extend it.
	Checkpoint []byte
	// WitnessKeys, when set, are the witness keys the verifier trusts
	// (WitnessKeys), in place of the package's witnesses.txt.
	WitnessKeys map[string]audit.WitnessKey
	// Witnesses is how many distinct witnesses must have cosigned a
	// checkpoint covering the newest batch (0: none required).
	Witnesses int
}

// OK says whether the package verified.
func (r *PackageReport) OK() bool { return len(r.Problems) == 0 }

func (r *PackageReport) fail(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

var sumsLine = regexp.MustCompile(`^([0-9a-f]{64})  (\S.*)$`)

// VerifyPackage checks an inspectors' package (Inspect) from its files
// alone, with no project: SHA256SUMS (every file listed, hashing as
// listed, no file unlisted) and its signature; entries.jsonl as
// audit.VerifyLines checks it; keys.json against the key history the
// entries hold (project.init, engine.key_rotated, each rotation's
// cross-signatures), which is then the only source of keys; every batch's
// signature (exactly what its batch.committed entry calls for, signed by
// the key in force at that entry), checkpoint and lineage root; every
// e-signature (the signer's enrolled key, before any revocation, the
// manifest naming the entries it signs by seq and hash); and the head
// checkpoint, which must cover every entry. Each problem is one line
// naming the file or the entry. It returns an error only when dir cannot
// be read at all.
//
// With trusted (a key history or list of keys kept outside the enclave,
// seal.ReadTrustedKeys) the package's history must agree with it; with
// checkpoint (a signed checkpoint kept elsewhere) the package's entries
// must extend it, signed by the key the trusted history (or the package's)
// had in force at its size: what a package made from a trail rewritten
// and re-signed by someone who held the engine key cannot pass.
func VerifyPackage(dir string, o PackageOptions) (*PackageReport, error) {
	trusted, checkpoint := o.Trusted, o.Checkpoint
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: give the package's directory", dir)
	}
	r := &PackageReport{Dir: dir, Problems: []string{}}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			r.fail("%s: %v", name, errors.Unwrap(err))
			return nil
		}
		return b
	}
	sums := read(SumsFile)
	checkSums(dir, sums, r)

	data := read("entries.jsonl")
	ar, entries := audit.VerifyLines(data)
	r.Entries, r.Head = len(entries), ar.Head
	if data != nil && !ar.OK {
		r.fail("entries.jsonl: %s", ar.Problem)
	}
	h, err := seal.HistoryOf(ar.TrailID, entries)
	if err != nil {
		r.fail("entries.jsonl: %v", err)
	}
	r.Keys = len(h.Keys)
	if len(h.Keys) == 0 {
		r.fail("entries.jsonl: no project.init entry: the trail names no engine key")
	}
	if b := read(KeysFile); b != nil {
		if err := keysAgree(b, h); err != nil {
			r.fail("%s: %v", KeysFile, err)
		}
	}
	if sums != nil {
		checkSumsSig(read(SumsSigFile), sums, h, r)
	}
	origin := audit.OriginOf(ar.TrailID)
	if trusted != nil {
		if err := trusted.Agrees(h); err != nil {
			r.fail("trusted key history: %v", err)
		}
	}
	if checkpoint != nil && len(h.Keys) > 0 {
		if err := extends(checkpoint, audit.OriginOf(ar.TrailID), trusted, h, entries); err != nil {
			r.fail("trusted checkpoint: %v", err)
		}
	}
	check := func(name string, cp []byte, size int64) {
		if cp == nil {
			return
		}
		n, err := audit.CheckpointSize(cp)
		if err != nil {
			r.fail("%s: %v", name, err)
			return
		}
		if n != size {
			r.fail("%s: it vouches for the first %d entries, want %d (%s)", name, n, size, map[bool]string{true: "entries.jsonl holds them all", false: "the batch's entry"}[name == "checkpoint"])
			return
		}
		k, ok := h.At(n)
		if !ok {
			return
		}
		if _, err := audit.VerifyCheckpointOf(cp, origin, k.Public(), entries); err != nil {
			r.fail("%s: %v (key %s, in force at entry %d)", name, err, k.KeyID, n)
		}
	}
	check("checkpoint", read("checkpoint"), int64(len(entries)))
	checkBatches(dir, entries, h, r, read, check)
	checkESignatures(entries, r)
	checkCosignatures(dir, entries, origin, o, r)
	return r, nil
}

// checkCosignatures checks every witness.cosigned entry as `pawl audit
// verify` does, under the witness keys the package lists (witnesses.txt,
// covered by SHA256SUMS and its signature) or those the verifier holds,
// and the number of witnesses required.
func checkCosignatures(dir string, entries []audit.Entry, origin string, o PackageOptions, r *PackageReport) {
	w := &Witnessing{Covered: map[string]int64{}, Problems: []string{}}
	keys, where := o.WitnessKeys, "the witness keys given do not name"
	if keys == nil {
		where = WitnessesFile + " does not name"
		keys = map[string]audit.WitnessKey{}
		if b, err := os.ReadFile(filepath.Join(dir, WitnessesFile)); err == nil {
			if keys, err = WitnessKeys(b); err != nil {
				r.fail("%s: %v", WitnessesFile, err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			r.fail("%s: %v", WitnessesFile, err)
		}
	}
	for _, e := range entries {
		switch e.Action {
		case actions.BatchCommitted:
			w.LastBatch = e.Seq
		case actions.WitnessCosigned:
			w.check(e, origin, keys, where, func(size int64) ([]byte, error) { return audit.RootOf(entries[:size]) })
		}
	}
	for _, p := range w.Problems {
		r.fail("witnesses: %s", p)
	}
	if err := w.Require(o.Witnesses); err != nil {
		r.fail("witnesses: %v", err)
	}
	if w.Cosignatures > 0 || o.Witnesses > 0 {
		r.Witnessing = w
	}
}

// extends checks that entries extend the signed checkpoint cp, signed by
// the key in force at its size: in the trusted history when there is one
// (any of its keys, for a plain list), else in the package's.
func extends(cp []byte, origin string, trusted, h *seal.KeyHistory, entries []audit.Entry) error {
	size, err := audit.CheckpointSize(cp)
	if err != nil {
		return err
	}
	var keys []ed25519.PublicKey
	if k, ok := trusted.At(size); ok {
		keys = append(keys, k.Public())
	} else if trusted != nil {
		for _, k := range trusted.Keys {
			keys = append(keys, k.Public())
		}
	} else if k, ok := h.At(size); ok {
		keys = append(keys, k.Public())
	}
	err = errors.New("no key to check it with")
	for _, k := range keys {
		if _, err = audit.VerifyCheckpointOf(cp, origin, k, entries); err == nil {
			return nil
		}
	}
	return err
}

// checkSums checks that SHA256SUMS lists every file of the package once,
// each with its sha256.
func checkSums(dir string, sums []byte, r *PackageReport) {
	if sums == nil {
		return
	}
	listed := map[string]bool{SumsFile: true, SumsSigFile: true}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for i := 1; sc.Scan(); i++ {
		m := sumsLine.FindStringSubmatch(sc.Text())
		name := ""
		if m != nil {
			name = m[2]
		}
		switch {
		case m == nil:
			r.fail("%s line %d: not \"<sha256 hex>  <file>\"", SumsFile, i)
			continue
		case path.Clean(name) != name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "../") || name == "..":
			r.fail("%s line %d: %q is not a file inside the package", SumsFile, i, name)
			continue
		case listed[name]:
			r.fail("%s line %d: %s is listed twice", SumsFile, i, name)
			continue
		}
		listed[name] = true
		// Streamed: a batch's quarantine and its records may be gigabytes.
		d, _, err := store.HashFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			r.fail("%s: listed in %s but %v", name, SumsFile, err)
			continue
		}
		if sum := d.Hex(); sum != m[1] {
			r.fail("%s: its sha256 is %s, %s lists %s (the file was changed)", name, sum, SumsFile, m[1])
		}
	}
	if !bytes.HasSuffix(sums, []byte("\n")) && len(sums) > 0 {
		r.fail("%s does not end in a newline (it was cut short)", SumsFile)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			r.fail("%s: not a regular file (a package holds files only)", rel)
		} else if !listed[rel] {
			r.fail("%s: not listed in %s (a file was added)", rel, SumsFile)
		}
		return nil
	})
}

// checkSumsSig checks SHA256SUMS.sig: one line, SumsPurpose, the key id
// of the engine key in force at the package's last entry, and its ed25519
// signature over SumsMessage(sums).
func checkSumsSig(sig, sums []byte, h *seal.KeyHistory, r *PackageReport) {
	if sig == nil {
		return
	}
	f := strings.Fields(string(sig))
	if len(f) != 3 || f[0] != SumsPurpose || string(sig) != strings.Join(f, " ")+"\n" {
		r.fail("%s: not \"%s KEYID SIGNATURE\" on one line", SumsSigFile, SumsPurpose)
		return
	}
	cur, ok := h.Current()
	if !ok {
		return
	}
	if f[1] != cur.KeyID {
		r.fail("%s: signed by key %s; the engine key at the package's last entry is %s", SumsSigFile, f[1], cur.KeyID)
		return
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(f[2])
	if err != nil || base64.StdEncoding.EncodeToString(raw) != f[2] || !ed25519.Verify(cur.Public(), SumsMessage(sums), raw) {
		r.fail("%s: the signature over %s does not verify with key %s (%s was changed after signing)", SumsSigFile, SumsFile, cur.KeyID, SumsFile)
	}
}

// keysAgree checks keys.json against the history the entries hold: the
// same trail and keys, each from and until the same entries, with the same
// cross-signatures and records.
func keysAgree(b []byte, h *seal.KeyHistory) error {
	var got seal.KeyHistory
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		return fmt.Errorf("not a key history: %v", err)
	}
	if got.Trail != h.Trail {
		return fmt.Errorf("the key history of trail %s; the entries are of trail %s", got.Trail, h.Trail)
	}
	for i, k := range got.Keys {
		if i >= len(h.Keys) {
			return fmt.Errorf("key %d (%s) is not in the trail's key history, which has %d keys", i+1, k.KeyID, len(h.Keys))
		}
		want, _ := json.Marshal(h.Keys[i])
		have, _ := json.Marshal(k)
		if !bytes.Equal(want, have) {
			return fmt.Errorf("key %d is %s from entry %d until %d; the trail's entries have %s from entry %d until %d", i+1, k.KeyID, k.From, k.Until, h.Keys[i].KeyID, h.Keys[i].From, h.Keys[i].Until)
		}
	}
	if len(got.Keys) != len(h.Keys) {
		return fmt.Errorf("%d keys; the trail's entries hold %d", len(got.Keys), len(h.Keys))
	}
	return nil
}

// checkBatches checks each batch.committed entry's signature, checkpoint
// and lineage root in the package.
func checkBatches(dir string, entries []audit.Entry, h *seal.KeyHistory, r *PackageReport, read func(string) []byte, checkpoint func(string, []byte, int64)) {
	roots := map[string]string{}
	if b := read(LineageFile); len(b) > 0 { // empty: a trail with no batch yet
		for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			id, rest, ok := strings.Cut(line, " ")
			if !ok || roots[id] != "" {
				r.fail("%s line %d: not \"<batch> <records> <root>\", or a batch twice", LineageFile, i+1)
				continue
			}
			roots[id] = rest
		}
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Action != actions.BatchCommitted {
			continue
		}
		br, err := actions.Decode[actions.BatchRecord](e)
		if err != nil {
			r.fail("entry %d: %v", e.Seq, err)
			continue
		}
		r.Batches++
		id := br.BatchID
		seen[id] = true
		if want := strconv.FormatInt(br.RecordsIn, 10) + " " + br.Lineage.Root; roots[id] != want {
			r.fail("%s: batch %s has %q; its batch.committed entry %d records %q", LineageFile, id, roots[id], e.Seq, want)
		}
		checkpoint(CheckpointDir+"/"+id+".checkpoint", read(CheckpointDir+"/"+id+".checkpoint"), e.Seq)
		name := SignaturesDir + "/" + id + ".json"
		b := read(name)
		if b == nil {
			continue
		}
		chk, err := h.VerifySignatureBytes(name, b)
		if err != nil {
			r.fail("%v", err)
			continue
		}
		want, err := seal.Expected(e)
		if err != nil {
			r.fail("entry %d: %v", e.Seq, err)
			continue
		}
		wp, _ := want.Payload()
		gp, _ := chk.Signature.Payload()
		if !bytes.Equal(wp, gp) {
			r.fail("%s: it does not say what batch.committed entry %d records (byte %d of the signed content differs)", name, e.Seq, firstDiffBytes(wp, gp))
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, SignaturesDir))
	for _, d := range ents {
		if id, ok := strings.CutSuffix(d.Name(), ".json"); !ok || !seen[id] {
			r.fail("%s/%s: no batch.committed entry for it in entries.jsonl", SignaturesDir, d.Name())
		}
	}
	for id := range roots {
		if !seen[id] {
			r.fail("%s: batch %s has no batch.committed entry in entries.jsonl", LineageFile, id)
		}
	}
}

func firstDiffBytes(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// checkESignatures checks every esign.signed entry: the signer was
// enrolled before it (operator.enrolled: the key of record) and not
// revoked before it; the entry's object, operator, time and reason are
// the manifest's; the manifest names the batch.committed (or
// change.proposed) entry it signs by seq and hash (a review of the trail:
// the last entry reviewed, before it), and for a batch its
// input, lineage root and outputs as that entry records them; the
// ed25519 signature over the manifest's canonical JSON verifies with the
// enrolled key.
func checkESignatures(entries []audit.Entry, r *PackageReport) {
	ops := map[string]*enrolled{}
	for _, e := range entries {
		switch e.Action {
		case actions.OperatorEnrolled:
			d, err := actions.Decode[actions.OperatorEnrolledDetails](e)
			if err != nil {
				r.fail("entry %d: %v", e.Seq, err)
				continue
			}
			pub, err := seal.ParsePublicKey(d.PublicKey)
			if err != nil {
				r.fail("entry %d: operator %s: %v", e.Seq, d.ID, err)
				continue
			}
			if ops[d.ID] == nil {
				ops[d.ID] = &enrolled{pub: pub, keyID: seal.KeyID(pub), seq: e.Seq}
			}
		case actions.OperatorRevoked:
			d, err := actions.Decode[actions.OperatorRevokedDetails](e)
			if err == nil && ops[d.ID] != nil && ops[d.ID].revoked == 0 {
				ops[d.ID].revoked = e.Seq
			}
		case actions.ESignSigned:
			r.ESignatures++
			if p := checkESignature(e, ops, entries); p != "" {
				r.fail("entry %d: e-signature: %s", e.Seq, p)
			}
		}
	}
}

// enrolled is an operator as the trail enrolled them.
type enrolled struct {
	pub     ed25519.PublicKey
	keyID   string
	seq     int64 // operator.enrolled
	revoked int64 // operator.revoked, 0 if never
}

// reviewFormat names the manifest of a signed review of the trail
// (engine/esign, pawl audit review).
const reviewFormat = "pawl-esign-review-v1"

// checkESignature says what is wrong with the esign.signed entry e, or "".
func checkESignature(e audit.Entry, ops map[string]*enrolled, entries []audit.Entry) string {
	d, err := actions.Decode[actions.ESignSignedDetails](e)
	if err != nil {
		return err.Error()
	}
	m := d.Manifest
	op := ops[m.SignerID]
	switch {
	case op == nil:
		return fmt.Sprintf("signer %q is not enrolled before it", m.SignerID)
	case op.revoked != 0 && op.revoked < e.Seq:
		return fmt.Sprintf("signer %s was revoked at entry %d, before it", m.SignerID, op.revoked)
	case e.Operator != m.SignerID || e.Reason != m.Reason || m.Time != audit.FormatTime(e.Time):
		return fmt.Sprintf("the entry (operator %s, time %s, reason %q) is not the signed manifest's (signer %s, time %s, reason %q)", e.Operator, audit.FormatTime(e.Time), e.Reason, m.SignerID, m.Time, m.Reason)
	case d.Signature.Alg != "ed25519" || d.Signature.KeyID != op.keyID || m.SignerKeyID != op.keyID:
		return fmt.Sprintf("signed with %s key %s (manifest: %s); %s's enrolled key is %s", d.Signature.Alg, d.Signature.KeyID, m.SignerKeyID, m.SignerID, op.keyID)
	}
	target := func(seq int64, hash, action, object string) (audit.Entry, string) {
		if seq < 1 || seq >= e.Seq || entries[seq-1].Hash != hash || entries[seq-1].Action != action || entries[seq-1].Object != object {
			return audit.Entry{}, fmt.Sprintf("the manifest names entry %d (%s) as the %s entry of %s; it is not", seq, hash, action, object)
		}
		return entries[seq-1], ""
	}
	if m.Format == reviewFormat || strings.HasPrefix(e.Object, "review:") {
		// A review of the trail up to entry through_seq (pawl audit
		// review): that entry's hash, which chains every entry before it.
		switch {
		case m.Format != reviewFormat || e.Object != "review:"+strconv.FormatInt(m.ThroughSeq, 10) || m.BatchID != "" || m.ChangeID != "":
			return fmt.Sprintf("the manifest (format %s) signs a review through entry %d, the entry is about %s", m.Format, m.ThroughSeq, e.Object)
		case m.Meaning != "reviewed":
			return fmt.Sprintf("a review of the trail is signed with the meaning reviewed, not %q", m.Meaning)
		case m.ThroughSeq < 1 || m.ThroughSeq >= e.Seq || entries[m.ThroughSeq-1].Hash != m.ThroughEntry:
			return fmt.Sprintf("the manifest names entry %d (%s) as the last entry reviewed; it is not", m.ThroughSeq, m.ThroughEntry)
		}
	} else if m.ChangeID != "" {
		if e.Object != "change:"+m.ChangeID || m.BatchID != "" {
			return fmt.Sprintf("the manifest signs change %s, the entry is about %s", m.ChangeID, e.Object)
		}
		if _, p := target(m.ChangeEntrySeq, m.ChangeEntry, actions.ChangeProposed, e.Object); p != "" {
			return p
		}
	} else {
		if e.Object != "batch:"+m.BatchID {
			return fmt.Sprintf("the manifest signs batch %s, the entry is about %s", m.BatchID, e.Object)
		}
		be, p := target(m.BatchEntrySeq, m.BatchEntry, actions.BatchCommitted, e.Object)
		if p != "" {
			return p
		}
		br, err := actions.Decode[actions.BatchRecord](be)
		if err != nil {
			return err.Error()
		}
		outs := map[string]string{}
		for n, o := range br.Outputs {
			outs[n] = string(o.Hash)
		}
		got := map[string]string{}
		for n, h := range m.Outputs {
			got[n] = string(h)
		}
		if m.Input != br.Input || m.LineageRoot != br.Lineage.Root || !maps.Equal(outs, got) {
			return fmt.Sprintf("the manifest's input, lineage root or outputs are not what batch.committed entry %d records", be.Seq)
		}
	}
	msg, err := canonjson.Marshal(m)
	if err != nil {
		return err.Error()
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(d.Signature.Value)
	if err != nil || !ed25519.Verify(op.pub, msg, sig) {
		return fmt.Sprintf("the signature does not verify with %s's enrolled key %s", m.SignerID, op.keyID)
	}
	return ""
}
