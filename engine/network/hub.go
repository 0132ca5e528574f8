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
	"net/url"
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
	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/witness"
	"github.com/pawl-dev/pawl/policies"
	"go.yaml.in/yaml/v3"
)

// The stream every site's messages go to, and the hub's consumer of it.
const (
	Stream   = "PAWL_SITES"
	consumer = "pawl-hub"
)

// Subject is where site publishes messages of kind ("checkpoint",
// "batch", or "key": its engine key history after a rotation).
func Subject(site, kind string) string { return "pawl.site." + site + "." + kind }

// CosignatureSubject is where site asks the hub for its cosignature of a
// checkpoint the site published (the request: the checkpoint's size in
// decimal; the answer: the cosignature lines, with a Pawl-Status header).
// A direct site may publish only to its own; a leaf site's request
// reaches only its own account.
func CosignatureSubject(site string) string { return "pawl.hub." + site + ".cosignature" }

// InboxPrefix is where site's replies come: its own, so that no site
// hears another's acknowledgements or the hub's deliveries.
func InboxPrefix(site string) string { return "_INBOX_" + site }

// SiteConfig is one site the hub knows: the public nkey its credentials
// sign with and its trail's verifier key (`pawl audit key`).
type SiteConfig struct {
	NKey string `yaml:"nkey"`
	VKey string `yaml:"vkey"`
	// Leaf: the site runs a leaf node (network.leaf) and connects to the
	// hub's leaf_listen port in an account of its own; the hub's stream
	// PAWL_SITE_<site> sources from the site's outbox.
	Leaf bool `yaml:"leaf"`
}

// HubConfig is the hub's configuration file (`pawl network hub --config`).
type HubConfig struct {
	// Listen is the host:port sites connect to (TLS).
	Listen string `yaml:"listen"`
	// LeafListen is the host:port the leaf nodes of sites with leaf: true
	// connect to (TLS); empty: no leaf sites.
	LeafListen string `yaml:"leaf_listen"`
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
	// Witnesses cosign the hub's own trail (C2SP tlog-witness): the hub
	// pushes its trail's head to each when the trail has grown, at most
	// every WitnessEvery (one minute by default), and at start.
	Witnesses    map[string]TrailWitness `yaml:"witnesses"`
	WitnessEvery time.Duration           `yaml:"witness_every"`
}

