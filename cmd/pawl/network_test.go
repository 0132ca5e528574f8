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
	// The site rotates its engine key: the next commit's push carries the
	// key history to the hub first, the hub cosigns what the new key
	// signed, and audit verify still counts the hub. hub.yaml is not
	// touched.
	mustPawl(t, "-C", root, "key", "rotate", "--reason", "yearly rotation")
	in2 := filepath.Join(dir, "in2.jsonl")
	if err := os.WriteFile(in2, []byte(`{"device_id":"d2","timestamp":"2026-01-01T00:00:00Z","value":2,"unit":"C"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustPawl(t, "-C", root, "run", "sensor-feed", "--input", in2)
	lw = &logWriter{b: new(bytes.Buffer)}
	ctx, stop = context.WithCancel(t.Context())
	pushed = make(chan bool, 4)
	trigger, wait = witnessPusher(ctx, root, cfg, nil, lw, 0, pushed)
	trigger()
	wait()
	stop()
	for range pushed {
	}
	if !strings.Contains(lw.String(), "pawl serve: the hub (witness hub) cosigned the trail's first") {
		t.Fatalf("the service's log after the rotation: %s", lw.String())
	}
	mustPawl(t, "-C", root, "audit", "verify", "--witnesses", "1")
	for deadline := time.Now().Add(10 * time.Second); !h.Idle(t.Context()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hub did not check the message")
		}
	}
	out := mustPawl(t, "network", "status", "--config", hubYAML, "--verify")
	if !strings.HasPrefix(out, "SITE  HEAD") || !strings.Contains(out, "\nlyon  ") || !strings.Contains(out, " (2 keys)  none\nthe hub's trail: 4 entries, root ") {
		t.Fatalf("status --verify:\n%s", out)
	}
	var st struct {
		OK    bool                 `json:"ok"`
		Sites []network.SiteStatus `json:"sites"`
	}
	if err := json.Unmarshal([]byte(mustPawl(t, "network", "status", "--config", hubYAML, "--output", "json")), &st); err != nil {
		t.Fatal(err)
	}
	var hist struct {
		Keys []struct {
			KeyID string `json:"key_id"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(mustPawl(t, "-C", root, "key", "history", "--output", "json")), &hist); err != nil || len(hist.Keys) != 2 {
		t.Fatalf("the site's key history: %+v, %v", hist, err)
	}
	if !st.OK || len(st.Sites) != 1 || st.Sites[0].Size < 2 || st.Sites[0].Cosigned != st.Sites[0].Size || st.Sites[0].Keys != 2 || st.Sites[0].Key != hist.Keys[1].KeyID {
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

// TestServedLeafSite drives a leaf site through pawl serve: the hub down,
// a commit is published into the leaf node's outbox and `pawl network
// site` (through the service, which runs the leaf node) shows the link
// down and the messages pending; the hub up, the outbox drains, the hub
// holds the site's head from each message once; after the next commit the
// service fetches the hub's cosignature through the leaf node, and `audit
// verify --witnesses 1` counts the hub.
func TestServedLeafSite(t *testing.T) {
	pki := tlstest.New(t)
	hubDir := t.TempDir()
	hcfg := network.HubConfig{Listen: freeAddr(t), LeafListen: freeAddr(t), Dir: filepath.Join(hubDir, "hub"), Name: "hub.test", QuietAfter: time.Hour}
	hcfg.TLS.Cert, hcfg.TLS.Key = pki.ServerCert, pki.ServerKey
	// The hub's key exists from its first start; then it is down.
	h, err := network.StartHub(t.Context(), hcfg)
	if err != nil {
		t.Fatal(err)
	}
	hubVKey := h.VKey()
	h.Close()
	leafURL := "tls://" + hcfg.LeafListen
	dir, socket := servedProjectWith(t, func(dir string) {
		creds := filepath.Join(dir, project.DefaultDataDir, "site.nk")
		nkey := strings.TrimSpace(mustPawl(t, "network", "credentials", "--out", creds))
		vkey := strings.TrimSpace(mustPawl(t, "-C", dir, "audit", "key"))
		hcfg.Sites = map[string]network.SiteConfig{"lyon": {NKey: nkey, VKey: vkey, Leaf: true}}
		pdir := filepath.Join(dir, "policies")
		if err := os.CopyFS(pdir, policies.NetworkFS()); err != nil {
			t.Fatal(err)
		}
		var data map[string]any
		if err := json.Unmarshal(mustRead(t, filepath.Join(pdir, "data.json")), &data); err != nil {
			t.Fatal(err)
		}
		data["egress"].(map[string]any)["network"] = map[string]any{"hub": leafURL}
		data["egress"].(map[string]any)["witnesses"] = map[string]any{"hub": map[string]any{"network": true, "vkey": hubVKey}}
		b, _ := json.MarshalIndent(data, "", "  ")
		if err := os.WriteFile(filepath.Join(pdir, "data.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		mustPawl(t, "-C", dir, "pin", "--reason", "join the network")
		f, err := os.OpenFile(filepath.Join(dir, "pawl.yaml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The leaf links up as soon as the hub is back, before the hub's
		// stream asks for the outbox.
		fmt.Fprintf(f, "network:\n  hub: %s\n  leaf: true\n  leaf_reconnect: 20ms\n  site: lyon\n  credentials: %s\n  ca: %s\n", leafURL, creds, pki.CA)
		f.Close()
	}, "--single-person")
	ctx := t.Context()
	in := filepath.Join(t.TempDir(), "in.jsonl")
	run := func(value int) {
		t.Helper()
		os.WriteFile(in, fmt.Appendf(nil, `{"device_id":"d1","timestamp":"2026-01-01T00:00:00Z","value":%d,"unit":"C"}`+"\n", value), 0o644)
		if code, _, errs := served(t, ctx, socket, "", "-C", dir, "run", "sensor-feed", "--input", in); code != 0 {
			t.Fatalf("run through the service: exit %d: %s", code, errs)
		}
	}
	// view waits until `pawl network site` through the service says ok.
	view := func(what string, ok func(network.SiteView) bool) network.SiteView {
		t.Helper()
		var v network.SiteView
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			code, out, errs := served(t, ctx, socket, "", "-C", dir, "network", "site", "--output", "json")
			if code != 0 {
				t.Fatalf("network site: exit %d: %s", code, errs)
			}
			v = network.SiteView{}
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("network site --output json: %v\n%s", err, out)
			}
			if ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: network site shows %+v", what, v)
			}
		}
	}

	run(1)
	// The batch's signature and the checkpoint wait in the outbox; the
	// fetch of the hub's cosignature found no hub, on record.
	v := view("the hub down", func(v network.SiteView) bool { return v.Published > 0 && len(v.Failures) > 0 })
	if v.Link != "down" || v.Pending == nil || *v.Pending != 2 || v.HubCosigned != 0 || !strings.Contains(v.Failures[0], "the hub's cosignature: unreachable") {
		t.Fatalf("the hub down: %+v", v)
	}
	code, out, _ := served(t, ctx, socket, "", "-C", dir, "network", "site")
	if code != 0 || !strings.Contains(out, "site lyon: hub "+leafURL+" (leaf node)\nlink: down; outbox: 2 pending") || !strings.Contains(out, "FAILED the hub's cosignature: unreachable") {
		t.Fatalf("network site: exit %d\n%s", code, out)
	}

	if h, err = network.StartHub(ctx, hcfg); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	v = view("the hub up", func(v network.SiteView) bool { return v.Link == "up" && v.Pending != nil && *v.Pending == 0 })
	var st struct {
		Sites []network.SiteStatus `json:"sites"`
	}
	hubYAML := filepath.Join(hubDir, "hub.yaml")
	writeHubYAML(t, hubYAML, hcfg)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := json.Unmarshal([]byte(mustPawl(t, "network", "status", "--config", hubYAML, "--output", "json")), &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Sites) == 1 && st.Sites[0].Size == v.Published {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub's status: %+v (the site published %d)", st, v.Published)
		}
	}
	if s := st.Sites[0]; s.Site != "lyon" || s.Messages != 2 || s.Batches != 1 || s.Cosigned != v.Published || len(s.Findings) != 0 {
		t.Fatalf("the hub holds %+v: want lyon's head %d cosigned, from two messages each once", s, v.Published)
	}

	run(2)
	v = view("the next commit", func(v network.SiteView) bool { return v.HubCosigned > 0 && v.HubCosigned == v.Published })
	if len(v.Failures) != 0 || v.HubWitness != "hub" {
		t.Fatalf("after the next commit: %+v", v)
	}
	if code, out, errs := served(t, ctx, socket, "", "-C", dir, "audit", "verify", "--witnesses", "1"); code != 0 {
		t.Fatalf("audit verify --witnesses 1 through the service: exit %d\n%s%s", code, out, errs)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeHubYAML(t *testing.T, path string, c network.HubConfig) {
	t.Helper()
	var sites strings.Builder
	for id, s := range c.Sites {
		fmt.Fprintf(&sites, "  %s: {nkey: %s, vkey: %q, leaf: %v}\n", id, s.NKey, s.VKey, s.Leaf)
	}
	if err := os.WriteFile(path, fmt.Appendf(nil, "listen: %s\nleaf_listen: %s\ndir: %s\nname: %s\ntls: {cert: %s, key: %s}\nsites:\n%s",
		c.Listen, c.LeafListen, c.Dir, c.Name, c.TLS.Cert, c.TLS.Key, sites.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
