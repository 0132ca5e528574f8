package network

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// Outbox is the stream of a site's leaf node that holds what the site
// publishes (subjects pawl.site.<site>.>), in the site's own JetStream
// domain; the hub's stream for the site sources from it.
const Outbox = "PAWL_OUTBOX"

// OutboxConsumer is the durable consumer of the outbox, made by the site,
// through which the hub's stream sources it: it pushes to
// OutboxDeliver(site) and counts a message delivered only once the hub's
// stream has stored it (ack policy flow_control), so the outbox keeps
// what the hub has not stored, and the hub's sourcing resumes at once
// when the link returns (the consumer's heartbeats reach it).
const OutboxConsumer = "pawl-hub"

// OutboxDeliver is the subject the outbox's consumer pushes to.
func OutboxDeliver(site string) string { return "pawl.outbox." + site }

// HubDomain is the hub's JetStream domain when it accepts leaf nodes.
const HubDomain = "hub"

// LeafConfig says how a site runs its leaf node.
type LeafConfig struct {
	Site  string // the site's id: its JetStream domain and its subjects
	Hub   string // the hub's leaf-node URL (tls://host:port)
	Creds string // the site's nkey seed file
	CA    string // the CAs of the hub's certificate (none: the system's)
	Dir   string // the leaf's JetStream store
	// Reconnect is how often the leaf tries the hub while the link is
	// down; 0: every second.
	Reconnect time.Duration
}

// Leaf is a site's leaf node: an embedded NATS server, listening on no
// port, with JetStream in the site's own domain and the site's outbox
// stream, connected to the hub's leaf-node port as the site (nkey, TLS).
// A publication is stored in the outbox (fsync'd) and acknowledged there;
// the hub's stream sources it when the link is up, and catches up by
// itself when the link returns, with nobody re-sending.
type Leaf struct {
	cfg LeafConfig
	ns  *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	// lock is held (flock) on Dir/leaf.lock while the leaf runs.
	lock *os.File
}

