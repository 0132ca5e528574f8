package network

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // the hub's state, like the trail, in SQLite
	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/seal"
	"golang.org/x/mod/sumdb/note"
)

// maxMessage bounds a message: a checkpoint note, 63 proof hashes and
// their lines fit in a few kilobytes.
const maxMessage = 16 << 10

// The kinds of finding the hub keeps.
const (
	SplitView  = "split_view" // two roots of one site's trail at one size
	Fork       = "fork"       // a consistency proof that does not verify
	Truncation = "truncation" // a checkpoint smaller than one seen, that nothing proves consistent
	Unproven   = "unproven"   // a larger checkpoint whose proof does not start at the hub's head
	Garbage    = "garbage"    // a message that is not a checkpoint with its proof
	Forged     = "forged"     // not signed by the site's trail key, or for another trail, or from an unknown site
	Quiet      = "quiet"      // nothing for longer than quiet_after (found by status, not stored)
)

type trailKey struct {
	name string
	pub  ed25519.PublicKey
}

// parseTrailKey reads a trail's verifier key (name+hash+base64 of an
// ed25519 signed-note key, as `pawl audit key` prints it).
func parseTrailKey(vkey string) (trailKey, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return trailKey{}, fmt.Errorf("%q is not a trail's verifier key (`pawl audit key` prints it): %v", vkey, err)
	}
	_, rest, _ := strings.Cut(vkey, "+")
	_, b64, _ := strings.Cut(rest, "+")
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(k) != 1+ed25519.PublicKeySize || k[0] != 1 {
		return trailKey{}, fmt.Errorf("%q is not an ed25519 verifier key", vkey)
	}
	return trailKey{name: v.Name(), pub: ed25519.PublicKey(k[1:])}, nil
}

type state struct {
	db    *sql.DB
	sites map[string]trailKey // each site's configured key
	// hists is each site's key history as the hub holds it (keys.go);
	// a history is replaced, never changed, under keysMu.
	hists  map[string]*seal.KeyHistory
	keysMu sync.Mutex
	key    ed25519.PrivateKey
	name   string
	// trail is the hub's own audit trail (trail.db beside hub.db): each
	// finding, resolution and cosignature of hub.db is put on it, hash
	// chained, by flush.
	trail   *audit.Trail
	flushMu sync.Mutex
}

// HubOperator is the operator of the hub's own trail entries.
const HubOperator = "pawl-hub"

// migrations add what later versions keep: which entry of the hub's trail
// holds each outcome (NULL: not on it yet).
var migrations = []string{
	"ALTER TABLE findings ADD COLUMN audit_seq INTEGER",
	"ALTER TABLE findings ADD COLUMN resolved_audit_seq INTEGER",
	"ALTER TABLE checkpoints ADD COLUMN audit_seq INTEGER",
}

const schema = `
CREATE TABLE IF NOT EXISTS checkpoints (site TEXT NOT NULL, size INTEGER NOT NULL, root BLOB NOT NULL, old_size INTEGER NOT NULL,
	proof BLOB NOT NULL, seq INTEGER NOT NULL, received TEXT NOT NULL, cosignature BLOB, PRIMARY KEY (site, size));
CREATE TABLE IF NOT EXISTS findings (site TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL,
	resolved INTEGER NOT NULL DEFAULT 0, UNIQUE (site, seq, kind));
CREATE TABLE IF NOT EXISTS batches (site TEXT NOT NULL, batch TEXT NOT NULL, sha256 TEXT NOT NULL, audit_seq INTEGER NOT NULL, seq INTEGER NOT NULL,
	received TEXT NOT NULL, PRIMARY KEY (site, batch));
CREATE TABLE IF NOT EXISTS sites (site TEXT PRIMARY KEY, last_seen TEXT NOT NULL, last_seq INTEGER NOT NULL, messages INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS site_keys (site TEXT NOT NULL, key TEXT NOT NULL, old_key TEXT NOT NULL, from_seq INTEGER NOT NULL, old_signature TEXT NOT NULL,
	new_signature TEXT NOT NULL, seq INTEGER NOT NULL, received TEXT NOT NULL, audit_seq INTEGER, PRIMARY KEY (site, key));
`

