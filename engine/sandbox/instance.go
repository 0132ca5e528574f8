package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// InstanceConfig is everything an instance starts from. Together with the
// plugin's bytes and the batches it is fed, it determines every verdict.
type InstanceConfig struct {
	// Config is the plugin's config from the job spec (JSON); empty means
	// "{}". Check it against Manifest.ConfigSchema first.
	Config json.RawMessage
	// Lookup holds the pinned read-only files the manifest's Lookups name,
	// by those names. Missing or extra names are refused.
	Lookup map[string][]byte
	// AsOf is the batch's as-of time: the guest's wall clock stands still
	// at it.
	AsOf time.Time
	// Seed seeds the guest's random source (derive it from the batch id).
	Seed uint64
	// State is the plugin's keyed state in the host; required exactly when
	// its manifest declares state.
	State StateStore
}

// Instance is one running copy of a plugin. It is not safe for concurrent
// use: give each goroutine its own. An instance that failed in any way is
// closed and refuses further calls; make a fresh one.
type Instance struct {
	p     *Plugin
	mod   api.Module
	mem   api.Memory
	alloc api.Function
	init  api.Function
	valid api.Function
	// migrate is pawl_migrate_state, when the plugin exports it.
	migrate api.Function
	out     *cappedBuffer
	clock   *detClock
	asOf    int64
	buf     uint32 // guest input buffer from pawl_alloc
	bufCap  uint32

	state      StateStore
	validating bool  // pawl_validate is running: state may be used
	stateErr   error // the first state violation, which stopped the guest

	mu   sync.Mutex
	dead error
}

type instanceKey struct{}

// NewInstance instantiates the plugin with deterministic clocks and
// randomness, no filesystem, environment, arguments or network, and runs
// its init with ic.Config and ic.Lookup.
func (p *Plugin) NewInstance(ctx context.Context, ic InstanceConfig) (*Instance, error) {
	m := p.manifest
	fail := func(kind Kind, format string, args ...any) error {
		return &Error{Plugin: m.ID(), Op: "instantiate", Kind: kind, Detail: fmt.Sprintf(format, args...)}
	}
	var lookups []namedBytes
	for _, name := range m.Lookups {
		data, ok := ic.Lookup[name]
		if !ok {
			return nil, fail(KindConfig, "needs the lookup file %q; the job spec gives none", name)
		}
		lookups = append(lookups, namedBytes{name, data})
	}
	if len(ic.Lookup) != len(lookups) {
		var extra []string
		for name := range ic.Lookup {
			if !contains(m.Lookups, name) {
				extra = append(extra, name)
			}
		}
		sort.Strings(extra)
		return nil, fail(KindConfig, "was given lookup files it does not declare: %s", strings.Join(extra, ", "))
	}
	if m.State != nil && ic.State == nil {
		return nil, fail(KindConfig, "keeps state in the host, and none was given")
	}
	if m.State == nil && ic.State != nil {
		return nil, fail(KindConfig, "was given state, and its manifest declares none")
	}
	config := []byte(ic.Config)
	if len(bytes.TrimSpace(config)) == 0 {
		config = []byte("{}")
	}
	if !json.Valid(config) {
		return nil, fail(KindConfig, "config is not valid JSON")
	}

	in := &Instance{p: p, out: &cappedBuffer{max: p.rt.cfg.MaxOutputBytes}, asOf: ic.AsOf.UnixNano(), state: ic.State}
	in.clock = &detClock{wallSec: ic.AsOf.Unix(), wallNsec: int32(ic.AsOf.Nanosecond()), mono: 1}
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one plugin
		WithStartFunctions("_initialize").
		WithStdin(bytes.NewReader(nil)).
		WithStdout(in.out).
		WithStderr(in.out).
		WithWalltime(in.clock.walltime, sys.ClockResolution(1)).
		WithNanotime(in.clock.nanotime, sys.ClockResolution(1)).
		WithNanosleep(in.clock.sleep).
		WithOsyield(func() {}).
		WithRandSource(seededRand(ic.Seed))
	cctx, cancel := in.callContext(experimental.WithMemoryAllocator(ctx, guestMemory))
	p.rt.calls.RLock()
	mod, err := p.wrt.InstantiateModule(cctx, p.compiled, mc)
	p.rt.calls.RUnlock()
	cancel()
	if err != nil {
		return nil, in.classify(ctx, "instantiate", err, nil)
	}
	in.mod = mod
	in.mem = mod.Memory()
	in.alloc = mod.ExportedFunction("pawl_alloc")
	in.init = mod.ExportedFunction("pawl_init")
	in.valid = mod.ExportedFunction("pawl_validate")
	in.migrate = mod.ExportedFunction(migrateExport)
	if in.mem == nil {
		_ = mod.Close(ctx)
		return nil, fail(KindLoad, "has no memory")
	}

	msg := encodeInit(config, lookups, in.asOf, ic.Seed)
	res, err := in.call(ctx, "init", in.init, msg, nil)
	if err != nil {
		return nil, err
	}
	if len(res) > 0 {
		detail := string(res) // a copy: res is guest memory, gone with the instance
		in.Close(ctx)
		if len(detail) > maxMessageBytes {
			detail = detail[:maxMessageBytes] + "…"
		}
		return nil, &Error{Plugin: m.ID(), Op: "init", Kind: KindConfig, Detail: strings.ToValidUTF8(detail, "\uFFFD")}
	}
	return in, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// Plugin returns the plugin this is an instance of.
func (in *Instance) Plugin() *Plugin { return in.p }

// MemoryBytes is the size of the instance's linear memory now.
func (in *Instance) MemoryBytes() uint32 {
	if in.mem == nil {
		return 0
	}
	return in.mem.Size()
}

// Output returns what the guest wrote to stdout, stderr and pawl.log, up
// to Config.MaxOutputBytes (for diagnostics; never part of a verdict).
func (in *Instance) Output() string { return in.out.String() }

// Close releases the instance. It is safe to call more than once.
func (in *Instance) Close(ctx context.Context) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closeLocked(ctx, errors.New("closed"))
}