// TrailWitness is a witness of the hub's own trail: its submission prefix
// (http or https) and the key it cosigns with. Give it the hub's trail
// key (Hub.TrailKey, which `pawl network hub` prints at start).
type TrailWitness struct {
	URL  string `yaml:"url"`
	VKey string `yaml:"vkey"`
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
	if c.WitnessEvery == 0 {
		c.WitnessEvery = time.Minute
	}
	if c.WitnessEvery < 0 {
		return fmt.Errorf("witness_every: %v must be more than 0", c.WitnessEvery)
	}
	for id, w := range c.Witnesses {
		if !validSite(id) {
			return fmt.Errorf("witnesses: %q: a witness id is letters, digits, '-' and '_'", id)
		}
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("witnesses.%s.url: %q is not an http(s) URL (the witness's submission prefix)", id, w.URL)
		}
		if _, err := audit.ParseWitnessKey(w.VKey); err != nil {
			return fmt.Errorf("witnesses.%s.vkey: %v", id, err)
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("tls: give both cert and key")
	}
	leaves := false
	for id, s := range c.Sites {
		leaves = leaves || s.Leaf
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
	if leaves && c.LeafListen == "" {
		return errors.New("leaf_listen: sites with leaf: true connect to the hub's leaf-node port: give its host:port (e.g. 0.0.0.0:7423)")
	}
	if c.LeafListen != "" && c.TLS.Cert == "" {
		return errors.New("leaf_listen: leaf nodes connect over TLS only: give tls.cert and tls.key")
	}
	return nil
}

// LeafAccount is the hub's account of a leaf site.
func LeafAccount(site string) string { return "SITE_" + site }

// SiteStream is the hub's stream of a leaf site's publications, in its
// account, sourced from the site's outbox.
func SiteStream(site string) string { return "PAWL_SITE_" + site }

// hostPort splits a listen address.
func hostPort(listen string) (string, int, error) {
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("listen %q: %v", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("listen %q: bad port", listen)
	}
	return h, port, nil
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
	leaves []*leafChecker // one per leaf site, in its account
	mu     sync.Mutex
	err    error // the checker's last infrastructure error
	// stopWitness ends witnessLoop, which closes witnessDone.
	stopWitness, witnessDone chan struct{}
	// pushMu makes one push of the hub's trail at a time: each starts
	// from the size the last one left each witness at.
	pushMu sync.Mutex
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
		if host, port, err = hostPort(c.Listen); err != nil {
			st.close()
			return nil, err
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
	type leafAcc struct {
		id string
		kp nkeys.KeyPair
	}
	var leaves []leafAcc
	for _, id := range ids {
		if c.Sites[id].Leaf {
			// A leaf site lives in an account of its own: nothing it
			// sends reaches another site's subjects, the sites' direct
			// stream or the hub's checker, and only the site's
			// outbox, sourced by the hub, is read from it. It may not
			// use the hub's JetStream API in its account (delete or
			// acknowledge what the hub holds of it), nor connect as a
			// client.
			acc := server.NewAccount(LeafAccount(id))
			ckp, err := nkeys.CreateUser()
			if err != nil {
				st.close()
				return nil, err
			}
			cpub, _ := ckp.PublicKey()
			opts.Accounts = append(opts.Accounts, acc)
			opts.Nkeys = append(opts.Nkeys,
				&server.NkeyUser{Nkey: c.Sites[id].NKey, Account: acc, AllowedConnectionTypes: map[string]struct{}{"LEAFNODE": {}},
					Permissions: leafPerms()},
				&server.NkeyUser{Nkey: cpub, Account: acc})
			leaves = append(leaves, leafAcc{id, ckp})
			continue
		}
		// A site publishes to its own subjects and nothing else (no
		// records subject, no other site's, not the JetStream API); it
		// hears only the hub's acknowledgements, on its own inbox
		// prefix (not _INBOX.>, where the checker's deliveries go).
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: c.Sites[id].NKey, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{Subject(id, "checkpoint"), Subject(id, "batch"), Subject(id, "key"), CosignatureSubject(id)}},
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
	if c.LeafListen != "" {
		lh, lp, err := hostPort(c.LeafListen)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("leaf_%v", err)
		}
		opts.LeafNode = server.LeafNodeOpts{Host: lh, Port: lp, TLSConfig: opts.TLSConfig, TLSTimeout: 5}
		opts.JetStreamDomain = HubDomain
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
	if len(leaves) > 0 {
		// With accounts of its own, JetStream is on where it is asked.
		names := []string{server.DEFAULT_GLOBAL_ACCOUNT}
		for _, l := range leaves {
			names = append(names, LeafAccount(l.id))
		}
		for _, n := range names {
			a, err := ns.LookupAccount(n)
			if err == nil {
				err = a.EnableJetStream(nil, nil)
			}
			if err != nil {
				h.Close()
				return nil, fmt.Errorf("JetStream in the hub's account %s: %v", n, err)
			}
		}
	}
	if err := h.startChecker(ctx, kp); err != nil {
		h.Close()
		return nil, err
	}
	for _, l := range leaves {
		lc, err := h.startLeafChecker(ctx, l.id, l.kp)
		if err != nil {
			h.Close()
			return nil, err
		}
		h.leaves = append(h.leaves, lc)
	}
	if len(c.Witnesses) > 0 {
		h.stopWitness = make(chan struct{})
		h.witnessDone = make(chan struct{})
		go h.witnessLoop(context.WithoutCancel(ctx))
	}
	return h, nil
}

// TrailKey is the verifier key of the hub's own trail: its origin and the
// hub's key, which signs the trail's checkpoints (NAME+HASH+BASE64). A
// witness of the hub is given it (litewitness: witnessctl add-key).
func (h *Hub) TrailKey() (string, error) {
	return audit.VerifierKey(h.state.trail.Origin(), h.state.key.Public().(ed25519.PublicKey))
}

// PushWitnesses pushes the head of the hub's own trail to each of its
// witnesses (HubConfig.Witnesses); each cosignature and each failure is on
// the hub's trail, and the latest cosigned checkpoint of each is kept in
// the hub's directory (witness/<id>.checkpoint).
func (h *Hub) PushWitnesses(ctx context.Context) []witness.Result {
	h.pushMu.Lock()
	defer h.pushMu.Unlock()
	ids := make([]string, 0, len(h.cfg.Witnesses))
	for id := range h.cfg.Witnesses {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ws := make([]policies.Witness, 0, len(ids))
	for _, id := range ids {
		ws = append(ws, policies.Witness{ID: id, URL: h.cfg.Witnesses[id].URL, VKey: h.cfg.Witnesses[id].VKey})
	}
	l := &witness.Log{Trail: h.state.trail, Key: h.state.key, Dir: filepath.Join(h.cfg.Dir, "witness"), Hint: func() string {
		k, err := h.TrailKey()
		if err != nil {
			return "give it the hub's trail key"
		}
		return fmt.Sprintf("give it the hub's trail key %s (litewitness: witnessctl add-key -origin %s -key %s)", k, h.state.trail.Origin(), k)
	}}
	return witness.PushLog(ctx, l, ws, witness.Options{Operator: HubOperator, Reason: "the hub's trail, pushed to its witnesses"})
}

// witnessLoop pushes the hub's trail to its witnesses at start and then
// whenever it has grown since the last push, at most every WitnessEvery,
// until Close. A failed push is on the trail and tried again at the next
// round.
func (h *Hub) witnessLoop(ctx context.Context) {
	defer close(h.witnessDone)
	t := time.NewTicker(h.cfg.WitnessEvery)
	defer t.Stop()
	var pushed int64 = -1
	for {
		head, err := h.state.trail.Head(ctx)
		if err == nil && head.Seq > 0 && head.Seq != pushed {
			ok := true
			for _, r := range h.PushWitnesses(ctx) {
				ok = ok && r.Cosigned
			}
			if head, err = h.state.trail.Head(ctx); err == nil && ok {
				pushed = head.Seq // what the push itself put on the trail is not pushed again
			}
		}
		select {
		case <-h.stopWitness:
			return
		case <-t.C:
		}
	}
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
		Name: Stream, Subjects: []string{"pawl.site.*.checkpoint", "pawl.site.*.batch", "pawl.site.*.key"},
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
	// The direct sites' requests for their cosignatures: the site is the
	// subject's, which the server lets only that site publish to.
	if _, err := nc.Subscribe(CosignatureSubject("*"), func(m *nats.Msg) {
		site := strings.TrimSuffix(strings.TrimPrefix(m.Subject, "pawl.hub."), ".cosignature")
		if h.cfg.Sites[site].Leaf {
			return // a leaf site asks in its own account
		}
		h.answer(site, m)
	}); err != nil {
		return fmt.Errorf("the hub's cosignature service: %v", err)
	}
	// One message at a time, in the stream's order; acknowledged once
	// its outcome is in hub.db, so a crash redelivers it and the check,
	// idempotent, gives the same outcome.
	h.cc, err = cons.Consume(h.check(""))
	return err
}

// check handles the messages of the direct stream (from "") or of the
// leaf site from's stream.
func (h *Hub) check(from string) func(jetstream.Msg) {
	return func(m jetstream.Msg) { h.checkMsg(from, m) }
}

func (h *Hub) checkMsg(from string, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		h.fail(err)
		m.NakWithDelay(time.Second)
		return
	}
	if err := h.state.handle(context.Background(), from, m.Subject(), m.Data(), md.Sequence.Stream, md.Timestamp); err != nil {
		// hub.db could not take it (disk full, I/O): again in a
		// second, nothing acknowledged, nothing lost.
		h.fail(err)
		m.NakWithDelay(time.Second)
		return
	}
	m.Ack()
}

// leafChecker is the hub's checker of one leaf site: its stream, in the
// site's account, sourced from the site's outbox.
type leafChecker struct {
	nc     *nats.Conn
	stream jetstream.Stream
	cons   jetstream.Consumer
	cc     jetstream.ConsumeContext
}

// startLeafChecker makes the leaf site's stream on the hub, sourcing only
// the site's own subjects from the outbox in the site's JetStream domain
// (whatever else the site's server puts there stays there), and consumes
// it like the direct stream, with the same check.
func (h *Hub) startLeafChecker(ctx context.Context, site string, kp nkeys.KeyPair) (*leafChecker, error) {
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect("", nats.InProcessServer(h.ns), nats.Nkey(pub, kp.Sign), nats.Name("pawl-hub "+site))
	if err != nil {
		return nil, fmt.Errorf("the hub's checker of %s: %v", site, err)
	}
	lc := &leafChecker{nc: nc}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if lc.stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: SiteStream(site), Storage: jetstream.FileStorage, Duplicates: time.Hour, MaxMsgSize: maxMessage,
		Sources: []*jetstream.StreamSource{{Name: Outbox, Domain: site, Consumer: &jetstream.StreamConsumerSource{Name: OutboxConsumer, DeliverSubject: OutboxDeliver(site)}}},
	}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("the hub's stream %s: %v", SiteStream(site), err)
	}
	if lc.cons, err = lc.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: consumer, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("the hub's consumer of %s: %v", SiteStream(site), err)
	}
	if _, err := nc.Subscribe(CosignatureSubject(site), func(m *nats.Msg) { h.answer(site, m) }); err != nil {
		nc.Close()
		return nil, fmt.Errorf("the hub's cosignature service for %s: %v", site, err)
	}
	if lc.cc, err = lc.cons.Consume(h.check(site)); err != nil {
		nc.Close()
		return nil, err
	}
	return lc, nil
}

