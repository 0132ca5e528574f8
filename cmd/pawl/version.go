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
		Short: "Print the versions of pawl, Go, wazero, OPA and SQLite",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			v := version.Versions()
			v["sqlite"] = audit.SQLiteVersion()
			if a.output == "json" {
				return a.printJSON(v)
			}
			for _, k := range []string{"pawl", "go", "wazero", "opa", "sqlite", "go-sqlite3", "jsonschema", "x/text"} {
				fmt.Fprintf(a.s.out, "%-11s %s\n", k, v[k])
			}
			return nil
		},
	}
	a.addOutputFlag(c)
	return c
}