func (in *Instance) closeLocked(ctx context.Context, why error) {
	if in.dead == nil {
		in.dead = why
	}
	if in.mod != nil {
		_ = in.mod.Close(ctx)
	}
}

// Validate runs the plugin over one batch and returns a verdict per
// record. On any error the instance is closed: a trap (IsTrap) means the
// same records fail the same way on a fresh instance, so bisect (Bisect);
// every other error fails the batch.
func (in *Instance) Validate(ctx context.Context, b *Batch) ([]Verdict, error) {
	return in.ValidateInto(ctx, b, nil)
}

// ValidateInto is Validate with the verdicts written into dst's array
// when it has room for b.N of them (what dst held is dropped): a caller
// that validates batch after batch reuses one slice of verdicts instead
// of allocating one a call.
func (in *Instance) ValidateInto(ctx context.Context, b *Batch, dst []Verdict) ([]Verdict, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	m := in.p.manifest
	if in.dead != nil {
		return nil, &Error{Plugin: m.ID(), Op: "validate", Kind: KindClosed, Records: b.N, First: b.First, Detail: in.dead.Error()}
	}
	if err := b.check(m.Fields); err != nil {
		return nil, fmt.Errorf("sandbox: plugin %s: %w", m.ID(), err)
	}
	if b.N == 0 {
		return nil, nil
	}
	size := b.encodedSize(m.Fields)
	in.validating = true
	res, err := in.callWith(ctx, "validate", in.valid, size, func(dst []byte) { b.encode(dst, m.Fields, in.asOf) }, b)
	in.validating = false
	if err != nil {
		return nil, err
	}
	verdicts, err := decodeResultInto(res, b.N, m.Fields, m.Transforms, dst)
	if err != nil {
		in.closeLocked(ctx, err)
		return nil, in.errorf("validate", KindMalformedResult, b, "%v", err)
	}
	return verdicts, nil
}

// MigrateState gives the plugin one key of its state in an older format
// (from) and its value, through pawl_migrate_state(ptr, len): the message
// is u32 LE length and bytes of from, of the key, of the value. The plugin
// writes what it keeps of them in its declared format with state_put
// (within its declared limits, as in pawl_validate) and returns an empty
// result; a non-empty result is its refusal, in words. The host removes
// the old key. Any error closes the instance.
func (in *Instance) MigrateState(ctx context.Context, from string, key, val []byte) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	m := in.p.manifest
	if in.dead != nil {
		return &Error{Plugin: m.ID(), Op: "migrate_state", Kind: KindClosed, Detail: in.dead.Error()}
	}
	if in.migrate == nil || m.State == nil {
		return in.errorf("migrate_state", KindLoad, nil, "exports no %s or declares no state", migrateExport)
	}
	var hdr [4]byte
	msg := make([]byte, 0, 12+len(from)+len(key)+len(val))
	for _, part := range [][]byte{[]byte(from), key, val} {
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(part)))
		msg = append(append(msg, hdr[:]...), part...)
	}
	in.validating = true
	res, err := in.call(ctx, "migrate_state", in.migrate, msg, nil)
	in.validating = false
	if err != nil {
		return err
	}
	if len(res) > 0 {
		// The words first: res is guest memory, gone with the instance.
		e := in.errorf("migrate_state", KindMigrationRefused, nil, "refused to migrate key %q from format %s: %s", clip(key), from, clipText(res, maxRefusalBytes))
		in.closeLocked(ctx, errors.New("migration refused"))
		return e
	}
	return nil
}

