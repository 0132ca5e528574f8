package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/enginetest"
	"github.com/pawl-dev/pawl/engine/network"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/serve/tlstest"
	"github.com/pawl-dev/pawl/policies"
)

// TestNetworkCommands: a site's credentials; a hub run from its
// configuration file; the service's after-commit push publishing the
// trail's head to it; `pawl network status` as a table and as JSON, exit
// 4 once a site sent garbage; usage errors.
func TestNetworkCommands(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "lyon.nk")
	nkey := strings.TrimSpace(mustPawl(t, "network", "credentials", "--out", creds))
	if fi, err := os.Stat(creds); err != nil || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(nkey, "U") {
		t.Fatalf("credentials: %q, %v, %v", nkey, fi, err)
	}
	if code, _, errOut := pawl(t, "", "network", "credentials", "--out", creds); code != 1 || !strings.Contains(errOut, "give a new file") {
		t.Fatalf("credentials over an existing file: exit %d: %s", code, errOut)
	}
	if code, _, errOut := pawl(t, "", "network", "status"); code != 2 || !strings.Contains(errOut, "--config FILE is required") {
		t.Fatalf("status without --config: exit %d: %s", code, errOut)
	}

	root := filepath.Join(dir, "lyon")
	mustPawl(t, "init", root, "--single-person")
	vkey := strings.TrimSpace(mustPawl(t, "-C", root, "audit", "key"))
	pki := tlstest.New(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	hubYAML := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(hubYAML, fmt.Appendf(nil, "listen: %s\ndir: hub\nname: hub.test\ntls:\n  cert: %s\n  key: %s\nquiet_after: 1h\nsites:\n  lyon:\n    nkey: %s\n    vkey: %s\n",
		addr, pki.ServerCert, pki.ServerKey, nkey, vkey), 0o644); err != nil {
		t.Fatal(err)
	}
	hcfg, err := network.ReadHubConfig(hubYAML)
	if err != nil {
		t.Fatal(err)
	}
	h, err := network.StartHub(t.Context(), hcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	// The site joins: the network module and the hub in its bundle, its
	// settings in pawl.yaml.
	pdir := filepath.Join(root, "policies")
	if err := os.CopyFS(pdir, policies.NetworkFS()); err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(mustRead(t, filepath.Join(pdir, "data.json")), &data); err != nil {
		t.Fatal(err)
	}
	data["egress"].(map[string]any)["network"] = map[string]any{"hub": h.URL()}
	// The hub is also one of the site's witnesses: its cosignatures come
	// back over the network link.
	data["egress"].(map[string]any)["witnesses"] = map[string]any{"hub": map[string]any{"network": true, "vkey": h.VKey()}}
	b, _ := json.MarshalIndent(data, "", "  ")
	if err := os.WriteFile(filepath.Join(pdir, "data.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	mustPawl(t, "-C", root, "pin", "--reason", "join the network")
	f, err := os.OpenFile(filepath.Join(root, "pawl.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "network:\n  hub: %s\n  site: lyon\n  credentials: %s\n  ca: %s\n", h.URL(), creds, pki.CA)
	f.Close()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(`{"device_id":"d1","timestamp":"2026-01-01T00:00:00Z","value":1,"unit":"C"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustPawl(t, "-C", root, "run", "sensor-feed", "--input", in)

	// The service's after-commit push, as pawl serve runs it.
	cfg, err := config.Load(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	lw := &logWriter{b: new(bytes.Buffer)}
	ctx, stop := context.WithCancel(t.Context())
	pushed := make(chan bool, 4)
	trigger, wait := witnessPusher(ctx, root, cfg, nil, lw, 0, pushed)
	trigger()
	wait()
	stop()
	for range pushed {
	}
	if !strings.Contains(lw.String(), "pawl serve: published the trail's first") || !strings.Contains(lw.String(), "pawl serve: the hub (witness hub) cosigned the trail's first") {
		t.Fatalf("the service's log: %s", lw.String())
	}
	// audit verify counts the hub among the witnesses; once the trail is
	// cut below what the hub cosigned, it does not verify.
	mustPawl(t, "-C", root, "audit", "verify", "--witnesses", "1")
	if code, out, _ := pawl(t, "", "-C", root, "audit", "verify", "--witnesses", "2"); code != 4 || !strings.Contains(out, "2 witness(es) required, 1 cosigned") {
		t.Fatalf("audit verify --witnesses 2 with the hub alone: exit %d\n%s", code, out)
	}
	for deadline := time.Now().Add(10 * time.Second); !h.Idle(t.Context()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hub did not check the message")
		}
	}
	out := mustPawl(t, "network", "status", "--config", hubYAML)
	if !strings.HasPrefix(out, "SITE  HEAD") || !strings.Contains(out, "\nlyon  ") || !strings.Contains(out, "none\n") {
		t.Fatalf("status:\n%s", out)
	}
	var st struct {
		OK    bool                 `json:"ok"`
		Sites []network.SiteStatus `json:"sites"`
	}
	if err := json.Unmarshal([]byte(mustPawl(t, "network", "status", "--config", hubYAML, "--output", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.OK || len(st.Sites) != 1 || st.Sites[0].Size < 2 || st.Sites[0].Cosigned != st.Sites[0].Size {
		t.Fatalf("status --output json: %+v", st)
	}
	if _, err := network.Send(t.Context(), h.URL(), "lyon", creds, pki.CA, network.Subject("lyon", "checkpoint"), "g", []byte("garbage"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !h.Idle(t.Context()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hub did not check the message")
		}
	}
	code, out, errOut := pawl(t, "", "network", "status", "--config", hubYAML)
	if code != 4 || !strings.Contains(out, "lyon: garbage: message") || !strings.Contains(errOut, "1 finding: the sites named above") {
		t.Fatalf("status after garbage: exit %d\n%s\n%s", code, out, errOut)
	}
	enginetest.AttackTrail(t, filepath.Join(root, project.DefaultDataDir, "audit.db"), "DELETE FROM entries WHERE seq > 5")
	if code, out, _ := pawl(t, "", "-C", root, "audit", "verify"); code != 4 || !strings.Contains(out, "the latest checkpoint witness hub cosigned") {
		t.Fatalf("audit verify of a trail cut below the hub's cosignature: exit %d\n%s", code, out)
	}
}
