package main

import (
	"time"

	"github.com/pawl-dev/pawl/engine/sbom"
	"github.com/spf13/cobra"
)

// sbomCmd is `pawl sbom`: this binary's software bill of materials.
func (a *app) sbomCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "sbom [--out FILE]",
		Short: "Print this binary's software bill of materials (CycloneDX 1.6 JSON)",
		Long: `Print what this pawl binary is made of as a CycloneDX 1.6 SBOM (JSON): pawl
with the sha256 of this binary's file and the commit it was built from; every
Go module linked into it, with its version and go.sum hash (from the build
info the Go toolchain writes into every binary); the SQLite C library that
go-sqlite3 compiles in, with its version; and every first-party validator
plugin embedded in the binary, with its version and the sha256 of its
module (the hash policies approve and batches pin). It reads no project.`,
		Example: `  pawl sbom > pawl.cdx.json
  pawl sbom --out /media/qa/pawl-sbom.cdx.json`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			b, err := sbom.Of(time.Now())
			if err != nil {
				return err
			}
			js, err := b.JSON()
			if err != nil {
				return err
			}
			if out == "" {
				_, err = a.s.out.Write(js)
				return err
			}
			return a.writeUserFile(out, js, 0o644)
		},
	}
	c.Flags().StringVar(&out, "out", "", "write the SBOM to `FILE` instead of standard output")
	return c
}
