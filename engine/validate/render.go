package validate

import (
	"fmt"
	"strings"
)

// Part11Table is the generated part of docs/part11.md: one table per
// section of the requirements, each row with pawl's answer, the kit's
// checks that show it and the developer tests.
func Part11Table() string {
	var b strings.Builder
	section := ""
	for _, r := range Requirements {
		if r.Section != section {
			section = r.Section
			fmt.Fprintf(&b, "\n## %s\n\n| clause | requirement | pawl | `pawl validate` | shown by |\n|---|---|---|---|---|\n", section)
		}
		label := r.Label
		if label == "" {
			label = r.ID
		}
		checks := "—"
		if len(r.Checks) > 0 {
			var cs []string
			for _, c := range r.Checks {
				s := "`" + c + "`"
				if _, ok := NotYet[c]; ok {
					s += " (not yet)"
				}
				cs = append(cs, s)
			}
			checks = strings.Join(cs, ", ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", label, r.Short, r.Answer, checks, r.Tests)
	}
	return b.String()
}
