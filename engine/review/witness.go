package review

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/project"
)

// Witnessing is what the trail's cosignatures show.
type Witnessing struct {
	// Cosignatures is the number of witness.cosigned entries.
	Cosignatures int `json:"cosignatures"`
	// Covered is, per witness key trusted by the bundle in force
	// ("name+hash"), the largest size it validly cosigned.
	Covered map[string]int64 `json:"covered"`
	// LastBatch is the seq of the newest batch.committed entry (0: none).
	LastBatch int64 `json:"last_batch"`
	// Problems found: a cosignature that does not verify, a cosigned root
	// the trail no longer has, a latest cosigned checkpoint the trail does
	// not extend.
	Problems []string `json:"problems"`
}

// CheckWitnesses checks every witness.cosigned entry: its cosignature
// verifies under the witness key of the same name and hash that the policy
// bundle in force names (data.egress.witnesses), and the trail's tree over
// its first Size entries still has the cosigned root — a rewrite below a
// cosigned size, even one re-signed with the engine key, fails here. A
// cosignature by a key the bundle does not name is reported and not
// counted. Each witness's latest cosigned checkpoint kept outside the trail
// (the data directory's witness/<id>.checkpoint) must be extended by the
// trail: one the trail has fewer entries than means entries were deleted.
func CheckWitnesses(ctx context.Context, p *project.Project) (*Witnessing, error) {
	es, err := p.Trail.Find(ctx, actions.WitnessCosigned, "trail:"+p.Trail.ID())
	if err != nil {
		return nil, err
	}
	var keys map[string]audit.WitnessKey
	if len(es) > 0 { // the bundle is loaded only when there is something to check
		e, _, err := p.PolicyInForce(ctx)
		if err != nil {
			return nil, err
		}
		var vkeys []string
		for _, wt := range e.Witnesses() {
			vkeys = append(vkeys, wt.VKey)
		}
		keys = KeysByID(vkeys)
	}
	w := checkTrailCosignatures(ctx, p.Trail, es, keys, "the policy bundle in force does not name (data.egress.witnesses)")
	if bs, err := p.Trail.Find(ctx, actions.BatchCommitted, ""); err == nil && len(bs) > 0 {
		w.LastBatch = bs[len(bs)-1].Seq
	}
	head, err := p.Trail.Head(ctx)
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(p.WitnessDir(), "*.checkpoint"))
	sort.Strings(files)
	for _, f := range files {
		cp, err := os.ReadFile(f)
		if err != nil {
			w.Problems = append(w.Problems, err.Error())
			continue
		}
		if _, err := p.Keys.VerifyCheckpoint(ctx, p.Trail, cp); err != nil {
			w.Problems = append(w.Problems, fmt.Sprintf("%s, the latest checkpoint witness %s cosigned: %v (the trail holds %d entries)", f, strings.TrimSuffix(filepath.Base(f), ".checkpoint"), err, head.Seq))
		}
	}
	return w, nil
}

// KeysByID are the witness keys among vkeys that parse, by "NAME+HASH"
// (the id a witness.cosigned entry names its key by).
func KeysByID(vkeys []string) map[string]audit.WitnessKey {
	keys := map[string]audit.WitnessKey{}
	for _, v := range vkeys {
		if k, err := audit.ParseWitnessKey(v); err == nil {
			keys[fmt.Sprintf("%s+%08x", k.Name, k.Hash)] = k
		}
	}
	return keys
}

// CheckCosignatures checks every witness.cosigned entry of trail t (see
// CheckWitnesses) against keys, by "NAME+HASH"; unknown says where the
// keys come from, for a cosignature by a key that is not among them. The
// network hub's own trail is checked so against its configuration.
func CheckCosignatures(ctx context.Context, t *audit.Trail, keys map[string]audit.WitnessKey, unknown string) (*Witnessing, error) {
	es, err := t.Find(ctx, actions.WitnessCosigned, "trail:"+t.ID())
	if err != nil {
		return nil, err
	}
	return checkTrailCosignatures(ctx, t, es, keys, unknown), nil
}

// checkTrailCosignatures is CheckCosignatures over t's witness.cosigned
// entries es, already read.
func checkTrailCosignatures(ctx context.Context, t *audit.Trail, es []audit.Entry, keys map[string]audit.WitnessKey, unknown string) *Witnessing {
	w := &Witnessing{Covered: map[string]int64{}, Problems: []string{}}
	for _, en := range es {
		w.check(en, t.Origin(), keys, unknown, func(size int64) ([]byte, error) {
			return t.TreeRoot(ctx, size)
		})
	}
	return w
}

