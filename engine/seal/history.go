package seal

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/audit/canonjson"
	"github.com/pawl-dev/pawl/engine/actions"
)

// RotationPurpose names what a rotation statement is, so that neither key's
// signature over it can be taken for a signature over anything else.
const RotationPurpose = "pawl engine key rotation v1"

// RotationStatement is what both keys of a rotation sign, in canonical JSON:
// this trail's engine key passes from Old to New.
type RotationStatement struct {
	Purpose string `json:"purpose"`
	Trail   string `json:"trail"`   // the trail's id
	Old     string `json:"old_key"` // "ed25519 BASE64 KEYID"
	New     string `json:"new_key"`
}

// Message is the signed bytes of the statement.
func (s RotationStatement) Message() ([]byte, error) { return canonjson.Marshal(s) }

// SignRotation makes the details of the rotation from old to next in the
// trail trailID: each key signs the statement.
func SignRotation(trailID string, old, next *Key, atRest string) (actions.KeyRotatedDetails, error) {
	st := RotationStatement{Purpose: RotationPurpose, Trail: trailID, Old: FormatPublicKey(old.Public), New: FormatPublicKey(next.Public)}
	msg, err := st.Message()
	if err != nil {
		return actions.KeyRotatedDetails{}, err
	}
	return actions.KeyRotatedDetails{
		OldKey: st.Old, NewKey: st.New,
		OldSignature: base64.StdEncoding.EncodeToString(ed25519.Sign(old.Private, msg)),
		NewSignature: base64.StdEncoding.EncodeToString(ed25519.Sign(next.Private, msg)),
		AtRest:       atRest,
	}, nil
}

// KeyEpoch is one key of the history and the entries it signed for.
type KeyEpoch struct {
	Key   string `json:"key"` // "ed25519 BASE64 KEYID"
	KeyID string `json:"key_id"`
	// From is the seq of the entry that made it the engine key
	// (project.init or engine.key_rotated); Until the seq of the rotation
	// that ended it, 0 while it is the engine key. It signed batch
	// signatures and checkpoints for entries From..Until-1.
	From  int64 `json:"from"`
	Until int64 `json:"until"`
	// OldSignature and NewSignature are the rotation's cross-signatures
	// (empty for the first key).
	OldSignature string `json:"old_signature,omitempty"`
	NewSignature string `json:"new_signature,omitempty"`
	Time         string `json:"time,omitempty"`
	Operator     string `json:"operator,omitempty"`
	Reason       string `json:"reason,omitempty"`

	pub ed25519.PublicKey
}

// Public is the epoch's public key.
func (k KeyEpoch) Public() ed25519.PublicKey { return k.pub }

// KeyHistory is the engine's keys in the order they were in force: the
// trail's project.init key, then each rotation's new key. It is what a
// verifier needs, and all it needs, to check every batch signature and
// checkpoint: each is checked against the key that was in force at its
// entry, never merely against some key.
type KeyHistory struct {
	Trail string     `json:"trail"`
	Keys  []KeyEpoch `json:"keys"`
	// anyTime marks a history read from a plain list of public keys:
	// their epochs are unknown, so any of them is accepted at any entry.
	anyTime bool
}

// ReadHistory reads the key history from the trail. A rotation whose old
// key is not the key in force, or whose cross-signatures do not verify,
// ends the history there: the history up to it is returned with the error,
// so that a verifier can report the break and still check what came
// before. A trail without project.init (an init cut short) has an empty
// history.
func ReadHistory(ctx context.Context, t *audit.Trail) (*KeyHistory, error) {
	inits, err := t.Find(ctx, actions.ProjectInit, "project")
	if err != nil {
		return nil, err
	}
	rots, err := t.Find(ctx, actions.EngineKeyRotated, actions.EngineKeyObject)
	if err != nil {
		return nil, err
	}
	return HistoryOf(t.ID(), append(inits, rots...))
}

