package main

import (
	"fmt"
	"strings"

	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/lockfile"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/sandbox"
	"github.com/spf13/cobra"
)

func fieldList(fs []sandbox.Field) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name+"="+f.Pointer+" ("+string(f.Type)+")")
	}
	return strings.Join(out, ", ")
}

func (a *app) pluginCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "plugin",
		Short: "Validator plugins: add (pin), list, verify, remove",
	}
	var operator, reason string
	add := &cobra.Command{
		Use:     "add FILE.wasm",
		Example: `  pawl plugin add plugins/range.wasm --reason "range check v1.2"`,
		Short:   "Read a plugin's manifest, keep the module in the store and pin name@version to its sha256",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			wasm, err := a.readUserFile(argv[0])
			if err != nil {
				return err
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if operator == "" {
				operator = p.Cfg.Operator
			}
			before, _ := p.Pins(c.Context()) // to say which build a -dev one replaces
			m, d, added, err := p.AddPlugin(c.Context(), wasm, operator, reason)
			if err != nil {
				return fmt.Errorf("%s: %w", argv[0], err)
			}
			if old := before[lockfile.PluginKey(m.ID())]; added && old != "" && old != d {
				fmt.Fprintf(a.s.out, "replaced %s %s (a development build; the old module stays in the store)\n", m.ID(), old)
			}
			if !added {
				fmt.Fprintf(a.s.out, "%s is already pinned to %s\n", m.ID(), d)
				return nil
			}
			fmt.Fprintf(a.s.out, "pinned %s %s (%s; reads %s)\n", m.ID(), d, m.Mode, fieldList(m.Fields))
			fmt.Fprintf(a.s.out, "use it in a job: validators: [{plugin: %s}]\n", m.ID())
			if project.IsDevVersion(m.Version) {
				fmt.Fprintf(a.s.out, "%s is a development build: adding a new build of it replaces this pin; the default policy runs it only in a project marked for development (plugins.development in policies/data.json)\n", m.ID())
			}
			return nil
		},
	}
	add.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	add.Flags().StringVar(&reason, "reason", "", "why the plugin is added (recorded in the audit trail)")

	list := &cobra.Command{
		Use: "list",
		Example: `  pawl plugin list
  pawl plugin list --output json`,
		Short: "List the pinned plugins with their manifests",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return a.listPlugins(c, false)
		},
	}
	verify := &cobra.Command{
		Use:     "verify",
		Example: `  pawl plugin verify`,
		Short:   "Re-hash every pinned plugin and load it (hash, manifest, imports and its compilation cache entry checked)",
		Args:    args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return a.listPlugins(c, true)
		},
	}
	var rmOperator, rmReason string
	remove := &cobra.Command{
		Use:     "remove NAME@VERSION --reason TEXT",
		Example: `  pawl plugin remove range@1.0.0 --reason "superseded by range@1.1.0, CR-131"`,
		Short:   "Unpin a plugin no job uses (the module stays in the store for the batches that ran it)",
		Long: `Remove NAME@VERSION's pin from pawl.lock, on record (plugin.removed), when no
job spec uses it — neither one in jobs/ nor one pinned in pawl.lock: take it
out of the job's validators and run pawl pin first. The module itself stays
in the store: the batches on record that ran it name it by hash, and replay,
trace and export still read it from there. Its approval in the policy bundle
is untouched: pawl policy revoke-plugin takes it away. A refusal changes
nothing and is on record (plugin.remove_refused).`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if strings.TrimSpace(rmReason) == "" {
				return &usageError{fmt.Errorf("plugin remove needs --reason: why %s goes is on record", argv[0])}
			}
			p, err := a.open(c)
			if err != nil {
				return err
			}
			defer p.Close()
			if rmOperator == "" {
				rmOperator = p.Cfg.Operator
			}
			d, err := p.RemovePlugin(c.Context(), argv[0], rmOperator, rmReason)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.s.out, "unpinned %s (was %s); the module stays in the store for the batches that ran it\n", argv[0], d)
			return nil
		},
	}
	remove.Flags().StringVar(&rmOperator, "operator", "", "operator id recorded in the audit trail")
	remove.Flags().StringVar(&rmReason, "reason", "", "why the plugin is removed (required; recorded in the audit trail)")
	a.addOutputFlag(list)
	a.addOutputFlag(verify)
	c.AddCommand(add, list, verify, remove)
	return c
}

func (a *app) listPlugins(c *cobra.Command, verify bool) error {
	p, err := a.openChecked(c)
	if err != nil {
		return err
	}
	defer p.Close()
	ps, err := p.Plugins(c.Context(), verify)
	if err != nil {
		return err
	}
	bad, rejected := 0, 0
	for _, pp := range ps {
		if pp.Problem != "" {
			bad++
		}
		if pp.CacheRejected != "" {
			rejected++
		}
	}
	if a.output == "json" {
		if err := a.printJSON(ps); err != nil {
			return err
		}
	} else {
		// The columns are aligned by text/tabwriter; a cache line goes
		// under the hash.
		w := newTable(a.s.out)
		for _, pp := range ps {
			cache := ""
			if pp.CacheRejected != "" {
				cache = fmt.Sprintf("\n\tCACHE REJECTED: its compilation cache entry was refused: %s; deleted and compiled afresh, nothing ran from it (on record as %s)", pp.CacheRejected, actions.PluginCacheRejected)
			}
			if pp.Problem != "" {
				fmt.Fprintf(w, "%s\t%s\tPROBLEM: %s%s\n", pp.ID, pp.Hash, pp.Problem, cache)
				continue
			}
			status := ""
			if verify {
				status = fmt.Sprintf("  OK (hash, manifest, %d imports)", len(pp.Imports))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\treads %s%s%s\n", pp.ID, pp.Hash, pp.Manifest.Mode, fieldList(pp.Manifest.Fields), status, cache)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if len(ps) == 0 {
			fmt.Fprintln(a.s.out, "no plugins are pinned: `pawl plugin add FILE.wasm` pins one")
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d pinned plugins failed verification", bad, len(ps))
	}
	if rejected > 0 {
		// The plugins are fine now, but their compiled code had been
		// changed by someone: that is worth a failing check.
		return fmt.Errorf("the compilation cache entries of %d of %d pinned plugins were rejected: the cache was changed since pawl wrote it (`pawl audit log --action %s`)", rejected, len(ps), actions.PluginCacheRejected)
	}
	return nil
}
