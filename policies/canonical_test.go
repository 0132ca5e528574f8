package policies

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCanonicalURL(t *testing.T) {
	ok := []struct{ in, want string }{
		{"https://a.example/out/x.jsonl", "https://a.example/out/x.jsonl"},
		{"HTTPS://A.Example/out/", "https://a.example/out/"},                   // scheme and host case-folded
		{"https://a.example:443/out/", "https://a.example/out/"},               // default port dropped
		{"https://a.example:0443/out/", "https://a.example/out/"},              // leading zeros
		{"https://a.example:8443/out/", "https://a.example:8443/out/"},         // other ports kept
		{"https://a.example", "https://a.example/"},                            // empty path
		{"https://a.example./out/", "https://a.example/out/"},                  // trailing dot
		{"https://a.example/%6Fut/", "https://a.example/out/"},                 // encoded unreserved decoded
		{"https://a.example/o%75t/%7e", "https://a.example/out/~"},             // lower-case hex too
		{"https://a.example/out/a%20b", "https://a.example/out/a%20b"},         // other escapes kept
		{"https://a.example/out/a%3ab", "https://a.example/out/a%3Ab"},         // hex upper-cased
		{"https://a.example/Out/", "https://a.example/Out/"},                   // path case kept
		{"https://10.0.0.1/out/", "https://10.0.0.1/out/"},                     // canonical IPv4
		{"https://[2001:DB8::1]:8443/x", "https://[2001:db8::1]:8443/x"},       // IPv6
		{"file:///srv/outbox/b1.jsonl", "file:///srv/outbox/b1.jsonl"},         // file
		{"FILE://localhost/srv/outbox/", "file:///srv/outbox/"},                // localhost dropped
		{"https://xn--llowed-6nf.example/", "https://xn--llowed-6nf.example/"}, // A-label kept as is
	}
	for _, c := range ok {
		got, err := CanonicalURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("CanonicalURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, why string }{
		{"file:///outbox/../secret/", "dot segment"},
		{"file:///outbox/%2e%2e/secret/", "dot segment"},
		{"file:///outbox/%2E./secret/", "dot segment"},
		{"file:///outbox/./x", "dot segment"},
		{"https://allowed.example@evil.example/", "userinfo"},
		{"https://allowed.example:pw@evil.example/out/", "userinfo"},
		{"https://allowed.example%40evil.example/", "percent-encoding in the host"},
		{"https://аllowed.example/", "non-ASCII"}, // Cyrillic а: IDN homograph
		{"https://ａllowed.example/", "non-ASCII"}, // fullwidth a
		{"https://a.example/out%2Fsecret", "encoded slash"},
		{"https://a.example/out%2fsecret", "encoded slash"},
		{"https://a.example/out%5Csecret", "encoded backslash"},
		{"https://a.example\\out", "backslash"},
		{"https://a.example/out/%00", "control"},
		{"https://a.example//out/", "empty path segment"},
		{"https://a.example/out?x=1", "query"},
		{"https://a.example/out#frag", "fragment"},
		{"http://a.example/out/", "scheme \"http\""},
		{"ftp://a.example/out/", "scheme"},
		{"https:a.example/out", "not an absolute URL"},
		{"//a.example/out", "not an absolute URL"},
		{"https:///out", "missing host"},
		{"https://a.example:/out", "empty port"},
		{"https://a.example:99999/out", "out of range"},
		{"https://a.example:8a/out", "not a number"},
		{"https://127.1/out", "dotted quad"},
		{"https://0x7f.0.0.1/out", "dotted quad"},
		{"https://2130706433/out", "dotted quad"},
		{"https://a_b.example/", "not allowed in host"},
		{"https://-a.example/", "starts or ends with '-'"},
		{"file://evil.example/srv/", "must not name a host"},
		{"https://a.example/out/a b", "space"},
		{"https://a.example/out/<x>", "must be percent-encoded"},
		{"https://a.example/%zz", "invalid percent-escape"},
		{"https://a.example/%4", "truncated"},
		{"", "empty"},
		{"https://a.example/" + strings.Repeat("a/", 70), "segments"},
	}
	for _, c := range bad {
		got, err := CanonicalURL(c.in)
		var ue *URLError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("CanonicalURL(%q) = %q, %v; want an error mentioning %q", c.in, got, err, c.why)
		}
	}
}