// check checks one witness.cosigned entry: a checkpoint of this trail
// (origin) before the entry, whose root is still the trail's at its size
// (rootAt), cosigned by the key of that name and hash among keys (unknown
// says where keys come from, for the problem when it is not there). A
// valid cosignature counts towards Covered.
func (w *Witnessing) check(en audit.Entry, origin string, keys map[string]audit.WitnessKey, unknown string, rootAt func(int64) ([]byte, error)) {
	w.Cosignatures++
	d, err := actions.Decode[actions.WitnessCosignedDetails](en)
	if err != nil {
		w.Problems = append(w.Problems, fmt.Sprintf("audit entry %d: %v", en.Seq, err))
		return
	}
	if d.Size < 1 || d.Size >= en.Seq || d.Origin != origin {
		w.Problems = append(w.Problems, fmt.Sprintf("audit entry %d: a cosignature of %s at %d entries, recorded at entry %d: not a checkpoint of this trail before it", en.Seq, d.Origin, d.Size, en.Seq))
		return
	}
	root, err := rootAt(d.Size)
	if err != nil {
		w.Problems = append(w.Problems, fmt.Sprintf("audit entry %d: %v", en.Seq, err))
		return
	}
	if !bytes.Equal(root, d.Root) {
		w.Problems = append(w.Problems, fmt.Sprintf("audit entry %d: witness %s cosigned the trail's first %d entries with root %s; they now have root %s: the trail was rewritten after it was witnessed",
			en.Seq, d.Witness, d.Size, base64.StdEncoding.EncodeToString(d.Root), base64.StdEncoding.EncodeToString(root)))
		return
	}
	id := d.Name + "+" + d.KeyHash
	k, ok := keys[id]
	if !ok {
		w.Problems = append(w.Problems, fmt.Sprintf("audit entry %d: cosignature by witness key %s, which %s", en.Seq, id, unknown))
		return
	}
	body := audit.Checkpoint{Origin: d.Origin, Size: d.Size, Root: d.Root}.Format()
	c := audit.Cosignature{Witness: d.Name, KeyHash: k.Hash, Time: d.Time, Signature: d.Signature}
	if err := c.Verify(k, body); err != nil {
		w.Problems = append(w.Problems, fmt.Sprintf("audit entry %d: %v", en.Seq, err))
		return
	}
	if d.Size > w.Covered[id] {
		w.Covered[id] = d.Size
	}
}

// WitnessKeys reads witness verifier keys, one per line: a vkey
// (NAME+HASH+BASE64), optionally after the witness's id and a space (as
// an inspectors' package's witnesses.txt lists them); blank lines and
// "#" comments are skipped. Keyed by "NAME+HASH".
func WitnessKeys(b []byte) (map[string]audit.WitnessKey, error) {
	keys := map[string]audit.WitnessKey{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		k, err := audit.ParseWitnessKey(f[len(f)-1])
		if err != nil || len(f) > 2 {
			return nil, fmt.Errorf("line %d: not [ID] NAME+HASH+BASE64: %v", i+1, err)
		}
		keys[fmt.Sprintf("%s+%08x", k.Name, k.Hash)] = k
	}
	return keys, nil
}

// Require says whether k distinct witness keys the bundle trusts have
// validly cosigned a checkpoint that covers the newest committed batch
// (a size at least the seq of its batch.committed entry).
func (w *Witnessing) Require(k int) error {
	if k <= 0 {
		return nil
	}
	var ok []string
	for id, size := range w.Covered {
		if size >= w.LastBatch {
			ok = append(ok, id)
		}
	}
	sort.Strings(ok)
	if len(ok) >= k {
		return nil
	}
	if len(ok) == 0 {
		return fmt.Errorf("%d witness(es) required, none has cosigned a checkpoint covering the newest batch (audit entry %d): run `pawl audit witness push`", k, w.LastBatch)
	}
	return errors.New(fmt.Sprintf("%d witness(es) required, %d cosigned a checkpoint covering the newest batch (audit entry %d): %s", k, len(ok), w.LastBatch, strings.Join(ok, ", ")))
}
