package network

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/seal"
)

// A site's engine key rotations at the hub.
//
// The hub starts from the verifier key its configuration names for each
// site (sites.<id>.vkey). A site that rotates its engine key (`pawl key
// rotate`) publishes, before anything the new key signs, its whole key
// history (kind key, subject pawl.site.<site>.key): every key with the
// entry of the site's trail it signs from and each rotation's two
// signatures over the rotation statement (seal.RotationStatement: the
// trail id and both keys), exactly what `pawl key history --output json`
// prints, less the operators and reasons. The hub takes the history only
// when its chain holds (seal.ParseHistory: each rotation signed by both
// its keys), it is of the site's trail, it passes through the key the hub
// holds (so every new key is vouched for by a key the hub already
// trusted, forward by its old key's signature, backward by its new
// key's), and it agrees with what the hub held and verified before. Then
// each checkpoint and batch signature of the site is checked against the
// key in force at its entry of the site's trail (KeyHistory.At). A history
// that is not signed by the key the hub holds is a forged finding; one
// that contradicts what the hub holds is a key_conflict finding; neither
// changes the key.

// KeyConflict is the finding of a key history, signed by the key the hub
// holds, that contradicts what the hub holds: a key it holds from another
// entry, or a rotation below an entry the hub already checked against
// the old key.
const KeyConflict = "key_conflict"