func openState(path string, c HubConfig, key ed25519.PrivateKey) (*state, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	for _, m := range migrations {
		if _, err := db.Exec(m); err != nil && !strings.Contains(err.Error(), "duplicate column") {
			db.Close()
			return nil, fmt.Errorf("%s: %v", path, err)
		}
	}
	s := &state{db: db, sites: map[string]trailKey{}, hists: map[string]*seal.KeyHistory{}, key: key, name: c.Name}
	tp := filepath.Join(filepath.Dir(path), "trail.db")
	if s.trail, err = audit.Open(tp); err != nil {
		db.Close()
		return nil, fmt.Errorf("the hub's trail %s: %v", tp, err)
	}
	for id, sc := range c.Sites {
		k, err := parseTrailKey(sc.VKey)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("sites.%s.vkey: %v", id, err)
		}
		s.sites[id] = k
		if s.hists[id], err = siteHistory(context.Background(), db, id, k); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %v", path, err)
		}
	}
	// What an earlier hub decided before it kept a trail, or what a
	// crash left between hub.db and the trail, goes on it now.
	if err := s.flush(context.Background()); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *state) close() error {
	s.trail.Close()
	return s.db.Close()
}

// flush puts every outcome of hub.db not yet on the hub's trail on it, and
// notes in hub.db the entry that holds it. A crash between the two puts
// the outcome on the trail twice, never zero times; VerifyHub compares
// sets.
func (s *state) flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	type todo struct {
		d      actions.Details
		site   string
		update string
		args   []any
	}
	var ts []todo
	rows, err := s.db.QueryContext(ctx, "SELECT site, kind, detail, seq, at, resolved, audit_seq IS NULL, resolved_audit_seq IS NULL FROM findings WHERE audit_seq IS NULL OR (resolved = 1 AND resolved_audit_seq IS NULL) ORDER BY rowid")
	if err != nil {
		return err
	}
	for rows.Next() {
		var d actions.HubFindingDetails
		var resolved, noEntry, noResolved bool
		if err := rows.Scan(&d.Site, &d.Kind, &d.Detail, &d.Seq, &d.At, &resolved, &noEntry, &noResolved); err != nil {
			rows.Close()
			return err
		}
		if noEntry {
			ts = append(ts, todo{d, d.Site, "UPDATE findings SET audit_seq = ? WHERE site = ? AND seq = ? AND kind = ?", []any{d.Site, d.Seq, d.Kind}})
		}
		if resolved && noResolved {
			ts = append(ts, todo{actions.HubFindingResolvedDetails{Site: d.Site, Kind: d.Kind, Seq: d.Seq}, d.Site,
				"UPDATE findings SET resolved_audit_seq = ? WHERE site = ? AND seq = ? AND kind = ?", []any{d.Site, d.Seq, d.Kind}})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.db.QueryContext(ctx, "SELECT site, size, root, cosignature, seq FROM checkpoints WHERE cosignature IS NOT NULL AND audit_seq IS NULL ORDER BY rowid")
	if err != nil {
		return err
	}
	for rows.Next() {
		var d actions.HubCosignedDetails
		var line []byte
		if err := rows.Scan(&d.Site, &d.Size, &d.Root, &line, &d.Seq); err != nil {
			rows.Close()
			return err
		}
		d.Cosignature = string(line)
		ts = append(ts, todo{d, d.Site, "UPDATE checkpoints SET audit_seq = ? WHERE site = ? AND size = ?", []any{d.Site, d.Size}})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.db.QueryContext(ctx, "SELECT site, key, old_key, from_seq, old_signature, new_signature, seq FROM site_keys WHERE old_signature != '' AND audit_seq IS NULL ORDER BY from_seq")
	if err != nil {
		return err
	}
	for rows.Next() {
		var d actions.HubSiteKeyRotatedDetails
		if err := rows.Scan(&d.Site, &d.NewKey, &d.OldKey, &d.From, &d.OldSignature, &d.NewSignature, &d.Seq); err != nil {
			rows.Close()
			return err
		}
		d.Trail = s.sites[d.Site].trailID()
		ts = append(ts, todo{d, d.Site, "UPDATE site_keys SET audit_seq = ? WHERE site = ? AND key = ?", []any{d.Site, d.NewKey}})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range ts {
		e, err := actions.Append(ctx, s.trail, actions.Record{Operator: HubOperator, Object: "site:" + t.site, Details: t.d})
		if err != nil {
			return fmt.Errorf("the hub's trail: %v", err)
		}
		if _, err := s.db.ExecContext(ctx, t.update, append([]any{e.Seq}, t.args...)...); err != nil {
			return err
		}
	}
	return nil
}

// vkey is the hub's cosigning key.
func (s *state) vkey() audit.WitnessKey {
	pub := s.key.Public().(ed25519.PublicKey)
	h := sha256.New()
	h.Write([]byte(s.name + "\n"))
	h.Write(append([]byte{0x04}, pub...))
	return audit.WitnessKey{Name: s.name, Hash: binary.BigEndian.Uint32(h.Sum(nil)), Pub: pub}
}

// cosign is the hub's C2SP tlog-cosignature of a checkpoint body.
func (s *state) cosign(body []byte, t time.Time) audit.Cosignature {
	k := s.vkey()
	sig := binary.BigEndian.AppendUint32(nil, k.Hash)
	sig = binary.BigEndian.AppendUint64(sig, uint64(t.Unix()))
	sig = append(sig, ed25519.Sign(s.key, fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t.Unix(), body))...)
	return audit.Cosignature{Witness: k.Name, KeyHash: k.Hash, Time: t.Unix(), Signature: sig}
}

type stored struct {
	size, oldSize int64
	root, proof   []byte
	cosigned      []byte
}

// handle checks one message of the stream (its subject, bytes, stream
// sequence and the time the hub stored it) and keeps the outcome, in one
// transaction. Handling the same message again changes nothing. from is
// the leaf site whose stream the message came from ("": the direct
// stream, where the server allowed the subject).
func (s *state) handle(ctx context.Context, from, subject string, data []byte, seq uint64, at time.Time) error {
	site, kind := "", ""
	if rest, ok := strings.CutPrefix(subject, "pawl.site."); ok {
		site, kind, _ = strings.Cut(rest, ".")
	}
	misaddressed := from != "" && site != from
	if misaddressed {
		site = from
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	find := func(k, format string, args ...any) error {
		_, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO findings (site, kind, detail, seq, at) VALUES (?, ?, ?, ?, ?)",
			site, k, fmt.Sprintf(format, args...), seq, at.UTC().Format(time.RFC3339Nano))
		return err
	}
	if misaddressed {
		// A leaf's outbox is the site's own: what else its server puts
		// there is not the site's to say.
		if err := find(Forged, "message %d: %s's leaf node forwarded a message on %q, not one of its own subjects", seq, from, subject); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		return s.flush(ctx)
	}
	next, err := s.checkMessage(ctx, tx, site, kind, data, seq, at, find)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if next != nil {
		s.keysMu.Lock()
		s.hists[site] = next
		s.keysMu.Unlock()
	}
	return s.flush(ctx)
}

// checkMessage checks one message of site's; a key history the hub takes
// is returned, to hold once the transaction is committed.
func (s *state) checkMessage(ctx context.Context, tx *sql.Tx, site, kind string, data []byte, seq uint64, at time.Time, find func(k, format string, args ...any) error) (*seal.KeyHistory, error) {
	key, ok := s.sites[site]
	if !ok {
		return nil, find(Forged, "message %d on %q: no site %q in the hub's configuration", seq, kind, site)
	}
	hist := s.history(site)
	if _, err := tx.ExecContext(ctx, `INSERT INTO sites (site, last_seen, last_seq, messages) VALUES (?, ?, ?, 1)
		ON CONFLICT (site) DO UPDATE SET last_seen = excluded.last_seen, last_seq = excluded.last_seq, messages = messages + 1 WHERE excluded.last_seq > last_seq`,
		site, at.UTC().Format(time.RFC3339Nano), seq); err != nil {
		return nil, err
	}
	switch kind {
	case "batch":
		return nil, s.checkBatch(ctx, tx, site, hist, data, seq, at, find)
	case "key":
		return s.checkKeys(ctx, tx, site, key, hist, data, seq, at, find)
	case "checkpoint":
	default:
		return nil, find(Garbage, "message %d: kind %q is not one the hub takes (checkpoint, batch, key)", seq, kind)
	}
	return nil, s.checkCheckpoint(ctx, tx, site, key, hist, data, seq, at, find)
}

// checkCheckpoint checks a signed checkpoint with its consistency proof
// against what the hub holds of the site's trail, and cosigns it when it
// is proven to extend all of it.
func (s *state) checkCheckpoint(ctx context.Context, tx *sql.Tx, site string, key trailKey, hist *seal.KeyHistory, data []byte, seq uint64, at time.Time, find func(k, format string, args ...any) error) error {
	a, err := audit.ParseAddCheckpoint(data)
	if err != nil {
		return find(Garbage, "message %d: %v", seq, err)
	}
	c, kind, err := openSigned(hist, a.Checkpoint, site, seq)
	if err != nil {
		return find(kind, "%v", err)
	}
	if c.Origin != key.name {
		return find(Forged, "message %d: the checkpoint is of trail %s, the site's trail is %s", seq, c.Origin, key.name)
	}
	get := func(size int64) (*stored, error) {
		var st stored
		err := tx.QueryRowContext(ctx, "SELECT size, old_size, root, proof, cosignature FROM checkpoints WHERE site = ? AND size = ?", site, size).Scan(&st.size, &st.oldSize, &st.root, &st.proof, &st.cosigned)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return &st, err
	}
	same, err := get(c.Size)
	if err != nil {
		return err
	}
	if same != nil {
		if bytes.Equal(same.root, c.Root) {
			return nil // seen: a duplicate or a redelivery
		}
		return find(SplitView, "message %d: two heads of %s's trail at %d entries: root %s, and %s before: the site shows different trails to different parties",
			seq, site, c.Size, b64(c.Root), b64(same.root))
	}
	var head stored
	err = tx.QueryRowContext(ctx, "SELECT size, old_size, root, proof FROM checkpoints WHERE site = ? ORDER BY size DESC LIMIT 1", site).Scan(&head.size, &head.oldSize, &head.root, &head.proof)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var ferr error
	cosign := true
	switch {
	case head.size == 0:
		// The first checkpoint of the site: nothing to hold it to.
	case c.Size > head.size:
		from, err := get(a.OldSize)
		if err != nil {
			return err
		}
		switch {
		case a.OldSize == 0 || from == nil:
			cosign = false
			ferr = find(Unproven, "message %d: a checkpoint of %d entries whose proof starts at %d, where the hub holds no checkpoint: its consistency with the %d the hub holds is not proven",
				seq, c.Size, a.OldSize, head.size)
		default:
			if err := audit.VerifyConsistency(from.size, c.Size, a.Proof, from.root, c.Root); err != nil {
				return find(Fork, "message %d: %v: %s's trail does not extend the checkpoint of %d entries the hub holds (forked or rewritten)", seq, err, site, from.size)
			}
			if from.size != head.size {
				cosign = false
				ferr = find(Unproven, "message %d: a checkpoint of %d entries proven from %d, not from the hub's head of %d: the link from %d is not proven",
					seq, c.Size, from.size, head.size, head.size)
			} else if from.cosigned == nil {
				// Proven from a head that is itself not proven: cosigned
				// when the missing link comes (below).
				cosign = false
			}
		}
	default:
		// Smaller than the head: a late message is proven by a later one
		// whose proof starts at its size; otherwise entries were deleted.
		var later stored
		err := tx.QueryRowContext(ctx, "SELECT size, old_size, root, proof FROM checkpoints WHERE site = ? AND old_size = ? AND size > ? ORDER BY size LIMIT 1", site, c.Size, c.Size).
			Scan(&later.size, &later.oldSize, &later.root, &later.proof)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return find(Truncation, "message %d: a checkpoint of %d entries after one of %d: entries %d..%d of %s's trail were deleted (or rewritten and re-signed)",
				seq, c.Size, head.size, c.Size+1, head.size, site)
		case err != nil:
			return err
		}
		if err := audit.VerifyConsistency(c.Size, later.size, splitProof(later.proof), c.Root, later.root); err != nil {
			return find(Fork, "message %d: the checkpoint of %d entries is not the one the checkpoint of %d was proven from: %v", seq, c.Size, later.size, err)
		}
		from, err := get(a.OldSize)
		if err != nil {
			return err
		}
		if from == nil || from.cosigned == nil {
			cosign = false
		} else if err := audit.VerifyConsistency(from.size, c.Size, a.Proof, from.root, c.Root); err != nil {
			return find(Fork, "message %d: %v: %s's trail does not extend the checkpoint of %d entries the hub holds (forked or rewritten)", seq, err, site, from.size)
		}
	}
	if ferr != nil {
		return ferr
	}
	// Kept as the site's checkpoint at its size; cosigned only when it is
	// proven to extend everything the hub held of the site's trail.
	var line []byte
	if cosign {
		body, err := audit.CheckpointBody(a.Checkpoint)
		if err != nil {
			return err
		}
		line = []byte(s.cosign(body, at).Line())
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO checkpoints (site, size, root, old_size, proof, seq, received, cosignature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		site, c.Size, c.Root, a.OldSize, bytes.Join(a.Proof, nil), seq, at.UTC().Format(time.RFC3339Nano), line); err != nil || !cosign {
		return err
	}
	// A checkpoint that came early, proven from this one, is proven now:
	// cosigned, and its unproven finding resolved; and so on along the
	// chain of proofs.
	for size := c.Size; ; {
		var next stored
		var nseq uint64
		err := tx.QueryRowContext(ctx, "SELECT size, root, seq FROM checkpoints WHERE site = ? AND old_size = ? AND size > ? AND cosignature IS NULL ORDER BY size LIMIT 1", site, size, size).
			Scan(&next.size, &next.root, &nseq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		body := audit.Checkpoint{Origin: key.name, Size: next.size, Root: next.root}.Format()
		if _, err := tx.ExecContext(ctx, "UPDATE checkpoints SET cosignature = ? WHERE site = ? AND size = ?", []byte(s.cosign(body, at).Line()), site, next.size); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE findings SET resolved = 1 WHERE site = ? AND seq = ? AND kind = ?", site, nseq, Unproven); err != nil {
			return err
		}
		size = next.size
	}
}

// cosignature is the hub's answer to site's request for its cosignature
// of the checkpoint of size entries: the cosignature line, or why not.
func (s *state) cosignature(ctx context.Context, site string, size int64) (status, body string, err error) {
	var line []byte
	err = s.db.QueryRowContext(ctx, "SELECT cosignature FROM checkpoints WHERE site = ? AND size = ?", site, size).Scan(&line)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return StatusPending, fmt.Sprintf("the hub holds no checkpoint of %d entries of %s's trail yet", size, site), nil
	case err != nil:
		return "", "", err
	case line == nil:
		return StatusUnproven, fmt.Sprintf("the hub holds the checkpoint of %d entries of %s's trail and has not cosigned it: its consistency with what the hub held is not proven (pawl network status shows the findings)", size, site), nil
	}
	return StatusCosigned, string(line), nil
}

func splitProof(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 32 {
		out = append(out, b[:32])
		b = b[32:]
	}
	return out
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// checkBatch checks a batch's usability signature (signature.json): signed
// by the site's engine key in force at the batch's entry, and the only one
// of its batch id.
func (s *state) checkBatch(ctx context.Context, tx *sql.Tx, site string, hist *seal.KeyHistory, data []byte, seq uint64, at time.Time, find func(k, format string, args ...any) error) error {
	chk, err := hist.VerifySignatureBytes(fmt.Sprintf("message %d", seq), data)
	if err != nil {
		k := Forged
		if strings.Contains(err.Error(), "is not a pawl usability signature") {
			k = Garbage
		}
		return find(k, "%v", err)
	}
	sum := sha256.Sum256(data)
	h := fmt.Sprintf("%x", sum)
	var held string
	err = tx.QueryRowContext(ctx, "SELECT sha256 FROM batches WHERE site = ? AND batch = ?", site, chk.Signature.BatchID).Scan(&held)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, "INSERT INTO batches (site, batch, sha256, audit_seq, seq, received) VALUES (?, ?, ?, ?, ?, ?)",
			site, chk.Signature.BatchID, h, chk.Signature.AuditSeq, seq, at.UTC().Format(time.RFC3339Nano))
		return err
	case err != nil:
		return err
	case held != h:
		return find(SplitView, "message %d: two signatures of batch %s of %s's trail (sha256 %s, and %s before): the site vouches for two outcomes of one batch", seq, chk.Signature.BatchID, site, h, held)
	}
	return nil // seen
}
