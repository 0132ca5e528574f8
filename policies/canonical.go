package policies

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxPathSegments bounds the number of candidate prefixes one URL yields, so
// one decision does a bounded number of index lookups whatever the input.
const maxPathSegments = 64

// URLError is the error CanonicalURL returns: the URL as given and why it is
// refused. The reason is what the policy and the audit trail show.
type URLError struct {
	URL    string
	Reason string
}

func (e *URLError) Error() string {
	return fmt.Sprintf("policies: URL %q refused: %s", e.URL, e.Reason)
}

func urlErr(raw, format string, args ...any) error {
	return &URLError{URL: raw, Reason: fmt.Sprintf(format, args...)}
}

// CanonicalURL returns the one spelling of an egress URL that the policy
// compares against the whitelist, or a *URLError naming why the URL is
// refused. It is strict on purpose: whatever two parsers (ours, the HTTP
// client's, a proxy's) could read differently is refused rather than guessed.
//
//   - scheme: lower-cased; only "https" and "file".
//   - the authority must be spelled "//": "https:host" is refused.
//   - userinfo ("https://allowed.example@evil.example/") is refused.
//   - host: lower-cased, one trailing dot dropped; only ASCII letters, digits,
//     '-' and '.' in DNS labels, or an IP literal in its canonical form.
//     A non-ASCII host is refused: an IDN homograph of an allowed host never
//     reaches the whitelist (write IDN hosts in their xn-- A-label form).
//     Percent-encoding in the host is refused; so is a numeric last label
//     that is not a canonical dotted-quad ("127.1", "0x7f.1").
//   - port: digits only, 1-65535; the default port (443) is dropped.
//   - file URLs: host empty or "localhost" (dropped), no port.
//   - path: empty becomes "/"; percent-encoded unreserved characters
//     (letters, digits, '-', '.', '_', '~') are decoded, other escapes are
//     kept with upper-case hex; an encoded '/', '\' or control character is
//     refused; "." and ".." segments are refused (not resolved: the reader of
//     the URL might resolve them differently); empty segments ("//") are
//     refused; case is kept (paths are case-sensitive).
//   - query, fragment, spaces, control characters, backslashes and any other
//     non-ASCII byte are refused.
func CanonicalURL(raw string) (string, error) {
	if raw == "" {
		return "", urlErr(raw, "empty URL")
	}
	for i := 0; i < len(raw); i++ {
		switch b := raw[i]; {
		case b >= 0x80:
			return "", urlErr(raw, "non-ASCII byte 0x%02x at offset %d (hosts must be ASCII, use the xn-- form; paths must be percent-encoded)", b, i)
		case b <= 0x20 || b == 0x7f:
			return "", urlErr(raw, "space or control character 0x%02x at offset %d", b, i)
		case b == '\\':
			return "", urlErr(raw, "backslash at offset %d (some parsers read it as '/')", i)
		case b == '?':
			return "", urlErr(raw, "query strings are not allowed in egress URLs")
		case b == '#':
			return "", urlErr(raw, "fragments are not allowed in egress URLs")
		}
	}
	sep := strings.Index(raw, "://")
	if sep <= 0 {
		return "", urlErr(raw, "not an absolute URL of the form scheme://host/path")
	}
	scheme := strings.ToLower(raw[:sep])
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		if !(c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", urlErr(raw, "invalid scheme %q", raw[:sep])
		}
	}
	if scheme != "https" && scheme != "file" {
		return "", urlErr(raw, "scheme %q is not allowed (only https and file)", scheme)
	}
	rest := raw[sep+3:]
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if strings.ContainsRune(authority, '@') {
		return "", urlErr(raw, "userinfo (%q before '@') is not allowed: it hides the real host", authority[:strings.LastIndexByte(authority, '@')])
	}
	if strings.ContainsRune(authority, '%') {
		return "", urlErr(raw, "percent-encoding in the host %q is not allowed", authority)
	}

	var host string
	var err error
	switch scheme {
	case "file":
		a := strings.ToLower(authority)
		if a != "" && a != "localhost" {
			return "", urlErr(raw, "file URLs must not name a host (got %q)", authority)
		}
	case "https":
		host, err = canonicalAuthority(raw, authority, "443")
		if err != nil {
			return "", err
		}
	}

	cpath, err := canonicalPath(raw, path)
	if err != nil {
		return "", err
	}
	return scheme + "://" + host + cpath, nil
}