// HistoryOf reads the key history of the trail trailID from its entries
// (all of them, or at least its project.init and engine.key_rotated
// entries, in seq order), as ReadHistory reads it from the database: for a
// verifier that holds the entries only, as a review package carries them.
func HistoryOf(trailID string, entries []audit.Entry) (*KeyHistory, error) {
	h := &KeyHistory{Trail: trailID, Keys: []KeyEpoch{}}
	var inits, rots []audit.Entry
	for _, e := range entries {
		switch {
		case e.Action == actions.ProjectInit && e.Object == "project":
			inits = append(inits, e)
		case e.Action == actions.EngineKeyRotated && e.Object == actions.EngineKeyObject:
			rots = append(rots, e)
		}
	}
	if len(inits) == 0 {
		return h, nil
	}
	d, err := actions.Decode[actions.ProjectInitDetails](inits[0])
	if err != nil {
		return h, fmt.Errorf("key history: entry %d: %w", inits[0].Seq, err)
	}
	pub, err := ParsePublicKey(d.EngineKey)
	if err != nil {
		return h, fmt.Errorf("key history: entry %d (project.init): engine key: %w", inits[0].Seq, err)
	}
	h.Keys = append(h.Keys, KeyEpoch{Key: FormatPublicKey(pub), KeyID: KeyID(pub), From: inits[0].Seq,
		Time: audit.FormatTime(inits[0].Time), Operator: inits[0].Operator, Reason: inits[0].Reason, pub: pub})
	for _, e := range rots {
		d, err := actions.Decode[actions.KeyRotatedDetails](e)
		if err != nil {
			return h, fmt.Errorf("key history: entry %d: %w", e.Seq, err)
		}
		ep := KeyEpoch{OldSignature: d.OldSignature, NewSignature: d.NewSignature, From: e.Seq,
			Time: audit.FormatTime(e.Time), Operator: e.Operator, Reason: e.Reason}
		if err := h.extend(ep, d.OldKey, d.NewKey); err != nil {
			return h, fmt.Errorf("key history: entry %d (%s): %w", e.Seq, actions.EngineKeyRotated, err)
		}
	}
	return h, nil
}

// extend checks a rotation from old to next, with ep's cross-signatures,
// against the key in force and appends ep as the new key.
func (h *KeyHistory) extend(ep KeyEpoch, old, next string) error {
	cur := &h.Keys[len(h.Keys)-1]
	if ep.From <= cur.From {
		return fmt.Errorf("it comes before the key it replaces (entry %d)", cur.From)
	}
	oldPub, err := ParsePublicKey(old)
	if err != nil {
		return fmt.Errorf("old key: %w", err)
	}
	if !bytes.Equal(oldPub, cur.pub) {
		return fmt.Errorf("it rotates from key %s, but the engine key then was %s", KeyID(oldPub), cur.KeyID)
	}
	newPub, err := ParsePublicKey(next)
	if err != nil {
		return fmt.Errorf("new key: %w", err)
	}
	for _, k := range h.Keys {
		if bytes.Equal(k.pub, newPub) {
			return fmt.Errorf("its new key %s was already the engine key from entry %d", k.KeyID, k.From)
		}
	}
	msg, err := RotationStatement{Purpose: RotationPurpose, Trail: h.Trail, Old: FormatPublicKey(oldPub), New: FormatPublicKey(newPub)}.Message()
	if err != nil {
		return err
	}
	for _, s := range []struct {
		who, sig string
		pub      ed25519.PublicKey
	}{{"old", ep.OldSignature, oldPub}, {"new", ep.NewSignature, newPub}} {
		raw, ok := canonicalBase64(s.sig)
		if !ok || !ed25519.Verify(s.pub, msg, raw) {
			return fmt.Errorf("the %s key's signature over the rotation does not verify", s.who)
		}
	}
	cur.Until = ep.From
	ep.Key, ep.KeyID, ep.pub = FormatPublicKey(newPub), KeyID(newPub), newPub
	h.Keys = append(h.Keys, ep)
	return nil
}

// Current is the key in force now, or false when the history is empty.
func (h *KeyHistory) Current() (KeyEpoch, bool) {
	if h == nil || len(h.Keys) == 0 || h.anyTime {
		return KeyEpoch{}, false
	}
	return h.Keys[len(h.Keys)-1], true
}

// At is the key in force for what is signed at entry seq: a batch's
// signature at its batch.committed entry, a checkpoint at its last entry.
// Entries before project.init (the trail's genesis) fall to the first key.
func (h *KeyHistory) At(seq int64) (KeyEpoch, bool) {
	if h == nil || len(h.Keys) == 0 || h.anyTime {
		return KeyEpoch{}, false
	}
	for i := len(h.Keys) - 1; i > 0; i-- {
		if h.Keys[i].From <= seq {
			return h.Keys[i], true
		}
	}
	return h.Keys[0], true
}

// find is the epoch of pub.
func (h *KeyHistory) find(pub ed25519.PublicKey) (KeyEpoch, bool) {
	for _, k := range h.Keys {
		if bytes.Equal(k.pub, pub) {
			return k, true
		}
	}
	return KeyEpoch{}, false
}

// ErrNoTrustedKey: there is no key to check a signature against, so
// nothing was checked (not a signature that fails).
var ErrNoTrustedKey = errors.New("no trusted engine key")