// trailID is the site's trail id, from its trail key's name (the
// checkpoint origin pawl.dev/audit/<id>).
func (k trailKey) trailID() string {
	if id, ok := strings.CutPrefix(k.name, audit.OriginOf("")); ok {
		return id
	}
	return k.name
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// siteHistory is the key history the hub holds for site, whose
// configured key is k: the chain kept in hub.db (site_keys) when it holds
// the configured key, else (nothing kept, or the operator replaced the
// site's key in the configuration since) the configured key alone, in
// force from the trail's start.
func siteHistory(ctx context.Context, q queryer, site string, k trailKey) (*seal.KeyHistory, error) {
	alone := seal.NewHistory(k.trailID(), k.pub, 0)
	rows, err := q.QueryContext(ctx, "SELECT key, from_seq, old_signature, new_signature FROM site_keys WHERE site = ? ORDER BY from_seq", site)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return alone, nil // a hub.db from before rotations were kept, read beside a hub not restarted since
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var h *seal.KeyHistory
	held := false
	for rows.Next() {
		var key, oldSig, newSig string
		var from int64
		if err := rows.Scan(&key, &from, &oldSig, &newSig); err != nil {
			return nil, err
		}
		pub, err := seal.ParsePublicKey(key)
		if err != nil {
			return alone, nil
		}
		held = held || bytes.Equal(pub, k.pub)
		if h == nil {
			h = seal.NewHistory(k.trailID(), pub, from)
		} else if err := h.Rotate(from, pub, oldSig, newSig); err != nil {
			// Not a chain: hub.db was edited (VerifyHub says so); the
			// configured key is what the hub holds.
			return alone, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if h == nil || !held {
		return alone, nil
	}
	return h, nil
}

// history is the key history the hub holds for site now.
func (s *state) history(site string) *seal.KeyHistory {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	return s.hists[site]
}

// checkKeys checks a key history the site published (message seq) against
// the history cur the hub holds, keeps what is new of it in hub.db, and
// returns the history the hub holds from then on (nil: unchanged).
func (s *state) checkKeys(ctx context.Context, tx *sql.Tx, site string, k trailKey, cur *seal.KeyHistory, data []byte, seq uint64, at time.Time, find func(k, format string, args ...any) error) (*seal.KeyHistory, error) {
	m, err := seal.ParseHistory(fmt.Sprintf("message %d", seq), data)
	if err != nil {
		kind := Forged
		if strings.Contains(err.Error(), "is not a key history") {
			kind = Garbage
		}
		return nil, find(kind, "%v", err)
	}
	if m.Trail != k.trailID() {
		return nil, find(Forged, "message %d: the key history of trail %s; %s's trail is %s", seq, m.Trail, site, k.trailID())
	}
	index := func(pub ed25519.PublicKey) int {
		for i, e := range m.Keys {
			if bytes.Equal(e.Public(), pub) {
				return i
			}
		}
		return -1
	}
	now, _ := cur.Current()
	at0 := index(now.Public())
	if at0 < 0 {
		return nil, find(Forged, "message %d: a key history of %s's trail that does not pass through key %s, the key the hub holds for the site: no rotation in it is signed by that key, so the hub keeps it", seq, site, now.KeyID)
	}
	for i, held := range cur.Keys {
		j := index(held.Public())
		switch {
		case j < 0:
			return nil, find(KeyConflict, "message %d: a key history of %s's trail without key %s, which the hub holds for the site from entry %d", seq, site, held.KeyID, held.From)
		case held.From != 0 && m.Keys[j].From != held.From:
			return nil, find(KeyConflict, "message %d: a key history in which key %s signs %s's trail from entry %d; the hub holds it from entry %d", seq, held.KeyID, site, m.Keys[j].From, held.From)
		case i == 0 && held.From != 0 && j != 0:
			return nil, find(KeyConflict, "message %d: a key history with keys before key %s, the first key of %s's trail the hub holds (from entry %d)", seq, held.KeyID, site, held.From)
		}
	}
	if len(m.Keys) == len(cur.Keys) {
		return nil, nil // nothing new: a duplicate, or the history the hub holds
	}
	// What the hub already checked against a key stays checked against
	// it: a new rotation comes after everything the hub took as signed
	// by the key it held, and keys learnt backward end before it.
	var lo, hi sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MIN(n), MAX(n) FROM (SELECT size AS n FROM checkpoints WHERE site = ?1 UNION ALL SELECT audit_seq FROM batches WHERE site = ?1)`, site).Scan(&lo, &hi); err != nil {
		return nil, err
	}
	if at0+1 < len(m.Keys) && hi.Valid && hi.Int64 >= m.Keys[at0+1].From {
		return nil, find(KeyConflict, "message %d: a rotation of %s's engine key from %s at entry %d, but the hub checked a checkpoint or batch signature at entry %d against that key: the history contradicts what the site published before",
			seq, site, now.KeyID, m.Keys[at0+1].From, hi.Int64)
	}
	if len(cur.Keys) == 1 && cur.Keys[0].From == 0 && at0 > 0 && lo.Valid && lo.Int64 < m.Keys[at0].From {
		return nil, find(KeyConflict, "message %d: a key history in which key %s signs %s's trail from entry %d, but the hub checked a checkpoint or batch signature at entry %d against it",
			seq, now.KeyID, site, m.Keys[at0].From, lo.Int64)
	}
	for j, e := range m.Keys {
		old := ""
		if j > 0 {
			old = m.Keys[j-1].Key
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO site_keys (site, key, old_key, from_seq, old_signature, new_signature, seq, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			site, e.Key, old, e.From, e.OldSignature, e.NewSignature, seq, at.UTC().Format(time.RFC3339Nano)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// openSigned opens a signed checkpoint of the site's trail with the key
// the history h had in force at its size; a checkpoint signed by another
// key of the history says which and when that key signed.
func openSigned(h *seal.KeyHistory, cp []byte, site string, seq uint64) (audit.Checkpoint, string, error) {
	size, err := audit.CheckpointSize(cp)
	if err != nil {
		return audit.Checkpoint{}, Garbage, fmt.Errorf("message %d: %v", seq, err)
	}
	want, _ := h.At(size)
	c, err := audit.OpenCheckpoint(cp, want.Public())
	if err == nil {
		return c, "", nil
	}
	for _, k := range h.Keys {
		if bytes.Equal(k.Public(), want.Public()) {
			continue
		}
		if _, e2 := audit.OpenCheckpoint(cp, k.Public()); e2 == nil {
			span := fmt.Sprintf("from entry %d", k.From)
			if k.Until != 0 {
				span = fmt.Sprintf("for entries %d to %d", k.From, k.Until-1)
			}
			return c, Forged, fmt.Errorf("message %d: the checkpoint of %d entries is signed by key %s, %s's engine key %s only (key %s was in force at entry %d)", seq, size, k.KeyID, site, span, want.KeyID, size)
		}
	}
	cur, _ := h.Current()
	return c, Forged, fmt.Errorf("message %d: %v: signed by none of the keys the hub holds for %s (key %s now); if %s rotated its engine key, the hub takes the new one from the site's key history, which a site's publication sends before anything the new key signs (an older pawl, or a message sent by hand, does not): publish from the site again with this pawl", seq, err, site, cur.KeyID, site)
}

// publicHistory is the key history as a site publishes it: every key, the
// entry it signs from and each rotation's signatures, without the
// operators, reasons and times (they are not proof, and they name
// people).
func publicHistory(h *seal.KeyHistory) ([]byte, error) {
	out := seal.KeyHistory{Trail: h.Trail, Keys: make([]seal.KeyEpoch, len(h.Keys))}
	for i, k := range h.Keys {
		k.Time, k.Operator, k.Reason = "", "", ""
		out.Keys[i] = k
	}
	return json.Marshal(out)
}