// canonicalAuthority checks host[:port] and returns it lower-cased without
// the default port.
func canonicalAuthority(raw, authority, defaultPort string) (string, error) {
	if authority == "" {
		return "", urlErr(raw, "missing host")
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "", urlErr(raw, "unterminated IPv6 literal %q", authority)
		}
		host, port = authority[:end+1], authority[end+1:]
		if port != "" && port[0] != ':' {
			return "", urlErr(raw, "garbage %q after IPv6 literal", port)
		}
	} else if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i:]
	}
	if port != "" {
		digits := port[1:]
		if digits == "" {
			return "", urlErr(raw, "empty port in %q", authority)
		}
		for i := 0; i < len(digits); i++ {
			if digits[i] < '0' || digits[i] > '9' {
				return "", urlErr(raw, "port %q is not a number", digits)
			}
		}
		n, err := strconv.Atoi(digits)
		if err != nil || n < 1 || n > 65535 {
			return "", urlErr(raw, "port %q out of range", digits)
		}
		port = strconv.Itoa(n)
		if port == defaultPort {
			port = ""
		}
	}
	h, err := canonicalHost(raw, host)
	if err != nil {
		return "", err
	}
	if port != "" {
		h += ":" + port
	}
	return h, nil
}

func canonicalHost(raw, host string) (string, error) {
	if strings.HasPrefix(host, "[") {
		inner := host[1 : len(host)-1]
		a, err := netip.ParseAddr(inner)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", urlErr(raw, "invalid IPv6 literal %q", host)
		}
		if a.Is4In6() {
			return "", urlErr(raw, "IPv4-mapped IPv6 literal %q is not allowed; write the IPv4 address", host)
		}
		return "[" + a.String() + "]", nil
	}
	h := strings.ToLower(host)
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", urlErr(raw, "missing host")
	}
	if len(h) > 253 {
		return "", urlErr(raw, "host longer than 253 characters")
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", urlErr(raw, "invalid DNS label %q in host %q", l, host)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", urlErr(raw, "DNS label %q in host %q starts or ends with '-'", l, host)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", urlErr(raw, "character %q not allowed in host %q", c, host)
			}
		}
	}
	// A resolver (or a WHATWG URL parser) reads a host whose last label is
	// numeric as an IPv4 address in any of its legacy spellings ("127.1",
	// "2130706433", "0x7f.1"); accept only the canonical dotted quad.
	last := labels[len(labels)-1]
	if isNumericLabel(last) {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is4() || a.String() != h {
			return "", urlErr(raw, "host %q looks like an IPv4 address but is not a canonical dotted quad", host)
		}
	}
	return h, nil
}