// Check says whether pub may have signed for entry seq: it must be the key
// the history had in force then (any key of a plain list of trusted keys).
func (h *KeyHistory) Check(pub ed25519.PublicKey, seq int64) error {
	if h == nil || len(h.Keys) == 0 {
		return fmt.Errorf("%w to check the signer against: run inside the project, or pass --key FILE (engine.pub, a list of public keys, or `pawl key history --output json`)", ErrNoTrustedKey)
	}
	ep, known := h.find(pub)
	if !known {
		return fmt.Errorf("signed by key %s, which is not in the trusted key history", KeyID(pub))
	}
	if h.anyTime {
		return nil
	}
	want, _ := h.At(seq)
	if !bytes.Equal(want.pub, pub) {
		return fmt.Errorf("signed by key %s for entry %d, but that key was the engine key for entries %s only (key %s was in force at entry %d)", ep.KeyID, seq, ep.span(), want.KeyID, seq)
	}
	return nil
}

func (k KeyEpoch) span() string {
	if k.Until == 0 {
		return fmt.Sprintf("%d on", k.From)
	}
	return fmt.Sprintf("%d to %d", k.From, k.Until-1)
}

// VerifySignature checks a signature.json with VerifyFile and its signer
// against the history at the batch's entry.
func (h *KeyHistory) VerifySignature(path string) (*SignatureCheck, error) {
	chk, err := VerifyFile(path, nil)
	if err != nil {
		return nil, err
	}
	return chk, h.checkSigner(path, chk)
}

// VerifySignatureBytes is VerifySignature of the bytes b of a
// signature.json, without the outputs beside it.
func (h *KeyHistory) VerifySignatureBytes(path string, b []byte) (*SignatureCheck, error) {
	chk, err := Verify(path, b, nil)
	if err != nil {
		return nil, err
	}
	return chk, h.checkSigner(path, chk)
}

func (h *KeyHistory) checkSigner(path string, chk *SignatureCheck) error {
	pub, _ := canonicalBase64(chk.Signature.Sig.PublicKey)
	if err := h.Check(pub, chk.Signature.AuditSeq); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	chk.Trusted = true
	return nil
}

// VerifyCheckpoint proves that the trail t extends the signed checkpoint
// cp, signed by the key in force at the checkpoint's last entry.
func (h *KeyHistory) VerifyCheckpoint(ctx context.Context, t *audit.Trail, cp []byte) (audit.Checkpoint, error) {
	size, err := audit.CheckpointSize(cp)
	if err != nil {
		return audit.Checkpoint{}, &audit.CheckpointError{Problem: err.Error()}
	}
	if h == nil || len(h.Keys) == 0 {
		return audit.Checkpoint{}, &audit.CheckpointError{Problem: "no engine key on record to check the checkpoint against"}
	}
	want, ok := h.At(size)
	if h.anyTime {
		var errs []error
		for _, k := range h.Keys {
			c, err := t.VerifyCheckpoint(ctx, cp, k.pub)
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return audit.Checkpoint{}, errs[0]
	}
	if !ok {
		return audit.Checkpoint{}, &audit.CheckpointError{Problem: "no engine key on record"}
	}
	c, err := t.VerifyCheckpoint(ctx, cp, want.pub)
	if err != nil && strings.Contains(err.Error(), "not signed by this trail's key") {
		for _, k := range h.Keys {
			if _, e2 := t.VerifyCheckpoint(ctx, cp, k.pub); e2 == nil || !strings.Contains(e2.Error(), "not signed by this trail's key") {
				return c, &audit.CheckpointError{Problem: fmt.Sprintf("the checkpoint of %d entries is signed by key %s, which was the engine key for entries %s only (key %s was in force at entry %d)", size, k.KeyID, k.span(), want.KeyID, size)}
			}
		}
		return c, &audit.CheckpointError{Problem: fmt.Sprintf("the checkpoint of %d entries is not signed by key %s, the engine key at entry %d, nor by any key in the trail's key history", size, want.KeyID, size)}
	}
	return c, err
}

// ReadTrustedKeys reads the keys a verifier trusts from a file: the JSON
// `pawl key history --output json` prints (a history, whose rotations are
// checked again here and whose epochs are then enforced), or lines of
// public keys as engine.pub holds one ("ed25519 BASE64 [KEYID]"; blank
// lines and lines starting with # are skipped), each then trusted at any
// entry.
func ReadTrustedKeys(path string) (*KeyHistory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		return ParseHistory(path, b)
	}
	h := &KeyHistory{Keys: []KeyEpoch{}, anyTime: true}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pub, err := ParsePublicKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		h.Keys = append(h.Keys, KeyEpoch{Key: FormatPublicKey(pub), KeyID: KeyID(pub), pub: pub})
	}
	if len(h.Keys) == 0 {
		return nil, fmt.Errorf("%s holds no public key", path)
	}
	return h, nil
}

