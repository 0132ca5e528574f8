package network

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/pawl-dev/pawl/engine/durable"
	"go.yaml.in/yaml/v3"
)

// The stream every site's messages go to, and the hub's consumer of it.
const (
	Stream   = "PAWL_SITES"
	consumer = "pawl-hub"
)

// Subject is where site publishes messages of kind ("checkpoint" or
// "batch").
func Subject(site, kind string) string { return "pawl.site." + site + "." + kind }

// InboxPrefix is where site's replies come: its own, so that no site
// hears another's acknowledgements or the hub's deliveries.
func InboxPrefix(site string) string { return "_INBOX_" + site }

// SiteConfig is one site the hub knows: the public nkey its credentials
// sign with and its trail's verifier key (`pawl audit key`).
type SiteConfig struct {
	NKey string `yaml:"nkey"`
	VKey string `yaml:"vkey"`
}

// HubConfig is the hub's configuration file (`pawl network hub --config`).
type HubConfig struct {
	// Listen is the host:port sites connect to (TLS).
	Listen string `yaml:"listen"`
	// Dir holds the JetStream store, the hub's state (hub.db) and its
	// cosigning key (hub.key).
	Dir string `yaml:"dir"`
	// Name names the hub's cosigning key (a signed-note key name).
	Name string `yaml:"name"`
	TLS  struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	// QuietAfter: a site that published nothing for longer is quiet.
	QuietAfter time.Duration         `yaml:"quiet_after"`
	Sites      map[string]SiteConfig `yaml:"sites"`
}

// ReadHubConfig reads and checks a hub configuration file; relative paths
// in it are relative to the file's directory.
func ReadHubConfig(path string) (HubConfig, error) {
	var c HubConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	d := yaml.NewDecoder(strings.NewReader(string(b)))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %v", path, err)
	}
	base := filepath.Dir(path)
	for _, p := range []*string{&c.Dir, &c.TLS.Cert, &c.TLS.Key} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	if err := c.check(); err != nil {
		return c, fmt.Errorf("%s: %v", path, err)
	}
	if c.Listen == "" {
		return c, fmt.Errorf("%s: listen: the host:port sites connect to is missing (e.g. 0.0.0.0:7422)", path)
	}
	if c.TLS.Cert == "" {
		return c, fmt.Errorf("%s: tls: cert and key are missing: sites connect over TLS only", path)
	}
	return c, nil
}

func (c *HubConfig) check() error {
	if c.Dir == "" {
		return errors.New("dir: the hub's data directory is missing")
	}
	if c.Name == "" {
		c.Name = "pawl-hub"
	}
	if c.QuietAfter == 0 {
		c.QuietAfter = time.Hour
	}
	if c.QuietAfter < 0 {
		return fmt.Errorf("quiet_after: %v must be more than 0", c.QuietAfter)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("tls: give both cert and key")
	}
	for id, s := range c.Sites {
		if !validSite(id) {
			return fmt.Errorf("sites: %q: a site id is letters, digits, '-' and '_'", id)
		}
		if !nkeys.IsValidPublicUserKey(s.NKey) {
			return fmt.Errorf("sites.%s.nkey: %q is not a public user nkey (U…; `pawl network credentials` prints it)", id, s.NKey)
		}
		if _, err := parseTrailKey(s.VKey); err != nil {
			return fmt.Errorf("sites.%s.vkey: %v", id, err)
		}
	}
	return nil
}

