package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/store"
	"github.com/pawl-dev/pawl/policies"
)

// Audit actions of exports.
const (
	// ActionBatchExported: the batch's files reached the destination and
	// their hashes were checked there (details: destination, files with
	// hashes, the decision id).
	ActionBatchExported = "batch.exported"
	// ActionExportFailed: the policy allowed the export but it did not
	// complete (the destination refused, redirected, timed out, or pawl
	// refused a destination that leads out of the allowed outbox). The
	// details say what, if anything, was written.
	ActionExportFailed = "batch.export_failed"
)

// HashHeader is the response header in which an https destination may
// confirm the sha256 of what it stored ("sha256:<hex>" or bare hex). pawl
// sends the same header with each PUT, so the destination can check too.
const HashHeader = "X-Content-SHA256"

// ExportFiles are the files of a batch an export sends, in order: the
// verified output, the trail checkpoint at the batch's entry, and the
// signature last (a destination that holds signature.json holds the rest).
// The quarantine never leaves.
var ExportFiles = []string{VerifiedFile, CheckpointFile, SignatureFile}

// batchESignatures is the seam for Part 11 e-signatures: it returns the
// e-signatures on a batch, already verified, for the egress decision's
// resource.signatures. Until the e-signature code sets it (in an init func
// of its own file), exports carry none, and a destination that requires
// approval refuses every batch.
var batchESignatures func(ctx context.Context, p *Project, batchID string) ([]policies.ESignature, error)

// ExportOptions say what to export where.
type ExportOptions struct {
	Batch    string // a batch id or a unique prefix of at least six characters
	To       string // the destination URL: file:///DIR/ or https://HOST/PATH/, ending in "/"
	Purpose  string
	Operator string // default: the project's operator
	Reason   string
	Time     time.Time // the decision's time; default now
}

// ExportedFile is one file as it reached the destination.
type ExportedFile struct {
	Name  string       `json:"name"`
	To    string       `json:"to"` // a path (file) or a URL (https)
	Hash  store.Digest `json:"hash"`
	Bytes int64        `json:"bytes"`
	// Confirmed says the destination's copy was hashed after writing and
	// matched (a file re-read from the outbox; an https destination that
	// answered with the X-Content-SHA256 header).
	Confirmed bool `json:"confirmed"`
}

// ExportResult is what an export did.
type ExportResult struct {
	BatchID     string             `json:"batch_id"`
	URL         string             `json:"url"`
	Destination string             `json:"destination"` // the canonical URL
	Decision    *policies.Decision `json:"decision,omitempty"`
	DecisionSeq int64              `json:"decision_seq,omitempty"`
	Files       []ExportedFile     `json:"files,omitempty"`
	AuditSeq    int64              `json:"audit_seq,omitempty"`
}