func TestCandidatePrefixes(t *testing.T) {
	cases := map[string][]string{
		"https://a.example/out/x.jsonl": {"https://a.example/", "https://a.example/out/", "https://a.example/out/x.jsonl"},
		"https://a.example/out/":        {"https://a.example/", "https://a.example/out/"},
		"https://a.example/":            {"https://a.example/"},
		"file:///srv/o/b":               {"file:///", "file:///srv/", "file:///srv/o/", "file:///srv/o/b"},
		// The trailing-slash discipline: never "https://a.example/out" for
		// "/outbox-evil/": prefixes end at a '/'.
		"https://a.example/outbox-evil/x": {"https://a.example/", "https://a.example/outbox-evil/", "https://a.example/outbox-evil/x"},
	}
	for in, want := range cases {
		if got := CandidatePrefixes(in); !reflect.DeepEqual(got, want) {
			t.Errorf("CandidatePrefixes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveFileDestinationSymlink(t *testing.T) {
	base := t.TempDir()
	outbox := filepath.Join(base, "outbox")
	secret := filepath.Join(base, "secret")
	for _, d := range []string{outbox, secret, filepath.Join(outbox, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A symlinked directory and a symlinked file, both pointing out.
	if err := os.Symlink(secret, filepath.Join(outbox, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secret, "passwd"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(secret, "passwd"), filepath.Join(outbox, "file-link")); err != nil {
		t.Fatal(err)
	}
	// A symlink that stays inside is fine.
	if err := os.Symlink(filepath.Join(outbox, "sub"), filepath.Join(outbox, "inner")); err != nil {
		t.Fatal(err)
	}

	got, err := ResolveFileDestination(outbox, "sub/b1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(outbox)
	if got != filepath.Join(real, "sub", "b1.jsonl") {
		t.Fatalf("got %q", got)
	}
	if got, err := ResolveFileDestination(outbox, "inner/new/b1.jsonl"); err != nil || got != filepath.Join(real, "sub", "new", "b1.jsonl") {
		t.Fatalf("inner link: %q, %v", got, err)
	}
	for _, rel := range []string{"link/b1.jsonl", "link/new/dir/b1.jsonl", "file-link", "../secret/x", "/etc/passwd", "", "."} {
		if got, err := ResolveFileDestination(outbox, rel); err == nil {
			t.Errorf("ResolveFileDestination(%q) = %q, want refusal", rel, got)
		} else {
			t.Logf("%q: %v", rel, err)
		}
	}

	// CreateInOutbox cannot be walked out either, and never overwrites.
	f, err := CreateInOutbox(outbox, "sub/deep/b1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := CreateInOutbox(outbox, "sub/deep/b1.jsonl"); err == nil {
		t.Error("CreateInOutbox overwrote an existing file")
	}
	for _, rel := range []string{"link/b1.jsonl", "file-link", "../secret/y"} {
		if f, err := CreateInOutbox(outbox, rel); err == nil {
			f.Close()
			t.Errorf("CreateInOutbox(%q) escaped the outbox", rel)
		}
	}
	if _, err := os.Stat(filepath.Join(secret, "b1.jsonl")); err == nil {
		t.Error("a file was written outside the outbox")
	}
}

// TestCanonicalURLEdges: the first and last values each rule admits, and
// the ones just past them.
func TestCanonicalURLEdges(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	host253 := strings.Join([]string{label63, label63, label63, strings.Repeat("b", 61)}, ".") // 63*3 + 61 + 3 dots
	path64 := "/" + strings.Repeat("s/", 63) + "s"                                             // 64 segments
	ok := []struct{ in, want string }{
		{"https://a.example:1/", "https://a.example:1/"},
		{"https://a.example:65535/", "https://a.example:65535/"},
		{"https://" + host253 + "/", "https://" + host253 + "/"},
		{"https://" + label63 + ".example/", "https://" + label63 + ".example/"},
		{"https://z9.example/", "https://z9.example/"},
		{"https://[::1]/x", "https://[::1]/x"}, // IPv6 without a port
		{"https://1.2.3.9/x", "https://1.2.3.9/x"},
		{"https://a.example/azAZ09-._~!$&'()*+,;=:@", "https://a.example/azAZ09-._~!$&'()*+,;=:@"},
		{"https://a.example/%61%7A%41%5A%30%39", "https://a.example/azAZ09"},       // unreserved, decoded
		{"https://a.example/%60%7B%40%5B%3A", "https://a.example/%60%7B%40%5B%3A"}, // just outside the ranges: kept encoded
		{"https://a.example" + path64, "https://a.example" + path64},
	}
	for _, c := range ok {
		got, err := CanonicalURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("CanonicalURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, why string }{
		{"https://a.example:0/", `port "0" out of range`},
		{"https://a.example:65536/", `port "65536" out of range`},
		{"https://a" + host253 + "/", "host longer than 253 characters"},
		{"https://a" + label63 + ".example/", "invalid DNS label"},
		{"https://[::1]x/", `garbage "x" after IPv6 literal`},
		{"https://:443/x", "missing host"},
		{"https://1.2.3.999/x", "not a canonical dotted quad"},
		{"https://a.example/%2F", "encoded slash"},
		{"https://a.example" + path64 + "/s", "path has 65 segments, more than 64"},
		{"://a.example/", "not an absolute URL"},
	}
	for _, c := range bad {
		got, err := CanonicalURL(c.in)
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("CanonicalURL(%q) = %q, %v; want an error mentioning %q", c.in, got, err, c.why)
		}
	}
	// A scheme is a letter, then letters, digits, '+', '-' or '.'; a
	// well-formed scheme other than https and file is "not allowed", a
	// malformed one is "invalid": the reason names what is wrong.
	for _, s := range []string{"a", "z", "a0", "a9", "a+", "a-", "a.", "svn+ssh"} {
		if _, err := CanonicalURL(s + "://a.example/"); err == nil || !strings.Contains(err.Error(), `scheme "`+s+`" is not allowed`) {
			t.Errorf("scheme %q: %v", s, err)
		}
	}
	for _, s := range []string{"0a", "9a", "+a", "a_b", "a`b", "a{b", "a/b", "a:b"} {
		if _, err := CanonicalURL(s + "://a.example/"); err == nil || !strings.Contains(err.Error(), `invalid scheme "`+s+`"`) {
			t.Errorf("scheme %q: %v", s, err)
		}
	}
}