// StartLeaf starts the site's leaf node and its outbox stream. The hub
// need not be reachable: the leaf keeps trying to connect.
func StartLeaf(ctx context.Context, c LeafConfig) (*Leaf, error) {
	if !validSite(c.Site) {
		return nil, fmt.Errorf("network.site %q: a site id is letters, digits, '-' and '_'", c.Site)
	}
	u, err := url.Parse(c.Hub)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("network.hub %q: not the hub's leaf-node URL (tls://host:port)", c.Hub)
	}
	if u.Scheme != "tls" {
		return nil, fmt.Errorf("network.hub %q: a leaf connects to the hub over TLS only (tls://host:port)", c.Hub)
	}
	seed, err := readSeed(c.Creds)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: u.Hostname()}
	if c.CA != "" {
		if tc.RootCAs, err = caPool(c.CA); err != nil {
			return nil, fmt.Errorf("network.ca: %v", err)
		}
	}
	if c.Reconnect <= 0 {
		c.Reconnect = time.Second
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	// One leaf node per store: a second (a second pawl serve of the
	// project) would corrupt it.
	lock, err := os.OpenFile(filepath.Join(c.Dir, "leaf.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%s: another leaf node of site %s uses this store (a second pawl serve of the project?): stop it first", c.Dir, c.Site)
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	// The outbox exists before the link is up: the hub's sourcing,
	// refused once for a stream not there yet, would wait long to ask
	// again. So the first start makes it, with no remote.
	if err := makeOutbox(ctx, c); err != nil {
		return nil, err
	}
	// The leaf offers the hub nothing but its own subjects and what
	// JetStream sourcing needs; it takes nothing from the hub but the
	// sourcing's requests.
	ns, err := leafServer(c, []*server.RemoteLeafOpts{{
		URLs: []*url.URL{u}, Nkey: string(seed), TLS: true, TLSConfig: tc, TLSTimeout: 5,
		DenyExports: []string{"$JS.API.>", "$SYS.>"},
	}})
	if err != nil {
		return nil, err
	}
	l := &Leaf{cfg: c, ns: ns, lock: lock}
	ok = true
	if l.nc, err = nats.Connect("", nats.InProcessServer(ns), nats.Name("pawl-site "+c.Site)); err != nil {
		l.Close()
		return nil, err
	}
	if l.js, err = jetstream.New(l.nc); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func leafServer(c LeafConfig, remotes []*server.RemoteLeafOpts) (*server.Server, error) {
	ns, err := server.NewServer(&server.Options{
		ServerName: "pawl-leaf-" + c.Site, DontListen: true, NoSigs: true, NoLog: true,
		JetStream: true, JetStreamDomain: c.Site, StoreDir: filepath.Join(c.Dir, "jetstream"),
		LeafNode: server.LeafNodeOpts{ReconnectInterval: c.Reconnect, Remotes: remotes},
	})
	if err != nil {
		return nil, fmt.Errorf("the site's leaf node: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("the site's leaf node did not start within 10 s")
	}
	return ns, nil
}

// makeOutbox makes or updates the site's outbox stream, on the leaf's
// store, with the leaf not linked.
func makeOutbox(ctx context.Context, c LeafConfig) error {
	ns, err := leafServer(c, nil)
	if err != nil {
		return err
	}
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: Outbox, Subjects: []string{Subject(c.Site, "checkpoint"), Subject(c.Site, "batch"), Subject(c.Site, "key")},
		Storage: jetstream.FileStorage, Duplicates: time.Hour, MaxMsgSize: maxMessage,
		// A message leaves the outbox once the hub's stream has stored
		// it (the consumer's flow-control acknowledgement).
		Retention: jetstream.WorkQueuePolicy,
	}); err != nil {
		return fmt.Errorf("the site's outbox stream: %v", err)
	}
	if _, err := js.CreateOrUpdatePushConsumer(ctx, Outbox, jetstream.ConsumerConfig{
		Durable: OutboxConsumer, DeliverSubject: OutboxDeliver(c.Site), AckPolicy: jetstream.AckFlowControlPolicy,
		FlowControl: true, IdleHeartbeat: time.Second,
	}); err != nil {
		return fmt.Errorf("the site's outbox consumer: %v", err)
	}
	return nil
}

// readSeed reads a site's nkey seed file, refusing one open to others.
func readSeed(creds string) ([]byte, error) {
	fi, err := os.Stat(creds)
	if err != nil {
		return nil, &RefusedError{fmt.Errorf("network.credentials: %v", err)}
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, &RefusedError{fmt.Errorf("network.credentials %s is open to group or others (mode %04o): chmod 600 it", creds, fi.Mode().Perm())}
	}
	seed, err := os.ReadFile(creds)
	if err != nil {
		return nil, &RefusedError{err}
	}
	kp, err := nkeys.ParseDecoratedNKey(seed)
	if err != nil {
		return nil, &RefusedError{fmt.Errorf("network.credentials %s: not an nkey seed: %v", creds, err)}
	}
	if pub, err := kp.PublicKey(); err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return nil, &RefusedError{fmt.Errorf("network.credentials %s: not a user nkey seed (SU…)", creds)}
	}
	s, err := kp.Seed()
	if err != nil {
		return nil, &RefusedError{err}
	}
	return s, nil
}

// Connected says whether the leaf's link to the hub is up.
func (l *Leaf) Connected() bool { return l.ns.NumLeafNodes() > 0 }

// Pending is how many messages the outbox holds that the hub's stream has
// not stored yet.
func (l *Leaf) Pending(ctx context.Context) (uint64, error) {
	s, err := l.js.Stream(ctx, Outbox)
	if err != nil {
		return 0, err
	}
	si, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return si.State.Msgs, nil
}

// Site is the leaf's site id.
func (l *Leaf) Site() string { return l.cfg.Site }

// Send stores one message in the outbox under its id (its sha256, as
// Publish makes it); the acknowledgement is the outbox's.
func (l *Leaf) Send(ctx context.Context, subject, id string, msg []byte, timeout time.Duration) (*jetstream.PubAck, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return l.js.Publish(ctx, subject, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(Outbox))
}

// Request asks the hub, over the leaf's link, on subject (in the site's
// account on the hub) and waits for the answer.
func (l *Leaf) Request(ctx context.Context, subject string, data []byte, timeout time.Duration) (*nats.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return l.nc.RequestWithContext(ctx, subject, data)
}

// Close stops the leaf node; what the outbox holds stays on disk and is
// forwarded when it starts again.
func (l *Leaf) Close() error {
	if l.nc != nil {
		l.nc.Close()
	}
	l.ns.Shutdown()
	l.ns.WaitForShutdown()
	return l.lock.Close()
}