// Export asks the egress policy whether a batch may go to a destination
// and, only when it may, copies the batch's verified output, checkpoint and
// signature there, checking each file's hash at the destination. The
// decision is on record either way. A denial (or a destination that leads
// out of what the policy allowed) is a *DeniedError matching ErrDenied, and
// nothing is written anywhere; the result carries the decision.
func (p *Project) Export(ctx context.Context, opt ExportOptions) (*ExportResult, error) {
	if opt.Operator == "" {
		opt.Operator = p.Cfg.Operator
	}
	if opt.To == "" {
		return nil, fmt.Errorf("no destination: pass --to file:///DIR/ or --to https://HOST/PATH/")
	}
	if !strings.HasSuffix(opt.To, "/") {
		return nil, fmt.Errorf("destination %q must end in \"/\": it names the directory pawl writes %s into", opt.To, strings.Join(ExportFiles, ", "))
	}
	asOf := opt.Time
	if asOf.IsZero() {
		asOf = time.Now().Truncate(time.Second)
	}
	res := &ExportResult{URL: opt.To}
	pins, err := ReadPins(p.Root)
	if err != nil {
		return nil, err
	}
	e, _, err := p.pinnedPolicy(ctx, pins)
	if err != nil {
		return nil, err
	}

	resource, b, err := p.exportResource(ctx, opt.Batch)
	if err != nil {
		return nil, err
	}
	res.BatchID = resource.BatchID
	if batchESignatures != nil && resource.State == "committed" { // only a committed batch can be signed
		sigs, err := batchESignatures(ctx, p, resource.BatchID)
		if err != nil {
			return nil, fmt.Errorf("reading the e-signatures of batch %s: %w", resource.BatchID, err)
		}
		resource.Signatures = sigs
	}
	in := policies.EgressInput{
		Destination: policies.Destination{URL: opt.To},
		Principal:   policies.Principal{ID: opt.Operator},
		Purpose:     opt.Purpose,
		Resource:    resource,
		Time:        asOf.UTC().Format(time.RFC3339Nano),
	}
	what := fmt.Sprintf("export of batch %s to %s", resource.BatchID, opt.To)
	d, dent, err := p.decide(ctx, e, policies.KindEgress, in, opt.Operator, "batch:"+resource.BatchID, opt.Reason, resource.BatchID, "", what)
	res.Decision, res.DecisionSeq = &d, dent.Seq
	if err != nil {
		return res, err
	}
	// Allowed. What follows writes only below the prefix that allowed it.
	canonical, prefix, err := allowedDestination(d)
	if err != nil {
		var de *DeniedError
		if errors.As(err, &de) {
			de.What = what
		}
		return res, p.exportFailed(ctx, opt, res, nil, err)
	}
	res.Destination = canonical
	if b == nil || resource.State != "committed" {
		// The policy must never allow this; refuse anyway.
		return res, p.exportFailed(ctx, opt, res, nil, &DeniedError{What: what, Reasons: []string{fmt.Sprintf("batch %s is %s, not committed", resource.BatchID, resource.State)}})
	}
	src, err := p.exportSources(b)
	if err != nil {
		return res, p.exportFailed(ctx, opt, res, nil, err)
	}
	var files []ExportedFile
	switch {
	case strings.HasPrefix(canonical, "file://"):
		files, err = exportToOutbox(canonical, prefix, src)
		if err != nil {
			var de *DeniedError
			if errors.As(err, &de) {
				de.What = what
			}
		}
	case strings.HasPrefix(canonical, "https://"):
		files, err = p.exportHTTPS(ctx, canonical, b.BatchID, src)
	default:
		err = fmt.Errorf("destination %s: no exporter for this scheme", canonical)
	}
	if err != nil {
		return res, p.exportFailed(ctx, opt, res, files, err)
	}
	res.Files = files
	ent, err := p.Trail.Append(context.WithoutCancel(ctx), audit.Entry{
		Operator: opt.Operator, Action: ActionBatchExported, Object: "batch:" + b.BatchID, Reason: opt.Reason,
		Details: mustJSON(map[string]any{
			"batch_id": b.BatchID, "url": opt.To, "destination": canonical, "prefix": prefix,
			"purpose": opt.Purpose, "decision_id": d.ID, "decision_seq": dent.Seq, "files": files,
		}),
	})
	if err != nil {
		return res, fmt.Errorf("batch %s was exported to %s but the export could not be put on record: %w", b.BatchID, canonical, err)
	}
	res.AuditSeq = ent.Seq
	return res, nil
}

// exportFailed records an allowed export that did not complete and returns
// err (with the audit failure joined, if any).
func (p *Project) exportFailed(ctx context.Context, opt ExportOptions, res *ExportResult, written []ExportedFile, err error) error {
	if written == nil {
		written = []ExportedFile{}
	}
	id := ""
	if res.Decision != nil {
		id = res.Decision.ID
	}
	_, aerr := p.Trail.Append(context.WithoutCancel(ctx), audit.Entry{
		Operator: opt.Operator, Action: ActionExportFailed, Object: "batch:" + res.BatchID, Reason: opt.Reason,
		Details: mustJSON(map[string]any{
			"batch_id": res.BatchID, "url": opt.To, "destination": res.Destination, "decision_id": id,
			"decision_seq": res.DecisionSeq, "error": err.Error(), "written": written,
		}),
	})
	if aerr != nil {
		return fmt.Errorf("%w (and recording the failure failed: %v)", err, aerr)
	}
	return err
}

// exportResource finds the batch and describes it for the egress policy. A
// committed batch is returned with its record; a batch that failed is
// described (state "failed") so the policy can refuse it on record.
func (p *Project) exportResource(ctx context.Context, id string) (policies.Resource, *Result, error) {
	r := policies.Resource{Signatures: []policies.ESignature{}}
	b, err := p.Batch(ctx, id)
	if err == nil {
		r.BatchID, r.State, r.Classification = b.BatchID, "committed", b.Classification
		r.Hashes = map[string]string{}
		for name, o := range b.Outputs {
			r.Hashes[strings.TrimSuffix(name, ".jsonl")] = string(o.Hash)
		}
		return r, b, nil
	}
	if len(id) < 6 {
		return r, nil, err
	}
	es, lerr := p.Trail.List(ctx, audit.Filter{Action: audit.ActionBatchFailed, ObjectPrefix: "batch:" + id})
	if lerr != nil || len(es) == 0 {
		return r, nil, err
	}
	last := es[len(es)-1]
	var det struct {
		BatchID string `json:"batch_id"`
		Job     string `json:"job"`
	}
	json.Unmarshal(last.Details, &det)
	for _, x := range es {
		if x.Object != last.Object {
			return r, nil, fmt.Errorf("batch prefix %q is ambiguous among failed batches: give more characters", id)
		}
	}
	r.BatchID, r.State = strings.TrimPrefix(last.Object, "batch:"), "failed"
	r.Classification = "unknown"
	if det.Job != "" {
		if j, jerr := LoadJob(p.Root, "jobs/"+det.Job+".yaml"); jerr == nil {
			r.Classification = j.Classification
		}
	}
	return r, nil, nil
}