func validSite(id string) bool {
	if id == "" {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Hub is a running hub: the NATS server with JetStream and the checker
// that consumes the sites' stream.
type Hub struct {
	cfg    HubConfig
	ns     *server.Server
	nc     *nats.Conn
	state  *state
	cc     jetstream.ConsumeContext
	cons   jetstream.Consumer
	stream jetstream.Stream
	mu     sync.Mutex
	err    error // the checker's last infrastructure error
}

// StartHub starts the hub's server, its stream and its checker.
func StartHub(ctx context.Context, c HubConfig) (*Hub, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	key, err := hubKey(filepath.Join(c.Dir, "hub.key"))
	if err != nil {
		return nil, err
	}
	st, err := openState(filepath.Join(c.Dir, "hub.db"), c, key)
	if err != nil {
		return nil, err
	}
	// The hub's own user: in-process, allowed everything.
	kp, err := nkeys.CreateUser()
	if err != nil {
		st.close()
		return nil, err
	}
	hubPub, _ := kp.PublicKey()
	host, port := "127.0.0.1", -1
	if c.Listen != "" {
		h, p, err := net.SplitHostPort(c.Listen)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("listen %q: %v", c.Listen, err)
		}
		host = h
		if port, err = strconv.Atoi(p); err != nil {
			st.close()
			return nil, fmt.Errorf("listen %q: bad port", c.Listen)
		}
	}
	opts := &server.Options{
		ServerName: "pawl-hub", Host: host, Port: port, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: filepath.Join(c.Dir, "jetstream"),
		Nkeys: []*server.NkeyUser{{Nkey: hubPub}},
	}
	ids := make([]string, 0, len(c.Sites))
	for id := range c.Sites {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		// A site publishes to its own subjects and nothing else (no
		// records subject, no other site's, not the JetStream API); it
		// hears only the hub's acknowledgements, on its own inbox
		// prefix (not _INBOX.>, where the checker's deliveries go).
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: c.Sites[id].NKey, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{Subject(id, "checkpoint"), Subject(id, "batch")}},
			Subscribe: &server.SubjectPermission{Allow: []string{InboxPrefix(id) + ".>"}},
		}})
	}
	if c.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("tls: %v", err)
		}
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
		opts.TLS = true
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("the hub's NATS server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		st.close()
		return nil, errors.New("the hub's NATS server did not start within 10 s")
	}
	h := &Hub{cfg: c, ns: ns, state: st}
	if err := h.startChecker(ctx, kp); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

func (h *Hub) startChecker(ctx context.Context, kp nkeys.KeyPair) error {
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect("", nats.InProcessServer(h.ns), nats.Nkey(pub, kp.Sign), nats.Name("pawl-hub"))
	if err != nil {
		return fmt.Errorf("the hub's checker: %v", err)
	}
	h.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: Stream, Subjects: []string{"pawl.site.*.checkpoint", "pawl.site.*.batch"},
		Storage: jetstream.FileStorage, Duplicates: time.Hour, MaxMsgSize: maxMessage,
	})
	if err != nil {
		return fmt.Errorf("the hub's stream %s: %v", Stream, err)
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: consumer, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1})
	if err != nil {
		return fmt.Errorf("the hub's consumer: %v", err)
	}
	h.cons, h.stream = cons, s
	// One message at a time, in the stream's order; acknowledged once
	// its outcome is in hub.db, so a crash redelivers it and the check,
	// idempotent, gives the same outcome.
	h.cc, err = cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			h.fail(err)
			m.NakWithDelay(time.Second)
			return
		}
		if err := h.state.handle(context.Background(), m.Subject(), m.Data(), md.Sequence.Stream, md.Timestamp); err != nil {
			// hub.db could not take it (disk full, I/O): again in a
			// second, nothing acknowledged, nothing lost.
			h.fail(err)
			m.NakWithDelay(time.Second)
			return
		}
		m.Ack()
	})
	return err
}

func (h *Hub) fail(err error) {
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
}

// Err is the checker's last infrastructure error (the message is
// redelivered), nil when there was none.
func (h *Hub) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Idle says whether the checker has handled every message the stream
// holds.
func (h *Hub) Idle(ctx context.Context) bool {
	if h.cons == nil {
		return false
	}
	// Acknowledged (after its outcome is in hub.db) up to the stream's
	// last message.
	si, err := h.stream.Info(ctx)
	if err != nil {
		return false
	}
	ci, err := h.cons.Info(ctx)
	return err == nil && ci.AckFloor.Stream >= si.State.LastSeq && ci.NumAckPending == 0
}

// URL is the URL sites connect to.
func (h *Hub) URL() string {
	u := h.ns.ClientURL()
	if h.cfg.TLS.Cert != "" {
		u = "tls://" + strings.TrimPrefix(strings.TrimPrefix(u, "nats://"), "tls://")
	}
	return u
}

// VKey is the hub's cosigning key (c2sp.org/tlog-cosignature).
func (h *Hub) VKey() string { return h.state.vkey().String() }

// Close stops the checker and the server; what the stream holds stays on
// disk.
func (h *Hub) Close() error {
	if h.cc != nil {
		h.cc.Stop()
	}
	if h.nc != nil {
		h.nc.Close()
	}
	if h.ns != nil {
		h.ns.Shutdown()
		h.ns.WaitForShutdown()
	}
	return h.state.close()
}

// hubKey reads the hub's cosigning key, or makes it (0600) the first time.
func hubKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return priv, durable.WriteFile(path, priv.Seed(), 0o600)
	}
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: not a hub key (%d bytes, want %d)", path, len(b), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// caPool reads PEM certificates.
func caPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return p, nil
}
