package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/durable"
	"github.com/pawl-dev/pawl/engine/gate"
	"github.com/pawl-dev/pawl/engine/network"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/spf13/cobra"
)

// networkCmd is `pawl network`: the hub of a network of sites, its status,
// and a site's credentials.
func (a *app) networkCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "network",
		Short: "The network of sites: run the hub, see every site's head and findings, make a site's credentials",
	}
	var config string
	hub := &cobra.Command{
		Use:     "hub --config FILE",
		Example: `  pawl network hub --config /etc/pawl/hub.yaml`,
		Short:   "Run the network's hub: NATS JetStream storing every site's checkpoints, checking and cosigning them",
		Long: `Run the hub of a network of sites (README, "Many sites"): an embedded NATS
server with JetStream, listening with TLS on the configured address, that
knows each site by its nkey and lets it publish only to its own subjects
(pawl.site.<site>.checkpoint). Every message is stored in the stream
PAWL_SITES and checked against what the hub holds of the site's trail (a
batch's signature.json must be signed by the site's engine key in force at
the batch's entry, one per batch): a
checkpoint signed by the site's engine key, consistent with the one before
(its consistency proof verifies), is cosigned (C2SP tlog-cosignature, the
hub's key in DIR/hub.key); two roots at one size (a split view), a proof that
does not verify (a fork), a smaller checkpoint that nothing proves (a
truncation), garbage and forged messages are findings, kept in DIR/hub.db and
shown by 'pawl network status'. A site that rotates its engine key ('pawl key
rotate') publishes its key history first; the hub takes the new key only when
the rotation is signed by the key it holds for the site and by the new key,
and from the rotation's entry on checks the site's messages against it; no
change to the configuration is needed. Sites with leaf: true run leaf nodes of their
own, which connect to leaf_listen (TLS) into an account of their own; the
hub's stream PAWL_SITE_<site> sources each one's outbox, and is checked the
same way. The witnesses in the configuration (witnesses: {ID: {url, vkey}})
cosign the hub's own trail: the hub pushes its head to each (C2SP
tlog-witness) at start and when it grew, at most every witness_every (one
minute); give them the trail key it prints at start; 'pawl network status
--verify' checks their cosignatures. The hub never receives records. It runs until
SIGINT or SIGTERM; it acts on no project.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.servedBy(c); err != nil {
				return err
			}
			if config == "" {
				return &usageError{fmt.Errorf("%s: --config FILE is required (the hub's configuration)", c.CommandPath())}
			}
			cfg, err := network.ReadHubConfig(config)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			h, err := network.StartHub(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.s.err, "pawl network hub: listening on %s for %d sites; cosigning key %s\n", h.URL(), len(cfg.Sites), h.VKey())
			if u := h.LeafURL(); u != "" {
				fmt.Fprintf(a.s.err, "pawl network hub: leaf nodes of sites with leaf: true connect to %s\n", u)
			}
			if k, err := h.TrailKey(); err == nil {
				fmt.Fprintf(a.s.err, "pawl network hub: its own trail's key, for its witnesses (witnesses, every %s when it grew): %s\n", cfg.WitnessEvery, k)
			}
			<-ctx.Done()
			if err := h.Err(); err != nil {
				fmt.Fprintf(a.s.err, "pawl network hub: the checker's last error: %v\n", err)
			}
			return h.Close()
		},
	}
	hub.Flags().StringVar(&config, "config", "", "the hub's configuration `FILE` (YAML: listen, dir, name, tls, quiet_after, sites, witnesses, witness_every)")
	c.AddCommand(hub)

	var statusConfig string
	var verify bool
	status := &cobra.Command{
		Use: "status --config FILE [--verify]",
		Example: `  pawl network status --config /etc/pawl/hub.yaml
  pawl network status --config /etc/pawl/hub.yaml --verify
  pawl network status --config /etc/pawl/hub.yaml --output json`,
		Short: "Show every site the hub knows: head, root, last cosigned size, lag, last seen, findings",
		Long: `Show what the hub holds of every site (on the hub's machine, beside a running
hub: it reads DIR/hub.db read-only): the head (the largest checkpoint of the
site's trail the hub holds) and the prefix of its root, the largest size the
hub cosigned, how many batch signatures it holds, how many messages the site sent, when the last one came and how
long ago, the site's engine key the hub checks against (with how many keys of
the site's history it holds, after a rotation), and the findings: split_view,
fork, truncation, unproven, garbage, forged, key_conflict, and quiet when
nothing came for longer than quiet_after. With
--verify it also checks the hub's own record: its trail (DIR/trail.db, hash
chained, where the hub puts each finding, resolution and cosignature) verifies,
and hub.db holds exactly what the trail says, so that a finding deleted or a
cosignature changed in hub.db shows; it prints the trail's size and root, to
keep elsewhere. Exit 4 when any site has a finding other than quiet or the
hub's record does not verify, 1 when the state cannot be read.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if statusConfig == "" {
				return &usageError{fmt.Errorf("%s: --config FILE is required (the hub's configuration)", c.CommandPath())}
			}
			cfg, err := network.ReadHubConfig(statusConfig)
			if err != nil {
				return err
			}
			ss, err := network.Status(c.Context(), cfg, time.Now())
			if err != nil {
				return err
			}
			bad := 0
			for _, s := range ss {
				for _, f := range s.Findings {
					if f.Kind != network.Quiet {
						bad++
					}
				}
			}
			var rep *network.HubReport
			if verify {
				if rep, err = network.VerifyHub(c.Context(), cfg); err != nil {
					return err
				}
			}
			if a.output == "json" {
				out := map[string]any{"ok": bad == 0 && (rep == nil || len(rep.Problems) == 0), "sites": ss}
				if rep != nil {
					out["hub"] = rep
				}
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				printNetworkStatus(a.s.out, ss)
				if rep != nil {
					fmt.Fprintf(a.s.out, "the hub's trail: %d entries, root %s\n", rep.Entries, rep.Root)
					if w := rep.Witnessing; w != nil {
						fmt.Fprintf(a.s.out, "the hub's witnesses: %d cosignatures; %s\n", w.Cosignatures, coveredText(w))
					}
					for _, p := range rep.Problems {
						fmt.Fprintf(a.s.out, "hub: %s\n", cell(p))
					}
				}
			}
			if rep != nil && len(rep.Problems) > 0 {
				return notVerified(fmt.Errorf("the hub's record does not verify: %d problems (above)", len(rep.Problems)))
			}
			if bad > 0 {
				noun := "findings"
				if bad == 1 {
					noun = "finding"
				}
				return notVerified(fmt.Errorf("%d %s: the sites named above published what does not hold together (docs/architecture.md, \"The network of sites\", says what each means)", bad, noun))
			}
			return nil
		},
	}
	status.Flags().StringVar(&statusConfig, "config", "", "the hub's configuration `FILE`")
	status.Flags().BoolVar(&verify, "verify", false, "also check the hub's own record: its trail verifies and hub.db agrees with it")
	a.addOutputFlag(status)
	c.AddCommand(status)

	site := &cobra.Command{
		Use: "site",
		Example: `  pawl network site
  pawl network site --output json`,
		Short: "Show the site's side of the network: what it published, what the hub cosigned, the leaf node's link and outbox",
		Long: `Show what the site's trail says of its place in the network: the hub and
the mode (direct, or a leaf node), the largest checkpoint the hub (or the
leaf node's outbox) stored and when, the largest the hub cosigned whose
cosignature the trail keeps (when the bundle names the hub as a witness,
network: true), and the newest publication and cosignature fetch that failed
since the last that succeeded. Run through pawl serve on a leaf site, it
also shows the leaf node's link to the hub (up or down) and how many messages
the outbox holds that the hub has not stored yet (pending); run locally, the
leaf node is not here, and those are unknown. Exit 1 when the project is in
no network.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return showProject(a, c, func(p *project.Project) (network.SiteView, error) { return network.ViewSite(c.Context(), p, a.s.leaf) }, func(v network.SiteView) error {
				printSiteView(a.s.out, v)
				return nil
			})
		},
	}
	a.addOutputFlag(site)
	c.AddCommand(site)

	var out string
	creds := &cobra.Command{
		Use:     "credentials --out FILE",
		Example: `  pawl network credentials --out /var/lib/pawl/lyon.nk`,
		Short:   "Make a site's NATS credentials: a new nkey seed in FILE (mode 0600); print its public key for the hub's configuration",
		Long: `Make a new NATS user nkey for a site: its seed is written to FILE (mode 0600,
refused if FILE exists), which the site's pawl.yaml names as
network.credentials; its public key (U…) is printed, for the site's entry in
the hub's configuration (sites.<id>.nkey). The seed never leaves the site.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.servedBy(c); err != nil {
				return err
			}
			if out == "" {
				return &usageError{fmt.Errorf("pawl network credentials: --out FILE is required")}
			}
			kp, err := nkeys.CreateUser()
			if err != nil {
				return err
			}
			seed, err := kp.Seed()
			if err != nil {
				return err
			}
			pub, err := kp.PublicKey()
			if err != nil {
				return err
			}
			if err := durable.WriteNew(out, append(seed, '\n'), 0o600); err != nil {
				return fmt.Errorf("writing the seed: %w (give a new file)", err)
			}
			fmt.Fprintln(a.s.out, pub)
			return nil
		},
	}
	creds.Flags().StringVar(&out, "out", "", "write the seed to `FILE`")
	c.AddCommand(creds)
	return c
}

