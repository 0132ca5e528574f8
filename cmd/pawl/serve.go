package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/inbox"
	"github.com/pawl-dev/pawl/engine/network"
	"github.com/pawl-dev/pawl/engine/principal"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/pawl-dev/pawl/engine/serve"
	"github.com/spf13/cobra"
)

// DefaultSocket is the service's socket, in the project root, unless
// serve.socket says otherwise.
const DefaultSocket = "pawl.sock"

// localOnly are the commands the CLI runs itself even when a service is
// found: they need nothing the service owns (or make a new project).
var localOnly = map[string]bool{
	"serve": true, "version": true, "sbom": true, "demo": true, "init": true, "explain": true, "help": true, "completion": true,
	"audit verify-proof": true, "policy keygen": true, "verify-signature": true,
	"plugin new": true, "plugin build": true, "plugin test": true, // the author's files and toolchain (plugin_kit.go)
	"network hub": true, "network status": true, "network credentials": true,
	"worker":     true, // a worker machine's: no project (worker.go)
	"__complete": true, "__completeNoDesc": true,
}

// dispatch runs a command line: on the service when one is named
// (--server, PAWL_SERVER: a Unix socket's path or https://HOST:PORT) or
// found in the project, otherwise here.
func dispatch(ctx context.Context, argv []string, stdin, stdout, stderr *os.File) int {
	argv, server, tf := findServer(argv)
	if server == "" || localOnly[commandOf(argv)] || commandOf(argv) == "audit verify" && slices.ContainsFunc(argv, func(s string) bool { return s == "--package" || strings.HasPrefix(s, "--package=") }) {
		return run(ctx, argv, &streams{in: stdin, out: stdout, err: stderr})
	}
	var code int
	var err error
	if serve.IsHTTPS(server) {
		code, err = serve.CallHTTPS(ctx, server, tf, argv, stdin, stdout, stderr)
	} else {
		code, err = serve.Call(ctx, server, argv, stdin, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pawl: %v\n", err)
		return exitError
	}
	return code
}

// clientFlags are the flags the client takes out of the command line
// before it is sent: where the service is, and the client's TLS files.
var clientFlags = []string{"--server", "--tls-cert", "--tls-key", "--tls-ca"}

// findServer takes the client's flags out of argv and says which service
// the command goes to: --server, else PAWL_SERVER, else the project's
// socket when it exists ("" when there is none: local mode); and the TLS
// files for an https:// one (--tls-cert, --tls-key, --tls-ca, else
// PAWL_TLS_CERT, PAWL_TLS_KEY, PAWL_TLS_CA).
func findServer(argv []string) (rest []string, server string, tf serve.TLSFiles) {
	dir := "."
	got := map[string]string{}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		flag, val, hasVal := strings.Cut(a, "=")
		switch {
		case a == "--":
			rest = append(rest, argv[i:]...)
			i = len(argv)
		case slices.Contains(clientFlags, flag) && hasVal:
			got[flag] = val
		case slices.Contains(clientFlags, a) && i+1 < len(argv):
			got[a] = argv[i+1]
			i++
		case (a == "-C" || a == "--directory") && i+1 < len(argv):
			dir = argv[i+1]
			rest = append(rest, a, argv[i+1])
			i++
		case strings.HasPrefix(a, "--directory="):
			dir = strings.TrimPrefix(a, "--directory=")
			rest = append(rest, a)
		default:
			rest = append(rest, a)
		}
	}
	pick := func(flag, env string) string {
		if v, ok := got[flag]; ok {
			return v
		}
		return os.Getenv(env)
	}
	tf = serve.TLSFiles{Cert: pick("--tls-cert", "PAWL_TLS_CERT"), Key: pick("--tls-key", "PAWL_TLS_KEY"), CA: pick("--tls-ca", "PAWL_TLS_CA")}
	if server, ok := got["--server"]; ok {
		return rest, server, tf
	}
	if s := os.Getenv("PAWL_SERVER"); s != "" {
		return rest, s, tf
	}
	return rest, projectSocket(dir), tf
}

// projectSocket is the socket of the project found from dir when it
// exists, else "".
func projectSocket(dir string) string {
	root, err := project.FindRoot(dir)
	if err != nil {
		return ""
	}
	cfg, err := config.Load(root, nil)
	path := cfg.ServeSocket
	if err != nil || path == "" {
		path = DefaultSocket
	}
	path = project.NewLayout(root, "").Resolve(path)
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return ""
	}
	return path
}