// ParseHistory reads a key history in the JSON form `pawl key history
// --output json` prints (name names where it came from, in errors) and
// checks it as ReadHistory checks the trail's: the chain of rotations,
// each signed by both keys over the trail's rotation statement. An
// error that starts "NAME is not a key history" is bytes that are not
// one; any other is a history whose chain does not hold.
func ParseHistory(name string, b []byte) (*KeyHistory, error) {
	var in KeyHistory
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("%s is not a key history: %v", name, err)
	}
	return rebuild(name, &in)
}

// NewHistory is a history of trail whose only key is pub, in force from
// entry from (0: as far back as its holder knows): for a verifier that
// holds a trail's key from elsewhere (the network's hub holds each
// site's from its configuration) and follows the trail's rotations with
// Rotate.
func NewHistory(trail string, pub ed25519.PublicKey, from int64) *KeyHistory {
	return &KeyHistory{Trail: trail, Keys: []KeyEpoch{{Key: FormatPublicKey(pub), KeyID: KeyID(pub), From: from, pub: pub}}}
}

// Rotate extends the history by the rotation at entry from to the key
// next, with the old and the new key's signatures over the rotation
// statement, checked exactly as ReadHistory checks an engine.key_rotated
// entry: the old key must be the key in force.
func (h *KeyHistory) Rotate(from int64, next ed25519.PublicKey, oldSignature, newSignature string) error {
	if h.anyTime || len(h.Keys) == 0 {
		return errors.New("a rotation extends a key history, not a list of keys")
	}
	return h.extend(KeyEpoch{From: from, OldSignature: oldSignature, NewSignature: newSignature}, h.Keys[len(h.Keys)-1].Key, FormatPublicKey(next))
}

// rebuild checks a history read from a file as ReadHistory checks the
// trail's: the chain of rotations, each signed by both keys.
func rebuild(path string, in *KeyHistory) (*KeyHistory, error) {
	if in.Trail == "" || len(in.Keys) == 0 {
		return nil, fmt.Errorf("%s is not a key history: no trail id or no keys", path)
	}
	first, err := ParsePublicKey(in.Keys[0].Key)
	if err != nil {
		return nil, fmt.Errorf("%s: key 1: %w", path, err)
	}
	h := &KeyHistory{Trail: in.Trail, Keys: []KeyEpoch{{Key: FormatPublicKey(first), KeyID: KeyID(first), From: in.Keys[0].From,
		Time: in.Keys[0].Time, Operator: in.Keys[0].Operator, Reason: in.Keys[0].Reason, pub: first}}}
	for i, k := range in.Keys[1:] {
		ep := KeyEpoch{OldSignature: k.OldSignature, NewSignature: k.NewSignature, From: k.From, Time: k.Time, Operator: k.Operator, Reason: k.Reason}
		if err := h.extend(ep, h.Keys[len(h.Keys)-1].Key, k.Key); err != nil {
			return nil, fmt.Errorf("%s: key %d: %w", path, i+2, err)
		}
	}
	return h, nil
}

// Agrees checks the trail's history against h, a history (or list of
// keys) the verifier holds from elsewhere: a history must be the trail's
// own or a beginning of it (the trail may have rotated since), key by key
// and entry by entry; with a list, every key the trail ever had must be in
// it. A trail rewritten under a key of the forger's own, or with a
// rotation removed or added before the verifier's copy was taken, fails.
func (h *KeyHistory) Agrees(trail *KeyHistory) error {
	if h.anyTime {
		for _, k := range trail.Keys {
			if _, ok := h.find(k.pub); !ok {
				return fmt.Errorf("the trail's engine key %s (in force from entry %d) is not a trusted key", k.KeyID, k.From)
			}
		}
		return nil
	}
	if h.Trail != trail.Trail {
		return fmt.Errorf("it is the key history of trail %s, this trail is %s", h.Trail, trail.Trail)
	}
	for i, k := range h.Keys {
		if i >= len(trail.Keys) {
			return fmt.Errorf("the trail's key history ends after %d keys, the trusted history has %d (key %s from entry %d is missing)", len(trail.Keys), len(h.Keys), k.KeyID, k.From)
		}
		t := trail.Keys[i]
		if !bytes.Equal(t.pub, k.pub) || t.From != k.From {
			return fmt.Errorf("key %d differs: the trail has %s from entry %d, the trusted history %s from entry %d", i+1, t.KeyID, t.From, k.KeyID, k.From)
		}
		if k.Until != 0 && t.Until != k.Until {
			return fmt.Errorf("key %d (%s) was rotated out at entry %d by the trusted history, at entry %d by the trail", i+1, k.KeyID, k.Until, t.Until)
		}
	}
	return nil
}
