package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/engine"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// streams are the command's standard streams, so tests can run commands in
// process.
type streams struct {
	in       io.Reader
	out, err io.Writer
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
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{fmt.Errorf("%w\nRun '%s --help' for usage", err, c.CommandPath())}
	})
	root.PersistentFlags().StringVarP(&a.dir, "directory", "C", "", "run as if pawl was started in `DIR` (the project directory)")
	root.AddCommand(
		a.initCmd(), a.pinCmd(), a.pluginCmd(), a.runCmd(), a.batchesCmd(), a.quarantineCmd(),
		a.verifySignatureCmd(), a.auditCmd(), a.explainCmd(), a.demoCmd(), a.versionCmd(),
		a.policyCmd(), a.exportCmd(),
		a.operatorCmd(), a.signCmd(),
	)
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
	if a.dir != "" {
		return a.dir
	}
	return "."
}

// config resolves the configuration: flags > PAWL_* environment > pawl.yaml
// > defaults.
func (a *app) config(root string, flags *pflag.FlagSet) (engine.Config, error) {
	v := viper.New()
	v.SetConfigFile(filepath.Join(root, engine.ConfigFile))
	v.SetConfigType("yaml")
	v.SetEnvPrefix("PAWL")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	v.SetDefault("data_dir", ".pawl")
	v.SetDefault("operator", "")
	v.SetDefault("workers", 0)
	v.SetDefault("max_record_bytes", 64<<20)
	v.SetDefault("cache_dir", "")
	v.SetDefault("policy.require_signature", false)
	v.SetDefault("policy.public_key", "")
	v.SetDefault("policy.key_id", "")
	v.SetDefault("export.ca_file", "")
	v.SetDefault("export.timeout", "2m")
	if err := v.ReadInConfig(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return engine.Config{}, fmt.Errorf("%s: %v", filepath.Join(root, engine.ConfigFile), err)
	}
	known := map[string]bool{"data_dir": true, "operator": true, "workers": true, "max_record_bytes": true, "cache_dir": true,
		"policy.require_signature": true, "policy.public_key": true, "policy.key_id": true, "export.ca_file": true, "export.timeout": true}
	var unknown []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return engine.Config{}, fmt.Errorf("%s: unknown key(s) %s (known: data_dir, operator, workers, max_record_bytes, cache_dir, policy.require_signature, policy.public_key, policy.key_id, export.ca_file, export.timeout)",
			filepath.Join(root, engine.ConfigFile), strings.Join(unknown, ", "))
	}
	if flags != nil {
		for _, name := range []string{"operator", "workers"} {
			if f := flags.Lookup(name); f != nil && f.Changed {
				if err := v.BindPFlag(name, f); err != nil {
					return engine.Config{}, err
				}
			}
		}
	}
	var c struct {
		DataDir        string `mapstructure:"data_dir"`
		Operator       string `mapstructure:"operator"`
		Workers        int    `mapstructure:"workers"`
		MaxRecordBytes int64  `mapstructure:"max_record_bytes"`
		CacheDir       string `mapstructure:"cache_dir"`
		Policy         struct {
			RequireSignature bool   `mapstructure:"require_signature"`
			PublicKey        string `mapstructure:"public_key"`
			KeyID            string `mapstructure:"key_id"`
		} `mapstructure:"policy"`
		Export struct {
			CAFile  string        `mapstructure:"ca_file"`
			Timeout time.Duration `mapstructure:"timeout"`
		} `mapstructure:"export"`
	}
	if err := v.UnmarshalExact(&c); err != nil {
		return engine.Config{}, fmt.Errorf("%s: %s", filepath.Join(root, engine.ConfigFile), strings.Join(strings.Fields(err.Error()), " "))
	}
	if c.Workers < 0 {
		return engine.Config{}, fmt.Errorf("workers must be 0 (one per CPU) or more, got %d", c.Workers)
	}
	if c.CacheDir != "" && !filepath.IsAbs(c.CacheDir) {
		c.CacheDir = filepath.Join(root, c.CacheDir)
	}
	if c.Export.Timeout < 0 {
		return engine.Config{}, fmt.Errorf("export.timeout must be positive, got %s", c.Export.Timeout)
	}
	return engine.Config{DataDir: c.DataDir, Operator: c.Operator, Workers: c.Workers, MaxRecordBytes: c.MaxRecordBytes, CacheDir: c.CacheDir,
		PolicyRequireSignature: c.Policy.RequireSignature, PolicyPublicKey: c.Policy.PublicKey, PolicyKeyID: c.Policy.KeyID,
		ExportCAFile: c.Export.CAFile, ExportTimeout: c.Export.Timeout}, nil
}

// openChecked checks --output, then opens the project: a usage error is
// reported before any work is done.
func (a *app) openChecked(c *cobra.Command) (*engine.Project, error) {
	if err := a.checkOutput(); err != nil {
		return nil, err
	}
	return a.open(c)
}

// open finds and opens the project, recovering interrupted batches.
func (a *app) open(c *cobra.Command) (*engine.Project, error) {
	root, err := engine.FindRoot(a.startDir())
	if err != nil {
		return nil, err
	}
	cfg, err := a.config(root, c.Flags())
	if err != nil {
		return nil, err
	}
	return engine.Open(c.Context(), root, cfg)
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
