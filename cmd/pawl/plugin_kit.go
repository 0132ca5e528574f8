package main

// The plugin author's kit: plugin new, build and test. None of them opens a
// project: they read and write the author's files, run the author's
// toolchain, and run a module in a sandbox of their own (localOnly: never
// on a service).

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pawl-dev/pawl/engine/ratchet"
	"github.com/pawl-dev/pawl/engine/version"
	"github.com/pawl-dev/pawl/plugins/kit"
	"github.com/pawl-dev/pawl/plugins/pdk/pdktest"
	"github.com/spf13/cobra"
)

// pluginKitCmds are the kit's commands under `pawl plugin`.
func (a *app) pluginKitCmds() []*cobra.Command {
	var lang, dir string
	newc := &cobra.Command{
		Use:   "new NAME --lang go|c|wat",
		Short: "Write a working plugin skeleton: manifest, config, an example rule, cases.jsonl, a test (docs/plugin-how-to.md)",
		Example: `  pawl plugin new sensor --lang go
  pawl plugin new sensor --lang c --dir plugins/sensor`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if lang == "" {
				return &usageError{errors.New("--lang is required: go, c or wat")}
			}
			if dir == "" {
				dir = argv[0]
			}
			files, err := kit.New(argv[0], lang, dir, version.Pawl())
			if err != nil {
				return &usageError{err}
			}
			fmt.Fprintf(a.s.out, "wrote a %s plugin skeleton in %s (%d files)\n", lang, dir, len(files))
			fmt.Fprintf(a.s.out, "next: pawl plugin build %s && pawl plugin test %s --cases %s\n",
				dir, filepath.Join(dir, argv[0]+".wasm"), filepath.Join(dir, "cases.jsonl"))
			return nil
		},
	}
	newc.Flags().StringVar(&lang, "lang", "", "the skeleton's language: go, c or wat")
	newc.Flags().StringVar(&dir, "dir", "", "the directory to write (new or empty; default: NAME)")

	build := &cobra.Command{
		Use:   "build [DIR]",
		Short: "Compile a plugin directory (Go, C or WAT) and embed its manifest.json: DIR/NAME.wasm",
		Example: `  pawl plugin build sensor
  pawl plugin build`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			d := "."
			if len(argv) == 1 {
				d = argv[0]
			}
			b, err := kit.Build(c.Context(), d)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.s.out, "built %s: %s %s (%s; reads %s)\n", b.Path, b.Manifest.ID(), b.Pin, b.Lang, fieldList(b.Manifest.Fields))
			return nil
		},
	}

	var cases, config string
	test := &cobra.Command{
		Use:   "test FILE.wasm --cases CASES.jsonl [--config C.json]",
		Short: "Run a plugin module over a case file in pawl's sandbox, no project needed: each case passes or fails with the plugin's reasons",
		Example: `  pawl plugin test sensor/sensor.wasm --cases sensor/cases.jsonl
  pawl plugin test range.wasm --config range.json --cases cases.jsonl`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if cases == "" {
				return &usageError{errors.New("--cases is required: a JSON Lines file of {\"record\": {…}, \"expect\": \"verified\"|\"quarantined\", \"rules\": [\"…\"]}")}
			}
			wasm, err := os.ReadFile(argv[0])
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: `pawl plugin build DIR` writes DIR/NAME.wasm", err)
			} else if err != nil {
				return err
			}
			var opts pdktest.Options
			if config != "" {
				if opts.Config, err = os.ReadFile(config); err != nil {
					return err
				}
			}
			f, err := os.Open(cases)
			if err != nil {
				return err
			}
			cs, err := pdktest.ReadCases(f, cases)
			f.Close()
			if err != nil {
				return &usageError{err}
			}
			p, err := pdktest.Load(c.Context(), wasm)
			if err != nil {
				return fmt.Errorf("%s: %w", argv[0], err)
			}
			defer p.Close(c.Context())
			// The host's check of a job's config, before the plugin's own.
			cfg := opts.Config
			if len(bytes.TrimSpace(cfg)) == 0 {
				cfg = []byte("{}")
			}
			if err := ratchet.CheckConfig(p.Manifest(), cfg); err != nil {
				name := config
				if name == "" {
					name = "the default config {}"
				}
				return fmt.Errorf("%s: %s: %w (a job with this config is refused before any record runs)", argv[0], name, err)
			}
			res, err := p.RunCases(c.Context(), opts, cs)
			if err != nil {
				return fmt.Errorf("%s: %w", argv[0], err)
			}
			failed := 0
			for _, r := range res {
				label := fmt.Sprintf("%s:%d", filepath.Base(cases), r.Case.Line)
				if r.Case.Name != "" {
					label += " " + r.Case.Name
				}
				status := "ok  "
				if r.Failure != "" {
					status = "FAIL"
					failed++
				}
				var b bytes.Buffer
				fmt.Fprintf(&b, "%s %s: ", status, label)
				switch {
				case r.Failure != "":
					b.WriteString(r.Failure)
				case r.Outcome.Verdict.OK:
					b.WriteString("verified")
				default:
					b.WriteString("quarantined")
				}
				for _, x := range r.Outcome.Verdict.Reasons {
					field := ""
					if x.Field != "" {
						field = " on " + x.Field
					}
					fmt.Fprintf(&b, "\n       %s%s: %s", x.Rule, field, cell(x.Message))
				}
				fmt.Fprintln(a.s.out, b.String())
			}
			fmt.Fprintf(a.s.out, "%s: %d of %d cases passed\n", p.Manifest().ID(), len(res)-failed, len(res))
			if failed > 0 {
				return fmt.Errorf("%s: %d of %d cases failed", strings.TrimSpace(cases), failed, len(res))
			}
			return nil
		},
	}
	test.Flags().StringVar(&cases, "cases", "", "the case file: one {\"record\", \"expect\", \"rules\"} a line")
	test.Flags().StringVar(&config, "config", "", "the plugin's config, a JSON file (default: {})")
	return []*cobra.Command{newc, build, test}
}
