package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pawl-dev/pawl/engine/distrib"
)

func (a *app) workerCmd() *cobra.Command {
	var url, creds, ca, name, cache string
	c := &cobra.Command{
		Use: "worker --nats URL",
		Example: `  pawl worker --nats tls://nats.site.example:4222 --credentials /etc/pawl/worker1.nk --ca /etc/pawl/site-ca.pem --name worker1
  pawl worker --nats nats://127.0.0.1:4222`,
		Short: "Run distributed batches' stateless stages on this machine: chunks from a NATS JetStream work queue",
		Long: `Take chunks of distributed batches from the NATS JetStream work queue at
--nats (the stream PAWL_WORK, which a committer's distributed run fills:
distribute.nats, or pawl run --distribute) and run their stateless stages —
decode, normalize, schema, stateless plugins — exactly as a run on one
machine does; each outcome goes back to the committer through PAWL_RESULTS.
It needs no project: the first chunk of a batch names its Plan's digest,
and the worker fetches the Plan's artefacts (the job's pinned files, the
plugin modules) from the object store PAWL_PLANS, checks each against its
sha256, rebuilds the Plan and checks its digest, or refuses the chunk with
the reason (the batch then fails with it). Plugins are compiled once into
--cache (default: pawl/worker under the user's cache directory), whose
entries are used only when their MAC under the worker's own key
(CACHE/keys) matches.

The worker sees the records of the chunks it runs, in the clear, and the
Plan; it cannot commit or sign anything: the committer checks every outcome,
and the trail and keys stay with it (SECURITY.md, "Workers").

--credentials is a user nkey seed file (pawl network credentials), closed
to group and others, when the server asks for one; --ca the PEM
certificates of the CA of a tls:// server's certificate. It runs until
SIGINT or SIGTERM. Exit status 0 when interrupted; 2 for a usage error; 1
when it cannot connect, or the work queue fails.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.servedBy(c); err != nil {
				return err
			}
			if url == "" {
				return &usageError{fmt.Errorf("%s: --nats URL is required (the site's NATS server, tls://HOST:PORT)", c.CommandPath())}
			}
			if name == "" {
				h, err := os.Hostname()
				if err != nil {
					return &usageError{fmt.Errorf("%s: no --name, and this machine's host name is unknown (%v): pass --name", c.CommandPath(), err)}
				}
				name = h
			}
			if cache == "" {
				d, err := os.UserCacheDir()
				if err != nil {
					return &usageError{fmt.Errorf("%s: no --cache, and there is no user cache directory (%v): pass --cache DIR", c.CommandPath(), err)}
				}
				cache = filepath.Join(d, "pawl", "worker")
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			nc, err := distrib.Connect(url, "worker "+name, creds, ca, 10*time.Second, "flag")
			if err != nil {
				return err
			}
			defer nc.Close()
			w, err := distrib.NewWorker(ctx, nc, name, cache, distrib.Options{})
			if err != nil {
				return fmt.Errorf("the work queue at %s: %w", url, err)
			}
			w.Log = func(format string, args ...any) {
				fmt.Fprintf(a.s.err, "pawl worker %s: %s\n", name, fmt.Sprintf(format, args...))
			}
			fmt.Fprintf(a.s.err, "pawl worker %s: taking chunks from %s (compilation cache %s); interrupt to stop\n", name, url, cache)
			return w.Run(ctx)
		},
	}
	f := c.Flags()
	f.StringVar(&url, "nats", "", "the site's NATS server `URL` (tls://HOST:PORT, or nats:// on a trusted network) (required)")
	f.StringVar(&creds, "credentials", "", "the worker's user nkey seed `FILE` (mode 0600), when the server asks for one")
	f.StringVar(&ca, "ca", "", "the PEM `FILE` of the CA that issued the server's TLS certificate (default: the system's)")
	f.StringVar(&name, "name", "", "the worker's `NAME`, on record in the batches it works on (default: the host name)")
	f.StringVar(&cache, "cache", "", "the compilation cache `DIR` (default: pawl/worker under the user's cache directory)")
	return c
}
