package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/pawl-dev/pawl/audit/canonjson"
)

// FuzzPrepareInput feeds PrepareInput arbitrary JSON for each kind.
// Whatever it accepts is canonical JSON (Canonicalize leaves it as it is),
// a fixed point (prepared again, as JSON or as the typed value the engine
// passes, it gives the same bytes), and the value the policy is evaluated
// on (inputValue) is the value of those bytes, which is what goes on
// record. Whatever it refuses is an *InputError.
func FuzzPrepareInput(f *testing.F) {
	for _, s := range []struct {
		kind uint8
		in   string
	}{
		{0, `{"time":"2025-03-04T05:06:07+01:00","principal":{"id":"alice","roles":["exporter"]},"purpose":"study-report","resource":{"batch_id":"b1","state":"committed","classification":"internal","hashes":{"verified":"sha256:aa"},"signatures":[{"batch_id":"b1","meaning":"approved","signer":"s","time":"t"}]},"destination":{"url":"HTTPS://Partner.Example:443/inbox/%7euser/b1.jsonl"}}`},
		{0, `{"time":"2025-01-01T00:00:00Z","principal":{"id":"a"},"resource":{"batch_id":"b","signatures":null},"destination":{"url":"https://a@b/","canonical":"https://x/","candidates":["https://x/"]}}`},
		{0, `{"time":"0000-01-01T00:30:00+01:00","principal":{"id":"a"},"resource":{"batch_id":"b"},"destination":{"url":"file:///srv/outbox/"}}`},
		{1, `{"time":"2025-01-01T00:00:00.123456789-07:00","principal":{"id":"pawl-engine"},"plugin":{"name":"range","version":"1.0.0","hash":"sha256:00","capabilities":null},"resource":{"batch_id":"b","hashes":{}}}`},
		{1, `{"time":"9999-12-31T23:59:59-01:00","principal":{"id":"e"},"plugin":{"name":"n"}}`},
		{2, `{"time":"2025-01-01T00:00:00Z","principal":{"id":"a"},"dataset":{"classification":"phi","fields":["/patient/mrn","email"],"job":"j","schema":"s@1"},"purpose":""}`},
		{2, `{"TIME":"2025-01-01T00:00:00Z","principal":{"id":"a","id":"b"},"dataset":{}} `},
		{2, "{\"time\":\"2025-01-01T00:00:00Z\",\"principal\":{\"id\":\"\xff\u2028\"},\"dataset\":{\"job\":\"\\ud800\"}}"},
		{3, `{"time":"2026-11-25T00:00:00+02:00","action":"sign","object":"batch:b1","reason":"","principal":{"uid":1001,"user":"alice","via":"unix"},"operator":{"id":"alice","enrolled":true,"uid":1001,"name":"Alice"},"facts":{"meaning":"approved","batch_run_by":"bob","resubmitted_by":null,"signed_meanings":["reviewed"],"enrolled_names":null}}`},
		{3, `{"time":"2026-11-25T00:00:00Z","action":"run","object":"project","reason":"","principal":{"uid":-1,"via":"tls","cert":"sha256:ab"},"operator":{"id":"x","enrolled":false,"uid":1e3},"facts":{}}`},
	} {
		f.Add(s.kind, []byte(s.in))
	}
	f.Fuzz(func(t *testing.T, k uint8, in []byte) {
		kind := Kinds[int(k)%len(Kinds)]
		out, _, typed, err := prepareInput(kind, json.RawMessage(in))
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Kind != kind {
				t.Fatalf("refused with %T %v, not an *InputError", err, err)
			}
			return
		}
		canon, err := canonjson.Canonicalize(out)
		if err != nil || !bytes.Equal(canon, out) {
			t.Fatalf("%q prepares to %q, which is not canonical (%q, %v)", in, out, canon, err)
		}
		again, err := PrepareInput(kind, json.RawMessage(out))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, out, again, err)
		}
		if fromTyped, err := PrepareInput(kind, typed); err != nil || !bytes.Equal(fromTyped, out) {
			t.Fatalf("the typed input prepares to %q, the JSON to %q (%v)", fromTyped, out, err)
		}
		want, err := ast.ValueFromReader(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if got := inputValue(typed); got.Compare(want) != 0 {
			t.Fatalf("the policy sees %v, the record holds %v", got, want)
		}
		if in, ok := typed.(EgressInput); ok {
			d := in.Destination
			c, err := CanonicalURL(d.URL)
			if (err == nil) != (d.Refused == "") || err == nil && (d.Canonical != c || strings.Join(d.Candidates, " ") != strings.Join(CandidatePrefixes(c), " ")) {
				t.Fatalf("destination %+v for %q (%q, %v)", d, d.URL, c, err)
			}
		}
	})
}