// commandOf is the command a command line names: its first word, with the
// second for the commands that have subcommands ("audit verify-proof").
func commandOf(argv []string) string {
	var words []string
	for i := 0; i < len(argv) && len(words) < 2; i++ {
		a := argv[i]
		if a == "-C" || a == "--directory" {
			i++
			continue
		}
		if strings.HasPrefix(a, "-") {
			if len(words) > 0 {
				break
			}
			continue
		}
		words = append(words, a)
	}
	if len(words) == 0 {
		return "help"
	}
	if localOnly[words[0]] || len(words) == 1 {
		return words[0]
	}
	return words[0] + " " + words[1]
}

// Files the user names are the user's: locally this process opens them;
// under a service the client does, with the client's permissions, and
// passes the descriptor. A relative path is relative to the user's
// working directory either way.

func (a *app) openUserFile(path string) (*os.File, error) {
	if a.s.job != nil {
		return a.s.job.Open(path)
	}
	return os.Open(path)
}

func (a *app) readUserFile(path string) ([]byte, error) {
	f, err := a.openUserFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, nil
}

func (a *app) writeUserFile(path string, b []byte, perm os.FileMode) error {
	if a.s.job == nil {
		return durable.WriteFile(path, b, perm)
	}
	f, err := a.s.job.Create(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Durable on the client's side: the descriptor itself (the socket), or
	// by the client when the stream is shut (HTTPS).
	return a.s.job.Finish(f)
}

// userFD is the user's file descriptor n (--passphrase-fd).
func (a *app) userFD(n int) (*os.File, error) {
	if a.s.job != nil {
		f, err := a.s.job.FD(n)
		if err != nil {
			return nil, &usageError{fmt.Errorf("--passphrase-fd %d: %v", n, err)}
		}
		return f, nil
	}
	f := os.NewFile(uintptr(n), fmt.Sprintf("passphrase-fd %d", n))
	if f == nil {
		return nil, &usageError{fmt.Errorf("--passphrase-fd %d is not a file descriptor", n)}
	}
	return f, nil
}

// servedBy refuses, under a service, a command that runs only locally.
func (a *app) servedBy(c *cobra.Command) error {
	if a.s.job != nil {
		return &usageError{fmt.Errorf("%s runs on your side, not through a service: it would read or write paths with the service's permissions; the pawl CLI runs it locally without asking the service", c.CommandPath())}
	}
	return nil
}

func (a *app) serveCmd() *cobra.Command {
	var socket string
	c := &cobra.Command{
		Use: "serve [--socket PATH]",
		Example: `  pawl serve
  pawl serve --socket /run/pawl/plant7.sock`,
		Short: "Own the project's data, keys and compilation cache, and run commands for the users who connect",
		Long: `Run as the service of the project: the one process that reads and writes its
data directory, its keys and its compilation cache. Start it under an account
of its own; it refuses to start when any of these is owned by another account
or open to group or others, and says what to fix (chmod/chown). A second
service on the same project is refused.

It listens on a Unix socket (serve.socket, default pawl.sock in the project
root; mode 0660 for the group serve.group, else 0600). Each connection is
authenticated by the kernel (SO_PEERCRED): commands run as that uid's
principal. Every pawl command run in the project (or with --server PATH or
PAWL_SERVER) is sent to the service unchanged; files named on the command line
are opened by the client with the user's permissions.

With serve.https.listen set it also accepts commands over HTTPS (TLS 1.3,
HTTP/2) from clients whose certificate serve.https.client_ca issued: each
connection acts as its certificate's sha256 fingerprint, which 'pawl operator
add --cert' binds an operator to. Clients name it with --server
https://HOST:PORT and give --tls-cert, --tls-key and --tls-ca; files cross
as streams, opened on the client's side as over the socket.

After each commit it pushes the trail's head to the witnesses of the policy
bundle and, with network.hub set, publishes the batch signatures and the
checkpoint to the network's hub (README, "Many sites"), in the background.

Commands run one at a time in the order they arrive. A client that disconnects
cancels its command: a batch not yet committed fails on record. SIGTERM stops
accepting, lets the running command finish and exits. One line per command
goes to standard error.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.servedBy(c); err != nil {
				return err
			}
			root, err := project.FindRoot(a.startDir())
			if err != nil {
				return err
			}
			cfg, err := config.Load(root, c.Flags())
			if err != nil {
				return err
			}
			l := project.NewLayout(root, cfg.DataDir)
			if socket == "" {
				socket = cfg.ServeSocket
			}
			if socket == "" {
				socket = DefaultSocket
			}
			socket = l.Resolve(socket)
			if err := serve.CheckPrivate(l.Data, l.KeysDir(), l.OperatorsDir(), cfg.CacheDir, filepath.Join(cfg.CacheDir, "wasm")); err != nil {
				return err
			}
			if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
				return fmt.Errorf("making the compilation cache %s: %w", cfg.CacheDir, err)
			}
			// What each command builds from content-addressed files stays
			// built for the service's life: a command opens the project
			// afresh, and finds here the plugins' compiled modules
			// (instead of reading, checking and deserialising the
			// compilation cache again) and the bundle in force that
			// authorises it (instead of reading and parsing it from the
			// store again).
			sandbox.KeepCompiled(true)
			project.KeepStoredPolicies(true)
			defer func() {
				// Released with the service (a test process runs
				// other commands after it).
				sandbox.KeepCompiled(false)
				project.KeepStoredPolicies(false)
			}()
			// Opening once finishes interrupted batches before anyone connects.
			p, err := engine.Open(c.Context(), root, cfg)
			if err != nil {
				return err
			}
			p.Close()
			// A connection to the trail held for the service's life: a
			// command's close is then not the trail's last, so SQLite
			// does not checkpoint the write-ahead log into the file at
			// every command's end (two fsyncs a command). Durability is
			// the commits' own (synchronous=FULL); the log is
			// checkpointed as it grows, and when the service stops.
			if hold, err := audit.OpenReadOnly(l.TrailPath()); err == nil {
				defer hold.Close()
			}
			// After each commit, the trail's head goes to the witnesses,
			// in the background (witnessPusher).
			// With network.leaf, the site's leaf node runs as long as the
			// service: it forwards the outbox to the hub whenever the link
			// is up.
			var leaf *network.Leaf
			if cfg.NetworkHub != "" && cfg.NetworkLeaf {
				leaf, err = network.StartLeaf(c.Context(), network.LeafConfig{Site: cfg.NetworkSite, Hub: cfg.NetworkHub,
					Creds: resolveSet(l, cfg.NetworkCredentials), CA: resolveSet(l, cfg.NetworkCA), Dir: filepath.Join(l.Data, "network"),
					Reconnect: cfg.NetworkLeafReconnect})
				if err != nil {
					return fmt.Errorf("network.leaf: the site's leaf node: %w", err)
				}
				defer leaf.Close()
			}
			pushWitnesses, _ := witnessPusher(c.Context(), root, cfg, leaf, a.s.err, witnessRetry, nil)
			// The gate: the jobs' sources scanned every watch.interval, as
			// the service's account, between commands (each scan takes the
			// project lock); a scan that commits pushes to the witnesses.
			gateDone := make(chan error, 1)
			go func() {
				gateDone <- gateLoop(c.Context(), root, cfg, inbox.NewScanner(), a.s.err, a.s.err, pushWitnesses)
			}()
			err = serve.Serve(c.Context(), serve.Options{
				Socket: socket, Group: cfg.ServeGroup, Lock: filepath.Join(l.Data, "serve.lock"), Log: a.s.err,
				HTTPS: serve.HTTPSOptions{Listen: cfg.ServeHTTPSListen, Cert: resolveSet(l, cfg.ServeHTTPSCert),
					Key: resolveSet(l, cfg.ServeHTTPSKey), ClientCA: resolveSet(l, cfg.ServeHTTPSClientCA)},
				Handler: func(ctx context.Context, j *serve.Job) int {
					code := run(ctx, j.Args, &streams{in: j.Stdin, out: j.Stdout, err: j.Stderr, job: j, root: root, leaf: leaf})
					if code == 0 && commits(j.Args) {
						pushWitnesses()
					}
					return code
				},
			})
			if c.Context().Err() != nil {
				<-gateDone // stopping: let the gate's scan end (a batch cut short fails on record; its file stays)
			}
			return err
		},
	}
	c.Flags().StringVar(&socket, "socket", "", "listen on `PATH` (default: serve.socket, then pawl.sock in the project root)")
	return c
}

// resolveSet resolves a configured path, leaving "" (unset) alone.
func resolveSet(l project.Layout, path string) string {
	if path == "" {
		return ""
	}
	return l.Resolve(path)
}

// servedOperator is the default operator id under a service: the caller's
// account name (never the service's).
func servedOperator(ctx context.Context) string {
	p := principal.From(ctx)
	switch {
	case p.User != "": // the account's name, or a certificate's CN
		return p.User
	case p.UID < 0: // a certificate without a CN: name the operator with --operator
		fp := strings.TrimPrefix(p.Cert, "sha256:")
		return "cert-" + fp[:min(12, len(fp))]
	}
	return fmt.Sprintf("uid-%d", p.UID)
}
