package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pawl-dev/pawl/audit"
	"github.com/pawl-dev/pawl/engine/actions"
	"github.com/pawl-dev/pawl/engine/config"
	"github.com/pawl-dev/pawl/engine/esign"
	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/policies"
	"github.com/spf13/cobra"
)

// Dynamic shell completion (cobra's __complete, which `pawl completion
// bash|zsh|fish|powershell` scripts call): job names, committed batch ids,
// enrolled operators, proposed changes, egress destinations and the values of enum flags.
// Completion reads only: the job specs, the policy bundle's data.json and
// the audit trail opened read-only (as `pawl audit verify` opens it), never
// the project lock, never a write, never an audit entry, and it never fails
// loudly: on any error it offers nothing.

// completionTimeout bounds what one completion may spend reading.
const completionTimeout = 2 * time.Second

// completeArgs says what each positional argument of a command is: job,
// batch, operator or change, by position ("": a value pawl cannot list).
var completeArgs = map[string][]string{
	"run":                 {"job"},
	"state show":          {"job"},
	"state reset":         {"job"},
	"contract diff":       {"job"},
	"contract log":        {"job"},
	"batches show":        {"batch"},
	"quarantine list":     {"batch"},
	"quarantine show":     {"batch", ""},
	"quarantine resubmit": {"batch", ""},
	"audit replay":        {"batch"},
	"audit trace":         {"batch", ""},
	"audit prove":         {"batch", ""},
	"export":              {"batch"},
	"sign":                {"batch"},
	"operator show":       {"operator"},
	"operator passwd":     {"operator"},
	"operator unlock":     {"operator"},
	"operator revoke":     {"operator"},
	"operator grant":      {"operator", ""},
	"change show":         {"change"},
	"change approve":      {"change"},
	"change apply":        {"change"},
}

// isCompletion says whether argv asks cobra's hidden completion command
// (__complete, __completeNoDesc; localOnly keeps them off a service).
func isCompletion(argv []string) bool {
	return strings.HasPrefix(commandOf(argv), cobra.ShellCompRequestCmd)
}

// registerCompletions attaches the completion functions to the tree.
// Only a completion request registers them: cobra keeps flag completion
// functions in a global map, and a service builds a tree per command.
func registerCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if kinds, ok := completeArgs[commandName(c)]; ok {
			c.ValidArgsFunction = func(c *cobra.Command, argv []string, prefix string) ([]string, cobra.ShellCompDirective) {
				if len(argv) >= len(kinds) || kinds[len(argv)] == "" {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return candidates(c, kinds[len(argv)], prefix), cobra.ShellCompDirectiveNoFileComp
			}
		}
		flag := func(name string, f cobra.CompletionFunc) {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, f)
			}
		}
		flag("output", oneOf("text", "json"))
		flag("operator", func(c *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
			return candidates(c, "operator", prefix), cobra.ShellCompDirectiveNoFileComp
		})
		switch commandName(c) {
		case "sign":
			flag("meaning", oneOf(string(esign.MeaningReviewed), string(esign.MeaningApproved), string(esign.MeaningResponsible)))
		case "audit review":
			flag("meaning", oneOf(string(esign.MeaningReviewed)))
		case "audit export":
			flag("format", oneOf("jsonl", "html"))
		case "policy eval":
			var kinds []string
			for _, k := range policies.AllKinds() {
				kinds = append(kinds, string(k))
			}
			flag("kind", oneOf(kinds...))
		case "export":
			flag("to", func(c *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
				return candidates(c, "destination", prefix), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
			})
		case "audit log":
			flag("batch", func(c *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
				return candidates(c, "batch", prefix), cobra.ShellCompDirectiveNoFileComp
			})
			var names []string
			for _, s := range actions.Catalogue() {
				names = append(names, s.Action)
			}
			flag("action", oneOf(names...))
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}

// oneOf completes a flag from a fixed list of values.
func oneOf(values ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, v := range values {
			if strings.HasPrefix(v, prefix) {
				out = append(out, v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// candidates lists the values of kind (job, batch, operator, destination)
// that start with prefix, from the project found from -C or the current
// directory; none on any error.
func candidates(c *cobra.Command, kind, prefix string) []string {
	dir, _ := c.Flags().GetString("directory")
	if dir == "" {
		dir = "."
	}
	root, err := project.FindRoot(dir)
	if err != nil {
		return nil
	}
	var all []string
	switch kind {
	case "job":
		all, _ = project.ListJobs(root)
	case "destination":
		all = destinations(root)
	case "batch", "operator", "change":
		cfg, err := config.Load(root, c.Flags())
		if err != nil {
			return nil
		}
		all = fromTrail(project.NewLayout(root, cfg.DataDir).TrailPath(), kind, prefix)
	}
	var out []string
	for _, v := range all {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}

// fromTrail reads committed batch ids, proposed change ids, or the ids of
// enrolled operators not revoked, from the audit trail opened read-only.
func fromTrail(path, kind, prefix string) []string {
	t, err := audit.OpenReadOnly(path)
	if err != nil {
		return nil
	}
	defer t.Close()
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	ids := func(action, object string) []string {
		es, err := t.List(ctx, audit.Filter{Action: action, ObjectPrefix: object + ":" + prefix})
		if err != nil {
			return nil
		}
		var out []string
		for _, e := range es {
			out = append(out, strings.TrimPrefix(e.Object, object+":"))
		}
		return out
	}
	switch kind {
	case "batch":
		return ids(actions.BatchCommitted, "batch")
	case "change":
		return ids(actions.ChangeProposed, "change")
	}
	revoked := ids(actions.OperatorRevoked, "operator")
	var out []string
	for _, id := range ids(actions.OperatorEnrolled, "operator") {
		if !slices.Contains(revoked, id) {
			out = append(out, id)
		}
	}
	return out
}

// destinations are the URLs of the egress destinations the project's
// policy bundle lists (data.json: egress.destinations.<id>.url).
func destinations(root string) []string {
	b, err := os.ReadFile(filepath.Join(project.NewLayout(root, "").PolicyBundleDir(), "data.json"))
	if err != nil {
		return nil
	}
	var data struct {
		Egress struct {
			Destinations map[string]struct {
				URL string `json:"url"`
			} `json:"destinations"`
		} `json:"egress"`
	}
	if json.Unmarshal(b, &data) != nil {
		return nil
	}
	var out []string
	for _, d := range data.Egress.Destinations {
		if d.URL != "" {
			out = append(out, d.URL)
		}
	}
	slices.Sort(out)
	return out
}