// FuzzCanonicalURL: a URL CanonicalURL accepts has a canonical form that
// is a fixed point and has none of what the egress whitelist must never
// see: only https or file, no userinfo, query or fragment, no empty or dot
// path segment (also percent-encoded), no upper case in scheme or host, no
// default port. Its candidate prefixes are prefixes of it, shortest first,
// each ending at a '/' but the last. A refused URL is refused with a
// *URLError naming it.
func FuzzCanonicalURL(f *testing.F) {
	for _, s := range []string{
		"https://a.example/out/x.jsonl", "HTTPS://A.Example:0443/%6Fut/a%3ab/", "https://[2001:DB8::1]:8443/x",
		"file://LOCALHOST/srv/outbox/", "https://allowed.example@evil.example/", "https://a.example/%2e%2E/x",
		"https://127.1/", "https://a.example./o//x", "https://a.example/a%2Fb", "https://[::ffff:1.2.3.4]/",
		"https://xn--llowed-6nf.example/%7e", "https:a.example/", "file:///a/./b", "https://a.example:65536/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := CanonicalURL(raw)
		if err != nil {
			var ue *URLError
			if !errors.As(err, &ue) || ue.URL != raw || ue.Reason == "" {
				t.Fatalf("%q refused with %#v", raw, err)
			}
			return
		}
		if again, err := CanonicalURL(c); err != nil || again != c {
			t.Fatalf("%q -> %q -> %q (%v): not a fixed point", raw, c, again, err)
		}
		scheme, rest, _ := strings.Cut(c, "://")
		if scheme != "https" && scheme != "file" {
			t.Fatalf("%q -> %q: scheme", raw, c)
		}
		authority, path := rest, ""
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			authority, path = rest[:i], rest[i:]
		}
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(c, "?#\\ ") || strings.Contains(authority, "@") ||
			strings.ToLower(authority) != authority || strings.HasSuffix(authority, ":443") || strings.HasSuffix(authority, ".") ||
			scheme == "file" && authority != "" || scheme == "https" && authority == "" {
			t.Fatalf("%q -> %q: authority %q, path %q", raw, c, authority, path)
		}
		segs := strings.Split(path[1:], "/")
		for i, s := range segs {
			d := strings.NewReplacer("%2E", ".", "%2e", ".").Replace(s)
			if d == "." || d == ".." || s == "" && i != len(segs)-1 {
				t.Fatalf("%q -> %q: path segment %d is %q", raw, c, i, s)
			}
		}
		if strings.Contains(path, "//") {
			t.Fatalf("%q -> %q: '//' in the path", raw, c)
		}
		prev := ""
		ps := CandidatePrefixes(c)
		for i, p := range ps {
			if !strings.HasPrefix(c, p) || len(p) <= len(prev) || !strings.HasSuffix(p, "/") && i != len(ps)-1 {
				t.Fatalf("%q: candidate prefixes %q", c, ps)
			}
			prev = p
		}
		if len(ps) == 0 || ps[len(ps)-1] != c && !strings.HasSuffix(c, "/") {
			t.Fatalf("%q: candidate prefixes %q do not end with it", c, ps)
		}
	})
}
