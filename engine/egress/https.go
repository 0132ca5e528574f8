package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/project"
)

// HashHeader is the response header in which an https destination may
// confirm the sha256 of what it stored ("sha256:<hex>" or bare hex). pawl
// sends the same header with each PUT, so the destination can check too.
const HashHeader = "X-Content-SHA256"

// httpsDest is an https:// destination: one PUT per file.
type httpsDest struct {
	base   string // the canonical URL, ending in "/"
	client *http.Client
}

// newHTTPS makes the export's client: TLS verified against export.ca_file
// (or the system roots), no proxy from the environment, no redirect
// followed, a timeout.
func newHTTPS(p *project.Project, canonical string) (*httpsDest, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if p.Cfg.ExportCAFile != "" {
		file := p.Resolve(p.Cfg.ExportCAFile)
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("export.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("export.ca_file %s holds no PEM certificate", file)
		}
		tc.RootCAs = pool
	}
	timeout := exportTimeout(p)
	return &httpsDest{base: canonical, client: &http.Client{
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: tc, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 30 * time.Second},
		Timeout:   timeout,
		// A redirect would send the batch to a URL the policy did not decide on.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Send PUTs each file to <canonical URL><name>, in order, and stops at the
// first failure. A 3xx answer is a failure (never followed); only 2xx
// succeeds; when the destination returns X-Content-SHA256 it must match.
func (h *httpsDest) Send(ctx context.Context, batchID string, files []File) ([]actions.ExportedFile, error) {
	defer h.client.CloseIdleConnections()
	var done []actions.ExportedFile
	for _, f := range files {
		to := h.base + f.Name
		// The body is read as it is sent: a file that changed since it was
		// checked errors at its end, which fails the request instead of
		// completing it. last is the body the client read most recently
		// (GetBody may open it again).
		var last *checkedFile
		open := func() (io.ReadCloser, error) {
			rc, err := f.open()
			if c, ok := rc.(*checkedFile); ok {
				last = c
			}
			return rc, err
		}
		body, err := open()
		if err != nil {
			return done, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, to, body)
		if err != nil {
			body.Close()
			return done, err
		}
		req.ContentLength = f.Size
		// What the client may send again (a connection that failed before
		// the answer, an HTTP/2 stream refused) is the file opened again,
		// checked again.
		req.GetBody = open
		req.Header.Set("Content-Type", contentType(f.Name))
		req.Header.Set(HashHeader, string(f.Hash))
		req.Header.Set("X-Pawl-Batch", batchID)
		resp, err := h.client.Do(req)
		if err != nil {
			return done, fmt.Errorf("PUT %s: %w", to, err)
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			return done, fmt.Errorf("PUT %s: the destination answered %s redirecting to %q: pawl does not follow redirects (the batch would go where the policy did not decide); whitelist and export to the final URL instead", to, resp.Status, resp.Header.Get("Location"))
		case resp.StatusCode < 200 || resp.StatusCode >= 300:
			return done, fmt.Errorf("PUT %s: the destination answered %s: %s", to, resp.Status, strings.TrimSpace(string(answer)))
		case last != nil && !last.whole.Load():
			// A success before the whole checked file went out: the
			// destination cannot hold it, whatever it answers.
			return done, fmt.Errorf("PUT %s: the destination answered %s before the whole of %s (%d bytes, %s) was sent and checked: not an export", to, resp.Status, f.Name, f.Size, f.Hash)
		}
		ef := actions.ExportedFile{Name: f.Name, To: to, Hash: f.Hash, Bytes: f.Size}
		if got := resp.Header.Get(HashHeader); got != "" {
			if !strings.HasPrefix(got, "sha256:") {
				got = "sha256:" + got
			}
			if !strings.EqualFold(got, string(f.Hash)) {
				done = append(done, ef)
				return done, fmt.Errorf("PUT %s: sent %s, the destination reports %s %s", to, f.Hash, HashHeader, got)
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

// exportTimeout bounds one delivery (export.timeout; 2 min when unset).
func exportTimeout(p *project.Project) time.Duration {
	if p.Cfg.ExportTimeout > 0 {
		return p.Cfg.ExportTimeout
	}
	return 2 * time.Minute
}
