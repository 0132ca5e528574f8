package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pawl-dev/pawl/engine/project"
	"github.com/pawl-dev/pawl/engine/review"
	"github.com/spf13/cobra"
)

func (a *app) auditExportCmd() *cobra.Command {
	var format, operator, reason string
	c := &cobra.Command{
		Use: "export --format jsonl|html DIR",
		Example: `  pawl audit export --format html /media/inspection-2026-12
  pawl audit export --format jsonl /media/inspection-2026-12`,
		Short: "Write a self-contained review package for inspectors (HTML report, JSONL, checkpoint, SHA256SUMS)",
		Long: `Write into DIR (new or empty) the whole audit trail (entries.jsonl), every
committed batch (batches.jsonl) with its quarantine (quarantine/<batch>.jsonl),
the signed checkpoint of the trail's head, and with --format html a report.html
that opens offline in any browser: batch summaries, quarantine reasons,
e-signatures with name, time and meaning, policy decisions, and the full
trail; records changed since original entry (resubmitted) are flagged.
SHA256SUMS covers every file: 'sha256sum -c SHA256SUMS' verifies the package on
its own. The export is audited. A trail that does not verify (its hash chain,
as 'pawl audit verify' checks it first) is refused before anything is done or
written, with the first bad entry named: exit 1.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, argv []string) error {
			p, err := a.openTrusted(c)
			if err != nil {
				return err
			}
			defer p.Close()
			var out *review.AuditExport
			dir, err := a.writeForUser(p, argv[0], "export", "", func(dir string) (err error) {
				out, err = review.ExportAudit(c.Context(), p, dir, format, operator, reason)
				return err
			})
			if err != nil {
				return err
			}
			out.Dir = dir
			fmt.Fprintf(a.s.out, "wrote %d files to %s: %d audit entries, %d batches\n", len(out.Files)+1, out.Dir, out.Entries, out.Batches)
			if format == "html" {
				fmt.Fprintf(a.s.out, "  open %s in a browser\n", filepath.Join(out.Dir, "report.html"))
			}
			fmt.Fprintf(a.s.out, "  check it with: cd %s && sha256sum -c SHA256SUMS\n", out.Dir)
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "html", "jsonl, or html (the JSONL files plus report.html)")
	c.Flags().StringVar(&operator, "operator", "", "operator id recorded in the audit trail")
	c.Flags().StringVar(&reason, "reason", "", "why the export is made (recorded in the audit trail)")
	return c
}

// writeForUser has write make a package for the user's directory userDir
// and returns where the user finds it. Locally write writes userDir
// itself. Under a service it writes a directory in the service's data
// directory (sub inside a fresh temporary one, or that one itself when sub
// is ""), which the client then copies to userDir with the user's
// permissions. what names the package in an error ("export", "package").
func (a *app) writeForUser(p *project.Project, userDir, what, sub string, write func(dir string) error) (string, error) {
	if a.s.job == nil {
		return userDir, write(userDir)
	}
	if err := a.s.job.Mkdir(userDir); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(p.Data, what+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	dir := tmp
	if sub != "" {
		dir = filepath.Join(tmp, sub)
	}
	if err := write(dir); err != nil {
		return "", err
	}
	if err := a.copyToUser(dir, userDir); err != nil {
		return "", fmt.Errorf("the %s is on record, but writing it to %s failed: %w", what, userDir, err)
	}
	return userDir, nil
}

// copyToUser writes the tree at src to the user's directory dst (which
// exists and is empty) through the client.
func (a *app) copyToUser(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == src {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return a.s.job.Mkdir(to)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return a.writeUserFile(to, b, 0o644)
	})
}