func printNetworkStatus(w io.Writer, ss []network.SiteStatus) {
	tw := newTable(w)
	fmt.Fprintln(tw, "SITE\tHEAD\tROOT\tCOSIGNED\tBATCHES\tMESSAGES\tLAST SEEN\tLAG\tKEY\tFINDINGS")
	for _, s := range ss {
		seen, lag := "never", "-"
		if !s.LastSeen.IsZero() {
			seen = s.LastSeen.UTC().Format(time.RFC3339)
			lag = (time.Duration(s.Lag * float64(time.Second))).Round(time.Second).String()
		}
		root := s.Root
		if len(root) > 12 {
			root = root[:12] + "…"
		}
		var fs []string
		for _, f := range s.Findings {
			fs = append(fs, f.Kind)
		}
		findings := strings.Join(fs, ",")
		if findings == "" {
			findings = "none"
		}
		key := s.Key
		if s.Keys > 1 {
			key = fmt.Sprintf("%s (%d keys)", key, s.Keys)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", cell(s.Site), s.Size, root, s.Cosigned, s.Batches, s.Messages, seen, lag, key, findings)
	}
	tw.Flush()
	for _, s := range ss {
		for _, f := range s.Findings {
			fmt.Fprintf(w, "%s: %s: %s\n", s.Site, f.Kind, cell(f.Detail))
		}
	}
}

func printSiteView(w io.Writer, v network.SiteView) {
	mode := "direct"
	if v.Leaf {
		mode = "leaf node"
	}
	fmt.Fprintf(w, "site %s: hub %s (%s)\n", cell(v.Site), cell(v.Hub), mode)
	if v.Leaf {
		if v.Pending == nil {
			fmt.Fprintln(w, "link: unknown: the leaf node runs in pawl serve; run this command through it")
		} else {
			fmt.Fprintf(w, "link: %s; outbox: %d pending (not yet stored by the hub)\n", v.Link, *v.Pending)
		}
	}
	if v.Published == 0 {
		fmt.Fprintf(w, "published: nothing yet; the trail holds %d entries\n", v.Head)
	} else {
		fmt.Fprintf(w, "published: the trail's first %d entries (%s); the trail holds %d\n", v.Published, v.PublishedAt.UTC().Format(time.RFC3339), v.Head)
	}
	if v.HubWitness == "" {
		fmt.Fprintln(w, "cosigned by the hub: not kept (the bundle names no witness with network: true)")
	} else {
		fmt.Fprintf(w, "cosigned by the hub (witness %s): the trail's first %d entries\n", cell(v.HubWitness), v.HubCosigned)
	}
	for _, f := range v.Failures {
		fmt.Fprintf(w, "FAILED %s\n", cell(f))
	}
}

// publishOnce publishes the trail's head to the network's hub when the
// project is in a network, and says whether the publication failed (on
// record; the next one carries the head).
func publishOnce(ctx context.Context, root string, cfg config.Config, leaf *network.Leaf, log io.Writer) (failed bool) {
	if cfg.NetworkHub == "" {
		return false
	}
	p, err := engine.Open(ctx, root, cfg)
	if err != nil {
		fmt.Fprintf(log, "pawl serve: network publication: %v\n", err)
		return true
	}
	defer p.Close()
	r, err := network.Publish(ctx, p, network.Options{Operator: gate.EnginePrincipal, Reason: "after a commit", Leaf: leaf})
	switch {
	case err != nil:
		fmt.Fprintf(log, "pawl serve: network publication: %v\n", err)
		return true
	case r.Problem != "":
		fmt.Fprintf(log, "pawl serve: network publication to %s failed (%s), on record; the next one carries the head: %s\n", r.Hub, r.Problem, r.Error)
		return true
	}
	fmt.Fprintf(log, "pawl serve: published the trail's first %d entries to the hub %s (proof from %d)\n", r.Size, r.Hub, r.OldSize)
	return false
}

// fetchOnce fetches the hub's cosignature of the checkpoint just published
// into the trail when the bundle in force names the hub as a witness
// (network: true), and says whether it failed (on record) or is still
// not there. The hub checks what it stored in the background: while it
// has not, the fetch asks again a few times (about 5 s in all), without
// holding the project lock between the attempts.
func fetchOnce(ctx context.Context, root string, cfg config.Config, leaf *network.Leaf, log io.Writer) (failed bool) {
	if cfg.NetworkHub == "" {
		return false
	}
	// Without the hub among the bundle's witnesses there is nothing to
	// fetch: found read-only, without the project lock.
	ro, err := project.OpenReadOnly(ctx, root, cfg)
	if err != nil {
		fmt.Fprintf(log, "pawl serve: the hub's cosignature: %v\n", err)
		return true
	}
	e, _, err := ro.PolicyInForce(ctx)
	ro.Close()
	if err != nil {
		fmt.Fprintf(log, "pawl serve: the hub's cosignature: %v\n", err)
		return true
	}
	if _, ok := network.HubWitness(e); !ok {
		return false
	}
	delay := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		p, err := engine.Open(ctx, root, cfg)
		if err != nil {
			fmt.Fprintf(log, "pawl serve: the hub's cosignature: %v\n", err)
			return true
		}
		c, err := network.FetchCosignature(ctx, p, network.Options{Operator: gate.EnginePrincipal, Reason: "after a publication", Leaf: leaf})
		p.Close()
		switch {
		case errors.Is(err, network.ErrNoHubWitness):
			return false
		case err != nil:
			fmt.Fprintf(log, "pawl serve: the hub's cosignature: %v\n", err)
			return true
		case c.Problem != "":
			fmt.Fprintf(log, "pawl serve: the hub's cosignature of the trail's first %d entries: %s, on record; the next fetch asks again: %s\n", c.Size, c.Problem, c.Error)
			return true
		case c.Pending && attempt < 8:
			select {
			case <-ctx.Done():
				return true
			case <-time.After(delay):
			}
			delay *= 2
			continue
		case c.Pending:
			fmt.Fprintf(log, "pawl serve: the hub has not checked the trail's first %d entries yet; the next fetch asks again\n", c.Size)
			return true
		case c.New:
			fmt.Fprintf(log, "pawl serve: the hub (witness %s) cosigned the trail's first %d entries, kept in the trail\n", c.Witness, c.Size)
		}
		return false
	}
}