// The statuses of the hub's answer to a request for a cosignature
// (header StatusHeader).
const (
	StatusHeader = "Pawl-Status"
	// cosigned: the body is the hub's cosignature line of the site's
	// checkpoint at that size.
	StatusCosigned = "cosigned"
	// pending: the hub holds no checkpoint of that size (not received
	// or not checked yet); ask again.
	StatusPending = "pending"
	// unproven: the hub holds it and did not cosign it (its findings say
	// why); the body says so.
	StatusUnproven = "unproven"
	// refused: the request is not a size, or the hub could not read its
	// state; the body says why.
	StatusRefused = "refused"
)

// answer answers site's request for its cosignature of a checkpoint.
func (h *Hub) answer(site string, m *nats.Msg) {
	r := nats.NewMsg(m.Reply)
	status, body := StatusRefused, ""
	size, err := strconv.ParseInt(string(m.Data), 10, 64)
	switch {
	case err != nil || size < 1 || strconv.FormatInt(size, 10) != string(m.Data):
		body = fmt.Sprintf("the request %.40q is not a checkpoint's size (decimal, more than 0)", m.Data)
	default:
		status, body, err = h.state.cosignature(context.Background(), site, size)
		if err != nil {
			status, body = StatusRefused, "the hub's state: "+err.Error()
		}
	}
	r.Header.Set(StatusHeader, status)
	r.Data = []byte(body)
	m.RespondMsg(r)
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
	if !idle(ctx, h.stream, h.cons) {
		return false
	}
	for _, l := range h.leaves {
		if !idle(ctx, l.stream, l.cons) {
			return false
		}
	}
	return true
}

func idle(ctx context.Context, s jetstream.Stream, c jetstream.Consumer) bool {
	si, err := s.Info(ctx)
	if err != nil {
		return false
	}
	ci, err := c.Info(ctx)
	return err == nil && ci.AckFloor.Stream >= si.State.LastSeq && ci.NumAckPending == 0
}

// LeafURL is the URL leaf nodes connect to ("" without leaf_listen).
func (h *Hub) LeafURL() string {
	if h.cfg.LeafListen == "" {
		return ""
	}
	return "tls://" + h.cfg.LeafListen
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
	if h.stopWitness != nil {
		close(h.stopWitness)
		<-h.witnessDone
		h.stopWitness = nil
	}
	for _, l := range h.leaves {
		l.cc.Stop()
		l.nc.Close()
	}
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

// leafPerms: a leaf site may not use the hub's JetStream API in its
// account (delete, purge or read what the hub holds of it), acknowledge
// the hub's deliveries, or reach the system account.
func leafPerms() *server.Permissions {
	return &server.Permissions{Publish: &server.SubjectPermission{Deny: []string{"$JS.API.>", "$JS." + HubDomain + ".API.>", "$JS.ACK.>", "$SYS.>"}}}
}
