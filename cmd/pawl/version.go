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
			// The JSON keys are snake_case; the text names the modules as
			// their import paths do.
			for _, k := range [][2]string{{"pawl", "pawl"}, {"go", "go"}, {"wazero", "wazero"}, {"opa", "opa"}, {"sqlite", "sqlite"},
				{"go_sqlite3", "go-sqlite3"}, {"jsonschema", "jsonschema"}, {"x_text", "x/text"}} {
				fmt.Fprintf(a.s.out, "%-11s %s\n", k[1], v[k[0]])
			}
			return nil
		},
	}
	a.addOutputFlag(c)
	return c
}