// allowedDestination reads the canonical URL and the deciding whitelist
// prefix from an allowing egress decision, and checks that the one lies
// below the other and that the prefix is a directory.
func allowedDestination(d policies.Decision) (canonical, prefix string, err error) {
	var in struct {
		Destination policies.Destination `json:"destination"`
	}
	if err := json.Unmarshal(d.Input, &in); err != nil {
		return "", "", fmt.Errorf("decision %s: input unreadable: %w", d.ID, err)
	}
	var out struct {
		Prefix string `json:"prefix"`
	}
	if err := json.Unmarshal(d.Result, &out); err != nil {
		return "", "", fmt.Errorf("decision %s: result unreadable: %w", d.ID, err)
	}
	canonical, prefix = in.Destination.Canonical, out.Prefix
	if canonical == "" || prefix == "" || !strings.HasPrefix(canonical, prefix) || !strings.HasSuffix(prefix, "/") || !strings.HasSuffix(canonical, "/") {
		return "", "", &DeniedError{What: "export", Reasons: []string{fmt.Sprintf(
			"the policy allowed %q by prefix %q: pawl exports only into a directory below a whitelisted directory prefix (ending in \"/\")", canonical, prefix)}}
	}
	return canonical, prefix, nil
}

// exportSource is one file to send, read and checked before anything leaves.
type exportSource struct {
	name string
	data []byte
	hash store.Digest
}

// exportSources reads the files to send from the batch folder and checks
// them: the signature verifies with the engine key and names this batch's
// audit entry, and the verified output has the hash on record.
func (p *Project) exportSources(b *Result) ([]exportSource, error) {
	chk, err := VerifySignatureFile(b.Signature, []ed25519.PublicKey{p.key.Public})
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w: run `pawl audit verify`", b.BatchID, err)
	}
	if chk.Signature.BatchID != b.BatchID || chk.Signature.AuditSeq != b.AuditSeq {
		return nil, fmt.Errorf("batch %s: its signature names batch %s, audit entry %d: run `pawl audit verify`", b.BatchID, chk.Signature.BatchID, chk.Signature.AuditSeq)
	}
	var out []exportSource
	for _, name := range ExportFiles {
		data, err := os.ReadFile(filepath.Join(b.Dir, name))
		if err != nil {
			return nil, fmt.Errorf("batch %s: %w", b.BatchID, err)
		}
		sum := sha256.Sum256(data)
		d := store.Digest("sha256:" + hex.EncodeToString(sum[:]))
		if o, ok := b.Outputs[name]; ok && o.Hash != d {
			return nil, fmt.Errorf("batch %s: %s hashes to %s, the audit trail records %s: run `pawl audit verify`", b.BatchID, name, d, o.Hash)
		}
		out = append(out, exportSource{name: name, data: data, hash: d})
	}
	return out, nil
}

// outboxPaths splits a canonical file URL at the prefix that allowed it:
// the outbox directory (the prefix's path) and the directory below it.
func outboxPaths(canonical, prefix string) (outbox, rel string, err error) {
	op, err := url.PathUnescape(strings.TrimPrefix(prefix, "file://"))
	if err != nil {
		return "", "", err
	}
	rp, err := url.PathUnescape(canonical[len(prefix):])
	if err != nil {
		return "", "", err
	}
	return filepath.FromSlash(op), filepath.FromSlash(strings.TrimSuffix(rp, "/")), nil
}