func isNumericLabel(l string) bool {
	if strings.HasPrefix(l, "0x") {
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathChar reports whether c may appear unencoded in a path (RFC 3986
// pchar plus '/').
func isPathChar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	return strings.IndexByte("!$&'()*+,;=:@/", c) >= 0
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

const hexUpper = "0123456789ABCDEF"

func canonicalPath(raw, p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			if !isPathChar(c) {
				return "", urlErr(raw, "character %q in the path must be percent-encoded", c)
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(p) {
			return "", urlErr(raw, "truncated percent-escape at the end of the path")
		}
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 {
			return "", urlErr(raw, "invalid percent-escape %q in the path", p[i:i+3])
		}
		d := hi<<4 | lo
		switch {
		case d == '/':
			return "", urlErr(raw, "encoded slash %q in the path (a server may read it as a separator)", p[i:i+3])
		case d == '\\':
			return "", urlErr(raw, "encoded backslash %q in the path", p[i:i+3])
		case d < 0x20 || d == 0x7f:
			return "", urlErr(raw, "encoded control character %q in the path", p[i:i+3])
		case isUnreserved(d):
			b.WriteByte(d)
		default:
			b.WriteByte('%')
			b.WriteByte(hexUpper[d>>4])
			b.WriteByte(hexUpper[d&0xf])
		}
		i += 2
	}
	out := b.String()
	segs := strings.Split(out[1:], "/")
	if len(segs) > maxPathSegments {
		return "", urlErr(raw, "path has %d segments, more than %d", len(segs), maxPathSegments)
	}
	for i, s := range segs {
		switch {
		case s == "." || s == "..":
			return "", urlErr(raw, "dot segment %q in the path (after decoding) is not allowed", s)
		case s == "" && i != len(segs)-1:
			return "", urlErr(raw, "empty path segment (\"//\") is not allowed")
		}
	}
	return out, nil
}

// CandidatePrefixes returns the prefixes of a canonical URL that the egress
// policy looks up in its whitelist index, shortest first: every prefix that
// ends at a '/' of the path, then the URL itself when it does not end in '/'.
// This is the trailing-slash discipline: a whitelisted prefix
// "https://a.example/out/" is a candidate of "https://a.example/out/x" but
// never of "https://a.example/outbox-evil/"; a whitelisted URL without a
// trailing slash matches only itself.
func CandidatePrefixes(canonical string) []string {
	sep := strings.Index(canonical, "://")
	if sep < 0 {
		return nil
	}
	start := sep + 3
	slash := strings.IndexByte(canonical[start:], '/')
	if slash < 0 {
		return nil
	}
	out := make([]string, 0, 8)
	for i := start + slash; i < len(canonical); i++ {
		if canonical[i] == '/' {
			out = append(out, canonical[:i+1])
		}
	}
	if !strings.HasSuffix(canonical, "/") {
		out = append(out, canonical)
	}
	return out
}

// ResolveFileDestination returns the real path that rel names inside the
// outbox directory, refusing rel when it is not a local relative path or when
// it (or a parent of it), after following symlinks, lies outside the outbox's
// own real path. The file itself need not exist yet.
//
// This is a check, not a confinement: a symlink created after the check
// still wins. Write through CreateInOutbox, which uses os.Root and so cannot
// be walked out of the outbox at all.
func ResolveFileDestination(outbox, rel string) (string, error) {
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("policies: destination %q is not a local path inside outbox %q", rel, outbox)
	}
	realOutbox, err := filepath.EvalSymlinks(outbox)
	if err != nil {
		return "", fmt.Errorf("policies: outbox %q: %w", outbox, err)
	}
	realOutbox, err = filepath.Abs(realOutbox)
	if err != nil {
		return "", fmt.Errorf("policies: outbox %q: %w", outbox, err)
	}
	// Resolve the longest existing part of the path; the rest will be created
	// by the exporter and cannot be a symlink yet.
	target := filepath.Join(realOutbox, rel)
	existing, tail := target, ""
	for {
		if _, err := os.Lstat(existing); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("policies: destination %q: %w", rel, err)
		}
		parent := filepath.Dir(existing)
		tail = filepath.Join(filepath.Base(existing), tail)
		existing = parent
	}
	realExisting, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return "", fmt.Errorf("policies: destination %q: %w", rel, err)
	}
	resolved := filepath.Join(realExisting, tail)
	inside, err := filepath.Rel(realOutbox, resolved)
	if err != nil || !filepath.IsLocal(inside) && inside != "." {
		return "", fmt.Errorf("policies: destination %q resolves to %q, outside outbox %q", rel, resolved, realOutbox)
	}
	if inside == "." {
		return "", fmt.Errorf("policies: destination %q is the outbox %q itself, not a file in it", rel, realOutbox)
	}
	return resolved, nil
}

// CreateInOutbox creates the file rel inside outbox (and its parent
// directories) for an export, failing if it exists. It goes through os.Root,
// so no path component, symlink or ".." can lead it outside the outbox, even
// one planted between the policy check and the write.
func CreateInOutbox(outbox, rel string) (*os.File, error) {
	if !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("policies: destination %q is not a local path inside outbox %q", rel, outbox)
	}
	root, err := os.OpenRoot(outbox)
	if err != nil {
		return nil, fmt.Errorf("policies: outbox %q: %w", outbox, err)
	}
	defer root.Close()
	if dir := filepath.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("policies: destination %q in outbox %q: %w", rel, outbox, err)
		}
	}
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("policies: destination %q in outbox %q: %w", rel, outbox, err)
	}
	return f, nil
}
