package ratchet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/plugstate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/store"
)

// ErrStaleState is a batch judged against a state of its job that is no
// longer the job's: another batch of the job committed in between.
var ErrStaleState = errors.New("stale state")

// keepsState says whether any of the job's pinned plugins declares state
// (read from the modules' manifests in the store, without compiling them).
func keepsState(p *project.Project, job *project.Job, pins lockfile.Pins) (bool, error) {
	for _, spec := range job.Validators {
		pin, ok := pins[lockfile.PluginKey(spec.Plugin)]
		if !ok {
			continue // loadValidators says so
		}
		wasm, err := p.ReadBlob(pin)
		if err != nil {
			continue // loadValidators refuses it, on record
		}
		m, err := sandbox.ReadManifest(wasm)
		if err != nil {
			continue // loadValidators refuses it, on record
		}
		if m.State != nil {
			return true, nil
		}
	}
	return false, nil
}

// JobState is the state of a job: the state_out of its last committed
// batch that advances it (resubmissions do not), or the empty state before
// any or after a state reset; with that batch's id ("" before any or after
// a reset). JobStateNow says more.
func JobState(ctx context.Context, p *project.Project, job string) (store.Digest, string, error) {
	cur, err := JobStateNow(ctx, p, job)
	if err != nil {
		return "", "", err
	}
	return cur.State, cur.Batch, nil
}

// committedBase finds a committed batch of job with the given base id: the
// same input under the same pins, whatever state it met. The state index
// names it; its record on the trail is checked to say so.
func committedBase(ctx context.Context, p *project.Project, job, base string) (*project.Batch, error) {
	id, err := p.CommittedBase(ctx, base)
	if err != nil || id == "" {
		return nil, err
	}
	e, ok, err := p.CommittedEntry(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("the state index names batch %s for base id %s, which is not committed: remove %s and it is rebuilt from the trail", id, base, filepath.Join(p.Data, "state-index"))
	}
	b, err := p.BatchOf(e)
	if err != nil {
		return nil, err
	}
	if b.Job != job || b.State == nil || b.State.Base != base || b.Resubmits != nil {
		return nil, fmt.Errorf("the state index names batch %s for base id %s, whose record says otherwise: remove %s and it is rebuilt from the trail", id, base, filepath.Join(p.Data, "state-index"))
	}
	return b, nil
}

// ErrStateFormat is a plugin that keeps its state in another format than
// the one the job's state holds its keys in.
var ErrStateFormat = errors.New("plugin state in another format")

// migrateStates carries the keys the batch's state holds of each stateful
// plugin in a format other than the one its pinned version declares: a
// plugin that exports pawl_migrate_state is given every such key, in key
// order, on an instance of its own (its declared limits apply to what it
// writes), and the old key is removed; any other plugin refuses the batch
// (ErrStateFormat). It runs before the first record, so the batch's
// state_out (and a replay's) holds the migration. The plan's validators
// are loaded.
func (pl *Plan) migrateStates(ctx context.Context) error {
	pl.migrated = nil
	if pl.state == nil {
		return nil
	}
	for _, v := range pl.validators {
		m := v.plugin.Manifest()
		if m.State == nil {
			continue
		}
		want := m.State.StateFormat()
		for _, f := range pl.state.Formats(m.Name) {
			if f == want {
				continue
			}
			if !v.plugin.Migrates() {
				return fmt.Errorf("%w: %s keeps its state in format %s, but the state %s of job %s holds %d keys of %s in format %s, which this version does not read and cannot migrate (it exports no pawl_migrate_state): pin the version of %s that wrote them again, or reset the job's state (`pawl state reset %s --reason TEXT`, an approver's action: %s then starts from the empty state)",
					ErrStateFormat, m.ID(), want, pl.StateIn, pl.Job.Name, pl.state.Keys(plugstate.Namespace(m.Name, f)), m.Name, f, m.Name, pl.Job.Name, m.Name)
			}
			n, err := pl.migrate(ctx, v, f)
			if err != nil {
				return fmt.Errorf("migrating the state of %s from format %s to %s: %w", m.ID(), f, want, err)
			}
			pl.migrated = append(pl.migrated, actions.StateMigration{Plugin: m.ID(), From: f, To: want, Keys: n})
		}
	}
	return nil
}

