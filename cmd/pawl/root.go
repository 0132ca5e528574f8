package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pawl-dev/pawl/engine"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/network"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/serve"
	"github.com/spf13/cobra"
)

// streams are the command's standard streams, so tests can run commands in
// process.
type streams struct {
	in       io.Reader
	out, err io.Writer
	// job is the service's job when the command runs under pawl serve
	// (nil in local mode): files the user names are opened through it.
	job *serve.Job
	// root is the served project's root under a service: -C is the
	// client's, and the service serves one project.
	root string
	// leaf is the site's leaf node under a service that runs one
	// (network.leaf): `pawl network site` shows its link and outbox.
	leaf *network.Leaf
}

type usageError struct{ error }

var errDenied = errors.New("denied by policy")

type app struct {
	s       *streams
	dir     string // -C
	output  string // --output on commands that have it
	verbose bool
}

func newRootCmd(s *streams) *cobra.Command {
	a := &app{s: s}
	root := &cobra.Command{
		Use:   "pawl",
		Short: "pawl is a data ratchet: data goes through only when it conforms, and every step is on record",
		Long: `pawl is a data ratchet for regulated and air-gapped sites.

Records stream through strict UTF-8 decoding, Unicode normalization and a JSON
Schema contract. What conforms becomes verified output; what does not goes to
quarantine with byte-exact reasons. Every batch is committed atomically and
idempotently, signed, and written to a hash-chained audit trail.

Start with:  pawl demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		// Under a service, a command that runs on the user's side (it
		// reads or writes the user's files by path, or makes a project) is
		// refused: it would act with the service's permissions.
		if a.s.job != nil && localOnly[strings.TrimPrefix(c.CommandPath(), "pawl ")] && c.Name() != "help" {
			return a.servedBy(c)
		}
		return nil
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{fmt.Errorf("%w\nRun '%s --help' for usage", err, c.CommandPath())}
	})
	root.PersistentFlags().StringVarP(&a.dir, "directory", "C", "", "run as if pawl was started in `DIR` (the project directory)")
	root.PersistentFlags().String("server", "", "send the command to the pawl service listening on the Unix socket `PATH`, or at https://HOST:PORT (default: PAWL_SERVER, then the project's socket when it exists)")
	root.PersistentFlags().String("tls-cert", "", "with --server https://HOST:PORT: your client certificate `FILE` (PEM; default: PAWL_TLS_CERT)")
	root.PersistentFlags().String("tls-key", "", "with --server https://HOST:PORT: its private key `FILE` (PEM, mode 0600; default: PAWL_TLS_KEY)")
	root.PersistentFlags().String("tls-ca", "", "with --server https://HOST:PORT: the certificate `FILE` of the CA that issued the service's (default: PAWL_TLS_CA, then the system's)")
	root.AddCommand(
		a.initCmd(), a.pinCmd(), a.pluginCmd(), a.runCmd(), a.batchesCmd(), a.quarantineCmd(),
		a.verifySignatureCmd(), a.auditCmd(), a.explainCmd(), a.demoCmd(), a.versionCmd(), a.sbomCmd(),
		a.policyCmd(), a.exportCmd(),
		a.operatorCmd(), a.signCmd(), a.serveCmd(), a.changeCmd(),
	)
	root.AddCommand(a.keyCmd())
	root.AddCommand(a.sessionCmd())
	root.AddCommand(a.contractCmd())
	root.AddCommand(a.stateCmd())
	root.AddCommand(a.inspectCmd())
	root.AddCommand(a.validateCmd())
	root.AddCommand(a.watchCmd())
	for _, c := range root.Commands() {
		if c.Name() == "plugin" {
			c.AddCommand(a.pluginKitCmds()...) // plugin new, build, test (plugin_kit.go)
		}
	}
	root.AddCommand(a.jobCmd())
	root.AddCommand(a.networkCmd())
	root.AddCommand(a.workerCmd())
	return root
}

// args wraps a cobra argument check so that its errors are usage errors.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, a []string) error {
		if err := check(c, a); err != nil {
			return &usageError{fmt.Errorf("%s: %w", c.CommandPath(), err)}
		}
		return nil
	}
}

func (a *app) addOutputFlag(c *cobra.Command) {
	c.Flags().StringVar(&a.output, "output", "text", "output format: text or json")
}

func (a *app) checkOutput() error {
	switch a.output {
	case "text", "json", "":
		return nil
	}
	return &usageError{fmt.Errorf("--output %q: want text or json", a.output)}
}

// startDir is where the project search begins.
func (a *app) startDir() string {
	if a.s.root != "" {
		return a.s.root
	}
	if a.dir != "" {
		return a.dir
	}
	return "."
}

// openChecked checks --output, then opens the project: a usage error is
// reported before any work is done.
func (a *app) openChecked(c *cobra.Command) (*project.Project, error) {
	if err := a.checkOutput(); err != nil {
		return nil, err
	}
	return a.open(c)
}

// open finds and opens the project, recovering interrupted batches, and
// asks the authz question of the command (authorize).
func (a *app) open(c *cobra.Command) (*project.Project, error) {
	root, err := project.FindRoot(a.startDir())
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(root, c.Flags())
	if err != nil {
		return nil, err
	}
	if f := c.Flags().Lookup("operator"); a.s.job != nil && (f == nil || !f.Changed) {
		// Under a service the operator is the caller's account unless
		// --operator names one; either way the authz question checks that
		// the caller may act as it (an enrolment bound to them).
		cfg.Operator = servedOperator(c.Context())
	}
	p, err := engine.Open(c.Context(), root, cfg)
	if err != nil {
		return nil, err
	}
	// Every command that acts on a project is authorised here, once,
	// before it does anything (cmd/pawl/authz.go).
	if err := authorize(c, p); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// parseOrdinal reads a record number as the commands take it: 1 is the
// first record of a batch.
func parseOrdinal(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, &usageError{fmt.Errorf("ORDINAL %q must be a record number (1 is the first record)", s)}
	}
	return n, nil
}
