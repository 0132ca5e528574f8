package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/egress"
	"github.com/pawl-dev/pawl/engine/failpoint"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/store"
)

// The folders inside an inbox that files are moved to, by content hash.
const (
	ProcessedDir = "processed"
	FailedDir    = "failed"
)

// Statuses of an Outcome, beside ratchet's committed and already_committed.
const (
	StatusFailed   = "failed"
	StatusDeferred = "deferred"
)

// Options say how a scan runs.
type Options struct {
	Operator string    // on record; default the project's operator
	Workers  int       // per batch; default the project's setting
	Log      io.Writer // one line per file and notice; nil: none
	// MaxFiles, when above 0, ends a scan once it has taken this many files
	// through the gate (Report.More then says files may be waiting): the
	// service releases the project lock between such scans, so that a
	// backlog in an inbox does not hold up its users' commands.
	MaxFiles int
}

// Outcome is what a scan did with one file.
type Outcome struct {
	Job, Source, File string
	Status            string // committed, already_committed, failed, deferred
	BatchID           string
	Input             store.Digest
	Quarantined       int64
	MovedTo           string // relative to the inbox
	Reason            string // why it failed or was deferred
}

// Report is what one scan did.
type Report struct {
	Files    []Outcome
	Notices  []NoticeOutcome
	Problems []string // jobs or sources that could not be scanned, one line each
	// More says the scan stopped at Options.MaxFiles: scan again soon.
	More bool
	// Lineage is what was sent of the OpenLineage events (nil: nothing
	// tried, or a problem, then in Problems).
	Lineage *egress.LineageResult
}

// Committed says whether the scan committed a batch (for the witness push).
func (r *Report) Committed() bool {
	for _, o := range r.Files {
		if o.Status == ratchet.StatusCommitted {
			return true
		}
	}
	return false
}

// Scanner scans the inboxes. It remembers, for the life of the process,
// the deferrals it put on record, so that a file held back for the same
// reason at every scan is on record once, not every interval.
type Scanner struct {
	deferred map[string]string // inbox path → the reason on record
	now      func() time.Time  // the clock notices are due by; tests move it
}

// NewScanner returns a scanner with nothing remembered.
func NewScanner() *Scanner { return &Scanner{deferred: map[string]string{}, now: time.Now} }

func (s *Scanner) clock() time.Time { return s.now() }

// errChanged is why a file read while it changed commits nothing.
var errChanged = errors.New("the file changed while it was read")

// testHook lets in-process tests stop a scan at a step, as a crash there
// would: the step's error ends the scan.
var testHook func(step string) error

func step(name string) error {
	failpoint.Hit(name)
	if testHook != nil {
		return testHook(name)
	}
	return nil
}

// Scan retries the notices waiting in the queue, then scans every source
// of every job once, in job and source order, each inbox's files in name
// order. A job spec that cannot be read, or a source whose inbox is
// missing or shared, is a problem in the report and its files wait; the
// error is for what stops the scan (the trail, a cancelled context).
func (s *Scanner) Scan(ctx context.Context, p *project.Project, opt Options) (*Report, error) {
	if opt.Operator == "" {
		opt.Operator = p.Cfg.Operator
	}
	rep := &Report{}
	if err := s.retryNotices(ctx, p, opt, rep); err != nil {
		return rep, err
	}
	names, err := project.ListJobs(p.Root)
	if err != nil {
		return rep, err
	}
	// Forget the deferrals of files that are gone: a file landing again
	// under the same name is on record afresh.
	for path := range s.deferred {
		if _, err := os.Lstat(path); err != nil {
			delete(s.deferred, path)
		}
	}
	owner := map[string]string{} // an inbox (symlinks resolved) → job/source
	for _, name := range names {
		j, err := project.LoadJob(p.Root, "jobs/"+name+".yaml")
		if err != nil {
			rep.Problems = append(rep.Problems, err.Error())
			continue
		}
		if len(j.Sources) == 0 {
			continue
		}
		if err := j.CheckInboxes(p.Root); err != nil {
			rep.Problems = append(rep.Problems, err.Error())
			continue
		}
		for _, src := range j.Sources {
			dir := src.InboxDir(p.Root)
			real, err := filepath.EvalSymlinks(dir)
			if err != nil {
				real = dir
			}
			if other, ok := owner[real]; ok {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: source %s: inbox %s is also the inbox of %s: each source needs its own; neither is scanned until one moves",
					j.Path, src.Name, dir, other))
				continue
			}
			owner[real] = "job " + j.Name + ", source " + src.Name
			if err := s.scanSource(ctx, p, opt, j, src, dir, rep); err != nil {
				return rep, err
			}
		}
	}
	// The OpenLineage events of what ran go on to the lineage service
	// (openlineage.url), or wait for the next scan: never the gate's
	// failure.
	if lr, err := egress.SendLineage(ctx, p, egress.LineageOptions{}); err != nil {
		rep.Problems = append(rep.Problems, "OpenLineage events: "+err.Error()+" (kept, and sent again after a pause)")
	} else {
		rep.Lineage = lr
	}
	return rep, nil
}

