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
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}