func (in *Instance) errorf(op string, kind Kind, b *Batch, format string, args ...any) *Error {
	e := &Error{Plugin: in.p.manifest.ID(), Op: op, Kind: kind, Detail: fmt.Sprintf(format, args...), Output: in.out.String()}
	if b != nil {
		e.Records, e.First = b.N, b.First
	}
	return e
}

func (in *Instance) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = context.WithValue(ctx, instanceKey{}, in)
	return context.WithTimeout(ctx, in.p.rt.cfg.CallTimeout)
}

// call writes msg into the guest and calls fn(ptr, len).
func (in *Instance) call(ctx context.Context, op string, fn api.Function, msg []byte, b *Batch) ([]byte, error) {
	return in.callWith(ctx, op, fn, len(msg), func(dst []byte) { copy(dst, msg) }, b)
}

// callWith makes sure the guest's input buffer holds size bytes, lets fill
// write the message straight into guest memory, calls fn(ptr, size) and
// returns a view of the result message (valid until the next call, and
// only while the instance is open: closing it unmaps the memory, so copy
// what is kept before closing).
func (in *Instance) callWith(ctx context.Context, op string, fn api.Function, size int, fill func([]byte), b *Batch) ([]byte, error) {
	if int64(size) > int64(in.p.rt.cfg.MemoryLimitPages)*65536 {
		in.closeLocked(ctx, errors.New("batch too large"))
		return nil, in.errorf(op, KindMemory, b, "the batch message of %d bytes exceeds the memory limit of %d pages; use smaller batches", size, in.p.rt.cfg.MemoryLimitPages)
	}
	cctx, cancel := in.callContext(ctx)
	defer cancel()
	in.p.rt.calls.RLock()
	defer in.p.rt.calls.RUnlock()
	if uint32(size) > in.bufCap || in.bufCap == 0 {
		r, err := in.alloc.Call(cctx, uint64(size))
		if err != nil {
			return nil, in.classify(ctx, op+" (pawl_alloc)", err, b)
		}
		ptr := uint32(r[0])
		if ptr%8 != 0 || uint64(ptr)+uint64(size) > uint64(in.mem.Size()) || ptr == 0 {
			in.closeLocked(ctx, errors.New("bad pawl_alloc"))
			return nil, in.errorf(op, KindMalformedResult, b, "pawl_alloc(%d) returned 0x%x: not an 8-aligned buffer inside its %d-byte memory", size, ptr, in.mem.Size())
		}
		in.buf, in.bufCap = ptr, uint32(size)
	}
	dst, ok := in.mem.Read(in.buf, uint32(size))
	if !ok {
		in.closeLocked(ctx, errors.New("buffer outside memory"))
		return nil, in.errorf(op, KindMalformedResult, b, "its input buffer 0x%x+%d is outside its memory", in.buf, size)
	}
	fill(dst)
	r, err := fn.Call(cctx, uint64(in.buf), uint64(size))
	if err != nil {
		return nil, in.classify(ctx, op, err, b)
	}
	rptr, rlen := uint32(r[0]>>32), uint32(r[0])
	if rlen == 0 {
		return nil, nil
	}
	if int64(rlen) > int64(in.p.rt.cfg.MaxResultBytes) {
		in.closeLocked(ctx, errors.New("result too large"))
		return nil, in.errorf(op, KindResultTooLarge, b, "returned %d bytes; the cap is %d (MaxResultBytes)", rlen, in.p.rt.cfg.MaxResultBytes)
	}
	res, ok := in.mem.Read(rptr, rlen)
	if !ok {
		in.closeLocked(ctx, errors.New("result outside memory"))
		return nil, in.errorf(op, KindMalformedResult, b, "returned a result at 0x%x+%d, outside its %d-byte memory", rptr, rlen, in.mem.Size())
	}
	return res, nil
}

