package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/pawl-dev/pawl/engine/normalize"
	"github.com/spf13/cobra"
)

// maxExplainBytes bounds --file: explain prints a line per character.
const maxExplainBytes = 1 << 20

func (a *app) explainCmd() *cobra.Command {
	var file string
	var escapes bool
	c := &cobra.Command{
		Use: "explain [STRING]",
		Example: `  pawl explain 'AB-123456'
  pawl explain -e 'AB-1\u200b23456'
  pawl explain --file suspicious.txt --output json`,
		Short: "Take a suspicious string apart: every character, and what the Unicode boundary does with it",
		Long: `Explain prints each character of STRING (or of the file given with --file) with
its byte offset, code point, Unicode name, general category, script and UTF-8
bytes, and what pawl's Unicode boundary would do with it in a text field and
in an identifier field; then the verdict for the whole value in each class.

Invalid UTF-8 is shown byte by byte, never replaced. With --escapes, STRING
is read as the inside of a Go string literal, so that invisible characters
can be typed: pawl explain --escapes 'AB-1\u200b23'. With --file, one final
line break is not part of the value.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			var s string
			switch {
			case file != "" && len(argv) == 1:
				return &usageError{fmt.Errorf("explain: give a STRING or --file, not both")}
			case file != "":
				st, err := os.Stat(file)
				if err != nil {
					return err
				}
				if st.Size() > maxExplainBytes {
					return fmt.Errorf("explain: %s is %d bytes; explain takes at most %d (it prints a line per character)", file, st.Size(), maxExplainBytes)
				}
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				s = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			case len(argv) == 1:
				s = argv[0]
				if escapes {
					u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
					if err != nil {
						return &usageError{fmt.Errorf("explain --escapes: %q is not a valid Go string literal body: %v", s, err)}
					}
					s = u
				}
			default:
				return &usageError{fmt.Errorf("explain: give a STRING or --file FILE")}
			}
			e := normalize.Explain(s, nil)
			if a.output == "json" {
				return a.printJSON(e)
			}
			a.writeExplanation(e)
			return nil
		},
	}
	c.Flags().StringVar(&file, "file", "", "explain the contents of `FILE` (at most 1 MiB)")
	c.Flags().BoolVarP(&escapes, "escapes", "e", false, `read STRING as a Go string literal body (\u202e, \x00, \t)`)
	a.addOutputFlag(c)
	return c
}

func (a *app) writeExplanation(e normalize.Explanation) {
	w := a.s.out
	valid := "valid UTF-8"
	if !e.Valid {
		valid = "NOT valid UTF-8"
	}
	fmt.Fprintf(w, "%+q: %d bytes, %d code points, %s\n", e.Input, len(e.Input), utf8.RuneCountInString(e.Input), valid)
	if e.Valid && e.Skeleton != e.Input {
		fmt.Fprintf(w, "UTS #39 skeleton (what it looks like): %+q\n", e.Skeleton)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BYTE\tCODE POINT\tUTF-8\tCAT\tSCRIPT\tNAME\tTEXT FIELD\tIDENTIFIER FIELD")
	for _, ch := range e.Chars {
		script := ch.Script
		if ch.Extensions != "" && ch.Extensions != ch.Script {
			script += " (" + ch.Extensions + ")"
		}
		name := ch.Name
		if ch.Prototype != "" {
			name += fmt.Sprintf(" [looks like %+q]", ch.Prototype)
		}
		cp := ch.CodePoint
		if cp == "" {
			cp = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ch.Offset, cp, ch.Bytes, ch.Category, script, name, ch.Text, ch.Identifier)
	}
	tw.Flush()
	for _, v := range []normalize.Verdict{e.Text, e.Identifier} {
		fmt.Fprintln(w)
		in := "in a " + v.Class + " field"
		if v.Class == "identifier" {
			in = "in an identifier field"
		}
		switch {
		case v.Rejected:
			fmt.Fprintf(w, "%s: REJECTED\n", in)
		case v.Output != e.Input:
			fmt.Fprintf(w, "%s: passes as %+q\n", in, v.Output)
		default:
			fmt.Fprintf(w, "%s: passes unchanged\n", in)
		}
		for _, f := range v.Findings {
			fmt.Fprintf(w, "  %s %s: %s\n", f.Rule, f.Action, f.Message)
		}
	}
}
