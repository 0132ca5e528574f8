package principal

import (
	"context"
	"os"
	"testing"
)

func TestFromDefaultsToTheProcess(t *testing.T) {
	got := From(context.Background())
	if got.UID != os.Getuid() || got.Via != ViaProcess {
		t.Fatalf("From(no principal) = %+v, want uid %d via %s", got, os.Getuid(), ViaProcess)
	}
	p := Principal{UID: 4242, Via: ViaUnix}
	if got := From(With(context.Background(), p)); got != p {
		t.Fatalf("From(With(%+v)) = %+v", p, got)
	}
}

func TestString(t *testing.T) {
	for _, c := range []struct {
		p    Principal
		want string
	}{
		{Principal{UID: 1001, User: "alice", Via: ViaUnix}, "uid 1001 (alice) via unix"},
		{Principal{UID: 1002, Via: ViaProcess}, "uid 1002 via process"},
		{Principal{UID: -1, Via: ViaTLS, Cert: "sha256:ab"}, "certificate sha256:ab via tls"},
		{Principal{UID: -1, User: "olga", Via: ViaTLS, Cert: "sha256:ab"}, "certificate sha256:ab (olga) via tls"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}

// TestFingerprint: the format `operator add --cert` binds, the SHA-256 of
// the DER (here of the bytes "abc", a known vector).
func TestFingerprint(t *testing.T) {
	p := ForCertificate([]byte("abc"), "olga")
	want := "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if p.Cert != want || p.UID != -1 || p.Via != ViaTLS || p.User != "olga" {
		t.Fatalf("ForCertificate = %+v, want cert %s, uid -1, via tls", p, want)
	}
}