// exportToOutbox writes the files into the outbox directory the policy
// allowed. Every destination is checked before anything is written (no
// symlink may lead out of the outbox, no file may exist already); writes go
// through os.Root (policies.CreateInOutbox), so a symlink planted after the
// check cannot lead out either; each file is fsynced, read back and hashed.
// On any failure the files written so far are removed.
func exportToOutbox(canonical, prefix string, src []exportSource) ([]ExportedFile, error) {
	outbox, rel, err := outboxPaths(canonical, prefix)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(outbox); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("outbox %s (from the whitelisted prefix %s) is not an existing directory: create it; pawl does not create outboxes", outbox, prefix)
	}
	rels := make([]string, len(src))
	for i, s := range src {
		rels[i] = filepath.Join(rel, s.name)
		real, err := policies.ResolveFileDestination(outbox, rels[i])
		if err != nil {
			return nil, &DeniedError{Reasons: []string{err.Error()}, Hint: "pawl writes only inside the whitelisted outbox"}
		}
		if _, err := os.Lstat(real); err == nil {
			return nil, fmt.Errorf("%s already exists: an export never overwrites; choose another destination directory", real)
		}
	}
	root, err := os.OpenRoot(outbox)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var done []ExportedFile
	undo := func(err error) ([]ExportedFile, error) {
		for i := range done {
			root.Remove(rels[i])
		}
		return nil, err
	}
	for i, s := range src {
		f, err := policies.CreateInOutbox(outbox, rels[i])
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return undo(fmt.Errorf("%s: an export never overwrites: %w", rels[i], err))
			}
			return undo(&DeniedError{Reasons: []string{err.Error()}, Hint: "pawl writes only inside the whitelisted outbox"})
		}
		to := filepath.Join(outbox, rels[i])
		done = append(done, ExportedFile{Name: s.name, To: to, Hash: s.hash, Bytes: int64(len(s.data))})
		_, werr := f.Write(s.data)
		if werr == nil {
			werr = f.Sync()
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return undo(fmt.Errorf("writing %s: %w", to, werr))
		}
		// Read it back through the root and compare.
		back, err := root.Open(rels[i])
		if err != nil {
			return undo(fmt.Errorf("reading back %s: %w", to, err))
		}
		h := sha256.New()
		_, err = io.Copy(h, back)
		back.Close()
		if err != nil {
			return undo(fmt.Errorf("reading back %s: %w", to, err))
		}
		if got := store.Digest("sha256:" + hex.EncodeToString(h.Sum(nil))); got != s.hash {
			return undo(fmt.Errorf("%s: wrote %s, the destination holds %s", to, s.hash, got))
		}
		done[len(done)-1].Confirmed = true
	}
	if err := syncDir(filepath.Join(outbox, rel)); err != nil {
		return undo(err)
	}
	return done, nil
}

// httpClient is the export's client: TLS verified against export.ca_file
// (or the system roots), no proxy from the environment, no redirect
// followed, a timeout.
func (p *Project) httpClient() (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if p.Cfg.ExportCAFile != "" {
		path := p.Cfg.ExportCAFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.Root, path)
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("export.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("export.ca_file %s holds no PEM certificate", path)
		}
		tc.RootCAs = pool
	}
	timeout := p.Cfg.ExportTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	return &http.Client{
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: tc, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 30 * time.Second},
		Timeout:   timeout,
		// A redirect would send the batch to a URL the policy did not decide on.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// exportHTTPS PUTs each file to <canonical URL><name>, in order, and stops
// at the first failure. A 3xx answer is a failure (never followed); only 2xx
// succeeds; when the destination returns X-Content-SHA256 it must match.
func (p *Project) exportHTTPS(ctx context.Context, canonical, batchID string, src []exportSource) ([]ExportedFile, error) {
	client, err := p.httpClient()
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	var done []ExportedFile
	for _, s := range src {
		to := canonical + s.name
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, to, bytes.NewReader(s.data))
		if err != nil {
			return done, err
		}
		req.ContentLength = int64(len(s.data))
		req.Header.Set("Content-Type", contentType(s.name))
		req.Header.Set(HashHeader, string(s.hash))
		req.Header.Set("X-Pawl-Batch", batchID)
		resp, err := client.Do(req)
		if err != nil {
			return done, fmt.Errorf("PUT %s: %w", to, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			return done, fmt.Errorf("PUT %s: the destination answered %s redirecting to %q: pawl does not follow redirects (the batch would go where the policy did not decide); whitelist and export to the final URL instead", to, resp.Status, resp.Header.Get("Location"))
		case resp.StatusCode < 200 || resp.StatusCode >= 300:
			return done, fmt.Errorf("PUT %s: the destination answered %s: %s", to, resp.Status, strings.TrimSpace(string(body)))
		}
		ef := ExportedFile{Name: s.name, To: to, Hash: s.hash, Bytes: int64(len(s.data))}
		if h := resp.Header.Get(HashHeader); h != "" {
			if !strings.HasPrefix(h, "sha256:") {
				h = "sha256:" + h
			}
			if !strings.EqualFold(h, string(s.hash)) {
				done = append(done, ef)
				return done, fmt.Errorf("PUT %s: sent %s, the destination reports %s %s", to, s.hash, HashHeader, h)
			}
			ef.Confirmed = true
		}
		done = append(done, ef)
	}
	return done, nil
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".jsonl":
		return "application/x-ndjson"
	case ".json":
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}
