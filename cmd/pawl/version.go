package main

import (
	"fmt"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/version"
	"github.com/spf13/cobra"
)

func (a *app) versionCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the versions of pawl, Go, wazero, OPA and SQLite, and this binary's sha256",
		Long: `Print pawl's version — from the module's build info (a release tag, or a
pseudo-version naming the commit of a build from a checkout); a linker flag
(-X github.com/pawl-dev/pawl/engine/version.Version=…) overrides it — the
versions of the components it links, the sha256 of this binary's file (to
compare with the binary a site qualified) and, when the build recorded it,
the commit it was built from. The version goes on record in every batch.`,
		Example: `  pawl version
  pawl version --output json | jq -r .binary_sha256`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			v := version.Versions()
			v["sqlite"] = audit.SQLiteVersion()
			v["pawl_source"] = version.Source()
			sum, err := version.BinarySHA256()
			if err != nil {
				return fmt.Errorf("hashing this binary: %w", err)
			}
			v["binary_sha256"] = sum
			rev, when, modified := version.VCS()
			for k, x := range map[string]string{"vcs_revision": rev, "vcs_time": when, "vcs_modified": modified} {
				if x != "" {
					v[k] = x
				}
			}
			if a.output == "json" {
				return a.printJSON(v)
			}
			// The JSON keys are snake_case; the text names the modules as
			// their import paths do.
			for _, k := range [][2]string{{"pawl", "pawl"}, {"go", "go"}, {"wazero", "wazero"}, {"opa", "opa"}, {"sqlite", "sqlite"},
				{"go_sqlite3", "go-sqlite3"}, {"jsonschema", "jsonschema"}, {"x_text", "x/text"}} {
				fmt.Fprintf(a.s.out, "%-11s %s\n", k[1], v[k[0]])
			}
			fmt.Fprintf(a.s.out, "%-11s %s\n", "binary", "sha256:"+sum)
			if rev != "" {
				state := ""
				if modified == "true" {
					state = ", with uncommitted changes"
				}
				fmt.Fprintf(a.s.out, "%-11s %s (%s%s)\n", "commit", rev, when, state)
			}
			return nil
		},
	}
	a.addOutputFlag(c)
	return c
}