// migrate gives plugin v every key of its namespace in format from, read
// from a snapshot of the table (the table changes as it goes).
func (pl *Plan) migrate(ctx context.Context, v *validator, from string) (int64, error) {
	if err := os.MkdirAll(pl.stateDir, 0o700); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(pl.stateDir, "snapshot-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	size, err := pl.state.WriteTo(f)
	if err != nil {
		return 0, err
	}
	snap, err := plugstate.Open(f, size, plugstate.Options{Dir: pl.stateDir})
	if err != nil {
		return 0, err
	}
	defer snap.Close()
	in, err := v.plugin.NewInstance(ctx, v.icfg)
	if err != nil {
		return 0, err
	}
	defer in.Close(ctx)
	prefix := plugstate.FullKey(nil, plugstate.Namespace(v.plugin.Manifest().Name, from), nil)
	var n int64
	err = snap.Each(func(k, val []byte) error {
		if !bytes.HasPrefix(k, prefix) {
			return nil
		}
		if err := in.MigrateState(ctx, from, k[len(prefix):], val); err != nil {
			return err
		}
		n++
		return pl.state.Put(k, nil)
	})
	return n, err
}

// stateBuffer is the bytes of a batch's state changes held in memory
// before they spill to sorted runs on disk (plugstate.Options.Buffer); 0
// is plugstate.DefaultBuffer. Tests make it small.
var stateBuffer int

// loadState opens the state a batch starts from in the store (the empty
// state is put there first, so that every state_in on record is a blob):
// the file is checked and hashed in one streaming pass and read through a
// sparse index from then on, never loaded whole; the batch's changes spill
// to a directory of their own under pending/. Release the table with
// pl.releaseState.
func (pl *Plan) loadState(p *project.Project, d store.Digest) error {
	if measureState {
		defer timed(time.Now())
	}
	// Made on the first spill only: most batches never spill, and
	// pending/ holds nothing of a batch before its folder.
	dir := filepath.Join(p.PendingDir(), fmt.Sprintf(".state-%d-%016x", os.Getpid(), rand.Uint64()))
	opt := plugstate.Options{Dir: dir, Buffer: stateBuffer}
	pl.stateDir = dir
	pl.closeState = func() { os.RemoveAll(dir) }
	if d == store.Digest(plugstate.EmptyDigest) {
		if _, _, err := p.Store.Put(strings.NewReader(plugstate.Magic)); err != nil {
			return err
		}
		pl.state = plugstate.NewWith(opt)
		return nil
	}
	path := p.Store.Path(d)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("the state %s: %w", d, err)
	}
	pl.closeState = func() { f.Close(); os.RemoveAll(dir) }
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("the state %s: %w", d, err)
	}
	t, err := plugstate.Open(f, fi.Size(), opt)
	if err != nil {
		return fmt.Errorf("the state %s: %w", d, err)
	}
	if t.Digest() != string(d) {
		return &store.CorruptError{Digest: d, Path: path, Actual: store.Digest(t.Digest()), Size: fi.Size()}
	}
	pl.state = t
	return nil
}

// releaseState closes the batch's state table, if any, removing what it
// spilled.
func (pl *Plan) releaseState() {
	if pl.closeState != nil {
		pl.closeState()
		pl.closeState = nil
	}
}

// storeState writes the table's canonical file into the store and returns
// its digest.
func storeState(p *project.Project, t *plugstate.Table) (store.Digest, error) {
	if measureState {
		defer timed(time.Now())
	}
	pr, pw := io.Pipe()
	go func() { _, err := t.WriteTo(pw); pw.CloseWithError(err) }()
	d, _, err := p.Store.Put(pr)
	pr.Close()
	if err != nil {
		return "", fmt.Errorf("storing the state: %w", err)
	}
	return d, nil
}

// stateNanos, when measureState is set (only BenchmarkStateCost sets it),
// sums the time spent in the host's state: loading state_in, every get and
// put, storing state_out.
var (
	measureState bool
	stateNanos   atomic.Int64
)

func timed(start time.Time) {
	stateNanos.Add(int64(time.Since(start)))
}

// nsState is one plugin's view of a state table: its own keys only.
type nsState struct {
	t   *plugstate.Table
	ns  string
	buf []byte
}

func (s *nsState) Get(key []byte) ([]byte, bool) {
	if measureState {
		defer timed(time.Now())
	}
	s.buf = plugstate.FullKey(s.buf[:0], s.ns, key)
	return s.t.Get(s.buf)
}

func (s *nsState) Put(key, value []byte) error {
	if measureState {
		defer timed(time.Now())
	}
	s.buf = plugstate.FullKey(s.buf[:0], s.ns, key)
	return s.t.Put(s.buf, value)
}

func (s *nsState) Keys() int64 { return s.t.Keys(s.ns) }

// stateRecord is the batch record's state: what it started from and what
// it produced, stored.
func (pl *Plan) stateRecord(p *project.Project) (*actions.StateRef, error) {
	if pl.state == nil {
		return nil, nil
	}
	out, err := storeState(p, pl.state)
	if err != nil {
		return nil, err
	}
	return &actions.StateRef{In: pl.StateIn, Out: out, Base: pl.BaseID, Keys: pl.state.Len(), Migrated: pl.migrated}, nil
}