// complete lists the files of an inbox that landed whole, in name order.
func complete(dir string, mode string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".done") {
			continue // folders (processed/, failed/), symlinks, hidden and marker files
		}
		switch mode {
		case project.CompleteDoneMarker:
			if !names[n+".done"] {
				continue
			}
		default:
			if strings.HasSuffix(n, ".part") || strings.HasSuffix(n, ".tmp") {
				continue
			}
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func (s *Scanner) scanSource(ctx context.Context, p *project.Project, opt Options, j *project.Job, src project.SourceSpec, dir string, rep *Report) error {
	files, err := complete(dir, src.CompleteMode())
	if err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s: source %s: reading inbox %s: %v", j.Path, src.Name, dir, err))
		return nil
	}
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if opt.MaxFiles > 0 && gated(rep) >= opt.MaxFiles {
			rep.More = true
			return nil
		}
		if err := s.file(ctx, p, opt, j, src, dir, name, rep); err != nil {
			return err
		}
	}
	return nil
}

// file takes one complete file through the gate.
func (s *Scanner) file(ctx context.Context, p *project.Project, opt Options, j *project.Job, src project.SourceSpec, dir, name string, rep *Report) error {
	path := filepath.Join(dir, name)
	out := Outcome{Job: j.Name, Source: src.Name, File: name}
	obj := "source:" + j.Name + "/" + src.Name
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return s.deferFile(ctx, p, opt, out, path, fmt.Sprintf("cannot open it: %v", errors.Unwrap(err)), rep)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return s.deferFile(ctx, p, opt, out, path, fmt.Sprintf("cannot stat it: %v", err), rep)
	}
	var size int64
	// The file must be the one opened, unchanged, from before the read to
	// after it: same identity, size and modification time, and every byte
	// of that size read.
	unchanged := func(d store.Digest, n int64) error {
		out.Input, size = d, n
		if err := step("inbox.ingested"); err != nil {
			return err
		}
		after, err := os.Lstat(path)
		if err != nil {
			return fmt.Errorf("%w: it disappeared while it was read (%v)", errChanged, errors.Unwrap(err))
		}
		now, err := f.Stat()
		if err != nil {
			return fmt.Errorf("%w: %v", errChanged, err)
		}
		switch {
		case !os.SameFile(before, after):
			return fmt.Errorf("%w: it was replaced by another file", errChanged)
		case now.Size() != before.Size() || n != before.Size():
			return fmt.Errorf("%w: %d bytes when opened, %d read, %d now", errChanged, before.Size(), n, now.Size())
		case !now.ModTime().Equal(before.ModTime()):
			return fmt.Errorf("%w: modified at %s after it was opened (at %s)", errChanged, now.ModTime().UTC().Format("15:04:05.000000000"), before.ModTime().UTC().Format("15:04:05.000000000"))
		}
		return nil
	}
	res, err := ratchet.Run(ctx, p, ratchet.RunOptions{Job: j.Name, Input: "-", Stdin: f, StdinName: name, Operator: opt.Operator,
		Workers: opt.Workers, Inbox: &actions.InboxOrigin{Source: src.Name, File: name}, Ingested: unchanged,
		Reason: "picked up from the inbox of source " + src.Name})
	if ctx.Err() != nil {
		return ctx.Err() // stopped: the file stays for the next scan
	}
	if err != nil {
		var ie *ratchet.InfraError
		switch {
		case errors.Is(err, errChanged):
			return s.deferFile(ctx, p, opt, out, path, err.Error()+"; it stays in the inbox and is read again at the next scan", rep)
		case errors.As(err, &ie) && ie.BatchID != "", errors.Is(err, gate.ErrDenied), errors.Is(err, ratchet.ErrBadInput):
			if ie != nil {
				out.BatchID = ie.BatchID
			}
			return s.failed(ctx, p, opt, j, src, dir, out, size, err, rep)
		default:
			// Not the file's fault (the job, its pins, the project): it
			// waits in its inbox until that is fixed.
			return s.deferFile(ctx, p, opt, out, path, err.Error(), rep)
		}
	}
	delete(s.deferred, path)
	out.Status, out.BatchID, out.Quarantined = res.Status, res.BatchID, res.Quarantined
	// The notice is queued before the file moves: a crash in between runs
	// the file again (already committed) and queues the same notice.
	if res.Quarantined > 0 && src.Notify != "" {
		if err := s.queueNotice(ctx, p, opt, j, src, out, size, "", rep); err != nil {
			return err
		}
	}
	if err := step("inbox.before-move"); err != nil {
		return err
	}
	moved, err := moveOut(dir, ProcessedDir, out.Input, name)
	if err != nil {
		return s.deferFile(ctx, p, opt, out, path, fmt.Sprintf("batch %s is committed, but the file could not be moved: %v; the next scan finds the batch committed and moves it", out.BatchID, err), rep)
	}
	out.MovedTo = moved
	if src.CompleteMode() == project.CompleteDoneMarker {
		os.Remove(path + ".done")
	}
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: opt.Operator, Object: obj, Details: actions.SourceReceivedDetails{
		Job: j.Name, Source: src.Name, File: name, Input: out.Input, Bytes: size, BatchID: out.BatchID, Status: out.Status,
		Quarantined: out.Quarantined, MovedTo: moved}}); err != nil {
		return err
	}
	s.logf(opt, "%s/%s: %s: batch %s %s, %d quarantined; moved to %s", j.Name, src.Name, name, out.BatchID, out.Status, out.Quarantined, moved)
	rep.Files = append(rep.Files, out)
	return nil
}