// classify turns a failed guest call into an Error that says what the
// guest did, and closes the instance.
func (in *Instance) classify(ctx context.Context, op string, err error, b *Batch) error {
	in.closeLocked(ctx, err)
	if in.stateErr != nil {
		e := in.errorf(op, KindState, b, "%v", in.stateErr)
		e.Err = in.stateErr
		return e
	}
	limit := in.p.rt.cfg.MemoryLimitPages
	var pages uint32
	if in.mem != nil {
		pages = in.mem.Size() / 65536
	}
	out := in.out.String()
	// Go's runtime grows its heap in arenas of up to 64 MiB: "near the
	// limit" is the last 4 MiB, or the runtime saying so.
	nearLimit := pages+64 >= limit || strings.Contains(out, "out of memory")
	first := err.Error()
	if i := strings.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch code := exit.ExitCode(); {
		case code == sys.ExitCodeDeadlineExceeded && ctx.Err() == nil:
			return in.errorf(op, KindTimeout, b, "still running after %s (the per-call deadline); the instance was stopped", in.p.rt.cfg.CallTimeout)
		case code == sys.ExitCodeDeadlineExceeded || code == sys.ExitCodeContextCanceled:
			e := in.errorf(op, KindCanceled, b, "%v", ctx.Err())
			e.Err = ctx.Err()
			return e
		case nearLimit:
			return in.errorf(op, KindMemory, b, "exited with code %d at %d of %d pages of memory", code, pages, limit)
		default:
			detail := fmt.Sprintf("exited with code %d", code)
			if strings.Contains(out, "panic: ") {
				detail = "panicked: " + panicLine(out)
			}
			e := in.errorf(op, KindTrap, b, "%s", detail)
			e.Err = err
			return e
		}
	}
	var e *Error
	switch {
	case strings.Contains(first, "stack overflow"):
		e = in.errorf(op, KindStack, b, "%s (runaway recursion)", first)
	case nearLimit:
		e = in.errorf(op, KindMemory, b, "%s at %d of %d pages of memory", first, pages, limit)
	case strings.Contains(out, "panic: "):
		// A Go guest's panic ends in "unreachable"; its message is in
		// the output.
		e = in.errorf(op, KindTrap, b, "panicked: %s (%s)", panicLine(out), first)
	default:
		e = in.errorf(op, KindTrap, b, "%s", first)
	}
	e.Err = err
	return e
}

func panicLine(out string) string {
	i := strings.Index(out, "panic: ")
	s := out[i:]
	if j := strings.IndexByte(s, '\n'); j >= 0 {
		s = s[:j]
	}
	return s
}

// hostLog is pawl.log(ptr, len): the guest's diagnostics go to the same
// capped buffer as its stdout and stderr.
func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	in, _ := ctx.Value(instanceKey{}).(*Instance)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if in == nil {
		return
	}
	if b, ok := mod.Memory().Read(ptr, n); ok {
		_, _ = in.out.Write(b)
		_, _ = in.out.Write([]byte{'\n'})
	}
}

// detClock is an instance's deterministic clocks: the wall clock stands at
// the as-of time; the monotonic clock starts at 1 (Go's runtime takes 0
// for "unset" and crashes) and advances 1 µs per reading and by whatever
// the guest sleeps, without sleeping.
type detClock struct {
	wallSec  int64
	wallNsec int32
	mono     int64
}

func (c *detClock) walltime() (int64, int32) { return c.wallSec, c.wallNsec }
func (c *detClock) nanotime() int64 {
	c.mono += 1000
	return c.mono
}
func (c *detClock) sleep(ns int64) {
	if ns > 0 {
		c.mono += ns
	}
}

// seededRand is the guest's random_get source: ChaCha8 keyed by the seed.
func seededRand(seed uint64) *rand.ChaCha8 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	key := sha256.Sum256(append([]byte("pawl-plugin-random-v1\x00"), b[:]...))
	return rand.NewChaCha8(key)
}

// cappedBuffer keeps the first max bytes written to it and drops the rest
// (while reporting success, so a chatty guest is not broken by the cap).
type cappedBuffer struct {
	mu      sync.Mutex
	buf     []byte
	max     int
	dropped int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - len(c.buf)
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		c.buf = append(c.buf, p[:room]...)
	}
	c.dropped += len(p) - max(room, 0)
	return len(p), nil
}

func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := string(c.buf)
	if c.dropped > 0 {
		s += fmt.Sprintf("\n[%d more bytes dropped]", c.dropped)
	}
	return s
}
