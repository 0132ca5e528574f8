package config

import (
	"bytes"
	"fmt"
	"strings"
)

// typeDocs says how a value of each type is written.
var typeDocs = []struct {
	t   Type
	doc string
}{
	{String, "text; quote it in `pawl.yaml` when it could be read as something else (`true`, `1.5`)"},
	{Path, "a file or directory, relative to the project root unless absolute"},
	{Integer, "a whole number"},
	{Bytes, "a whole number of bytes"},
	{Boolean, "`true` or `false`"},
	{Duration, "a number with a unit: `90s`, `2m`, `1h30m` (a number alone is refused)"},
}

// markdown is docs/configuration.md, generated from the table.
func markdown() []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Configuration\n\n")
	p("<!-- Generated from the key table in engine/config/keys.go by\n")
	p("     `go test ./engine/config -update`: edit the table, not this file. -->\n\n")
	p("A project is configured by `%s` at its root (optional), by `PAWL_*`\n", File)
	p("environment variables and, for some keys, by command-line flags.\n")
	p("Precedence, strongest first: **%s**.\n", Precedence)
	p("The settings pinned in `pawl.lock` come from `%s` (or their default) only.\n\n", File)
	p("| key | environment | type | default | flag | pinned | meaning |\n")
	p("|---|---|---|---|---|---|---|\n")
	for _, k := range table {
		flag := "—"
		if k.Flag != "" {
			flag = "`--" + k.Flag + "`"
		}
		env, pin := "`"+k.Env+"`", "—"
		if k.Pin != "" {
			env, pin = "refused: `"+k.Env+"`", "`"+k.Pin+"`"
		}
		p("| `%s` | %s | %s | %s | %s | %s | %s |\n", k.Name, env, k.Type, cell(k.Default), flag, pin, cell(k.Doc))
	}
	p("\n## Rules\n\n")
	for _, k := range table {
		if i := strings.IndexByte(k.Name, '.'); i > 0 {
			p("- A dotted key is nested in `%s`: `%s` is written\n\n", File, k.Name)
			p("  ```yaml\n  %s:\n    %s: %s\n  ```\n\n", k.Name[:i], k.Name[i+1:], plain(k.Default))
			break
		}
	}
	p("- Unknown keys in `%s` are errors, and the error lists the known keys.\n", File)
	p("- Every value is checked before any work starts. A malformed or invalid value\n")
	p("  is an error that names where it came from (the file, the environment\n")
	p("  variable or the flag), the key, and what to write instead.\n")
	p("- An environment variable set to the empty string counts as unset. A flag\n")
	p("  counts only when it is given on the command line.\n")
	p("- A pinned setting can change an outcome or what a policy decision vouches\n")
	p("  for. Its value (and, for `policy.public_key`, the key file's sha256 and the\n")
	p("  key's fingerprint) is pinned in `pawl.lock` under `%s`, `%s`,\n", PolicyPin, LimitsPin)
	p("  `%s` or `%s`, the sha256 of the canonical JSON of those settings. A run refuses\n", ChangePin, ESignPin)
	p("  settings that differ from their pin; `pawl pin` records the change in the\n")
	p("  audit trail with the new values (under the two-person rule, as a proposal\n")
	p("  a second operator approves). Its environment variable, when set, is\n")
	p("  refused when the configuration is loaded, and no flag sets it.\n")
	p("\n## Types\n\n")
	for _, t := range typeDocs {
		p("- %s: %s\n", t.t, t.doc)
	}
	return b.Bytes()
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