// failed moves a file whose batch failed (or whose run was refused) to
// failed/, with a .reason file beside it, on record, and notifies.
func (s *Scanner) failed(ctx context.Context, p *project.Project, opt Options, j *project.Job, src project.SourceSpec, dir string, out Outcome, size int64, cause error, rep *Report) error {
	path := filepath.Join(dir, out.File)
	delete(s.deferred, path)
	if out.Input == "" {
		d, n, err := hashFile(path)
		if err != nil {
			return s.deferFile(ctx, p, opt, out, path, fmt.Sprintf("its run failed (%v) and it cannot be read to move it: %v", cause, err), rep)
		}
		out.Input, size = d, n
	}
	out.Status, out.Reason = StatusFailed, cause.Error()
	reasonFile := filepath.Join(dir, FailedDir, out.Input.Hex()+"-"+out.File+".reason")
	if err := os.MkdirAll(filepath.Dir(reasonFile), 0o755); err != nil {
		return s.deferFile(ctx, p, opt, out, path, err.Error(), rep)
	}
	if err := durable.WriteFile(reasonFile, []byte(cause.Error()+"\n"), 0o644); err != nil {
		return s.deferFile(ctx, p, opt, out, path, err.Error(), rep)
	}
	moved, err := moveOut(dir, FailedDir, out.Input, out.File)
	if err != nil {
		return s.deferFile(ctx, p, opt, out, path, fmt.Sprintf("its run failed (%v) and it could not be moved: %v", cause, err), rep)
	}
	out.MovedTo = moved
	if src.CompleteMode() == project.CompleteDoneMarker {
		os.Remove(path + ".done")
	}
	if _, err := actions.Append(ctx, p.Trail, actions.Record{Operator: opt.Operator, Object: "source:" + j.Name + "/" + src.Name, Details: actions.SourceFailedDetails{
		Job: j.Name, Source: src.Name, File: out.File, Input: out.Input, Bytes: size, BatchID: out.BatchID, Error: cause.Error(), MovedTo: moved}}); err != nil {
		return err
	}
	s.logf(opt, "%s/%s: %s: failed, moved to %s: %v", j.Name, src.Name, out.File, moved, cause)
	rep.Files = append(rep.Files, out)
	if src.Notify != "" {
		return s.queueNotice(ctx, p, opt, j, src, out, size, cause.Error(), rep)
	}
	return nil
}

// deferFile leaves a file in its inbox for the next scan, on record once
// per reason.
func (s *Scanner) deferFile(ctx context.Context, p *project.Project, opt Options, out Outcome, path, reason string, rep *Report) error {
	out.Status, out.Reason = StatusDeferred, reason
	rep.Files = append(rep.Files, out)
	s.logf(opt, "%s/%s: %s: left in the inbox: %s", out.Job, out.Source, out.File, reason)
	if s.deferred[path] == reason {
		return nil
	}
	s.deferred[path] = reason
	_, err := actions.Append(ctx, p.Trail, actions.Record{Operator: opt.Operator, Object: "source:" + out.Job + "/" + out.Source,
		Details: actions.SourceDeferredDetails{Job: out.Job, Source: out.Source, File: out.File, Reason: reason}})
	return err
}

// moveOut moves an inbox's file into its sub-folder (processed/, failed/)
// as <sha256 hex>-<name>, durably; it returns the new path relative to
// the inbox.
func moveOut(dir, sub string, d store.Digest, name string) (string, error) {
	rel := filepath.Join(sub, d.Hex()+"-"+name)
	if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
		return "", err
	}
	if err := durable.Rename(filepath.Join(dir, name), filepath.Join(dir, rel)); err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}

func hashFile(path string) (store.Digest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return store.Digest("sha256:" + hex.EncodeToString(h.Sum(nil))), n, nil
}

func (s *Scanner) logf(opt Options, format string, args ...any) {
	if opt.Log != nil {
		fmt.Fprintf(opt.Log, format+"\n", args...)
	}
}

// gated counts the files a scan has taken through the gate so far
// (committed, failed; not those left in their inbox).
func gated(rep *Report) int {
	n := 0
	for _, o := range rep.Files {
		if o.Status != StatusDeferred {
			n++
		}
	}
	return n
}
