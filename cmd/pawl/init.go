package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pawl-dev/pawl/engine"
	"github.com/spf13/cobra"
)

func (a *app) initCmd() *cobra.Command {
	var operator, reason string
	var single bool
	var roles []string
	c := &cobra.Command{
		Use: "init [DIR]",
		Example: `  pawl init plant7
  pawl init lab --single-person
  pawl init lab --operator qa-admin --role pia=policy_admin --reason "stability study"`,
		Short: "Create a project: pawl.yaml, jobs/, schemas/, policies/, pawl.lock and the data directory",
		Long: `Create a pawl project in DIR (default: the current directory, or -C DIR).

It writes pawl.yaml, a working example job (jobs/sensor-feed.yaml with
schemas/sensor-reading.json), policies/, pawl.lock with the pins of those
files, and the data directory .pawl/ (audit.db, store/, batches/, pending/,
keys/) with a new ed25519 engine signing key. It refuses to overwrite an
existing project.

The two-person rule is on: a later change of the policy bundle, of a
plugin approval or of pawl.yaml's pinned settings takes effect only once a
second enrolled operator e-signs it (pawl change). --single-person turns it
off from the start (change.two_person: false in pawl.yaml, pinned and on
record): for one person's project, the demo and tests.

Whoever creates the project holds every role (the operator id it is run
with and the OS account's name). Approving a change needs policy_admin and
another person than its proposer, and a role granted later is itself a
change: name the project's other first role holders with --role, e.g.
--role dave=policy_admin,approver.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			dir := a.startDir()
			if len(argv) == 1 {
				dir = argv[0]
				if a.dir != "" && !filepath.IsAbs(dir) {
					dir = filepath.Join(a.dir, dir)
				}
			}
			granted := map[string][]string{}
			for _, r := range roles {
				id, list, ok := strings.Cut(r, "=")
				if !ok || id == "" || list == "" {
					return &usageError{fmt.Errorf("--role %q: want ID=ROLE[,ROLE...]", r)}
				}
				granted[id] = append(granted[id], strings.Split(list, ",")...)
			}
			p, err := engine.Init(c.Context(), dir, engine.InitOptions{Operator: operator, Reason: reason, SinglePerson: single, Roles: granted})
			if err != nil {
				return err
			}
			defer p.Close()
			fmt.Fprintf(a.s.out, "initialised pawl project in %s\n", p.Root)
			fmt.Fprintf(a.s.out, "  engine key   %s\n", p.Key.ID())
			fmt.Fprintf(a.s.out, "  example job  jobs/sensor-feed.yaml (schema schemas/sensor-reading.json)\n")
			fmt.Fprintf(a.s.out, "  data         %s\n", p.Data)
			fmt.Fprintf(a.s.out, "next: pawl -C %s run sensor-feed --input FILE\n", p.Root)
			return nil
		},
	}
	c.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail (default: the OS user)")
	c.Flags().StringVar(&reason, "reason", "", "reason recorded in the audit trail")
	c.Flags().BoolVar(&single, "single-person", false, "turn the two-person rule off (change.two_person: false), on record")
	c.Flags().StringArrayVar(&roles, "role", nil, "give operator `ID=ROLE[,ROLE...]` roles from the start (repeatable), e.g. a second policy_admin to approve changes")
	return c
}
